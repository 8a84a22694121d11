//! SmartQueue desktop console: a thin Tauri shell whose commands call `smartqueue-core`.
//! The UI lives in `desktop/ui`.

use smartqueue_core::numbering::format_number;

/// Formats a ticket number the way the whole platform does (used by the UI for previews).
#[tauri::command]
fn ticket_number(prefix: String, n: u32) -> String {
    format_number(&prefix, n)
}

/// The builder with every command registered, generic over the runtime so tests can use a mock.
pub fn builder<R: tauri::Runtime>() -> tauri::Builder<R> {
    tauri::Builder::<R>::new().invoke_handler(tauri::generate_handler![ticket_number])
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
