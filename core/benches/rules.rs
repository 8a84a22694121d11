//! Hot-path rules: select-next over 100,000 waiting tickets in 20 queues, and ETA for a line of
//! 10,000. Run: `cargo bench -p smartqueue-core --bench rules`.

use std::hint::black_box;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use smartqueue_core::eta::{ServiceTimeModel, estimate_line};
use smartqueue_core::selection::{QueueCandidates, QueuePolicy, WaitingIndex, select_next};
use smartqueue_core::{Priority, QueueAlgorithm, Ticket};
use uuid::Uuid;

fn bench_select(c: &mut Criterion) {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0).unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    let algos = [
        QueueAlgorithm::Fifo,
        QueueAlgorithm::Priority,
        QueueAlgorithm::Sla,
    ];
    let policies: Vec<QueuePolicy> = (0..20)
        .map(|i| QueuePolicy {
            queue_id: Uuid::new_v4(),
            algorithm: algos[i % 3],
            sla_target_seconds: 300 + 60 * i as u32,
            max_wait_seconds: 1200,
        })
        .collect();
    let prios = [
        Priority::Normal,
        Priority::Appointment,
        Priority::Elderly,
        Priority::Vip,
    ];
    let per_queue: Vec<Vec<Ticket>> = policies
        .iter()
        .map(|p| {
            (0..5_000u32)
                .map(|n| {
                    // Pseudo-random arrivals within the day, deterministic across runs.
                    let secs = i64::from((n.wrapping_mul(2_654_435_761)) % 36_000);
                    let mut t = Ticket::waiting(
                        Uuid::nil(),
                        p.queue_id,
                        format!("A{n:03}"),
                        n + 1,
                        day,
                        t0 + Duration::seconds(secs),
                    );
                    t.priority = prios[(n % 4) as usize];
                    t
                })
                .collect()
        })
        .collect();
    let candidates: Vec<QueueCandidates<'_>> = policies
        .iter()
        .zip(&per_queue)
        .map(|(p, ts)| QueueCandidates {
            policy: *p,
            tickets: ts,
        })
        .collect();
    c.bench_function("select_next/scan_100k_tickets_20_queues", |b| {
        b.iter(|| black_box(select_next(black_box(&candidates))).map(|t| t.sequence))
    });
    let mut index = WaitingIndex::new();
    for p in &policies {
        index.set_policy(*p);
    }
    for t in per_queue.iter().flatten() {
        index.upsert(t);
    }
    let served: Vec<Uuid> = policies.iter().map(|p| p.queue_id).collect();
    c.bench_function("select_next/index_100k_tickets_20_queues", |b| {
        b.iter(|| black_box(index.next(black_box(&served))))
    });
    // Keeping the index current costs one remove + insert per ticket change.
    let sample = per_queue[3][17].clone();
    c.bench_function("select_next/index_update_one_ticket", |b| {
        b.iter(|| index.upsert(black_box(&sample)))
    });
}

fn bench_eta(c: &mut Criterion) {
    let history: Vec<f64> = (0..500).map(|i| 120.0 + f64::from(i % 37) * 9.0).collect();
    c.bench_function("eta/line_of_10k", |b| {
        b.iter(|| {
            let model = ServiceTimeModel::from_history(black_box(&history), 180.0);
            black_box(estimate_line(&model, 10_000, 4))
        })
    });
}

fn bench_timestamps(c: &mut Criterion) {
    use chrono::{SecondsFormat, Utc};
    let t = Utc::now();
    // The same text both ways (core/src/timefmt.rs); a ticket carries up to nine of these.
    c.bench_function("timestamp/chrono_rfc3339", |b| {
        b.iter(|| std::hint::black_box(&t).to_rfc3339_opts(SecondsFormat::AutoSi, true))
    });
    c.bench_function("timestamp/timefmt_rfc3339", |b| {
        b.iter(|| smartqueue_core::timefmt::rfc3339(std::hint::black_box(&t)))
    });
    let ticket = smartqueue_core::Ticket::waiting(
        uuid::Uuid::now_v7(),
        uuid::Uuid::now_v7(),
        "A042".into(),
        42,
        t.date_naive(),
        t,
    );
    c.bench_function("timestamp/ticket_to_json", |b| {
        b.iter(|| serde_json::to_string(std::hint::black_box(&ticket)).unwrap())
    });
}

criterion_group!(benches, bench_select, bench_eta, bench_timestamps);
criterion_main!(benches);
