//! Timing arithmetic for a run: per-tile phases and the run summary. Plain numbers in
//! milliseconds from the run's start; no browser needed.

use fanout_api::Route;

/// When one comic's chain (metadata, then image) started and finished each phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChainTiming {
    pub started: f64,
    pub metadata_done: f64,
    pub finished: f64,
    /// Time its requests spent on the network (waiting and downloading, not queued for a
    /// connection), from Resource Timing; `None` until the browser reports it.
    pub network_ms: Option<f64>,
}

impl ChainTiming {
    pub fn total(&self) -> f64 {
        self.finished - self.started
    }
    pub fn metadata(&self) -> f64 {
        self.metadata_done - self.started
    }
    pub fn image(&self) -> f64 {
        self.finished - self.metadata_done
    }
    /// The chain's own latency: what it costs with nothing else in the way.
    pub fn own(&self) -> f64 {
        self.network_ms.unwrap_or_else(|| self.total())
    }
}

/// A run's numbers, from its settled comics.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    /// From pressing Run to the last comic settling: the wall time (the `data-total-ms` hook).
    pub wall_ms: f64,
    /// From pressing Run to the first comic settling.
    pub first_ms: f64,
    /// The mean, over settled comics (failed ones at the time they failed), of the time from
    /// pressing Run to the comic settling: how long a comic keeps the user waiting.
    pub mean_ms: f64,
    /// The sum of every chain's own latency: what one-after-another would have cost.
    pub sum_ms: f64,
    /// The slowest single chain's own latency: no schedule can beat it.
    pub ideal_ms: f64,
    pub loaded: usize,
    pub failed: usize,
}

impl Summary {
    /// Settled chains (loaded or failed), in any order.
    pub fn of(settled: &[(ChainTiming, bool)]) -> Summary {
        let mut summary = Summary::default();
        if settled.is_empty() {
            return summary;
        }
        summary.wall_ms = settled.iter().map(|(t, _)| t.finished).fold(0.0, f64::max);
        summary.first_ms = settled
            .iter()
            .map(|(t, _)| t.finished)
            .fold(f64::INFINITY, f64::min);
        summary.mean_ms = settled.iter().map(|(t, _)| t.finished).sum::<f64>() / settled.len() as f64;
        summary.sum_ms = settled.iter().map(|(t, _)| t.own()).sum();
        summary.ideal_ms = settled.iter().map(|(t, _)| t.own()).fold(0.0, f64::max);
        summary.loaded = settled.iter().filter(|(_, ok)| *ok).count();
        summary.failed = settled.len() - summary.loaded;
        summary
    }

    /// How much faster than one after another: sum of latencies ÷ wall time.
    pub fn speedup(&self) -> f64 {
        ratio(self.sum_ms, self.wall_ms)
    }

    /// Wall time ÷ the ideal ("vs. ideal"): 1.0 is the physical limit, bigger is further from it.
    pub fn vs_ideal(&self) -> f64 {
        ratio(self.wall_ms, self.ideal_ms)
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// One request's Resource Timing, in ms from the run's start.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestTiming {
    pub url: String,
    /// Which API route `url` names (`None`: not one of ours), read once by [`Route::parse`].
    pub route: Option<Route>,
    pub start: f64,
    pub request_start: f64,
    pub response_start: f64,
    pub response_end: f64,
    pub protocol: String,
    /// The DNS lookup and the connection's setup (`None`: the browser shows none, as for a
    /// reused connection), and when its TLS handshake began; kept for the HAR export.
    pub dns: Option<(f64, f64)>,
    pub connect: Option<(f64, f64)>,
    pub secure_connection_start: Option<f64>,
    /// `responseStatus`, where the browser gives it.
    pub status: Option<u16>,
}

/// The three phases a waterfall bar shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phases {
    /// Queued or stalled: waiting for a connection (the per-host limit shows here).
    pub queued: f64,
    /// Request sent, waiting for the first byte.
    pub waiting: f64,
    /// Receiving the body.
    pub download: f64,
}

impl RequestTiming {
    pub fn phases(&self) -> Phases {
        // A zero requestStart means the browser withheld details; count it all as waiting.
        let request_start = if self.request_start > 0.0 {
            self.request_start
        } else {
            self.start
        };
        let response_start = if self.response_start > 0.0 {
            self.response_start
        } else {
            request_start
        };
        Phases {
            queued: (request_start - self.start).max(0.0),
            waiting: (response_start - request_start).max(0.0),
            download: (self.response_end - response_start).max(0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(started: f64, metadata_done: f64, finished: f64) -> ChainTiming {
        ChainTiming {
            started,
            metadata_done,
            finished,
            network_ms: None,
        }
    }

    #[test]
    fn concurrent_run_summary() {
        let settled = [
            (chain(0.0, 300.0, 600.0), true),
            (chain(0.0, 200.0, 450.0), true),
            (chain(1.0, 100.0, 101.0), false),
        ];
        let s = Summary::of(&settled);
        assert_eq!(s.wall_ms, 600.0);
        assert_eq!(s.first_ms, 101.0);
        // The failed comic counts at the time it failed.
        assert_eq!(s.mean_ms, (600.0 + 450.0 + 101.0) / 3.0);
        assert_eq!(s.sum_ms, 600.0 + 450.0 + 100.0);
        assert_eq!(s.ideal_ms, 600.0);
        assert_eq!((s.loaded, s.failed), (2, 1));
        assert!((s.speedup() - 1150.0 / 600.0).abs() < 1e-9);
        assert_eq!(s.vs_ideal(), 1.0);
    }

    #[test]
    fn mean_time_to_tile_rewards_early_tiles() {
        // The same wall time, but depth-first puts tiles on screen earlier.
        let breadth_first = [(chain(0.0, 300.0, 900.0), true), (chain(0.0, 300.0, 900.0), true)];
        let depth_first = [(chain(0.0, 300.0, 600.0), true), (chain(0.0, 300.0, 900.0), true)];
        let (b, d) = (Summary::of(&breadth_first), Summary::of(&depth_first));
        assert_eq!(b.wall_ms, d.wall_ms);
        assert_eq!((b.mean_ms, d.mean_ms), (900.0, 750.0));
    }

    #[test]
    fn sequential_run_is_far_from_ideal() {
        let settled = [
            (chain(0.0, 100.0, 200.0), true),
            (chain(200.0, 300.0, 400.0), true),
        ];
        let s = Summary::of(&settled);
        assert_eq!(s.vs_ideal(), 2.0);
        assert_eq!(s.speedup(), 1.0);
        assert_eq!(chain(200.0, 300.0, 400.0).metadata(), 100.0);
        assert_eq!(chain(200.0, 300.0, 450.0).image(), 150.0);
    }

    #[test]
    fn queueing_does_not_count_as_a_chains_own_latency() {
        // Two chains of 300 ms each; the second waited 300 ms for a connection first.
        let queued = ChainTiming {
            network_ms: Some(300.0),
            ..chain(0.0, 450.0, 600.0)
        };
        let s = Summary::of(&[(chain(0.0, 150.0, 300.0), true), (queued, true)]);
        assert_eq!(s.ideal_ms, 300.0);
        assert_eq!(s.sum_ms, 600.0);
        assert_eq!(s.vs_ideal(), 2.0);
        assert_eq!(s.speedup(), 1.0);
    }

    #[test]
    fn empty_run_is_all_zero() {
        let s = Summary::of(&[]);
        assert_eq!(s, Summary::default());
        assert_eq!(s.speedup(), 0.0);
    }

    #[test]
    fn waterfall_phases() {
        let url = fanout_api::routes::comic(fanout_api::ComicId::Number(1));
        let t = RequestTiming {
            route: Route::parse(&url),
            url,
            start: 10.0,
            request_start: 350.0,
            response_start: 650.0,
            response_end: 655.0,
            protocol: "http/1.1".into(),
            dns: None,
            connect: None,
            secure_connection_start: None,
            status: None,
        };
        assert_eq!(
            t.phases(),
            Phases {
                queued: 340.0,
                waiting: 300.0,
                download: 5.0
            }
        );
        let hidden = RequestTiming {
            request_start: 0.0,
            response_start: 0.0,
            ..t
        };
        assert_eq!(
            hidden.phases(),
            Phases {
                queued: 0.0,
                waiting: 0.0,
                download: 645.0
            }
        );
    }

    #[test]
    fn failed_counts_every_settled_comic_that_did_not_load() {
        let settled = [
            (chain(0.0, 100.0, 200.0), true),
            (chain(0.0, 50.0, 50.0), false),
            (chain(0.0, 60.0, 60.0), false),
        ];
        let s = Summary::of(&settled);
        assert_eq!((s.loaded, s.failed), (1, 2));
    }
}
