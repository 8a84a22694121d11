//! The JSON shape of domain types is the API contract: snake_case, `<name>_id`, RFC 3339.

use chrono::{NaiveDate, TimeZone, Utc};
use smartqueue_core::{Priority, Role, Scope, Ticket, TicketStatus};
use uuid::Uuid;

#[test]
fn ticket_serializes_with_api_field_names() {
    let now = Utc.with_ymd_and_hms(2026, 11, 25, 9, 30, 0).unwrap();
    let mut t = Ticket::waiting(
        Uuid::nil(),
        Uuid::nil(),
        "A042".into(),
        42,
        NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
        now,
    );
    t.status = TicketStatus::InService;
    t.priority = Priority::Vip;
    let v = serde_json::to_value(&t).unwrap();
    assert_eq!(v["number"], "A042");
    assert_eq!(v["status"], "in_service");
    assert_eq!(v["priority"], "vip");
    assert_eq!(v["tenant_id"], "00000000-0000-0000-0000-000000000000");
    assert_eq!(v["queue_id"], "00000000-0000-0000-0000-000000000000");
    assert_eq!(v["created_at"], "2026-11-25T09:30:00Z");
    assert_eq!(v["business_day"], "2026-11-25");
    assert_eq!(v["lane"], "normal");
    let back: Ticket = serde_json::from_value(v).unwrap();
    assert_eq!(back, t);
}

#[test]
fn roles_grant_the_documented_scopes() {
    assert_eq!(Role::Admin.scopes().len(), 14);
    assert!(Role::Manager.has(Scope::ReadReports) && !Role::Manager.has(Scope::ManageSettings));
    assert!(Role::Agent.has(Scope::WriteTicket) && !Role::Agent.has(Scope::ManageQueue));
    assert_eq!(
        serde_json::to_value(Scope::ManageSettings).unwrap(),
        "manage:settings"
    );
    assert_eq!("read:ticket".parse::<Scope>().unwrap(), Scope::ReadTicket);
    assert!("sleeping".parse::<TicketStatus>().is_err());
    assert!(serde_json::from_str::<TicketStatus>("\"sleeping\"").is_err());
}
