//! SmartQueue display / kiosk app. For now a fullscreen-ready window with the calling layout;
//! pairing, the live feed and the kiosk mode arrive with the display issue.

use dioxus::prelude::*;
use smartqueue_core::numbering::format_number;

fn main() {
    dioxus::LaunchBuilder::desktop()
        .with_cfg(
            dioxus::desktop::Config::new()
                .with_custom_head("<style>html, body { margin: 0; padding: 0; }</style>".into())
                .with_menu(None)
                .with_window(
                    dioxus::desktop::WindowBuilder::new().with_title("SmartQueue Display"),
                ),
        )
        .launch(App);
}

#[component]
fn App() -> Element {
    rsx! {
        main { style: "font-family: sans-serif; margin: 0; height: 100vh; display: flex; flex-direction: column; align-items: center; justify-content: center; background: #0b3d5c; color: white;",
            p { style: "font-size: 3rem; margin: 0;", "Now calling" }
            p { style: "font-size: 10rem; font-weight: bold; margin: 0;", {format_number("A", 42)} }
            p { style: "font-size: 4rem; margin: 0;", "Counter 3" }
        }
    }
}
