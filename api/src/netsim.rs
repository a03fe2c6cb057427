//! The demo origin's simulated network, dialled in per request through query parameters
//! (`?latency_ms=300&jitter_ms=150&seed=7&fail_rate=0.1`). Only the demo origin honours them.

use std::fmt;

/// No single simulated delay may exceed this.
pub const MAX_DELAY_MS: u32 = 10_000;

/// Latency and faults for one request to the demo origin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetSim {
    /// Base delay every request pays.
    pub latency_ms: u32,
    /// Median of the long-tailed extra delay; 0 gives exact, repeatable delays.
    pub jitter_ms: u32,
    /// Seeds the per-request draws, so a run can be repeated exactly.
    pub seed: u64,
    /// Share of requests that fail as if upstream answered HTTP 500.
    pub fail_rate: f64,
    /// Share of requests that hang until the proxy's upstream timeout.
    pub timeout_rate: f64,
    /// Share of image requests whose image is missing upstream.
    pub missing_rate: f64,
    /// Retries of the same request draw fresh faults.
    pub attempt: u32,
}

impl Default for NetSim {
    /// Looks like the real internet: a couple of hundred milliseconds, with a tail.
    fn default() -> Self {
        NetSim {
            latency_ms: 150,
            jitter_ms: 80,
            seed: 0,
            fail_rate: 0.0,
            timeout_rate: 0.0,
            missing_rate: 0.0,
            attempt: 0,
        }
    }
}

/// Why a simulation parameter was refused, naming the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetSimError(pub String);

impl fmt::Display for NetSimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NetSimError {}

impl NetSim {
    /// Reads the simulation parameters from a raw query string; keys it does not know are
    /// left alone (they may be cache busters), known keys with bad values are refused.
    pub fn from_query(query: &str) -> Result<Self, NetSimError> {
        let mut sim = NetSim::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            sim.set(key, value)?;
        }
        Ok(sim)
    }

    /// Sets the parameter named `key` from its query value, the one place each key is read.
    /// `Ok(false)`: not a simulation key, nothing changed. A bad value is refused with the
    /// reason and changes nothing.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, NetSimError> {
        match key {
            "latency_ms" => self.latency_ms = parse_ms(key, value)?,
            "jitter_ms" => self.jitter_ms = parse_ms(key, value)?,
            "seed" => self.seed = parse_int(key, value)?,
            "attempt" => self.attempt = parse_int(key, value)?,
            "fail_rate" => self.fail_rate = parse_rate(key, value)?,
            "timeout_rate" => self.timeout_rate = parse_rate(key, value)?,
            "missing_rate" => self.missing_rate = parse_rate(key, value)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The query string (without `?`) that [`NetSim::from_query`] reads back as `self`.
    pub fn to_query(&self) -> String {
        let mut query = format!(
            "latency_ms={}&jitter_ms={}&seed={}",
            self.latency_ms, self.jitter_ms, self.seed
        );
        for (key, rate) in [
            ("fail_rate", self.fail_rate),
            ("timeout_rate", self.timeout_rate),
            ("missing_rate", self.missing_rate),
        ] {
            if rate > 0.0 {
                query.push_str(&format!("&{key}={}", rate_text(rate)));
            }
        }
        if self.attempt > 0 {
            query.push_str(&format!("&attempt={}", self.attempt));
        }
        query
    }
}

/// A rate as [`parse_decimal`] reads it back: at most ten decimals, so at most 12 characters.
/// `{rate}` alone would write 33.3 % as `0.33299999999999996`, which the proxy refuses.
fn rate_text(rate: f64) -> String {
    let text = format!("{rate:.10}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn parse_int<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, NetSimError> {
    if value.is_empty() || value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NetSimError(format!(
            "{key} must be a non-negative whole number, got {:?}",
            truncate(value)
        )));
    }
    value
        .parse()
        .map_err(|_| NetSimError(format!("{key} is out of range: {}", truncate(value))))
}

fn parse_ms(key: &str, value: &str) -> Result<u32, NetSimError> {
    let ms: u64 = parse_int(key, value)?;
    if ms > u64::from(MAX_DELAY_MS) {
        return Err(NetSimError(format!(
            "{key} must be at most {MAX_DELAY_MS}, got {ms}"
        )));
    }
    Ok(ms as u32)
}

fn parse_rate(key: &str, value: &str) -> Result<f64, NetSimError> {
    match parse_decimal(value) {
        Some(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(NetSimError(format!(
            "{key} must be a number from 0 to 1, got {:?}",
            truncate(value)
        ))),
    }
}

/// A plain decimal of at most 12 characters (`0.25`, `1`, `.5`, `50.`: digits and at most one
/// point) as the nearest `f64`, exactly as `str::parse::<f64>` reads it: its digits form an
/// integer below 10^12 and the power of ten is exact, so one division rounds correctly.
/// Written out because the page compiles this crate too, and the general float parser with
/// its tables cost the page's wasm 14 KB raw (measured with twiggy).
pub fn parse_decimal(value: &str) -> Option<f64> {
    const POWERS_OF_TEN: [f64; 13] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12];
    if value.is_empty() || value.len() > 12 {
        return None;
    }
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let mut digits: u64 = 0;
    for byte in whole.bytes().chain(fraction.bytes()) {
        if !byte.is_ascii_digit() {
            return None;
        }
        digits = digits * 10 + u64::from(byte - b'0');
    }
    Some(digits as f64 / POWERS_OF_TEN[fraction.len()])
}

fn truncate(value: &str) -> String {
    value.chars().take(24).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_query_gives_defaults() {
        assert_eq!(NetSim::from_query(""), Ok(NetSim::default()));
        assert_eq!(NetSim::from_query("cb=123&x"), Ok(NetSim::default()));
    }

    #[test]
    fn round_trips_through_the_query() {
        let sim = NetSim {
            latency_ms: 300,
            jitter_ms: 0,
            seed: 7,
            fail_rate: 0.25,
            timeout_rate: 0.0,
            missing_rate: 1.0,
            attempt: 2,
        };
        assert_eq!(NetSim::from_query(&sim.to_query()), Ok(sim));
    }

    #[test]
    fn every_percentage_a_person_can_type_goes_through_the_query() {
        // 0 %, 0.1 %, ..., 100 %: the rate fields divide what is typed by 100.
        for tenths in 0..=1000u32 {
            let rate = f64::from(tenths) / 10.0 / 100.0;
            let sim = NetSim {
                fail_rate: rate,
                ..NetSim::default()
            };
            let back = NetSim::from_query(&sim.to_query()).unwrap_or_else(|err| panic!("{rate}: {}", err.0));
            assert!(
                (back.fail_rate - rate).abs() < 1e-12,
                "{rate} came back as {}",
                back.fail_rate
            );
        }
        assert_eq!(rate_text(33.3 / 100.0), "0.333");
        assert_eq!(rate_text(1.0), "1");
        assert_eq!(rate_text(0.25), "0.25");
    }

    #[test]
    fn refuses_bad_values_with_a_reason() {
        for bad in [
            "latency_ms=-1",
            "latency_ms=10001",
            "latency_ms=abc",
            "latency_ms=",
            "jitter_ms=1e3",
            "seed=-4",
            "seed=99999999999999999999999",
            "fail_rate=1.5",
            "fail_rate=-0.1",
            "fail_rate=NaN",
            "timeout_rate=inf",
            "missing_rate=",
        ] {
            let err = NetSim::from_query(bad).expect_err(bad);
            let key = bad.split('=').next().unwrap();
            assert!(err.0.contains(key), "{bad}: {err}");
        }
    }

    #[test]
    fn decimals_read_exactly_as_the_standard_parser_reads_them() {
        for text in [
            "0",
            "1",
            "0.25",
            ".5",
            "1.",
            "0.1",
            "0.3333333333",
            "100",
            "33.3",
            "000.0700",
        ] {
            assert_eq!(parse_decimal(text), text.parse::<f64>().ok(), "{text}");
        }
        for bad in [
            "",
            ".",
            "1.2.3",
            "-1",
            "+1",
            "1e3",
            "NaN",
            "inf",
            " 1",
            "0.12345678901",
        ] {
            assert_eq!(parse_decimal(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_short_decimal_matches_the_standard_parser(whole in "[0-9]{0,6}", fraction in "[0-9]{0,5}") {
            let text = format!("{whole}.{fraction}");
            let expected = text.parse::<f64>().ok();
            proptest::prop_assert_eq!(parse_decimal(&text), expected, "{}", text);
            proptest::prop_assert_eq!(parse_decimal(&whole), whole.parse::<f64>().ok(), "{}", whole);
        }
    }

    #[test]
    fn set_reads_one_key_and_leaves_the_rest() {
        let mut sim = NetSim::default();
        assert_eq!(sim.set("latency_ms", "300"), Ok(true));
        assert_eq!(sim.set("fail_rate", "0.25"), Ok(true));
        assert_eq!(sim.set("attempt", "2"), Ok(true));
        assert_eq!(
            sim,
            NetSim {
                latency_ms: 300,
                fail_rate: 0.25,
                attempt: 2,
                ..NetSim::default()
            }
        );
        let before = sim;
        assert_eq!(sim.set("fresh", "abc"), Ok(false), "not ours: left alone");
        let err = sim.set("timeout_rate", "2").expect_err("out of range");
        assert!(err.0.contains("timeout_rate"), "{err}");
        assert_eq!(sim, before, "a refused value changes nothing");
    }

    #[test]
    fn delay_cap_is_inclusive() {
        assert_eq!(NetSim::from_query("latency_ms=10000").unwrap().latency_ms, 10_000);
    }
}
