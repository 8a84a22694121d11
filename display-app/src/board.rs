//! What a waiting-room screen shows, computed from the sync engine's state (no window needed,
//! so it is tested directly).

use chrono::{DateTime, Utc};
use serde_json::Value;
use smartqueue_core::event::{Envelope, Event};
use smartqueue_core::sync::{Connection, SyncState};

/// Labels in the display's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Fr,
    En,
}

impl Lang {
    /// From a language code (`fr…` is French, anything else English).
    pub fn of(code: &str) -> Lang {
        if code.starts_with("fr") {
            Lang::Fr
        } else {
            Lang::En
        }
    }

    /// The code for speech.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }

    /// A label.
    pub fn t(self, key: Label) -> &'static str {
        use Label::*;
        match (self, key) {
            (Lang::Fr, NowCalling) => "Appel en cours",
            (Lang::En, NowCalling) => "Now calling",
            (Lang::Fr, LastCalls) => "Derniers appels",
            (Lang::En, LastCalls) => "Last calls",
            (Lang::Fr, Waiting) => "en attente",
            (Lang::En, Waiting) => "waiting",
            (Lang::Fr, AboutWait) => "attente ≈",
            (Lang::En, AboutWait) => "wait ≈",
            (Lang::Fr, NoCallYet) => "Bienvenue — veuillez patienter",
            (Lang::En, NoCallYet) => "Welcome — please wait to be called",
            (Lang::Fr, Reconnecting) => "Connexion perdue — reconnexion…",
            (Lang::En, Reconnecting) => "Connection lost — reconnecting…",
            (Lang::Fr, Counter) => "Guichet",
            (Lang::En, Counter) => "Counter",
        }
    }
}

/// Texts of the screens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    NowCalling,
    LastCalls,
    Waiting,
    AboutWait,
    NoCallYet,
    Reconnecting,
    Counter,
}

/// One call on the board.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub ticket_id: String,
    pub number: String,
    /// Where to go ("Guichet 3", or "3" for a counter named by its number).
    pub counter: Option<String>,
    pub queue: String,
    pub at: DateTime<Utc>,
    pub recalls: u32,
    /// The sentence to speak in the display's language.
    pub announce: String,
}

/// One queue's line at the bottom of the screen.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueLine {
    pub name: String,
    pub waiting: u32,
    /// Typical wait of a ticket taken now, in whole minutes.
    pub wait_minutes: Option<u32>,
}

/// Everything a display shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Board {
    pub lang: Lang,
    pub portrait: bool,
    pub current: Option<Call>,
    pub recent: Vec<Call>,
    pub queues: Vec<QueueLine>,
    pub message: String,
    /// The site's time zone for the clock.
    pub timezone: chrono_tz::Tz,
    /// Shows the reconnecting banner.
    pub offline: bool,
}

/// Calls kept under the current one.
pub const RECENT: usize = 6;

/// The call a ticket's view stands for, if it has been called.
pub fn call_of(t: &Value, lang: Lang) -> Option<Call> {
    let d = t.get("display")?;
    let at = t["last_called_at"]
        .as_str()
        .or(t["called_at"].as_str())
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())?
        .with_timezone(&Utc);
    let announce = match lang {
        Lang::Fr => d["announce_fr"].as_str(),
        Lang::En => d["announce_en"].as_str(),
    }
    .unwrap_or_default()
    .to_owned();
    Some(Call {
        ticket_id: t["id"].as_str().unwrap_or_default().to_owned(),
        number: d["number"].as_str().unwrap_or_default().to_owned(),
        counter: d["counter"].as_str().map(str::to_owned),
        queue: d["queue"].as_str().unwrap_or_default().to_owned(),
        at,
        recalls: t["recall_count"].as_u64().unwrap_or(0) as u32,
        announce,
    })
}

impl Board {
    /// The board for the engine's state.
    pub fn from_state(s: &SyncState) -> Board {
        let display = &s.context["display"];
        let lang = Lang::of(display["language"].as_str().unwrap_or("fr"));
        let mut calls: Vec<Call> = s
            .tickets
            .values()
            .filter_map(|t| call_of(t, lang))
            .collect();
        calls.sort_by_key(|c| std::cmp::Reverse(c.at));
        calls.truncate(RECENT + 1);
        let mut calls = calls.into_iter();
        let current = calls.next();
        let queues = s.context["queues"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|q| QueueLine {
                        name: q["name"].as_str().unwrap_or_default().to_owned(),
                        waiting: q["waiting"].as_u64().unwrap_or(0) as u32,
                        wait_minutes: q["eta_next_seconds"]
                            .as_u64()
                            .map(|s| s.div_ceil(60) as u32),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Board {
            lang,
            portrait: display["layout"] == "portrait",
            current,
            recent: calls.collect(),
            queues,
            message: display["message"].as_str().unwrap_or_default().to_owned(),
            timezone: s.context["timezone"]
                .as_str()
                .and_then(|z| z.parse().ok())
                .unwrap_or(chrono_tz::UTC),
            offline: s.connection == Connection::Offline,
        }
    }

    /// "Guichet 3" for a counter named "3", the name as is otherwise.
    pub fn counter_label(&self, counter: &str) -> String {
        if !counter.is_empty() && counter.chars().all(|c| c.is_ascii_digit()) {
            format!("{} {counter}", self.lang.t(Label::Counter))
        } else {
            counter.to_owned()
        }
    }
}

/// Calls older than this (replayed after an outage) are shown but not announced.
pub const ANNOUNCE_WITHIN: chrono::Duration = chrono::Duration::seconds(60);

/// The sentence to speak for an event, if it is a fresh call or recall: both are announced (a
/// recall again), in the display's language; anything else, or a call replayed long after the
/// fact, is not.
pub fn announcement_for(event: &Envelope, lang: Lang, now: DateTime<Utc>) -> Option<String> {
    let (Event::TicketCalled(call) | Event::TicketRecalled(call)) = &event.event else {
        return None;
    };
    if now - event.at > ANNOUNCE_WITHIN {
        return None;
    }
    let display = call.display.as_ref()?;
    let text = match lang {
        Lang::Fr => &display.announce_fr,
        Lang::En => &display.announce_en,
    };
    (!text.is_empty()).then(|| text.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn called(id: &str, number: &str, counter: &str, at: &str) -> Value {
        json!({
            "id": id, "status": "called", "last_called_at": at, "recall_count": 0,
            "display": {"number": number, "counter": counter, "queue": "Comptes",
                        "announce_fr": format!("Ticket {number}, {counter}"), "announce_en": "x"}
        })
    }

    fn state(tickets: Vec<Value>, connection: Connection) -> SyncState {
        SyncState {
            connection,
            last_seq: 1,
            tickets: tickets
                .into_iter()
                .map(|t| (t["id"].as_str().unwrap().to_owned(), t))
                .collect::<BTreeMap<_, _>>(),
            pending_commands: 0,
            context: json!({
                "display": {"language": "fr", "layout": "portrait", "message": "Bienvenue"},
                "queues": [{"name": "Comptes", "waiting": 4, "eta_next_seconds": 610}],
                "timezone": "Europe/Paris"
            }),
            refused: false,
        }
    }

    #[test]
    fn the_latest_call_is_current_and_the_rest_are_recent() {
        let mut tickets: Vec<Value> = (1..=9)
            .map(|i| {
                called(
                    &format!("t{i}"),
                    &format!("A00{i}"),
                    "3",
                    &format!("2026-11-25T10:0{i}:00Z"),
                )
            })
            .collect();
        // Waiting tickets (never called) are not calls.
        tickets.push(json!({"id": "w", "status": "waiting"}));
        let b = Board::from_state(&state(tickets, Connection::Online));
        assert_eq!(b.current.as_ref().unwrap().number, "A009");
        assert_eq!(
            b.recent
                .iter()
                .map(|c| c.number.as_str())
                .collect::<Vec<_>>(),
            ["A008", "A007", "A006", "A005", "A004", "A003"]
        );
        assert_eq!(b.current.as_ref().unwrap().announce, "Ticket A009, 3");
        assert_eq!(
            b.queues,
            [QueueLine {
                name: "Comptes".into(),
                waiting: 4,
                wait_minutes: Some(11)
            }]
        );
        assert!(b.portrait && !b.offline);
        assert_eq!(b.timezone, chrono_tz::Europe::Paris);
        assert_eq!(b.counter_label("3"), "Guichet 3");
        assert_eq!(b.counter_label("Accueil"), "Accueil");
    }

    #[test]
    fn calls_and_recalls_are_announced_in_the_display_language_unless_stale() {
        let now = Utc::now();
        let ev = |kind: &str, secs_ago: i64| {
            let mut t = smartqueue_core::Ticket::waiting(
                smartqueue_core::Id::nil(),
                smartqueue_core::Id::nil(),
                "A042".into(),
                42,
                now.date_naive(),
                now,
            );
            t.status = smartqueue_core::TicketStatus::Called;
            let mut data = smartqueue_core::event::TicketEvent::new(t, None);
            data.display = Some(smartqueue_core::announce::call_display(
                "A042",
                Some("3"),
                "Comptes",
            ));
            let event = match kind {
                "ticket.called" => Event::TicketCalled(data),
                "ticket.recalled" => Event::TicketRecalled(data),
                _ => Event::TicketClosed(data),
            };
            Envelope {
                seq: 1,
                tenant: "bank".into(),
                at: now - chrono::Duration::seconds(secs_ago),
                event,
            }
        };
        assert_eq!(
            announcement_for(&ev("ticket.called", 1), Lang::Fr, now).as_deref(),
            Some("Ticket A 0 4 2, guichet 3")
        );
        assert_eq!(
            announcement_for(&ev("ticket.recalled", 1), Lang::En, now).as_deref(),
            Some("Ticket A 0 4 2, counter 3")
        );
        assert_eq!(
            announcement_for(&ev("ticket.called", 600), Lang::Fr, now),
            None,
            "replayed after an outage"
        );
        assert_eq!(
            announcement_for(&ev("ticket.closed", 1), Lang::Fr, now),
            None
        );
    }

    #[test]
    fn a_recall_moves_a_call_back_to_the_top() {
        let mut recalled = called("t1", "A001", "2", "2026-11-25T10:05:00Z");
        recalled["recall_count"] = json!(1);
        let tickets = vec![recalled, called("t2", "A002", "3", "2026-11-25T10:04:00Z")];
        let b = Board::from_state(&state(tickets, Connection::Offline));
        assert_eq!(
            b.current.as_ref().map(|c| (c.number.as_str(), c.recalls)),
            Some(("A001", 1))
        );
        assert!(b.offline);
    }
}
