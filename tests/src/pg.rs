//! A fresh PostgreSQL database per test, dropped afterwards, so tests run in parallel.
//!
//! The server is `SMARTQUEUE_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432`, the
//! trust-authenticated server of these machines and of CI, `scripts/setup-postgres.sh`).

/// A database that exists for the life of this value.
pub struct PgDatabase {
    /// Its URL, for `PgStore::open` or `--database`.
    pub url: String,
    name: String,
    server: String,
}

/// The PostgreSQL server the tests use.
pub fn server_url() -> String {
    std::env::var("SMARTQUEUE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
        .trim_end_matches('/')
        .to_owned()
}

async fn admin(server: &str) -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(&format!("{server}/postgres"), tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| {
                panic!("PostgreSQL at {server} (scripts/setup-postgres.sh starts one): {e}")
            });
    tokio::spawn(connection);
    client
}

impl PgDatabase {
    /// Creates an empty database with a name of its own.
    pub async fn create() -> PgDatabase {
        let server = server_url();
        let name = format!("sq_test_{}", uuid::Uuid::new_v4().simple());
        admin(&server)
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create the test database");
        PgDatabase {
            url: format!("{server}/{name}"),
            name,
            server,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // Its own thread and runtime: drop may run inside (or after) the test's runtime.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(async {
                    let _ = admin(&server)
                        .await
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                });
            }
        })
        .join();
    }
}
