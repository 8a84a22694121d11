//! Waiting-time estimates (P50 and P90) from measured service times.
//!
//! Model: with `m` agents busy, tickets leave the head of the line at the rate of the merged
//! service completions, one every `μ/m` seconds on average with variance `σ²/m²` (μ, σ from the
//! service-time history). A customer with `k` tickets ahead is called at the `(k+1)`-th
//! completion; the first one comes, on average, after half a gap (the agents are mid-service).
//! The wait is therefore a sum of `k+1` gaps less half a gap:
//!
//! * mean `(k + ½) · μ/m`
//! * standard deviation `σ · √(k+1) / m`
//!
//! and, by the central limit theorem, P50 ≈ mean and P90 ≈ mean + 1.2816·sd. Estimates are
//! clamped at zero and never decrease with `k`. With no history the queue's default service
//! time is used with a coefficient of variation of 0.5; with no active agent there is no
//! estimate (`None`): nobody is serving, any number would be a guess.

use serde::{Deserialize, Serialize};

/// z-score of the 90th percentile of the standard normal distribution.
const Z90: f64 = 1.281_551_565_5;

/// Coefficient of variation assumed when there is no history.
const DEFAULT_CV: f64 = 0.5;

/// Mean and spread of service durations, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ServiceTimeModel {
    pub mean_seconds: f64,
    pub sd_seconds: f64,
    /// How many durations the model was built from (0 = default assumption).
    pub samples: usize,
}

impl ServiceTimeModel {
    /// Builds the model from a history of service durations (seconds). Non-finite and
    /// non-positive values are ignored; with fewer than 2 usable samples the default service
    /// time is used.
    pub fn from_history(durations: &[f64], default_seconds: f64) -> Self {
        let (mut n, mut mean, mut m2) = (0usize, 0.0f64, 0.0f64);
        // Welford's online algorithm: one pass, numerically stable.
        for &d in durations.iter().filter(|d| d.is_finite() && **d > 0.0) {
            n += 1;
            let delta = d - mean;
            mean += delta / n as f64;
            m2 += delta * (d - mean);
        }
        if n < 2 {
            let mean = default_seconds.max(1.0);
            return ServiceTimeModel {
                mean_seconds: mean,
                sd_seconds: mean * DEFAULT_CV,
                samples: 0,
            };
        }
        ServiceTimeModel {
            mean_seconds: mean,
            sd_seconds: (m2 / (n - 1) as f64).sqrt(),
            samples: n,
        }
    }
}

/// A waiting-time estimate in whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Eta {
    /// Median wait.
    pub p50_seconds: u32,
    /// Wait not exceeded 9 times out of 10.
    pub p90_seconds: u32,
}

/// Estimated wait of a ticket with `tickets_ahead` before it and `active_agents` serving.
pub fn estimate(
    model: &ServiceTimeModel,
    tickets_ahead: usize,
    active_agents: usize,
) -> Option<Eta> {
    if active_agents == 0 {
        return None;
    }
    let m = active_agents as f64;
    let k = tickets_ahead as f64;
    let mean = (k + 0.5) * model.mean_seconds / m;
    let sd = model.sd_seconds * (k + 1.0).sqrt() / m;
    let p50 = mean.max(0.0);
    let p90 = (mean + Z90 * sd).max(p50);
    Some(Eta {
        p50_seconds: p50.round() as u32,
        p90_seconds: p90.round() as u32,
    })
}

/// Everything a queue's wait estimate depends on: its service-time model and the agents serving
/// it now. [`EtaInputs::wait_at`] is *the* wait estimate of the system: ticket answers, the
/// kiosk menu, the display board, `queue.eta` events and the console all call it, so a kiosk
/// never shows one wait and prints another.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EtaInputs {
    pub model: ServiceTimeModel,
    /// Agents available or busy with this queue among theirs.
    pub serving_agents: u32,
}

impl EtaInputs {
    /// Estimated wait of the ticket at 1-based `position` in its queue's line (position 1 is
    /// next). Before any agent is signed in, one counter is assumed to open: a customer is better
    /// served by a figure than by none.
    pub fn wait_at(&self, position: u32) -> Eta {
        let ahead = position.saturating_sub(1) as usize;
        let agents = self.serving_agents.max(1) as usize;
        estimate(&self.model, ahead, agents).unwrap_or(Eta {
            p50_seconds: 0,
            p90_seconds: 0,
        })
    }

    /// Estimated wait of a ticket taken now, behind the `waiting` ones.
    pub fn wait_if_joined(&self, waiting: u32) -> Eta {
        self.wait_at(waiting.saturating_add(1))
    }
}

/// Estimates for a whole line: element `i` is the estimate for the ticket with `i` ahead.
pub fn estimate_line(
    model: &ServiceTimeModel,
    waiting: usize,
    active_agents: usize,
) -> Vec<Option<Eta>> {
    (0..waiting)
        .map(|k| estimate(model, k, active_agents))
        .collect()
}
