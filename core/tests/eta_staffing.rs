//! ETA estimates on constructed histories and Erlang C against textbook values.

use smartqueue_core::eta::{Eta, ServiceTimeModel, estimate, estimate_line};
use smartqueue_core::staffing::{
    agents_needed, average_speed_of_answer, erlang_c, service_level, traffic_erlangs,
};

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn constant_history_gives_a_sharp_estimate() {
    let m = ServiceTimeModel::from_history(&[300.0; 50], 120.0);
    assert_eq!(m.samples, 50);
    // 3 ahead, one agent: 3.5 services of 5 minutes.
    assert_eq!(
        estimate(&m, 3, 1),
        Some(Eta {
            p50_seconds: 1050,
            p90_seconds: 1050
        })
    );
    // Two agents halve it.
    assert_eq!(
        estimate(&m, 3, 2),
        Some(Eta {
            p50_seconds: 525,
            p90_seconds: 525
        })
    );
    // First in line waits half a service on average.
    assert_eq!(
        estimate(&m, 0, 1),
        Some(Eta {
            p50_seconds: 150,
            p90_seconds: 150
        })
    );
}

#[test]
fn spread_in_history_widens_p90() {
    // Mean 300 s, sample sd 100 s (alternating 200 / 400).
    let history: Vec<f64> = (0..100)
        .map(|i| if i % 2 == 0 { 200.0 } else { 400.0 })
        .collect();
    let m = ServiceTimeModel::from_history(&history, 120.0);
    assert!(close(m.mean_seconds, 300.0, 1e-9));
    assert!(close(m.sd_seconds, 100.5, 0.1), "sd {}", m.sd_seconds);
    let e = estimate(&m, 8, 1).unwrap();
    assert_eq!(e.p50_seconds, 2550); // 8.5 × 300
    // + 1.2816 × 100.5 × √9 ≈ 386
    assert!(
        (2930..=2945).contains(&e.p90_seconds),
        "p90 {}",
        e.p90_seconds
    );
}

#[test]
fn estimates_never_decrease_along_the_line() {
    let history = [60.0, 600.0, 90.0, 240.0, 30.0, 900.0, 120.0];
    let m = ServiceTimeModel::from_history(&history, 120.0);
    let line = estimate_line(&m, 200, 3);
    for pair in line.windows(2) {
        let (a, b) = (pair[0].unwrap(), pair[1].unwrap());
        assert!(b.p50_seconds >= a.p50_seconds && b.p90_seconds >= a.p90_seconds);
        assert!(a.p90_seconds >= a.p50_seconds);
    }
}

#[test]
fn bad_or_missing_history_falls_back_and_no_agent_means_no_estimate() {
    let m = ServiceTimeModel::from_history(&[f64::NAN, -5.0, 0.0, 240.0], 180.0);
    assert_eq!(
        (m.samples, m.mean_seconds),
        (0, 180.0),
        "one usable sample is not a history"
    );
    assert_eq!(estimate(&m, 1, 1).unwrap().p50_seconds, 270);
    assert_eq!(estimate(&m, 1, 0), None);
}

#[test]
fn erlang_c_matches_the_textbook_call_centre_case() {
    // The classic worked example: 100 calls per 30 min, 180 s handle time → 10 Erlangs.
    let a = traffic_erlangs(200.0, 180.0);
    assert!(close(a, 10.0, 1e-12));
    assert!(
        close(erlang_c(11, a), 0.6821, 5e-5),
        "P(wait) 11 agents = {}",
        erlang_c(11, a)
    );
    assert!(close(service_level(11, a, 180.0, 20.0), 0.3896, 5e-4));
    assert!(close(average_speed_of_answer(11, a, 180.0), 122.8, 0.1));
    assert!(close(erlang_c(14, a), 0.1741, 5e-5));
    assert!(close(service_level(14, a, 180.0, 20.0), 0.8884, 5e-4));
    let advice = agents_needed(200.0, 180.0, 0.80, 20.0).unwrap();
    assert_eq!(advice.agents, 14, "13 agents give 79.6 %, 14 give 88.8 %");
}

#[test]
fn erlang_c_for_the_branch_case_of_8_erlangs() {
    // 120 arrivals per hour × 240 s = 8 Erlangs. The exact Erlang C values (see the issue note:
    // 0.337 / 86 % quoted there do not follow from the formula for 10 agents).
    let a = traffic_erlangs(120.0, 240.0);
    assert!(close(a, 8.0, 1e-12));
    assert!(
        close(erlang_c(10, a), 0.4092, 5e-5),
        "P(wait) = {}",
        erlang_c(10, a)
    );
    assert!(close(service_level(10, a, 240.0, 20.0), 0.6536, 5e-4));
    assert!(close(service_level(11, a, 240.0, 20.0), 0.8092, 5e-4));
    assert_eq!(agents_needed(120.0, 240.0, 0.80, 20.0).unwrap().agents, 11);
    assert_eq!(agents_needed(120.0, 240.0, 0.85, 20.0).unwrap().agents, 12);
}

#[test]
fn unstable_and_degenerate_inputs_are_safe() {
    assert_eq!(erlang_c(8, 8.0), 1.0);
    assert_eq!(service_level(5, 8.0, 240.0, 20.0), 0.0);
    assert!(average_speed_of_answer(8, 8.0, 240.0).is_infinite());
    assert_eq!(erlang_c(3, 0.0), 0.0);
    assert!(agents_needed(0.0, 240.0, 0.8, 20.0).is_none());
    assert!(agents_needed(f64::NAN, 240.0, 0.8, 20.0).is_none());
    // Large centres stay finite (the factorial formula would overflow here).
    let big = erlang_c(500, 480.0);
    assert!(big.is_finite() && big > 0.0 && big < 1.0);
}

/// The one wait estimate: position 1 has nobody ahead, a ticket joining behind `n` is at
/// position `n + 1`, and with no agent signed in one counter is assumed to open.
#[test]
fn the_one_wait_estimate_counts_from_the_position() {
    use smartqueue_core::eta::EtaInputs;
    let inputs = |serving_agents| EtaInputs {
        model: ServiceTimeModel::from_history(&[], 600.0),
        serving_agents,
    };
    let one = inputs(1);
    assert_eq!(one.wait_at(1), estimate(&one.model, 0, 1).unwrap());
    assert_eq!(one.wait_at(3).p50_seconds, 1500);
    assert_eq!(one.wait_if_joined(2), one.wait_at(3));
    assert_eq!(
        inputs(0).wait_at(3),
        one.wait_at(3),
        "nobody serving yet: one counter"
    );
    assert_eq!(inputs(2).wait_at(3).p50_seconds, 750);
    assert_eq!(
        one.wait_at(0),
        one.wait_at(1),
        "position 0 is treated as next"
    );
}
