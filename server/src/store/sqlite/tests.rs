//! Tests of the writer: batches, replays, savepoints, migrations.

use super::writer::SqliteBatch;
use super::*;
use crate::store::batch::{BatchConn, run_batch};
use crate::store::tx::{Tx, TxJob, transact};
use tokio::sync::oneshot;

fn temp_store() -> (SqliteStore, PathBuf) {
    let dir = std::env::temp_dir().join(format!("sq-writer-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    (SqliteStore::open(dir.join("t.db")).unwrap(), dir)
}

/// A database that ended tickets before `queue_day_counts` existed gets them counted by the
/// migration, per queue, day and status.
#[test]
fn the_day_counts_migration_counts_tickets_already_ended() {
    let dir = std::env::temp_dir().join(format!("sq-v5-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut conn = Connection::open(dir.join("t.db")).unwrap();
    embedded::migrations::runner()
        .set_target(refinery::Target::Version(4))
        .run(&mut conn)
        .unwrap();
    conn.execute(
        "INSERT INTO tenants (id, slug, doc) VALUES ('t', 't', '{}')",
        [],
    )
    .unwrap();
    for (n, (day, status)) in [
        ("2026-12-01", "closed"),
        ("2026-12-02", "closed"),
        ("2026-12-02", "closed"),
        ("2026-12-02", "no_show"),
        ("2026-12-02", "waiting"),
    ]
    .iter()
    .enumerate()
    {
        conn.execute(
            "INSERT INTO tickets (tenant_id, id, queue_id, origin_queue_id, business_day, sequence, status,
                                  tracking_token, lane, deadline_us, queued_at_us, created_at, doc)
             VALUES ('t', ?1, 'q', 'q', ?2, ?1, ?3, ?4, 1, 0, 0, '', '{}')",
            params![n as i64, day, status, format!("tok{n}")],
        )
        .unwrap();
    }
    embedded::migrations::runner().run(&mut conn).unwrap();
    let counts: Vec<(String, String, i64)> = conn
        .prepare(
            "SELECT business_day, status, n FROM queue_day_counts ORDER BY business_day, status",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let want = [
        ("2026-12-01", "closed", 1),
        ("2026-12-02", "closed", 2),
        ("2026-12-02", "no_show", 1),
    ]
    .map(|(d, s, n)| (d.to_owned(), s.to_owned(), n));
    assert_eq!(counts, want);
    drop(conn);
    let _ = std::fs::remove_dir_all(dir);
}

/// A row of its own for each job of a test (`settings.value = 'v'`).
fn setting(tx: &mut dyn Tx, key: &str) -> StoreResult<()> {
    tx.insert_setting(key, "v")
}

/// A test job on the writer's repository, answering on a channel.
struct TestJob<F> {
    f: F,
    reply: Option<oneshot::Sender<StoreResult<()>>>,
    result: Option<StoreResult<()>>,
}

impl<F: Fn(&mut dyn Tx) -> StoreResult<()> + Send> TxJob for TestJob<F> {
    fn run(&mut self, tx: &mut dyn Tx) -> bool {
        let r = (self.f)(tx);
        let ok = r.is_ok();
        self.result = Some(r);
        ok
    }

    fn answer(mut self: Box<Self>, committed: Result<(), String>) {
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(crate::store::tx::settle(self.result.take(), committed));
        }
    }

    fn fail(&mut self, error: StoreError) {
        self.result = Some(Err(error));
    }
}

/// A job that fails after it has written must be undone alone, events included, while the
/// jobs committed in the same transaction keep their rows, their answers and their events.
#[tokio::test]
async fn a_job_failing_after_writing_is_undone_alone() {
    let (store, dir) = temp_store();
    let tenant = Uuid::now_v7();
    let t = Tenant {
        id: tenant,
        name: "Writer test".into(),
        slug: "writer-test".into(),
        is_active: true,
        created_at: Utc::now(),
    };
    transact(&store, move |tx| tx.insert_tenant(&t))
        .await
        .unwrap();
    let mut live = store.subscribe();
    let now = Utc::now();
    // Holds the writer so that the next jobs queue up and run as one batch.
    let hold = transact(&store, |_| {
        std::thread::sleep(std::time::Duration::from_millis(300));
        Ok(())
    });
    // Test events: `queue.eta` of a made-up queue, `waiting` telling them apart.
    let eta = |waiting| {
        Event::QueueEta(smartqueue_core::event::QueueEta {
            queue_id: Uuid::nil(),
            waiting,
            eta_next_seconds: None,
            eta_next_p90_seconds: None,
            active_agents: 0,
        })
    };
    let good = |key: &'static str| {
        transact(&store, move |tx| {
            setting(tx, key)?;
            tx.emit(tenant, eta(1), now).map(|(seq, _)| seq)
        })
    };
    let bad = transact(&store, move |tx| {
        setting(tx, "bad")?;
        tx.emit(tenant, eta(666), now)?;
        Err::<i64, _>(StoreError::conflict("refused", "after writing"))
    });
    let (held, a, refused, c) = tokio::join!(hold, good("a"), bad, good("c"));
    held.unwrap();
    assert!(matches!(
        refused,
        Err(StoreError::Conflict {
            code: "refused",
            ..
        })
    ));
    let (a, c) = (a.unwrap(), c.unwrap());
    assert_eq!(c, a + 1, "the undone job's event seq is not used up");
    let keys: Vec<String> = store
        .read(|conn| {
            let mut stmt =
                conn.prepare("SELECT key FROM settings WHERE value = 'v' ORDER BY key")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
        .unwrap();
    assert_eq!(keys, ["a", "c"]);
    let types: Vec<String> = store
        .read(move |conn| {
            let mut stmt =
                conn.prepare("SELECT type FROM events WHERE tenant_id = ?1 ORDER BY seq")?;
            let rows = stmt.query_map([tenant.to_string()], |r| r.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
        .unwrap();
    assert_eq!(types, ["queue.eta", "queue.eta"]);
    for seq in [a, c] {
        let e = live.recv().await.unwrap();
        assert_eq!((e.event.seq(), e.event.event()), (seq, &eta(1)));
    }
    assert!(
        live.try_recv().is_err(),
        "no event of the undone job is published"
    );
    store.close();
    let _ = std::fs::remove_dir_all(dir);
}

/// A job that fails before writing anything costs the others nothing: same batch, all the
/// other jobs commit.
#[tokio::test]
async fn a_job_failing_before_writing_leaves_the_batch_alone() {
    let (store, dir) = temp_store();
    let hold = transact(&store, |_| {
        std::thread::sleep(std::time::Duration::from_millis(300));
        Ok(())
    });
    let good = |key: &'static str| transact(&store, move |tx| setting(tx, key));
    let bad = transact(&store, |_| {
        Err::<(), _>(StoreError::Invalid("nothing written".into()))
    });
    let (held, a, refused, c) = tokio::join!(hold, good("a"), bad, good("c"));
    held.unwrap();
    assert!(matches!(refused, Err(StoreError::Invalid(_))));
    a.unwrap();
    c.unwrap();
    let n: i64 = store
        .read(|conn| {
            Ok(
                conn.query_row("SELECT COUNT(*) FROM settings WHERE value = 'v'", [], |r| {
                    r.get(0)
                })?,
            )
        })
        .await
        .unwrap();
    assert_eq!(n, 2);
    store.close();
    let _ = std::fs::remove_dir_all(dir);
}

/// The writer's connection with one transaction statement that always fails.
struct Broken<'c> {
    inner: SqliteBatch<'c>,
    broken: &'static str,
}

impl BatchConn for Broken<'_> {
    fn step(&mut self, sql: &str) -> Result<(), String> {
        if sql == self.broken {
            return Err(format!("{sql} refused by the test"));
        }
        self.inner.step(sql)
    }

    fn run(&mut self, job: &mut Job, events: &mut Vec<StoredEvent>) -> bool {
        self.inner.run(job, events)
    }

    fn changes(&self) -> u64 {
        self.inner.changes()
    }
}

/// When a savepoint statement of the replay fails, a failed job's writes could no longer be
/// undone alone: the whole batch fails, nothing of it is committed, every caller hears so.
#[test]
fn a_failed_savepoint_statement_fails_the_whole_batch() {
    for broken in ["SAVEPOINT job", "ROLLBACK TO job", "RELEASE job"] {
        let dir = std::env::temp_dir().join(format!("sq-savepoint-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db");
        migrate(&path).unwrap();
        let conn = open_writer(&path).unwrap();
        reset_config_cache();
        let mut writer = Broken {
            inner: SqliteBatch { conn: &conn },
            broken,
        };
        let (good_tx, good_rx) = oneshot::channel();
        let (bad_tx, bad_rx) = oneshot::channel();
        let mut batch: Vec<Job> = vec![
            Box::new(TestJob {
                f: |tx: &mut dyn Tx| setting(tx, "good"),
                reply: Some(good_tx),
                result: None,
            }),
            Box::new(TestJob {
                f: |tx: &mut dyn Tx| {
                    setting(tx, "bad")?;
                    Err(StoreError::conflict("refused", "after writing"))
                },
                reply: Some(bad_tx),
                result: None,
            }),
        ];
        let mut events = Vec::new();
        let outcome = run_batch(&mut writer, &mut batch, &mut events);
        assert!(outcome.is_err(), "{broken}: the batch must fail");
        assert!(
            conn.is_autocommit(),
            "{broken}: no transaction is left open"
        );
        for job in batch {
            job.answer(outcome.clone());
        }
        assert!(
            matches!(good_rx.blocking_recv(), Ok(Err(StoreError::Commit(_)))),
            "{broken}: the good job is told it was not committed"
        );
        assert!(matches!(bad_rx.blocking_recv(), Ok(Err(_))));
        let rows: i64 = conn
            .query_row("SELECT COUNT(*) FROM settings WHERE value = 'v'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(rows, 0, "{broken}: nothing of the batch is stored");
        drop(conn);
        let _ = std::fs::remove_dir_all(dir);
    }
}
