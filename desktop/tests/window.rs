//! End to end through the real console window: tauri-driver drives WebKitWebDriver, which
//! drives the app's WebKit view under Xvfb, against a real server. Sign in → call next → start →
//! close, with a screenshot of each view (written to `target/screenshots/`).
//!
//! Needs `tauri-driver` (cargo install tauri-driver) and Debian's `webkit2gtk-driver`;
//! `scripts/setup.sh` installs both, and Xvfb (started here when no display is set).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use smartqueue_tests::TestServer;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A minimal W3C WebDriver client (the few calls this test needs).
struct Driver {
    http: reqwest::Client,
    base: String,
}

impl Driver {
    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .expect("webdriver request");
        let v: Value = r.json().await.expect("webdriver json");
        assert!(v["value"].get("error").is_none(), "{path}: {v}");
        v["value"].clone()
    }

    async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = self
                .http
                .post(format!("{}/element", self.base))
                .json(&json!({"using": "css selector", "value": css}))
                .send()
                .await
                .unwrap();
            let v: Value = r.json().await.unwrap();
            if let Some(id) = v["value"]
                .as_object()
                .and_then(|o| o.values().next())
                .and_then(Value::as_str)
            {
                return id.to_owned();
            }
            assert!(Instant::now() < deadline, "no element {css}: {v}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            json!({}),
        )
        .await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/clear"),
            json!({}),
        )
        .await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            json!({"text": text}),
        )
        .await;
    }

    /// Waits until the script returns something truthy; returns it.
    async fn until(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let v = self
                .call(
                    reqwest::Method::POST,
                    "/execute/sync",
                    json!({"script": script, "args": []}),
                )
                .await;
            if !(v.is_null() || v == false || v == "") {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn screenshot(&self, name: &str) {
        // Let WebKit paint what the DOM already shows.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let b64 = self
            .call(reqwest::Method::GET, "/screenshot", json!(null))
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or_default())
            .expect("png");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

/// What keeps a console window alive: Xvfb (when started here), tauri-driver, the session.
struct Window {
    d: Driver,
    started: Instant,
    /// The X display the window is on.
    display: String,
    _driver: Killed,
    _xvfb: Option<Killed>,
    _data: tempfile::TempDir,
}

/// Opens the real console window (with a keyring entry of its own) and a WebDriver session on
/// it; `slot` keeps two windows of one test process on different X displays.
async fn open_window(slot: u32) -> Window {
    let mut xvfb = None;
    let display = match std::env::var("DISPLAY") {
        Ok(d) if !d.is_empty() => d,
        _ => {
            let n = 90 + (std::process::id() % 40) * 2 + slot;
            let child = Command::new("Xvfb")
                .args([
                    format!(":{n}"),
                    "-screen".into(),
                    "0".into(),
                    "1280x800x24".into(),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("Xvfb (scripts/setup.sh installs it)");
            xvfb = Some(Killed(child));
            tokio::time::sleep(Duration::from_millis(500)).await;
            format!(":{n}")
        }
    };
    let (port, native) = (free_port(), free_port());
    // The app's local cache, its own for this window.
    let data = tempfile::tempdir().expect("temp dir");
    let home = std::env::var("HOME").unwrap_or_default();
    let tauri_driver = [
        "tauri-driver".to_owned(),
        format!("{home}/.cargo/bin/tauri-driver"),
    ]
    .into_iter()
    .find(|p| Command::new(p).arg("--help").output().is_ok())
    .expect("tauri-driver (cargo install tauri-driver; scripts/setup.sh does it)");
    let driver = Killed(
        Command::new(tauri_driver)
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native.to_string(),
            ])
            .env("DISPLAY", &display)
            .env("SMARTQUEUE_DATA_DIR", data.path())
            .env(
                "SMARTQUEUE_KEYRING_ACCOUNT",
                format!("e2e-{}-{slot}", std::process::id()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tauri-driver"),
    );
    let http = reqwest::Client::new();
    let started = Instant::now();
    let session = loop {
        let r = http
            .post(format!("http://127.0.0.1:{port}/session"))
            .json(&json!({"capabilities": {"alwaysMatch": {
                "browserName": "wry",
                "tauri:options": {"application": env!("CARGO_BIN_EXE_smartqueue-desktop")}
            }}}))
            .send()
            .await;
        if let Ok(r) = r {
            let v: Value = r.json().await.unwrap_or_default();
            if let Some(id) = v["value"]["sessionId"].as_str() {
                break id.to_owned();
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no WebDriver session"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let d = Driver {
        http,
        base: format!("http://127.0.0.1:{port}/session/{session}"),
    };

    Window {
        d,
        started,
        display,
        _driver: driver,
        _xvfb: xvfb,
        _data: data,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_call_next_and_close_in_the_real_window() {
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("A", "fifo").await;
    admin.agent("agent@bank.test", &[&q]).await;
    admin
        .post(
            &admin.t("tickets/"),
            &json!({"queue_id": q["id"], "customer_name": "Jeanne Martin"}),
        )
        .await
        .expect(201);

    let w = open_window(0).await;
    let (d, started) = (&w.d, w.started);
    d.until(
        "the sign-in form",
        "return !document.getElementById('signin').hidden",
    )
    .await;
    // Measured, not asserted (timing belongs in benchmarks): launch → sign-in screen.
    eprintln!(
        "cold start to the sign-in screen: {} ms",
        started.elapsed().as_millis()
    );
    d.screenshot("console-1-signin").await;
    d.type_into("#server", &server.url()).await;
    d.type_into("#email", "agent@bank.test").await;
    d.type_into("#password", "wrong-password").await;
    d.click("#signin-button").await;
    let error = d
        .until(
            "the error",
            "return document.getElementById('signin-error').textContent",
        )
        .await;
    assert!(
        [
            "Wrong e-mail or password.",
            "E-mail ou mot de passe incorrect."
        ]
        .contains(&error.as_str().unwrap()),
        "{error}"
    );
    d.type_into("#password", "agentpass1").await;
    d.click("#signin-button").await;
    d.until("the agent view", "return !document.getElementById('work').hidden && document.getElementById('wait-count').textContent === '1'").await;
    d.screenshot("console-2-agent").await;
    // A ticket taken elsewhere shows up in the list by itself; measured from the request.
    let t0 = Instant::now();
    admin
        .post(&admin.t("tickets/"), &json!({"queue_id": q["id"]}))
        .await
        .expect(201);
    d.until(
        "the new ticket in the list",
        "return document.getElementById('wait-count').textContent === '2'",
    )
    .await;
    eprintln!(
        "ticket taken elsewhere → in the waiting list: {} ms",
        t0.elapsed().as_millis()
    );
    d.click("#call").await;
    let number = d
        .until("the called ticket", "return !document.getElementById('current').hidden && document.getElementById('cur-number').textContent")
        .await;
    assert_eq!(number, "A001");
    let who = d
        .until(
            "the customer",
            "return document.getElementById('cur-customer').textContent",
        )
        .await;
    assert!(who.as_str().unwrap().contains("Jeanne Martin"), "{who}");
    d.screenshot("console-3-called").await;
    d.click("[data-act=start_service]").await;
    d.until(
        "in service",
        "return document.querySelector('[data-act=close]').disabled === false",
    )
    .await;
    d.click("[data-act=close]").await;
    d.until("back to idle", "return document.getElementById('current').hidden && !document.getElementById('idle').hidden").await;
    d.screenshot("console-4-closed").await;
    let t = admin
        .get(&admin.t("tickets/?status=closed"))
        .await
        .expect(200);
    assert_eq!(t["count"], 1, "the server has the ticket closed");
    // The system-wide shortcut calls the next one, as a key press on the X display.
    admin
        .post(&admin.t("tickets/"), &json!({"queue_id": q["id"]}))
        .await
        .expect(201);
    d.until(
        "the new ticket in the list",
        "return document.getElementById('wait-count').textContent === '2'",
    )
    .await;
    let pressed = Command::new("xdotool")
        .args(["key", "ctrl+shift+space"])
        .env("DISPLAY", &w.display)
        .status()
        .expect("xdotool (scripts/setup.sh installs it)");
    assert!(pressed.success());
    let number = d
        .until("the ticket called by the shortcut", "return !document.getElementById('current').hidden && document.getElementById('cur-number').textContent")
        .await;
    assert_eq!(number, "A002", "the one waiting longest");
    let _ = d.call(reqwest::Method::DELETE, "", json!(null)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_watches_the_floor_and_pairs_a_screen_in_the_real_window() {
    use smartqueue_core::client::ApiClient;
    use smartqueue_core::device::{DeviceMode, PollOutcome};
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let q = admin.queue("A", "fifo").await;
    admin
        .post(&admin.t("tickets/"), &json!({"queue_id": q["id"]}))
        .await
        .expect(201);
    let w = open_window(1).await;
    let d = &w.d;
    d.until(
        "the sign-in form",
        "return !document.getElementById('signin').hidden",
    )
    .await;
    d.type_into("#server", &server.url()).await;
    d.type_into("#email", "admin@bank.test").await;
    d.type_into("#password", "password123").await;
    d.click("#signin-button").await;
    // An admin without an agent profile lands on the floor: the queue with its waiting ticket.
    let row = d
        .until("the floor", "const r = document.querySelector('#floor-queues tr'); return !document.getElementById('tab-floor').hidden && r && r.cells[0].textContent + '|' + r.cells[1].textContent")
        .await;
    assert_eq!(row, "Queue A|1");
    d.screenshot("console-5-floor").await;
    // A screen shows its code; the admin pairs it from the console.
    let device = ApiClient::new(server.url());
    let code = device.start_pairing(DeviceMode::Display).await.unwrap();
    d.click("[data-tab=devices]").await;
    d.until(
        "the site list",
        "return document.querySelectorAll('#dv-site option').length",
    )
    .await;
    d.type_into("#dv-name", "Hall").await;
    d.type_into("#dv-code", "ZZZ-ZZZ").await;
    d.click("#device-form button[type=submit]").await;
    d.until(
        "the code refused next to its field",
        "return document.querySelector('#device-form [data-field=code]').textContent",
    )
    .await;
    d.type_into("#dv-code", &code.code).await;
    d.click("#device-form button[type=submit]").await;
    d.until(
        "the paired screen listed",
        "return document.getElementById('devices').textContent.includes('Hall')",
    )
    .await;
    d.screenshot("console-6-devices").await;
    assert!(matches!(
        device.poll_pairing(&code).await.unwrap(),
        PollOutcome::Paired(_)
    ));
    let displays = admin.get(&admin.t("displays/")).await.expect(200);
    assert_eq!(
        displays["count"], 1,
        "the wrong code left no half-made screen behind"
    );
    let _ = d.call(reqwest::Method::DELETE, "", json!(null)).await;
}
