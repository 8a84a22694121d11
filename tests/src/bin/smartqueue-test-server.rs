//! The server's command line, built together with the tests, so tests that need the server as
//! a separate process find it (`CARGO_BIN_EXE_smartqueue-test-server`) without another build.

fn main() -> std::process::ExitCode {
    smartqueue_server::cli::main()
}
