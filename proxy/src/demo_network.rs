//! The demo origin's network: how long a request takes and whether it fails, drawn from
//! the request's [`NetSim`] parameters. Draws depend only on (seed, attempt, request), so a
//! run repeats exactly, and concurrent requests still finish in a visibly different order.

use std::time::Duration;

use fanout_api::{MAX_DELAY_MS, NetSim};
use rand::{Rng, SeedableRng, rngs::StdRng};
use rand_distr::{Distribution, LogNormal};

/// Spread of the long tail: with median 1, about one request in twenty takes over 3.4x.
const TAIL_SIGMA: f64 = 0.75;

/// A failure the demo network can draw for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Upstream answers HTTP 500.
    ServerError,
    /// Upstream never answers before the proxy gives up.
    Timeout,
    /// The image is not there (only drawn for image requests).
    MissingImage,
}

/// What the demo network does to one request: how long it waits and how it fails, if it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub delay: Duration,
    pub fault: Option<Fault>,
}

/// What one request (`what`: its path) experiences on the simulated network.
pub fn plan(sim: &NetSim, what: &str, is_image: bool) -> Plan {
    let no_faults = sim.fail_rate == 0.0 && sim.timeout_rate == 0.0 && (!is_image || sim.missing_rate == 0.0);
    if sim.jitter_ms == 0 && no_faults {
        // Nothing to draw: skip the generator on the hot path of exact-delay runs.
        return Plan {
            delay: Duration::from_millis(u64::from(sim.latency_ms.min(MAX_DELAY_MS))),
            fault: None,
        };
    }
    let mut rng = StdRng::seed_from_u64(
        fnv1a(what.as_bytes()) ^ sim.seed.rotate_left(17) ^ u64::from(sim.attempt).rotate_left(41),
    );
    let tail = LogNormal::new(0.0, TAIL_SIGMA).expect("valid log-normal parameters");
    let extra = f64::from(sim.jitter_ms) * tail.sample(&mut rng);
    let total = (f64::from(sim.latency_ms) + extra).min(f64::from(MAX_DELAY_MS));
    let draw: f64 = rng.random();
    let fault = if draw < sim.fail_rate {
        Some(Fault::ServerError)
    } else if draw < sim.fail_rate + sim.timeout_rate {
        Some(Fault::Timeout)
    } else if is_image && draw < sim.fail_rate + sim.timeout_rate + sim.missing_rate {
        Some(Fault::MissingImage)
    } else {
        None
    };
    Plan {
        delay: Duration::from_micros((total * 1000.0) as u64),
        fault,
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim(latency_ms: u32, jitter_ms: u32, seed: u64) -> NetSim {
        NetSim {
            latency_ms,
            jitter_ms,
            seed,
            ..NetSim::default()
        }
    }

    #[test]
    fn zero_jitter_is_exact() {
        for path in ["/api/comics/1", "/api/img/a_1.png"] {
            assert_eq!(
                plan(&sim(300, 0, 9), path, false).delay,
                Duration::from_millis(300)
            );
        }
    }

    #[test]
    fn same_seed_same_delays_other_seed_other_delays() {
        let paths: Vec<String> = (1..50).map(|n| format!("/api/comics/{n}")).collect();
        let delays = |seed| -> Vec<Duration> {
            paths
                .iter()
                .map(|p| plan(&sim(100, 200, seed), p, false).delay)
                .collect()
        };
        assert_eq!(delays(7), delays(7));
        assert_ne!(delays(7), delays(8));
        let distinct: std::collections::HashSet<_> = delays(7).into_iter().collect();
        assert!(distinct.len() > 40, "jitter spreads requests apart");
    }

    #[test]
    fn delays_are_capped_and_have_a_tail() {
        let delays: Vec<f64> = (0..2000)
            .map(|n| {
                plan(&sim(0, 200, 1), &format!("/x/{n}"), false)
                    .delay
                    .as_secs_f64()
                    * 1000.0
            })
            .collect();
        let mut sorted = delays.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[1000];
        let p99 = sorted[1980];
        assert!((150.0..260.0).contains(&median), "median {median}");
        assert!(p99 > 2.5 * median, "long tail: p99 {p99} vs median {median}");
        let capped = plan(&sim(MAX_DELAY_MS, MAX_DELAY_MS, 3), "/y", false).delay;
        assert_eq!(capped, Duration::from_millis(u64::from(MAX_DELAY_MS)));
    }

    #[test]
    fn fault_rates_are_honoured_and_retries_draw_again() {
        let faulty = NetSim {
            fail_rate: 0.3,
            timeout_rate: 0.1,
            missing_rate: 0.2,
            ..sim(0, 0, 5)
        };
        let plans: Vec<Plan> = (0..4000)
            .map(|n| plan(&faulty, &format!("/i/{n}"), true))
            .collect();
        let share = |f| plans.iter().filter(|p| p.fault == Some(f)).count() as f64 / 4000.0;
        assert!((0.27..0.33).contains(&share(Fault::ServerError)));
        assert!((0.08..0.12).contains(&share(Fault::Timeout)));
        assert!((0.17..0.23).contains(&share(Fault::MissingImage)));
        // Metadata requests never lose an image.
        assert!(
            (0..500).all(|n| plan(&faulty, &format!("/m/{n}"), false).fault != Some(Fault::MissingImage))
        );
        // A retry (next attempt) is a fresh draw, so a failed comic can succeed.
        let always = NetSim {
            fail_rate: 0.5,
            ..sim(0, 0, 5)
        };
        let differs = (0..100).any(|n| {
            let path = format!("/r/{n}");
            plan(&always, &path, false).fault != plan(&NetSim { attempt: 1, ..always }, &path, false).fault
        });
        assert!(differs);
        assert_eq!(plan(&sim(0, 0, 5), "/z", true).fault, None);
    }
}
