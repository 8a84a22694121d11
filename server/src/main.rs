//! `smartqueue-server` command line: see `smartqueue_server::cli`.

fn main() -> std::process::ExitCode {
    smartqueue_server::cli::main()
}
