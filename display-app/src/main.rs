//! SmartQueue display / kiosk app: a fullscreen Dioxus window that pairs with the server by
//! code and then runs as a waiting-room display (live calls, spoken announcements) or a kiosk.
//!
//! Options: `--server URL` (or `SMARTQUEUE_SERVER`, default `http://127.0.0.1:8000`),
//! `--data DIR` (credentials and last known state; default `$HOME/.local/share/smartqueue-display`),
//! `--mode display|kiosk` (skip the choice on the pairing screen), `--window WxH` (a window of
//! that size instead of fullscreen), `--mute` (no speech).

use std::path::PathBuf;

use dioxus::desktop::tao::window::Fullscreen;
use dioxus::desktop::{Config, LogicalSize, WindowBuilder};
use smartqueue_core::device::DeviceMode;
use smartqueue_display::app;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut server =
        std::env::var("SMARTQUEUE_SERVER").unwrap_or_else(|_| "http://127.0.0.1:8000".into());
    let home = std::env::var("HOME").unwrap_or_else(|_| ".".into());
    let mut data_dir = PathBuf::from(home).join(".local/share/smartqueue-display");
    let mut mode = None;
    let mut window: Option<(f64, f64)> = None;
    let mut speech = true;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--server" => server = args.next().unwrap_or(server),
            "--data" => data_dir = args.next().map(PathBuf::from).unwrap_or(data_dir),
            "--mode" => {
                mode = match args.next().as_deref() {
                    Some("display") => Some(DeviceMode::Display),
                    Some("kiosk") => Some(DeviceMode::Kiosk),
                    _ => None,
                }
            }
            "--window" => {
                window = args.next().and_then(|s| {
                    let (w, h) = s.split_once('x')?;
                    Some((w.parse().ok()?, h.parse().ok()?))
                })
            }
            "--mute" => speech = false,
            other => {
                eprintln!(
                    "unknown option {other}; options: --server URL --data DIR --mode display|kiosk --window WxH --mute"
                );
                std::process::exit(2);
            }
        }
    }
    app::configure(app::Settings {
        server: server.trim_end_matches('/').to_owned(),
        data_dir,
        mode,
        speech,
    });
    let mut w = WindowBuilder::new().with_title("SmartQueue Display");
    w = match window {
        Some((width, height)) => w.with_inner_size(LogicalSize::new(width, height)),
        None => w.with_fullscreen(Some(Fullscreen::Borderless(None))),
    };
    dioxus::LaunchBuilder::desktop()
        .with_cfg(
            Config::new()
                .with_custom_head(format!("<style>{}</style>", app::STYLE))
                .with_menu(None)
                .with_window(w),
        )
        .launch(app::App);
}
