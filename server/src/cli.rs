//! Command line: `serve`, `create-tenant`, `migrate`, `migrate-data`.

use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::Config;
use crate::store::Store;

#[derive(Parser)]
#[command(name = "smartqueue-server", version, about = "SmartQueue API server")]
struct Cli {
    /// Database URL: `sqlite://path/to/file.db` (the default, zero configuration) or
    /// `postgres://user@host:port/database` (several instances on one database).
    #[arg(
        long,
        global = true,
        env = "SMARTQUEUE_DATABASE_URL",
        default_value = "sqlite://./smartqueue.db"
    )]
    database: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "SMARTQUEUE_ADDR", default_value = "127.0.0.1:8000")]
        addr: String,
        /// Create the demo tenant (demo-bank) first if it does not exist, and print its logins.
        #[arg(long)]
        demo: bool,
        /// Proxies whose X-Forwarded-For is trusted (comma-separated addresses).
        #[arg(long, env = "SMARTQUEUE_TRUSTED_PROXIES", value_delimiter = ',')]
        trusted_proxies: Vec<IpAddr>,
        /// Transfers one ticket may go through before they are refused.
        #[arg(long, env = "SMARTQUEUE_MAX_TRANSFERS", default_value_t = smartqueue_core::lifecycle::MAX_TRANSFERS)]
        max_transfers: u32,
        /// Requests per minute per client address on public and sign-in routes (0 = off).
        #[arg(long, env = "SMARTQUEUE_PUBLIC_RATE_PER_MINUTE", default_value_t = 120)]
        public_rate_per_minute: u32,
    },
    /// Create a tenant with its admin (and optionally the demo data).
    CreateTenant {
        #[arg(long)]
        name: String,
        #[arg(long)]
        slug: String,
        #[arg(long)]
        admin_email: String,
        #[arg(long)]
        admin_password: String,
        #[arg(long)]
        with_demo_data: bool,
    },
    /// Copy every tenant, with its history, events and seqs, from an SQLite database into an
    /// empty PostgreSQL database (refused when the target holds any data).
    MigrateData {
        /// The SQLite database (`sqlite://path` or a path).
        #[arg(long)]
        from: String,
        /// The PostgreSQL database (`postgres://…`).
        #[arg(long)]
        to: String,
    },
    /// Create the database if needed and apply pending migrations.
    Migrate,
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::FAILURE
}

fn print_logins(url: &str, logins: &[crate::demo::DemoLogin]) {
    println!(
        "SmartQueue demo tenant 'demo-bank' at {url} (API explorer: {url}api/docs/) — sign in with:"
    );
    for l in logins {
        println!("  {:8} {:28} {}", l.role, l.email, l.password);
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    crate::alloc::disable_huge_pages();
    // Structured logs: JSON lines when SMARTQUEUE_LOG_FORMAT=json (for log shippers), readable
    // text otherwise. Each request's span carries its method, route and request id.
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    if std::env::var("SMARTQUEUE_LOG_FORMAT").is_ok_and(|f| f == "json") {
        tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_env_filter(filter)
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    let cli = Cli::parse();
    let database = cli.database.clone();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    match cli.command {
        Command::Migrate => rt.block_on(async move {
            match crate::store::open(&database).await {
                Ok(_) => {
                    println!(
                        "database {} is up to date",
                        crate::store::describe(&database)
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }),
        Command::MigrateData { from, to } => rt.block_on(async move {
            let source = match crate::store::sqlite::path_from_url(&from) {
                Ok(p) => p,
                Err(e) => return fail(e),
            };
            if !crate::store::postgres::is_postgres_url(&to) {
                return fail("--to must be a postgres:// URL");
            }
            match crate::store::copy::sqlite_to_postgres(&source, &to).await {
                Ok(copied) => {
                    for (table, n) in copied {
                        println!("  {table:18} {n} rows");
                    }
                    println!(
                        "copied {} into {}",
                        source.display(),
                        crate::store::describe(&to)
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }),
        Command::CreateTenant {
            name,
            slug,
            admin_email,
            admin_password,
            with_demo_data,
        } => rt.block_on(async move {
            let store = match crate::store::open(&database).await {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            match crate::demo::create_tenant(
                store.as_ref(),
                &name,
                &slug,
                &admin_email,
                &admin_password,
                with_demo_data,
            )
            .await
            {
                Ok(logins) => {
                    println!("tenant {slug} created");
                    for l in logins {
                        println!("  {:8} {:28} {}", l.role, l.email, l.password);
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }),
        Command::Serve {
            addr,
            demo,
            trusted_proxies,
            max_transfers,
            public_rate_per_minute,
        } => rt.block_on(async move {
            let store: Arc<dyn Store> = match crate::store::open(&database).await {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            let url = format!("http://{addr}/");
            if demo {
                match store.tenant_by_slug("demo-bank").await {
                    Ok(Some(_)) => print_logins(&url, &crate::demo::standard_logins()),
                    Ok(None) => match crate::demo::create_tenant(
                        store.as_ref(),
                        "Demo Bank",
                        "demo-bank",
                        "admin@demo-bank.com",
                        "admin123",
                        true,
                    )
                    .await
                    {
                        Ok(_) => print_logins(&url, &crate::demo::standard_logins()),
                        Err(e) => return fail(format!("cannot create the demo tenant: {e}")),
                    },
                    Err(e) => return fail(e),
                }
            }
            let config = Config {
                trusted_proxies,
                public_rate_per_minute,
                max_transfers_per_ticket: max_transfers,
                ..Config::default()
            };
            let app = match crate::app(store, config).await {
                Ok(r) => r,
                Err(e) => return fail(e),
            };
            let listener = match tokio::net::TcpListener::bind(&addr).await {
                Ok(l) => l,
                Err(e) => return fail(format!("cannot listen on {addr}: {e}")),
            };
            println!(
                "SmartQueue server listening on {url} (database {})",
                crate::store::describe(&database)
            );
            let shutdown = async {
                let ctrl_c = tokio::signal::ctrl_c();
                #[cfg(unix)]
                {
                    let mut term = match tokio::signal::unix::signal(
                        tokio::signal::unix::SignalKind::terminate(),
                    ) {
                        Ok(t) => t,
                        Err(_) => return,
                    };
                    tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
                }
                #[cfg(not(unix))]
                let _ = ctrl_c.await;
                tracing::info!("shutting down: finishing requests in flight");
            };
            match crate::serve(listener, app, shutdown).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(format!("server error: {e}")),
            }
        }),
    }
}
