//! End to end through the real console window: tauri-driver drives WebKitWebDriver, which
//! drives the app's WebKit view under Xvfb, against a real server. Sign in → call next → start →
//! close, with a screenshot of each view (written to `target/screenshots/`).
//!
//! Needs `tauri-driver` (cargo install tauri-driver) and Debian's `webkit2gtk-driver`;
//! `scripts/setup.sh` installs both, and Xvfb (started here when no display is set).

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use smartqueue_tests::TestServer;

/// A child process killed with its whole process group when dropped (tauri-driver starts
/// WebKitWebDriver, which would otherwise outlive it, still holding inherited descriptors).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        // Children started with `process_group(0)` lead a group of their own id.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .stderr(Stdio::null())
            .status();
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

    /// Clicks `css` until `opened` (a script) is truthy, at most three times: a row that moves
    /// under the pointer between WebDriver's measuring and its click (the floor refreshes live)
    /// makes the click land beside it, and a person would simply click again.
    async fn click_until(&self, css: &str, opened: &str) {
        for _ in 0..3 {
            self.click(css).await;
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline {
                let v = self
                    .call(
                        reqwest::Method::POST,
                        "/execute/sync",
                        json!({"script": opened, "args": []}),
                    )
                    .await;
                if !(v.is_null() || v == false) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
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
            if Instant::now() >= deadline {
                // What the window showed, for whoever reads the failure.
                let page = self
                    .call(
                        reqwest::Method::POST,
                        "/execute/sync",
                        json!({"script": "return JSON.stringify(window.__clicks || null) + ' detail hidden=' + document.getElementById('floor-detail').hidden + ' ' + document.body.innerText + \"\\n--- errors: \" + [...document.querySelectorAll(\"[id$=error]\")].map((e) => e.id + \": \" + e.textContent).join(\" | \")", "args": []}),
                    )
                    .await;
                self.screenshot("timed-out").await;
                panic!("timed out waiting for {what}; the window shows:\n{page}");
            }
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
            .process_group(0)
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

/// Records the target of every click in `window.__clicks` (a timed-out wait prints them).
const RECORD_CLICKS: &str = "window.__clicks = []; document.addEventListener('click', (e) => \
    window.__clicks.push(e.target.tagName + ':' + (e.target.closest('tr')?.dataset.queue || '-')), true); \
    return 1";

/// What no screen may show as markup: each payload must appear as these very characters.
const IMG: &str = r#"<img src=x onerror="window.__pwned=1">"#;
const SCRIPT: &str = "<script>window.__pwned=2</script>";

/// Nothing ran and nothing became markup: `window.__pwned` is unset, there is no `<img>` and
/// no inline `<script>` in the page.
const UNHARMED: &str = "return typeof window.__pwned === 'undefined' \
    && document.querySelectorAll('img').length === 0 \
    && [...document.scripts].every((s) => s.src !== '') && 'unharmed'";

impl Driver {
    /// Waits until `css`'s text contains `text` literally, then checks nothing ran.
    async fn shows(&self, css: &str, text: &str) {
        let script = format!(
            "const e = document.querySelector({}); return e && e.textContent.includes({})",
            json!(css),
            json!(text)
        );
        self.until(&format!("{css} showing {text}"), &script).await;
        self.unharmed().await;
    }

    async fn unharmed(&self) {
        let v = self
            .call(
                reqwest::Method::POST,
                "/execute/sync",
                json!({"script": UNHARMED, "args": []}),
            )
            .await;
        assert_eq!(v, "unharmed", "a stored name ran or became markup");
    }
}

/// Names stored with markup in every field the console shows — queue, service, site, counter,
/// screen, kiosk, a member's first and last name, customers' names — show as text on every
/// screen (counter and waiting list, floor, screens & kiosks, settings) and never run; the
/// window's Content-Security-Policy refuses inline script even when markup does get in. The
/// waiting list's first line (a VIP in a priority queue, arrived second) is the ticket Call
/// next gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_markup_shows_as_text_on_every_screen_and_never_runs() {
    use smartqueue_tests::Api;
    let server = TestServer::start().await;
    let admin = server.tenant("bank").await;
    let name = |what: &str, payload: &str| format!("{what} {payload}");
    let site = admin
        .post(
            &admin.t("sites/"),
            &json!({"name": name("Site", SCRIPT), "timezone": "Europe/Paris"}),
        )
        .await
        .expect(201);
    let service = admin
        .post(
            &admin.t("services/"),
            &json!({"name": name("Service", IMG)}),
        )
        .await
        .expect(201);
    let q = admin
        .post(
            &admin.t("queues/"),
            &json!({"site_id": site["id"], "service_id": service["id"], "name": name("Queue", IMG),
                    "prefix": "X", "algorithm": "priority"}),
        )
        .await
        .expect(201);
    admin
        .post(
            &admin.t("counters/"),
            &json!({"site_id": site["id"], "name": name("Desk", SCRIPT)}),
        )
        .await
        .expect(201);
    for plural in ["displays", "kiosks"] {
        admin
            .post(
                &admin.t(&format!("{plural}/")),
                &json!({"site_id": site["id"], "name": name(plural, IMG), "queue_ids": [q["id"]]}),
            )
            .await
            .expect(201);
    }
    admin
        .post(
            &admin.t("members/"),
            &json!({"email": "agent@bank.test", "password": "agentpass1", "role": "agent",
                    "first_name": IMG, "last_name": SCRIPT}),
        )
        .await
        .expect(201);
    let mut agent = Api::login(&server.url(), "agent@bank.test", "agentpass1").await;
    agent.tenant = admin.tenant.clone();
    agent
        .patch(&agent.t("agents/me/"), &json!({"queue_ids": [q["id"]]}))
        .await
        .expect(200);
    agent
        .post(
            &agent.t("agents/set-status/"),
            &json!({"status": "available"}),
        )
        .await
        .expect(200);
    for (customer, priority) in [(name("Ann", SCRIPT), "normal"), (name("Vic", IMG), "vip")] {
        admin
            .post(
                &admin.t("tickets/"),
                &json!({"queue_id": q["id"], "customer_name": customer, "priority": priority}),
            )
            .await
            .expect(201);
    }

    let w = open_window(0).await;
    let d = &w.d;
    d.until(
        "the sign-in form",
        "return !document.getElementById('signin').hidden",
    )
    .await;
    // The window's CSP refuses inline script, whatever gets into the page.
    let csp = d
        .call(
            reqwest::Method::POST,
            "/execute/sync",
            json!({"script": "const s = document.createElement('script'); s.textContent = 'window.__csp = 1'; \
                document.body.appendChild(s); const x = document.createElement('div'); \
                x.innerHTML = '<img src=x onerror=\"window.__csp = 2\">'; document.body.appendChild(x); \
                return new Promise((ok) => setTimeout(() => { s.remove(); x.remove(); ok(String(window.__csp)); }, 500));",
                   "args": []}),
        )
        .await;
    assert_eq!(csp, "undefined", "inline script and handlers are refused");

    // The agent: the waiting list and the held ticket.
    d.type_into("#server", &server.url()).await;
    d.type_into("#email", "agent@bank.test").await;
    d.type_into("#password", "agentpass1").await;
    d.click("#signin-button").await;
    d.until(
        "the waiting list",
        "return document.getElementById('wait-count').textContent === '2'",
    )
    .await;
    let first = d
        .until(
            "the first line",
            "const r = document.querySelector('#waiting tr'); return r && r.cells[1].textContent + '|' + r.cells[2].textContent",
        )
        .await;
    assert_eq!(
        first,
        format!("X002|{}", name("Queue", IMG)),
        "the VIP first, the queue's name as text"
    );
    d.shows("#who", &format!("{IMG} {SCRIPT}")).await;
    d.shows("#my-counter", &name("Desk", SCRIPT)).await;
    d.shows("#my-queues", &name("Queue", IMG)).await;
    d.shows("#tr-queue", &name("Queue", IMG)).await;
    d.screenshot("xss-1-counter").await;
    d.click("#call").await;
    let number = d
        .until("the called ticket", "return !document.getElementById('current').hidden && document.getElementById('cur-number').textContent")
        .await;
    assert_eq!(
        number, "X002",
        "call-next gave the waiting list's first line"
    );
    d.shows("#cur-customer", &name("Vic", IMG)).await;
    d.shows("#cur-customer", &name("Service", IMG)).await;
    d.screenshot("xss-2-called").await;
    d.click("#signout").await;

    // The admin: floor, screens & kiosks, settings.
    d.until(
        "the sign-in form",
        "return !document.getElementById('signin').hidden",
    )
    .await;
    d.type_into("#email", "admin@bank.test").await;
    d.type_into("#password", "password123").await;
    d.click("#signin-button").await;
    d.shows("#floor-queues", &name("Queue", IMG)).await;
    d.shows("#floor-agents", &format!("{IMG} {SCRIPT}")).await;
    d.shows("#floor-agents", "X002").await;
    // Which clicks reached the page (printed if the detail never opens).
    d.call(
        reqwest::Method::POST,
        "/execute/sync",
        json!({"script": RECORD_CLICKS, "args": []}),
    )
    .await;
    d.click_until(
        "#floor-queues td",
        "return !document.getElementById('floor-detail').hidden",
    )
    .await;
    d.shows("#floor-tickets", &name("Ann", SCRIPT)).await;
    d.shows("#floor-tickets", &name("Vic", IMG)).await;
    d.screenshot("xss-3-floor").await;
    d.click("[data-tab=devices]").await;
    d.shows("#devices", &name("displays", IMG)).await;
    d.shows("#devices", &name("kiosks", IMG)).await;
    d.shows("#dv-site", &name("Site", SCRIPT)).await;
    d.shows("#dv-queues", &name("Queue", IMG)).await;
    d.screenshot("xss-4-devices").await;
    d.click("[data-tab=settings]").await;
    for (res, shown) in [
        ("sites", name("Site", SCRIPT)),
        ("services", name("Service", IMG)),
        ("counters", name("Desk", SCRIPT)),
        ("displays", name("displays", IMG)),
        ("kiosks", name("kiosks", IMG)),
        ("members", IMG.to_owned()),
        ("members", SCRIPT.to_owned()),
        ("queues", name("Queue", IMG)),
    ] {
        d.click(&format!("[data-res={res}]")).await;
        d.shows("#res-rows", &shown).await;
    }
    // The queue's editor: its name in the input, site and service names in the pickers.
    d.click("#res-rows [data-edit]").await;
    let value = d
        .until(
            "the queue's name in the form",
            "const i = document.querySelector('#res-fields [name=name]'); return i && i.value",
        )
        .await;
    assert_eq!(value, name("Queue", IMG));
    d.shows("#res-fields [name=site_id]", &name("Site", SCRIPT))
        .await;
    d.shows("#res-fields [name=service_id]", &name("Service", IMG))
        .await;
    d.screenshot("xss-5-settings").await;
    d.click("[data-res=members]").await;
    d.shows("#res-rows", SCRIPT).await;
    d.screenshot("xss-6-members").await;
    let _ = d.call(reqwest::Method::DELETE, "", json!(null)).await;
}
