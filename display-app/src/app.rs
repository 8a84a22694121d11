//! The screens: pairing, then the display (or kiosk) the device was paired as.

use std::path::PathBuf;
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use chrono::Utc;
use dioxus::prelude::*;
use smartqueue_core::client::ApiClient;
use smartqueue_core::device::{DeviceCredentials, DeviceMode, PairingCode, PollOutcome};
use smartqueue_core::event::Event;
use smartqueue_core::store::LocalStore;
use smartqueue_core::sync::{SyncConfig, SyncEngine};

use crate::board::{Board, Label, Lang};
use crate::speech::{Announcer, Aplay, EspeakNg, Say};

/// How the app was started.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Server base URL.
    pub server: String,
    /// Where the device keeps its credentials and last known state.
    pub data_dir: PathBuf,
    /// Skip the mode choice on the pairing screen.
    pub mode: Option<DeviceMode>,
    /// Speak calls aloud.
    pub speech: bool,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// Sets the settings (once, before launch).
pub fn configure(s: Settings) {
    let _ = SETTINGS.set(s);
}

/// Where the device keeps its files.
pub fn data_dir() -> PathBuf {
    settings().data_dir.clone()
}

/// A running sync engine shared by the screens (equal when it is the same engine).
#[derive(Clone)]
pub struct Shared(pub Rc<SyncEngine>);

impl PartialEq for Shared {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl std::ops::Deref for Shared {
    type Target = SyncEngine;
    fn deref(&self) -> &SyncEngine {
        &self.0
    }
}

fn settings() -> &'static Settings {
    SETTINGS.get_or_init(|| Settings {
        server: "http://127.0.0.1:8000".into(),
        data_dir: PathBuf::from("smartqueue-display-data"),
        mode: None,
        speech: true,
    })
}

const CREDENTIALS: &str = "device.credentials";

fn device_store() -> Option<LocalStore> {
    let dir = &settings().data_dir;
    std::fs::create_dir_all(dir).ok()?;
    LocalStore::open(dir.join("device.db")).ok()
}

/// The credentials kept from an earlier pairing (for this server).
pub fn saved_credentials() -> Option<DeviceCredentials> {
    device_store()?
        .get::<DeviceCredentials>(CREDENTIALS)
        .ok()
        .flatten()
        .filter(|c| c.base_url == settings().server)
}

fn save_credentials(c: Option<&DeviceCredentials>) {
    if let Some(store) = device_store() {
        let _ = match c {
            Some(c) => store.put(CREDENTIALS, c),
            None => store.put(CREDENTIALS, &serde_json::Value::Null),
        };
    }
}

/// Shared page styles: large type readable from 5 m, high contrast.
pub const STYLE: &str = r#"
html, body { margin: 0; padding: 0; height: 100%; overflow: hidden; background: #0b2538; color: #fff;
  font-family: "DejaVu Sans", sans-serif; }
.screen { height: 100vh; display: flex; flex-direction: column; }
.top { display: flex; justify-content: space-between; align-items: center; padding: 1.2vh 2.5vw;
  background: #082030; font-size: 3.2vh; }
.clock { font-size: 5vh; font-weight: bold; font-variant-numeric: tabular-nums; }
.main { flex: 1; display: flex; min-height: 0; }
.portrait .main { flex-direction: column; }
.now { flex: 3; display: flex; flex-direction: column; align-items: center; justify-content: center;
  background: #0e4a6e; }
.now .label { font-size: 5vh; letter-spacing: .1em; text-transform: uppercase; opacity: .85; }
.now .number { font-size: 24vh; font-weight: bold; line-height: 1; margin: 2vh 0; }
.portrait .now { flex: none; padding: 3vh 0; }
.portrait .now .number { font-size: 13vh; margin: 1vh 0; }
.portrait .now .counter { font-size: 6vh; }
.portrait .now .label { font-size: 3vh; }
.portrait .now .queue { font-size: 2.6vh; }
.portrait .recent { flex: 1; overflow: hidden; }
.portrait .recent h2 { font-size: 2.6vh; }
.portrait .queues { font-size: 2.4vh; flex-direction: column; gap: .8vh; }
.portrait .queues .q b { font-size: 2.8vh; }
.portrait .ticker { font-size: 2.8vh; }
.now .counter { font-size: 9vh; font-weight: bold; color: #ffd34d; }
.now .queue { font-size: 4vh; opacity: .8; margin-top: 1vh; }
.now .idle { font-size: 6vh; text-align: center; padding: 0 4vw; }
.flash { animation: flash 1s ease-in-out 3; }
@keyframes flash { 50% { background: #1d7fb8; } }
.recent { flex: 2; padding: 2vh 2vw; background: #0b2538; }
.recent h2 { font-size: 4vh; margin: 0 0 1.5vh 0; text-transform: uppercase; opacity: .8; }
.recent .row { display: flex; justify-content: space-between; font-size: 6vh; padding: 1vh 1vw;
  border-bottom: 1px solid #24506c; }
.portrait .recent .row { font-size: 3.6vh; padding: .6vh 1vw; }
.recent .row .c { color: #ffd34d; }
.queues { display: flex; gap: 2vw; padding: 1.5vh 2.5vw; background: #082030; font-size: 3.4vh; flex-wrap: wrap; }
.queues .q b { font-size: 4vh; }
.ticker { overflow: hidden; white-space: nowrap; background: #ffd34d; color: #082030; font-size: 4vh;
  padding: 1vh 0; font-weight: bold; }
.ticker span { display: inline-block; padding-left: 100%; animation: scroll 25s linear infinite; }
@keyframes scroll { to { transform: translateX(-100%); } }
.banner { background: #c0392b; color: #fff; text-align: center; font-size: 3.5vh; padding: 1vh; font-weight: bold; }
.pair { height: 100vh; display: flex; flex-direction: column; align-items: center; justify-content: center;
  gap: 4vh; text-align: center; }
.pair h1 { font-size: 6vh; margin: 0; }
.pair .code { font-size: 18vh; font-weight: bold; letter-spacing: .12em; font-family: "DejaVu Sans Mono", monospace;
  background: #fff; color: #0b2538; padding: 2vh 4vw; border-radius: 2vh; }
.pair p { font-size: 3.5vh; margin: 0; max-width: 80vw; opacity: .9; }
.pair .modes { display: flex; gap: 4vw; }
.pair button { font-size: 5vh; padding: 5vh 5vw; border-radius: 2vh; border: none; background: #ffd34d;
  color: #0b2538; font-weight: bold; min-width: 30vw; cursor: pointer; }
.pair .problem { color: #ff8a80; }
.kiosk { height: 100vh; display: flex; flex-direction: column; }
.kiosk .langs { display: flex; gap: 1vw; }
.kiosk .lang { font-size: 3vh; padding: 1vh 2vw; border-radius: 1vh; border: 2px solid #ffd34d; background: none; color: #ffd34d; }
.kiosk .lang.on { background: #ffd34d; color: #0b2538; font-weight: bold; }
.khead { font-size: 5.5vh; text-align: center; margin: 3vh 0 2vh; }
.choices { display: grid; grid-template-columns: repeat(auto-fit, minmax(40vw, 1fr)); gap: 3vh 3vw; padding: 0 5vw; }
.choice { background: #ffd34d; color: #0b2538; border: none; border-radius: 2vh; padding: 5vh 2vw; min-height: 20vh; }
.choice .svc { font-size: 6vh; font-weight: bold; }
.choice .meta { font-size: 3vh; margin-top: 1vh; }
.phone { font-size: 6vh; text-align: center; font-family: "DejaVu Sans Mono", monospace; margin-bottom: 1.5vh; }
.keypad { display: grid; grid-template-columns: repeat(3, 16vw); gap: 1.5vh 1.5vw; justify-content: center; }
.key { font-size: 5vh; padding: 1.2vh 0; border-radius: 1.5vh; border: none; background: #fff; color: #0b2538; }
.actions { display: flex; gap: 3vw; justify-content: center; margin-top: 2.5vh; }
.actions button { font-size: 4vh; padding: 2vh 4vw; border-radius: 1.5vh; border: none; min-width: 25vw; font-weight: bold; }
.primary { background: #ffd34d; color: #0b2538; }
.secondary { background: #24506c; color: #fff; }
.kmsg { flex: 1; display: flex; flex-direction: column; align-items: center; justify-content: center; font-size: 5vh; text-align: center; padding: 0 5vw; }
.kmsg .why, .pfail .why { font-size: 3vh; opacity: .8; }
.ticket { flex: 1; display: flex; align-items: center; justify-content: space-around; padding: 2vh 4vw; }
.ticket .left { text-align: center; }
.ticket .svc { font-size: 5vh; margin: 0; }
.ticket .num { font-size: 18vh; font-weight: bold; line-height: 1.1; }
.ticket.void .num { text-decoration: line-through; opacity: .5; }
.ticket .info { font-size: 4.5vh; margin: 1vh 0; }
.ticket .note { font-size: 2.8vh; opacity: .85; max-width: 45vw; }
.ticket .qr svg { width: 30vh; height: 30vh; background: #fff; border-radius: 1vh; }
.ticket .right { text-align: center; }
.pstate { font-size: 4.5vh; text-align: center; margin: 0 0 4vh; }
.pstate.ok { color: #7dffa1; }
.pfail { background: #5c1d16; margin: 0 4vw 2vh; padding: 1.5vh 2vw; border-radius: 2vh; text-align: center; font-size: 3.5vh; }
"#;

/// The root: pairing until the device has credentials, then its mode.
#[component]
pub fn App() -> Element {
    let mut creds = use_signal(saved_credentials);
    match creds() {
        None => rsx! {
            Pairing {
                on_paired: move |c: DeviceCredentials| {
                    save_credentials(Some(&c));
                    creds.set(Some(c));
                },
            }
        },
        Some(c) => rsx! {
            Running {
                creds: c,
                on_revoked: move |_| {
                    save_credentials(None);
                    creds.set(None);
                },
            }
        },
    }
}

/// The pairing screen: choose the mode, show the code, wait for an admin to enter it.
#[component]
fn Pairing(on_paired: EventHandler<DeviceCredentials>) -> Element {
    let mut mode = use_signal(|| settings().mode);
    let mut code = use_signal(|| None::<PairingCode>);
    let mut problem = use_signal(|| None::<String>);
    let _pairing = use_resource(move || async move {
        let Some(m) = mode() else {
            return;
        };
        let api = ApiClient::new(settings().server.clone());
        loop {
            let p = match api.start_pairing(m).await {
                Ok(p) => p,
                Err(e) => {
                    problem.set(Some(format!(
                        "Serveur injoignable / server unreachable ({}) — nouvel essai…",
                        e.code()
                    )));
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    continue;
                }
            };
            problem.set(None);
            code.set(Some(p.clone()));
            loop {
                tokio::time::sleep(Duration::from_secs(u64::from(p.poll_seconds.max(1)))).await;
                match api.poll_pairing(&p).await {
                    Ok(PollOutcome::Pending) => problem.set(None),
                    Ok(PollOutcome::Paired(c)) => {
                        on_paired.call(c);
                        return;
                    }
                    Ok(PollOutcome::Expired) => break,
                    Err(_) => problem.set(Some(
                        "Serveur injoignable / server unreachable — nouvel essai…".into(),
                    )),
                }
            }
        }
    });
    rsx! {
        div { class: "pair",
            if mode().is_none() {
                h1 { "SmartQueue" }
                p { "Cet appareil sera… / This device will be…" }
                div { class: "modes",
                    button { id: "mode-display", onclick: move |_| mode.set(Some(DeviceMode::Display)),
                        "Écran d'affichage" br {} "Display screen"
                    }
                    button { id: "mode-kiosk", onclick: move |_| mode.set(Some(DeviceMode::Kiosk)),
                        "Borne de tickets" br {} "Ticket kiosk"
                    }
                }
            } else {
                h1 {
                    if mode() == Some(DeviceMode::Kiosk) { "Borne à appairer / Kiosk to pair" } else { "Écran à appairer / Display to pair" }
                }
                match code() {
                    Some(p) => rsx! {
                        div { class: "code", id: "pairing-code", "{p.code}" }
                        p { "Saisissez ce code dans la console SmartQueue : Paramètres → Écrans et bornes → Appairer." }
                        p { "Enter this code in the SmartQueue console: Settings → Displays and kiosks → Pair." }
                    },
                    None => rsx! { p { "Demande d'un code… / Asking for a code…" } },
                }
            }
            if let Some(why) = problem() {
                p { class: "problem", "{why}" }
            }
        }
    }
}

/// A paired device: the live display.
#[component]
fn Running(creds: DeviceCredentials, on_revoked: EventHandler<()>) -> Element {
    let engine: Result<Shared, String> =
        use_hook(|| start_engine(&creds).map(|e| Shared(Rc::new(e))));
    let mut state = use_signal(|| engine.as_ref().ok().map(|e| e.state()));
    let mut now = use_signal(Utc::now);
    let mut flash = use_signal(|| 0u64);
    let watched = engine.clone();
    use_future(move || {
        let rx = watched.as_ref().ok().map(|e| e.subscribe());
        async move {
            let Some(mut rx) = rx else { return };
            loop {
                let s = rx.borrow_and_update().clone();
                state.set(Some(s));
                if rx.changed().await.is_err() {
                    return;
                }
            }
        }
    });
    let heard = engine.clone();
    let is_display = creds.mode == DeviceMode::Display;
    use_future(move || {
        let events = heard
            .as_ref()
            .ok()
            .filter(|_| is_display)
            .map(|e| e.events());
        async move {
            let Some(mut events) = events else { return };
            let announcer = settings().speech.then(|| {
                Announcer::start(Box::new(EspeakNg), Box::new(Aplay), |say, took| {
                    eprintln!(
                        "announcing \"{}\": started {} ms after the call reached the display",
                        say.text,
                        took.as_millis()
                    );
                })
            });
            while let Ok(e) = events.recv().await {
                let (Event::TicketCalled(call) | Event::TicketRecalled(call)) = &e.event else {
                    continue;
                };
                let lang = state
                    .peek()
                    .as_ref()
                    .map(|s| Lang::of(s.context["display"]["language"].as_str().unwrap_or("fr")))
                    .unwrap_or(Lang::Fr);
                eprintln!(
                    "call {} on screen {} ms after the server committed it",
                    call.ticket.number,
                    (Utc::now() - e.at).num_milliseconds()
                );
                flash += 1;
                if let (Some(text), Some(a)) = (
                    crate::board::announcement_for(&e, lang, Utc::now()),
                    &announcer,
                ) {
                    a.say(Say {
                        text,
                        lang: lang.code().into(),
                        received: Instant::now(),
                    });
                }
            }
        }
    });
    use_future(move || async move {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            now.set(Utc::now());
        }
    });
    let snapshot = state();
    if snapshot.as_ref().is_some_and(|s| s.refused) {
        on_revoked.call(());
    }
    match (engine, snapshot) {
        (Err(e), _) => rsx! {
            div { class: "pair", h1 { "SmartQueue" } p { class: "problem", "{e}" } }
        },
        (Ok(engine), Some(s)) if creds.mode == DeviceMode::Kiosk => rsx! {
            crate::kiosk::KioskMode { creds: creds.clone(), engine, state: s }
        },
        (Ok(_), Some(s)) => {
            let board = Board::from_state(&s);
            rsx! { BoardView { board, now: now(), flash: flash() } }
        }
        (Ok(_), None) => rsx! { div { class: "pair", p { "…" } } },
    }
}

fn start_engine(c: &DeviceCredentials) -> Result<SyncEngine, String> {
    let path = settings().data_dir.join(format!("sync-{}.db", c.device_id));
    let mut config = SyncConfig::new(
        c.base_url.clone(),
        c.tenant_slug.clone(),
        c.token.clone(),
        c.channel(),
        c.snapshot(),
        path,
    );
    config.max_tickets = 64;
    SyncEngine::start(config).map_err(|e| format!("local storage unavailable: {e}"))
}

/// The waiting-room board.
#[component]
pub fn BoardView(board: Board, now: chrono::DateTime<Utc>, flash: u64) -> Element {
    let lang = board.lang;
    let clock = now
        .with_timezone(&board.timezone)
        .format("%H:%M")
        .to_string();
    let layout = if board.portrait {
        "screen portrait"
    } else {
        "screen"
    };
    let now_class = if flash % 2 == 1 { "now flash" } else { "now" };
    rsx! {
        div { class: "{layout}",
            if board.offline {
                div { class: "banner", id: "offline", {lang.t(Label::Reconnecting)} }
            }
            div { class: "top",
                span { "SmartQueue" }
                span { class: "clock", id: "clock", "{clock}" }
            }
            div { class: "main",
                div { class: "{now_class}", id: "now",
                    match &board.current {
                        Some(c) => rsx! {
                            div { class: "label", {lang.t(Label::NowCalling)} }
                            div { class: "number", id: "now-number", "{c.number}" }
                            if let Some(counter) = &c.counter {
                                div { class: "counter", id: "now-counter", {board.counter_label(counter)} }
                            }
                            div { class: "queue", "{c.queue}" }
                        },
                        None => rsx! { div { class: "idle", {lang.t(Label::NoCallYet)} } },
                    }
                }
                div { class: "recent",
                    h2 { {lang.t(Label::LastCalls)} }
                    for c in board.recent.iter() {
                        div { class: "row", key: "{c.ticket_id}",
                            span { "{c.number}" }
                            span { class: "c", {c.counter.as_deref().map(|x| board.counter_label(x)).unwrap_or_default()} }
                        }
                    }
                }
            }
            div { class: "queues",
                for q in board.queues.iter() {
                    div { class: "q", key: "{q.name}",
                        b { "{q.name}" }
                        " · {q.waiting} {lang.t(Label::Waiting)}"
                        if let Some(m) = q.wait_minutes {
                            " · {lang.t(Label::AboutWait)} {m} min"
                        }
                    }
                }
            }
            if !board.message.is_empty() {
                div { class: "ticker", span { "{board.message}" } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::{Call, QueueLine};

    fn board(offline: bool) -> Board {
        let call = |n: &str, c: &str, min: u32| Call {
            ticket_id: n.into(),
            number: n.into(),
            counter: Some(c.into()),
            queue: "Comptes".into(),
            at: chrono::DateTime::parse_from_rfc3339(&format!("2026-11-25T10:{min:02}:00Z"))
                .unwrap()
                .with_timezone(&Utc),
            recalls: 0,
            announce: String::new(),
        };
        Board {
            lang: Lang::Fr,
            portrait: false,
            current: Some(call("A042", "3", 10)),
            recent: vec![call("A041", "Accueil", 9)],
            queues: vec![QueueLine {
                name: "Comptes".into(),
                waiting: 7,
                wait_minutes: Some(12),
            }],
            message: "Fermeture à 17 h".into(),
            timezone: chrono_tz::Europe::Paris,
            offline,
        }
    }

    #[test]
    fn the_board_shows_the_call_its_counter_the_lines_and_the_clock_in_the_site_zone() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-25T13:05:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let html =
            dioxus::ssr::render_element(rsx! { BoardView { board: board(false), now, flash: 0 } });
        for want in [
            "A042",
            "Guichet 3",
            "Appel en cours",
            "A041",
            "Accueil",
            "7 en attente",
            "12 min",
            "Fermeture à 17 h",
        ] {
            assert!(html.contains(want), "{want} missing in {html}");
        }
        // 13:05 UTC is 14:05 in Paris in November.
        assert!(html.contains("14:05"), "{html}");
        assert!(!html.contains("reconnexion"));
    }

    #[test]
    fn offline_the_board_keeps_its_calls_and_says_it_is_reconnecting() {
        let html = dioxus::ssr::render_element(
            rsx! { BoardView { board: board(true), now: Utc::now(), flash: 1 } },
        );
        assert!(html.contains("Connexion perdue — reconnexion…"), "{html}");
        assert!(html.contains("A042") && html.contains("now flash"));
    }

    #[test]
    fn an_idle_english_board_welcomes() {
        let mut b = board(false);
        b.lang = Lang::En;
        b.current = None;
        b.recent.clear();
        let html =
            dioxus::ssr::render_element(rsx! { BoardView { board: b, now: Utc::now(), flash: 0 } });
        assert!(
            html.contains("Welcome — please wait to be called"),
            "{html}"
        );
        assert!(html.contains("Last calls"));
    }
}
