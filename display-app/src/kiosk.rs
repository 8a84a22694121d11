//! Kiosk mode: choose a service → optionally a phone number for an SMS → the ticket (number,
//! position, wait, QR code to the tracking page), printed on the ESC/POS printer. Big touch
//! targets, French/English. Keeps issuing through outages with leased numbers
//! ([`smartqueue_core::kiosk`]); a ticket that cannot be printed is reprinted or taken back, and
//! the customer is told which.

use std::rc::Rc;
use std::time::Duration;

use chrono::Utc;
use dioxus::prelude::*;
use qrcode::QrCode;
use qrcode::render::svg;
use serde_json::Value;
use smartqueue_core::device::DeviceCredentials;
use smartqueue_core::kiosk::{IssuedTicket, KioskIssuer, Offer};
use smartqueue_core::numbering::business_day;
use smartqueue_core::sync::{Connection, SyncState};

use crate::app::Shared;

use crate::board::Lang;
use crate::printer::{TicketSlip, escpos, send};

/// Offline numbers a kiosk keeps in reserve per queue and day.
pub const RESERVE: u32 = 100;

/// One button of the menu.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub queue_id: String,
    pub label: String,
    pub waiting: Option<u32>,
    pub wait_minutes: Option<u32>,
    pub eta_seconds: Option<u32>,
}

/// The menu from the kiosk's snapshot.
pub fn choices(s: &SyncState) -> Vec<Choice> {
    s.context["queues"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|q| q["is_active"] != Value::Bool(false))
                .map(|q| {
                    let eta = q["eta_next_seconds"].as_u64().map(|e| e as u32);
                    Choice {
                        queue_id: q["id"].as_str().unwrap_or_default().to_owned(),
                        label: q["service_name"]
                            .as_str()
                            .or(q["name"].as_str())
                            .unwrap_or_default()
                            .to_owned(),
                        waiting: q["waiting"].as_u64().map(|w| w as u32),
                        wait_minutes: eta.map(|e| e.div_ceil(60)),
                        eta_seconds: eta,
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

fn t(lang: Lang, fr: &'static str, en: &'static str) -> &'static str {
    if lang == Lang::Fr { fr } else { en }
}

/// How printing went.
#[derive(Debug, Clone, PartialEq)]
pub enum Print {
    Printing,
    Printed,
    Failed(String),
    Cancelled,
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Choose,
    Phone(Choice),
    Issuing,
    Ticket(IssuedTicket, Choice, Print),
    Refused(String),
}

/// The QR code of `url` as inline SVG.
pub fn qr_svg(url: &str) -> String {
    QrCode::new(url.as_bytes())
        .map(|c| {
            c.render::<svg::Color<'_>>()
                .min_dimensions(240, 240)
                .quiet_zone(true)
                .build()
        })
        .unwrap_or_default()
}

/// The tracking page of a ticket.
pub fn tracking_url(c: &DeviceCredentials, token: &str) -> String {
    format!("{}/t/{}/{token}", c.base_url, c.tenant_slug)
}

fn details(lang: Lang, ticket: &IssuedTicket) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(p) = ticket.position {
        let approx = if ticket.offline { "≈ " } else { "" };
        out.push(format!("{} {approx}{p}", t(lang, "Position", "Position")));
    }
    if let Some(e) = ticket.eta_seconds {
        out.push(format!(
            "{} ≈ {} min",
            t(lang, "Attente", "Wait"),
            e.div_ceil(60)
        ));
    }
    out
}

fn print_ticket(
    creds: &DeviceCredentials,
    ticket: &IssuedTicket,
    choice: &Choice,
    lang: Lang,
    tz: chrono_tz::Tz,
) -> Result<(), String> {
    let slip = TicketSlip {
        header: creds.device["name"]
            .as_str()
            .unwrap_or("SmartQueue")
            .to_owned(),
        number: ticket.number.clone(),
        service: choice.label.clone(),
        details: details(lang, ticket),
        url: tracking_url(creds, &ticket.tracking_token),
        issued: ticket
            .issued_at
            .with_timezone(&tz)
            .format("%d/%m/%Y %H:%M")
            .to_string(),
    };
    let printer = creds.device["printer"].as_str();
    send(printer, &escpos(&slip)).map_err(|e| e.to_string())
}

/// The kiosk screen.
#[component]
pub fn KioskMode(creds: DeviceCredentials, engine: Shared, state: SyncState) -> Element {
    let mut lang =
        use_signal(|| Lang::of(state.context["kiosk"]["language"].as_str().unwrap_or("fr")));
    let mut step = use_signal(|| Step::Choose);
    let mut phone = use_signal(String::new);
    let issuer = use_hook(|| {
        let path = crate::app::data_dir().join(format!("kiosk-{}.db", creds.device_id));
        Rc::new(KioskIssuer::new(&creds, path).map_err(|e| e.to_string()))
    });
    let tz: chrono_tz::Tz = state.context["timezone"]
        .as_str()
        .and_then(|z| z.parse().ok())
        .unwrap_or(chrono_tz::UTC);
    let online = state.connection == Connection::Online;
    let queue_ids: Vec<String> = choices(&state).into_iter().map(|c| c.queue_id).collect();
    // Keep a reserve of offline numbers while the link is up.
    let topping = issuer.clone();
    let tenant = creds.tenant_slug.clone();
    use_effect(use_reactive(
        (&online, &queue_ids),
        move |(online, queue_ids)| {
            let issuer = topping.clone();
            let tenant = tenant.clone();
            if online && let Ok(issuer) = issuer.as_ref().as_ref().map(|_| issuer.clone()) {
                spawn(async move {
                    if let Ok(i) = issuer.as_ref() {
                        let today = business_day(Utc::now(), tz);
                        if let Err(e) = i.top_up(&tenant, &queue_ids, today, RESERVE).await {
                            eprintln!("could not lease offline numbers: {e}");
                        }
                    }
                });
            }
        },
    ));
    let l = lang();
    let issue = {
        let creds = creds.clone();
        let engine = engine.clone();
        let issuer = issuer.clone();
        move |choice: Choice, number: Option<String>| {
            let creds = creds.clone();
            let engine = engine.clone();
            let issuer = issuer.clone();
            step.set(Step::Issuing);
            spawn(async move {
                let Ok(i) = issuer.as_ref() else {
                    step.set(Step::Refused("local storage unavailable".into()));
                    return;
                };
                let offer = Offer {
                    queue_id: choice.queue_id.clone(),
                    waiting: choice.waiting,
                    eta_seconds: choice.eta_seconds,
                };
                let today = business_day(Utc::now(), tz);
                match i
                    .issue(&engine, &creds.tenant_slug, &offer, number, today)
                    .await
                {
                    Ok(ticket) => {
                        step.set(Step::Ticket(
                            ticket.clone(),
                            choice.clone(),
                            Print::Printing,
                        ));
                        let lang = lang();
                        let printed = tokio::task::spawn_blocking(move || {
                            print_ticket(&creds, &ticket, &choice, lang, tz)
                                .map(|()| (ticket, choice))
                        })
                        .await;
                        step.with_mut(|s| {
                            if let Step::Ticket(_, _, p) = s {
                                *p = match printed {
                                    Ok(Ok(_)) => Print::Printed,
                                    Ok(Err(e)) => Print::Failed(e),
                                    Err(e) => Print::Failed(e.to_string()),
                                };
                            }
                        });
                    }
                    Err(e) => step.set(Step::Refused(e.to_string())),
                }
            });
        }
    };
    // Back to the menu a little while after a ticket is done.
    use_effect(move || {
        let done = matches!(
            step(),
            Step::Ticket(_, _, Print::Printed | Print::Cancelled) | Step::Refused(_)
        );
        if done {
            spawn(async move {
                tokio::time::sleep(Duration::from_secs(12)).await;
                if matches!(
                    step.peek().clone(),
                    Step::Ticket(_, _, Print::Printed | Print::Cancelled) | Step::Refused(_)
                ) {
                    phone.set(String::new());
                    step.set(Step::Choose);
                }
            });
        }
    });
    let banner = (!online).then(|| {
        t(
            l,
            "Hors ligne — vos tickets restent valables",
            "Offline — your tickets remain valid",
        )
    });
    rsx! {
        div { class: "kiosk",
            if let Some(b) = banner { div { class: "banner", id: "offline", "{b}" } }
            div { class: "top",
                span { {creds.device["name"].as_str().unwrap_or("SmartQueue")} }
                div { class: "langs",
                    button { class: if l == Lang::Fr { "lang on" } else { "lang" }, id: "lang-fr", onclick: move |_| lang.set(Lang::Fr), "FR" }
                    button { class: if l == Lang::En { "lang on" } else { "lang" }, id: "lang-en", onclick: move |_| lang.set(Lang::En), "EN" }
                }
            }
            match step() {
                Step::Choose => rsx! {
                    ChooseView { lang: l, choices: choices(&state), on_choose: move |c: Choice| step.set(Step::Phone(c)) }
                },
                Step::Phone(c) => {
                    let mut issue_with = issue.clone();
                    let mut issue_without = issue.clone();
                    let c2 = c.clone();
                    rsx! {
                        PhoneView {
                            lang: l,
                            phone: phone(),
                            on_key: move |k: char| phone.with_mut(|p| match k {
                                '<' => { p.pop(); }
                                k if p.len() < 20 => p.push(k),
                                _ => {}
                            }),
                            on_skip: move |_| issue_without(c2.clone(), None),
                            on_done: move |_| {
                                let p = phone();
                                let digits = p.chars().filter(char::is_ascii_digit).count();
                                if (6..=20).contains(&digits) { issue_with(c.clone(), Some(p)) }
                            },
                        }
                    }
                }
                Step::Issuing => rsx! { div { class: "kmsg", {t(l, "Impression de votre ticket…", "Printing your ticket…")} } },
                Step::Refused(why) => rsx! {
                    div { class: "kmsg",
                        p { {t(l, "Désolé, aucun ticket n'a pu être délivré :", "Sorry, no ticket could be issued:")} }
                        p { class: "why", "{why}" }
                    }
                },
                Step::Ticket(ticket, choice, print) => {
                    let retry_creds = creds.clone();
                    let retry_t = ticket.clone();
                    let retry_c = choice.clone();
                    let cancel_engine = engine.clone();
                    let cancel_issuer = issuer.clone();
                    let cancel_t = ticket.clone();
                    rsx! {
                        TicketView {
                            lang: l,
                            ticket: ticket.clone(),
                            service: choice.label.clone(),
                            qr: qr_svg(&tracking_url(&creds, &ticket.tracking_token)),
                            print: print.clone(),
                            on_retry: move |_| {
                                step.with_mut(|s| if let Step::Ticket(_, _, p) = s { *p = Print::Printing });
                                let (c, tk, ch) = (retry_creds.clone(), retry_t.clone(), retry_c.clone());
                                let lang = lang();
                                spawn(async move {
                                    let r = tokio::task::spawn_blocking(move || print_ticket(&c, &tk, &ch, lang, tz)).await;
                                    step.with_mut(|s| if let Step::Ticket(_, _, p) = s {
                                        *p = match r { Ok(Ok(())) => Print::Printed, Ok(Err(e)) => Print::Failed(e), Err(e) => Print::Failed(e.to_string()) };
                                    });
                                });
                            },
                            on_cancel: move |_| {
                                if let Ok(i) = cancel_issuer.as_ref() {
                                    let _ = i.cancel(&cancel_engine, &cancel_t);
                                }
                                step.with_mut(|s| if let Step::Ticket(_, _, p) = s { *p = Print::Cancelled });
                            },
                        }
                    }
                }
            }
        }
    }
}

/// The menu: one big button per service.
#[component]
pub fn ChooseView(lang: Lang, choices: Vec<Choice>, on_choose: EventHandler<Choice>) -> Element {
    rsx! {
        h1 { class: "khead", {t(lang, "Choisissez votre service", "Choose your service")} }
        div { class: "choices",
            for c in choices.into_iter() {
                button { class: "choice", key: "{c.queue_id}", id: "choose-{c.queue_id}",
                    onclick: {
                        let c = c.clone();
                        move |_| on_choose.call(c.clone())
                    },
                    div { class: "svc", "{c.label}" }
                    div { class: "meta",
                        if let Some(w) = c.waiting { "{w} {t(lang, \"en attente\", \"waiting\")}" }
                        if let Some(m) = c.wait_minutes { " · ≈ {m} min" }
                    }
                }
            }
        }
    }
}

/// The optional phone number, typed on a big keypad.
#[component]
pub fn PhoneView(
    lang: Lang,
    phone: String,
    on_key: EventHandler<char>,
    on_skip: EventHandler<()>,
    on_done: EventHandler<()>,
) -> Element {
    let shown = if phone.is_empty() {
        "—".to_owned()
    } else {
        phone.clone()
    };
    rsx! {
        h1 { class: "khead", {t(lang, "Être prévenu par SMS ? (facultatif)", "Get a text when it's your turn? (optional)")} }
        div { class: "phone", id: "phone", "{shown}" }
        div { class: "keypad",
            for k in ['1', '2', '3', '4', '5', '6', '7', '8', '9', '+', '0', '<'] {
                button { class: "key", key: "{k}", onclick: move |_| on_key.call(k),
                    if k == '<' { "⌫" } else { "{k}" }
                }
            }
        }
        div { class: "actions",
            button { class: "secondary", id: "skip", onclick: move |_| on_skip.call(()), {t(lang, "Sans SMS", "No text")} }
            button { class: "primary", id: "done", onclick: move |_| on_done.call(()), {t(lang, "Valider", "Continue")} }
        }
    }
}

/// The issued ticket, with its QR code and how printing went.
#[component]
pub fn TicketView(
    lang: Lang,
    ticket: IssuedTicket,
    service: String,
    qr: String,
    print: Print,
    on_retry: EventHandler<()>,
    on_cancel: EventHandler<()>,
) -> Element {
    let info = details(lang, &ticket).join(" · ");
    // A cancelled ticket must not look valid: number struck through, no QR code.
    let void = print == Print::Cancelled;
    rsx! {
        div { class: if void { "ticket void" } else { "ticket" },
            div { class: "left",
                p { class: "svc", "{service}" }
                div { class: "num", id: "ticket-number", "{ticket.number}" }
                if !void {
                    p { class: "info", "{info}" }
                }
                if ticket.offline && !void {
                    p { class: "note", {t(lang, "Émis hors ligne : il rejoindra la file dès le retour du réseau.", "Issued offline: it joins the line as soon as the network is back.")} }
                }
            }
            if !void {
                div { class: "right",
                    div { class: "qr", dangerous_inner_html: "{qr}" }
                    p { class: "note", {t(lang, "Suivez votre tour sur votre téléphone", "Follow your turn on your phone")} }
                }
            }
        }
        match print {
            Print::Printing => rsx! { p { class: "pstate", {t(lang, "Impression…", "Printing…")} } },
            Print::Printed => rsx! { p { class: "pstate ok", {t(lang, "Prenez votre ticket ci-dessous. Merci !", "Please take your ticket below. Thank you!")} } },
            Print::Cancelled => rsx! { p { class: "pstate", id: "cancelled", {t(lang, "Ticket annulé. Vous pouvez en prendre un autre.", "Ticket cancelled. You may take another one.")} } },
            Print::Failed(why) => rsx! {
                div { class: "pfail", id: "print-failed",
                    p { {t(lang, "L'impression a échoué. Notez votre numéro ou photographiez le QR code, réessayez, ou annulez ce ticket.", "Printing failed. Note your number or photograph the QR code, retry, or cancel this ticket.")} }
                    p { class: "why", "{why}" }
                    div { class: "actions",
                        button { class: "secondary", id: "cancel-ticket", onclick: move |_| on_cancel.call(()), {t(lang, "Annuler le ticket", "Cancel ticket")} }
                        button { class: "primary", id: "retry-print", onclick: move |_| on_retry.call(()), {t(lang, "Réessayer", "Retry")} }
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders a root component to HTML (event handlers need the Dioxus runtime, which the
    /// VirtualDom provides).
    fn render(root: fn() -> Element) -> String {
        let mut dom = VirtualDom::new(root);
        dom.rebuild_in_place();
        dioxus::ssr::render(&dom)
    }

    fn ticket(offline: bool) -> IssuedTicket {
        IssuedTicket {
            number: if offline {
                "K5001".into()
            } else {
                "K004".into()
            },
            queue_id: "q".into(),
            tracking_token: "ab".repeat(24),
            position: Some(4),
            eta_seconds: Some(700),
            issued_at: Utc::now(),
            offline,
        }
    }

    fn menu_state() -> SyncState {
        SyncState {
            connection: Connection::Online,
            last_seq: 0,
            tickets: Default::default(),
            pending_commands: 0,
            context: serde_json::json!({"queues": [
                {"id": "a", "name": "Queue A", "service_name": "Comptes", "waiting": 3, "eta_next_seconds": 400, "is_active": true},
                {"id": "b", "name": "Queue B", "waiting": 0, "is_active": false}
            ]}),
            refused: false,
        }
    }

    #[test]
    fn the_menu_lists_active_services_with_their_wait() {
        let c = choices(&menu_state());
        assert_eq!(c.len(), 1);
        assert_eq!(
            (c[0].label.as_str(), c[0].waiting, c[0].wait_minutes),
            ("Comptes", Some(3), Some(7))
        );
        let html = render(
            || rsx! { ChooseView { lang: Lang::En, choices: choices(&menu_state()), on_choose: |_| {} } },
        );
        assert!(
            html.contains("Choose your service")
                && html.contains("Comptes")
                && html.contains("3 waiting"),
            "{html}"
        );
    }

    #[test]
    fn the_ticket_shows_number_place_wait_and_a_qr_code() {
        let qr = qr_svg("http://x/t/bank/abab");
        assert!(qr.contains("<svg"), "{qr}");
        let html = render(|| {
            rsx! {
                TicketView { lang: Lang::Fr, ticket: ticket(false), service: "Cartes", qr: qr_svg("http://x/t/bank/abab"), print: Print::Printed, on_retry: |_| {}, on_cancel: |_| {} }
            }
        });
        for want in [
            "K004",
            "Position 4",
            "Attente ≈ 12 min",
            "<svg",
            "Prenez votre ticket",
        ] {
            assert!(html.contains(want), "{want} missing: {html}");
        }
        assert!(!html.contains("hors ligne"));
    }

    #[test]
    fn an_offline_ticket_says_so_and_a_failed_print_offers_retry_and_cancel() {
        let html = render(|| {
            rsx! {
                TicketView { lang: Lang::En, ticket: ticket(true), service: "Cards", qr: String::new(), print: Print::Failed("printer unreachable".into()), on_retry: |_| {}, on_cancel: |_| {} }
            }
        });
        for want in [
            "K5001",
            "Position ≈ 4",
            "Issued offline",
            "Printing failed",
            "retry-print",
            "cancel-ticket",
            "printer unreachable",
        ] {
            assert!(html.contains(want), "{want} missing: {html}");
        }
    }

    #[test]
    fn a_cancelled_ticket_no_longer_looks_valid() {
        let html = render(|| {
            rsx! {
                TicketView { lang: Lang::Fr, ticket: ticket(true), service: "Cartes", qr: qr_svg("http://x/t/b/ab"), print: Print::Cancelled, on_retry: |_| {}, on_cancel: |_| {} }
            }
        });
        assert!(
            html.contains("ticket void") && html.contains("Ticket annulé"),
            "{html}"
        );
        assert!(
            !html.contains("<svg") && !html.contains("Position"),
            "{html}"
        );
    }

    #[test]
    fn the_keypad_offers_digits_skip_and_continue() {
        let html = render(|| {
            rsx! {
                PhoneView { lang: Lang::Fr, phone: "+336", on_key: |_| {}, on_skip: |_| {}, on_done: |_| {} }
            }
        });
        assert!(
            html.contains("+336")
                && html.contains("Sans SMS")
                && html.contains("Valider")
                && html.contains("⌫"),
            "{html}"
        );
    }
}
