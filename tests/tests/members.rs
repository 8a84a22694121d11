//! Members: roles change and members leave, with the guard rails an organisation needs.

use serde_json::json;
use smartqueue_tests::{Api, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_change_and_members_leave_within_the_rules() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("A", "fifo").await;
    let agent = admin.agent("agent@bank.test", &[&q]).await;
    let agent_id = agent.user["id"].as_str().unwrap().to_owned();
    let me = admin.user["id"].as_str().unwrap().to_owned();
    let url = |id: &str| admin.t(&format!("members/{id}/"));

    // Promote the agent to manager: the profile stays, the next sign-in carries the new role.
    let m = admin
        .patch(&url(&agent_id), &json!({"role": "manager"}))
        .await
        .expect(200);
    assert_eq!(m["membership"]["role"], "manager");
    assert!(
        m["agent"].is_object(),
        "a manager keeps the counter profile"
    );
    let again = Api::login(&server.url(), "agent@bank.test", "agentpass1").await;
    let who = again
        .get(&format!("{}/api/v1/auth/jwt/me/", server.url()))
        .await
        .expect(200);
    assert_eq!(who["role"], "manager");
    // A manager cannot touch an admin, nor appoint one.
    let mut manager = again;
    manager.tenant = "bank".into();
    let r = manager
        .patch(
            &manager.t(&format!("members/{me}/")),
            &json!({"role": "agent"}),
        )
        .await;
    assert_eq!(r.status, 403);
    // Nobody changes their own membership.
    let r = admin.patch(&url(&me), &json!({"role": "manager"})).await;
    assert_eq!(
        (r.status.as_u16(), r.body["code"].as_str()),
        (403, Some("own_membership"))
    );
    assert_eq!(admin.delete(&url(&me)).await.status, 403);
    // Bad input and unknown members.
    assert_eq!(
        admin
            .patch(&url(&agent_id), &json!({"role": "emperor"}))
            .await
            .status,
        400
    );
    assert_eq!(
        admin
            .patch(
                &url(&uuid::Uuid::new_v4().to_string()),
                &json!({"role": "agent"})
            )
            .await
            .status,
        404
    );

    // An agent serving a ticket cannot be removed until it is closed.
    admin
        .patch(&url(&agent_id), &json!({"role": "agent"}))
        .await
        .expect(200);
    let agent = Api::login(&server.url(), "agent@bank.test", "agentpass1").await;
    let mut agent = agent;
    agent.tenant = "bank".into();
    admin
        .post(&admin.t("tickets/"), &json!({"queue_id": q["id"]}))
        .await
        .expect(201);
    agent
        .post(
            &agent.t("agents/set-status/"),
            &json!({"status": "available"}),
        )
        .await
        .expect(200);
    let called = agent
        .post(&agent.t("agents/call-next/"), &json!({}))
        .await
        .expect(200);
    let r = admin.delete(&url(&agent_id)).await;
    assert_eq!(
        (r.status.as_u16(), r.body["code"].as_str()),
        (409, Some("agent_busy"))
    );
    agent
        .serve_and_close(called["ticket"]["id"].as_str().unwrap())
        .await;
    admin.delete(&url(&agent_id)).await.expect(204);
    let members = admin.get(&admin.t("members/")).await.expect(200);
    assert!(
        members
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["user"]["id"] != agent_id.as_str())
    );
    // The account remains, but no longer in this organisation.
    let gone = Api::login(&server.url(), "agent@bank.test", "agentpass1").await;
    assert_eq!(gone.tenant, "", "no organisation left");
    let actions = admin.audit_actions().await;
    assert!(
        actions.iter().any(|a| a == "member.update")
            && actions.iter().any(|a| a == "member.remove"),
        "{actions:?}"
    );
}
