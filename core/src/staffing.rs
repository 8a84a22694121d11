//! Staffing advice with the Erlang C model (M/M/N queue).
//!
//! * traffic `A = λ · h` in Erlangs (arrivals per second × mean handle time in seconds);
//! * probability that a customer waits `C(N, A)` (Erlang C);
//! * service level within `t` seconds: `1 − C(N, A) · e^{−(N − A)·t/h}`;
//! * average speed of answer: `C(N, A) · h / (N − A)`.
//!
//! `C` is computed through the Erlang B recursion `B(0) = 1, B(n) = A·B(n−1) / (n + A·B(n−1))`
//! and `C = N·B / (N − A·(1 − B))`, which stays exact for hundreds of agents where the textbook
//! factorial formula overflows.

/// Offered traffic in Erlangs from arrivals per hour and mean handle time in seconds.
pub fn traffic_erlangs(arrivals_per_hour: f64, handle_seconds: f64) -> f64 {
    arrivals_per_hour * handle_seconds / 3600.0
}

/// Erlang B blocking probability for `agents` and `traffic`.
pub fn erlang_b(agents: u32, traffic: f64) -> f64 {
    let mut b = 1.0;
    for n in 1..=agents {
        b = traffic * b / (f64::from(n) + traffic * b);
    }
    b
}

/// Probability that an arriving customer has to wait (Erlang C). 1.0 when the queue is
/// unstable (`agents ≤ traffic`): the line grows without bound.
pub fn erlang_c(agents: u32, traffic: f64) -> f64 {
    let n = f64::from(agents);
    if traffic <= 0.0 {
        return 0.0;
    }
    if n <= traffic {
        return 1.0;
    }
    let b = erlang_b(agents, traffic);
    n * b / (n - traffic * (1.0 - b))
}

/// Fraction of customers called within `target_seconds` of arriving.
pub fn service_level(agents: u32, traffic: f64, handle_seconds: f64, target_seconds: f64) -> f64 {
    let n = f64::from(agents);
    if n <= traffic {
        return 0.0;
    }
    let c = erlang_c(agents, traffic);
    (1.0 - c * (-(n - traffic) * target_seconds / handle_seconds).exp()).clamp(0.0, 1.0)
}

/// Mean waiting time over all customers, in seconds (infinite when unstable).
pub fn average_speed_of_answer(agents: u32, traffic: f64, handle_seconds: f64) -> f64 {
    let n = f64::from(agents);
    if n <= traffic {
        return f64::INFINITY;
    }
    erlang_c(agents, traffic) * handle_seconds / (n - traffic)
}

/// The staffing answer for one queue.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StaffingAdvice {
    pub agents: u32,
    pub traffic_erlangs: f64,
    pub probability_wait: f64,
    pub service_level: f64,
    pub average_speed_of_answer_seconds: f64,
    pub occupancy: f64,
}

/// Smallest number of agents that serves at least `target_level` (e.g. 0.8) of customers within
/// `target_seconds` (e.g. 20), or `None` if the inputs are not positive and finite.
pub fn agents_needed(
    arrivals_per_hour: f64,
    handle_seconds: f64,
    target_level: f64,
    target_seconds: f64,
) -> Option<StaffingAdvice> {
    let valid = |x: f64| x.is_finite() && x > 0.0;
    if !(valid(arrivals_per_hour) && valid(handle_seconds) && target_seconds.is_finite()) {
        return None;
    }
    let target_level = target_level.clamp(0.0, 0.9999);
    let a = traffic_erlangs(arrivals_per_hour, handle_seconds);
    // Start at the first stable staffing level; the service level rises with every agent.
    let mut n = a.floor() as u32 + 1;
    loop {
        let sl = service_level(n, a, handle_seconds, target_seconds.max(0.0));
        if sl >= target_level {
            return Some(StaffingAdvice {
                agents: n,
                traffic_erlangs: a,
                probability_wait: erlang_c(n, a),
                service_level: sl,
                average_speed_of_answer_seconds: average_speed_of_answer(n, a, handle_seconds),
                occupancy: a / f64::from(n),
            });
        }
        n += 1;
    }
}
