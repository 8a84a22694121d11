//! SmartQueue customer app. For now a window that shows how a ticket number looks; the ticket
//! flow arrives with the mobile issue (see ARCHITECTURE.md).

use dioxus::prelude::*;
use smartqueue_core::numbering::format_number;

fn main() {
    dioxus::LaunchBuilder::desktop()
        .with_cfg(
            dioxus::desktop::Config::new()
                .with_custom_head("<style>html, body { margin: 0; padding: 0; }</style>".into())
                .with_menu(None)
                .with_window(dioxus::desktop::WindowBuilder::new().with_title("SmartQueue")),
        )
        .launch(App);
}

#[component]
fn App() -> Element {
    rsx! {
        main { style: "font-family: sans-serif; margin: 0; padding: 2rem; text-align: center;",
            h1 { "SmartQueue" }
            p { "Your ticket" }
            p { style: "font-size: 4rem; font-weight: bold;", {format_number("A", 42)} }
        }
    }
}
