//! SmartQueue desktop console: a thin Tauri shell whose commands call [`console::Console`]
//! (session, keyring, agent actions) and core's sync engine (the live waiting list), and whose
//! screens are computed by [`views`] from core's rules. The UI lives in `desktop/ui` (plain
//! HTML/JS, no build step) and only displays what it is given.

pub mod console;
pub mod views;

use std::sync::Mutex;

use console::{Console, Keyring, Problem, SignedIn};
use serde_json::{Value, json};
use smartqueue_core::sync::{SyncConfig, SyncEngine};
use tauri::State;
use tauri::ipc::Channel;
use views::Counter;

/// What the window's commands share.
pub struct Desk {
    pub console: Console,
    /// The live feed of the current tenant (replaced on sign-in and tenant switch).
    feed: Mutex<Option<SyncEngine>>,
    /// What the counter's views are computed from besides the feed (the agent's queues, their
    /// wait-estimate inputs, the held ticket); a change re-sends the view to the window.
    counter: tokio::sync::watch::Sender<Counter>,
}

impl Desk {
    /// A console keeping its session in the OS keyring (entry `session`, or
    /// `SMARTQUEUE_KEYRING_ACCOUNT` — end-to-end tests use their own).
    pub fn new() -> Self {
        let account =
            std::env::var("SMARTQUEUE_KEYRING_ACCOUNT").unwrap_or_else(|_| "session".into());
        Desk::with(Console::new(Box::new(Keyring::new(account))))
    }

    /// A console over `console` (tests use in-memory secrets).
    pub fn with(console: Console) -> Self {
        Desk {
            console,
            feed: Mutex::new(None),
            counter: tokio::sync::watch::Sender::new(Counter::default()),
        }
    }
}

impl Default for Desk {
    fn default() -> Self {
        Self::new()
    }
}

#[tauri::command]
async fn sign_in(
    desk: State<'_, Desk>,
    server: String,
    email: String,
    password: String,
    tenant: Option<String>,
) -> Result<SignedIn, Problem> {
    desk.counter.send_replace(Counter::default());
    desk.console
        .sign_in(&server, &email, &password, tenant.as_deref())
        .await
}

#[tauri::command]
async fn restore(desk: State<'_, Desk>) -> Result<Option<SignedIn>, Problem> {
    desk.console.restore().await
}

#[tauri::command]
async fn switch_tenant(desk: State<'_, Desk>, slug: String) -> Result<SignedIn, Problem> {
    // Nothing of the other tenant's counter may show in this one.
    desk.counter.send_replace(Counter::default());
    desk.console.switch_tenant(&slug).await
}

#[tauri::command]
fn sign_out(desk: State<'_, Desk>) -> Result<(), Problem> {
    if let Ok(mut f) = desk.feed.lock() {
        f.take();
    }
    desk.counter.send_replace(Counter::default());
    desk.console.sign_out()
}

/// Reloads the agent's profile, queues and wait-estimate inputs (the waiting list and the held
/// ticket reach the window through `follow`); answers the profile.
#[tauri::command]
async fn agent(desk: State<'_, Desk>) -> Result<Value, Problem> {
    let counter = desk.console.counter().await?;
    let agent = counter.agent.clone();
    desk.counter.send_replace(counter);
    Ok(agent)
}

/// Remembers the ticket the agent now holds (the view follows).
fn hold(desk: &Desk, ticket: &Value) {
    desk.counter
        .send_modify(|c| c.current = Some(ticket.clone()));
}

#[tauri::command]
async fn call_next(desk: State<'_, Desk>) -> Result<Option<Value>, Problem> {
    let called = desk.console.call_next().await?;
    if let Some(t) = &called {
        hold(&desk, t);
    }
    Ok(called)
}

#[tauri::command]
async fn act(
    desk: State<'_, Desk>,
    ticket_id: String,
    action: String,
    body: Option<Value>,
) -> Result<Value, Problem> {
    let ticket = desk.console.act(&ticket_id, &action, body).await?;
    hold(&desk, &ticket);
    Ok(ticket)
}

/// The manager's floor, from one request ([`views::floor`]).
#[tauri::command]
async fn floor(desk: State<'_, Desk>) -> Result<views::FloorView, Problem> {
    desk.console.floor().await
}

#[tauri::command]
async fn set_status(desk: State<'_, Desk>, status: String) -> Result<Value, Problem> {
    desk.console.set_status(&status).await
}

/// `GET` on a path of the current tenant (queues, counters… for the pickers).
#[tauri::command]
async fn fetch(desk: State<'_, Desk>, path: String) -> Result<Value, Problem> {
    if path.contains("..") || path.starts_with('/') {
        return Err(Problem {
            code: "validation_error".into(),
            message: "Not a path of this organisation.".into(),
            field: None,
        });
    }
    desk.console.request("GET", &path, None).await
}

/// A change on a path of the current tenant (`POST displays/`, `PATCH queues/{id}/`, …) — the
/// manager's and admin's screens. Validation problems name their field.
#[tauri::command]
async fn send(
    desk: State<'_, Desk>,
    method: String,
    path: String,
    body: Option<Value>,
) -> Result<Value, Problem> {
    let method = method.to_uppercase();
    if !["POST", "PATCH", "PUT", "DELETE"].contains(&method.as_str())
        || path.contains("..")
        || path.starts_with('/')
    {
        return Err(Problem {
            code: "validation_error".into(),
            message: "Not a change this console makes.".into(),
            field: None,
        });
    }
    desk.console.request(&method, &path, body).await
}

/// Streams the counter's live view to the window after every change of the feed or of the
/// counter: the connection, the waiting list in calling order ([`views::waiting_list`]) and the
/// held ticket with its allowed actions ([`views::current`]).
// Async so it runs on Tauri's tokio runtime, where the engine spawns its task.
#[tauri::command]
async fn follow(desk: State<'_, Desk>, on_state: Channel<Value>) -> Result<(), Problem> {
    let who = desk.console.who().ok_or_else(|| Problem {
        code: "not_authenticated".into(),
        message: "Sign in first.".into(),
        field: None,
    })?;
    let tenant = who.tenant.clone().unwrap_or_default();
    let dir = match std::env::var("SMARTQUEUE_DATA_DIR") {
        Ok(d) if !d.is_empty() => std::path::PathBuf::from(d),
        _ => {
            let home = std::env::var("HOME").unwrap_or_else(|_| ".".into());
            std::path::Path::new(&home).join(".local/share/smartqueue-desktop")
        }
    };
    let _ = std::fs::create_dir_all(&dir);
    // One cache per server and tenant: the same slug on two servers are two different feeds.
    let server_key: String = who
        .server
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let config = SyncConfig::new(
        who.server.clone(),
        tenant.clone(),
        who.access.clone(),
        "",
        "tickets/?status=waiting&limit=500",
        dir.join(format!("feed-{server_key}-{tenant}.db")),
    );
    let engine = SyncEngine::start(config).map_err(|e| Problem {
        code: "local_store".into(),
        message: format!("The local cache could not be opened: {e}"),
        field: None,
    })?;
    let mut rx = engine.subscribe();
    let mut counter = desk.counter.subscribe();
    tokio::spawn(async move {
        loop {
            let msg = {
                let s = rx.borrow_and_update();
                let c = counter.borrow_and_update();
                json!({
                    "connection": s.connection,
                    "waiting": views::waiting_list(s.tickets.values(), &c),
                    "current": views::current(&c, &s.tickets),
                    "pending": s.pending_commands,
                    "refused": s.refused,
                })
            };
            if on_state.send(msg).is_err() {
                return;
            }
            let changed = tokio::select! {
                r = rx.changed() => r.is_ok(),
                r = counter.changed() => r.is_ok(),
            };
            if !changed {
                return;
            }
        }
    });
    if let Ok(mut f) = desk.feed.lock() {
        *f = Some(engine);
    }
    Ok(())
}

/// The system-wide shortcut for Call next (works while another window has the focus).
pub const CALL_NEXT_SHORTCUT: &str = "CommandOrControl+Shift+Space";

/// The builder with every command registered, generic over the runtime so tests can use a mock.
pub fn builder<R: tauri::Runtime>() -> tauri::Builder<R> {
    use tauri::Emitter;
    use tauri_plugin_global_shortcut::{GlobalShortcutExt, ShortcutState};
    tauri::Builder::<R>::new()
        .manage(Desk::new())
        .plugin(
            tauri_plugin_global_shortcut::Builder::new()
                .with_handler(|app, _shortcut, event| {
                    if event.state() == ShortcutState::Pressed {
                        // The window does what its Call next button does.
                        let _ = app.emit("call-next", ());
                    }
                })
                .build(),
        )
        .setup(|app| {
            // Taken by another program (or a second console): the in-window keys still work.
            if let Err(e) = app.global_shortcut().register(CALL_NEXT_SHORTCUT) {
                eprintln!("the {CALL_NEXT_SHORTCUT} shortcut is not available: {e}");
            }
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            sign_in,
            restore,
            switch_tenant,
            sign_out,
            agent,
            call_next,
            act,
            set_status,
            fetch,
            send,
            floor,
            follow
        ])
}

/// Starts the console.
pub fn run() {
    builder::<tauri::Wry>()
        .run(tauri::generate_context!())
        .unwrap_or_else(|e| {
            eprintln!("smartqueue-desktop failed to start: {e}");
            std::process::exit(1);
        });
}
