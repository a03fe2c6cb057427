//! What a run is, and how it lives in the URL (`?n=20&mode=limited&limit=6&latency_ms=300`).
//! Invalid values are reported and replaced by defaults, never fatal.

use fanout_api::{NetSim, parse_comic_number};

pub const MAX_COMICS: u32 = 100;
/// The most host names a run spreads over (the proxy offers at most this many shards).
pub const MAX_SHARDS: u32 = 16;

/// How a run fetches its comics' metadata. The first three fan out in the browser, one
/// request per comic; the gather modes ask the proxy to fan out, in one request for all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// One after another.
    Sequential,
    /// All at once.
    Concurrent,
    /// At most `limit` at a time.
    Limited,
    /// One request; the proxy streams each comic's line the moment it resolves.
    Gather,
    /// One request; the proxy answers every comic at once, after the slowest (the Flask
    /// tutorial's `asyncio.gather`).
    GatherAll,
}

impl Mode {
    pub const ALL: [Mode; 5] = [
        Mode::Sequential,
        Mode::Limited,
        Mode::Concurrent,
        Mode::Gather,
        Mode::GatherAll,
    ];

    /// The value in the URL's `mode=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Sequential => "sequential",
            Mode::Concurrent => "concurrent",
            Mode::Limited => "limited",
            Mode::Gather => "gather",
            Mode::GatherAll => "gather-all",
        }
    }

    pub fn parse(text: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.as_str() == text)
    }

    /// The strategy in the controls' words.
    pub fn label(self) -> &'static str {
        match self {
            Mode::Sequential => "one after another",
            Mode::Limited => "at most k at a time",
            Mode::Concurrent => "all at once",
            Mode::Gather => "server gathers, streamed",
            Mode::GatherAll => "server gathers, waits for all",
        }
    }

    /// True when the proxy fetches the metadata of every comic for one request.
    pub fn is_gather(self) -> bool {
        matches!(self, Mode::Gather | Mode::GatherAll)
    }
}

/// Which of a comic's two requests the browser should serve first when they compete for a
/// connection. Chromium runs `fetch()` at MEDIUM and a script-made `<img>` at LOWEST, so
/// without hints every metadata request queues ahead of every image over HTTP/1.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Priority {
    /// Metadata `fetch` with `priority: "low"`, the image with `fetchpriority="high"`: a free
    /// connection goes to an image whose metadata has arrived (depth-first).
    ImagesFirst,
    /// No hints: the browser's own order (breadth-first: all metadata, then the images).
    NoHints,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::ImagesFirst => "images",
            Priority::NoHints => "none",
        }
    }

    /// The other setting, for comparing the two.
    pub fn other(self) -> Priority {
        match self {
            Priority::ImagesFirst => Priority::NoHints,
            Priority::NoHints => Priority::ImagesFirst,
        }
    }
}

/// How a run is named in history and on charts, in the controls' own words:
/// "all at once", "at most 6 at a time, no hints".
pub fn strategy_label(mode: Mode, limit: u32, priority: Priority) -> String {
    let how = match mode {
        Mode::Limited => format!("at most {limit} at a time"),
        _ => mode.label().to_string(),
    };
    match priority {
        Priority::ImagesFirst => how,
        Priority::NoHints => format!("{how}, no hints"),
    }
}

/// [`strategy_label`] with the number of hosts when the run was sharded: "all at once, 8 hosts".
pub fn sharded_label(mode: Mode, limit: u32, priority: Priority, shards: u32) -> String {
    let label = strategy_label(mode, limit, priority);
    if shards > 1 {
        format!("{label}, {shards} hosts")
    } else {
        label
    }
}

/// The origins a run's comics go to with `shards` hosts: none (the page's own origin) for one
/// host or when the proxy offers no shards, else the first `shards` of the proxy's shard
/// names at the page's own scheme (`"http:"`) and port (`""` for the default).
pub fn shard_origins(protocol: &str, port: &str, hosts: &[String], shards: u32) -> Vec<String> {
    if shards <= 1 {
        return Vec::new();
    }
    let port = if port.is_empty() {
        String::new()
    } else {
        format!(":{port}")
    };
    hosts
        .iter()
        .take(shards as usize)
        .map(|host| format!("{protocol}//{host}{port}"))
        .collect()
}

/// The origin comic number `slot` of a run goes to: shard `slot mod k` (`None`: the page's own).
pub fn shard_for(origins: &[String], slot: usize) -> Option<&str> {
    (!origins.is_empty()).then(|| origins[slot % origins.len()].as_str())
}

/// Where a finished tile goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TileOrder {
    /// Tiles join the gallery in the order their requests complete.
    Completion,
    /// Every comic has a fixed slot from the start.
    Grid,
}

impl TileOrder {
    pub const ALL: [TileOrder; 2] = [TileOrder::Completion, TileOrder::Grid];

    pub fn as_str(self) -> &'static str {
        match self {
            TileOrder::Completion => "completion",
            TileOrder::Grid => "grid",
        }
    }

    /// The order named by [`TileOrder::as_str`]: the URL and the controls read it here.
    pub fn parse(text: &str) -> Option<TileOrder> {
        TileOrder::ALL.into_iter().find(|o| o.as_str() == text)
    }
}

/// Everything a run is set up with: the controls' values and the page's URL.
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig {
    /// How many random comics, when no explicit list is given.
    pub n: u32,
    pub mode: Mode,
    /// At most this many comics in flight, for [`Mode::Limited`].
    pub limit: u32,
    /// An explicit list of comics, instead of `n` random ones.
    pub comics: Option<Vec<u32>>,
    pub sim: NetSim,
    pub order: TileOrder,
    /// Let the browser's HTTP cache answer repeats (off: every request goes to the network).
    pub use_cache: bool,
    pub priority: Priority,
    /// How many host names the comics are spread over (domain sharding); 1: the page's own.
    pub shards: u32,
    /// Start the run as soon as the page loads.
    pub run_on_load: bool,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            n: 20,
            mode: Mode::Concurrent,
            limit: 6,
            comics: None,
            sim: NetSim::default(),
            order: TileOrder::Completion,
            use_cache: false,
            priority: Priority::ImagesFirst,
            shards: 1,
            run_on_load: false,
        }
    }
}

impl RunConfig {
    /// Reads decoded query pairs; returns the config and one message per value it refused.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> (Self, Vec<String>) {
        let mut config = RunConfig::default();
        let mut problems = Vec::new();
        for (key, value) in pairs {
            if let Err(problem) = config.apply(key, value) {
                problems.push(problem);
            }
        }
        (config, problems)
    }

    fn apply(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "n" => self.n = parse_bounded(key, value, 1, MAX_COMICS)?,
            "limit" => self.limit = parse_bounded(key, value, 1, MAX_COMICS)?,
            "shards" => self.shards = parse_bounded(key, value, 1, MAX_SHARDS)?,
            "mode" => {
                self.mode = Mode::parse(value).ok_or_else(|| {
                    let names: Vec<&str> = Mode::ALL.into_iter().map(Mode::as_str).collect();
                    format!("mode must be one of {}, not {value:?}", names.join(", "))
                })?
            }
            "comics" => self.comics = Some(parse_comic_list(value)?),
            "order" => {
                self.order = TileOrder::parse(value)
                    .ok_or_else(|| format!("order must be completion or grid, not {value:?}"))?
            }
            "priority" => {
                self.priority = match value {
                    "images" => Priority::ImagesFirst,
                    "none" => Priority::NoHints,
                    _ => return Err(format!("priority must be images or none, not {value:?}")),
                }
            }
            "cache" => self.use_cache = parse_flag(key, value)?,
            "run" => self.run_on_load = parse_flag(key, value)?,
            // Which try a request is belongs to the retry that makes it, not to the run.
            "attempt" => {}
            _ => {
                self.sim.set(key, value).map_err(|err| err.0)?;
            }
        }
        Ok(())
    }

    /// The query string (without `?`) that reproduces this run; `run=1` is left to the caller.
    pub fn to_query(&self) -> String {
        let mut query = format!("n={}&mode={}&limit={}", self.n, self.mode.as_str(), self.limit);
        if let Some(comics) = &self.comics {
            let list: Vec<String> = comics.iter().map(u32::to_string).collect();
            query.push_str(&format!("&comics={}", list.join(",")));
        }
        query.push('&');
        query.push_str(&self.sim.to_query());
        if self.order != TileOrder::Completion {
            query.push_str(&format!("&order={}", self.order.as_str()));
        }
        if self.use_cache {
            query.push_str("&cache=1");
        }
        if self.priority != Priority::ImagesFirst {
            query.push_str(&format!("&priority={}", self.priority.as_str()));
        }
        if self.shards != 1 {
            query.push_str(&format!("&shards={}", self.shards));
        }
        query
    }

    /// How many comics may be in flight at once for `count` comics (for the gather modes, as
    /// many as the proxy takes: every one).
    pub fn max_in_flight(&self, count: usize) -> usize {
        match self.mode {
            Mode::Sequential => 1,
            Mode::Concurrent | Mode::Gather | Mode::GatherAll => count.max(1),
            Mode::Limited => (self.limit as usize).clamp(1, count.max(1)),
        }
    }
}

fn parse_bounded(key: &str, value: &str, min: u32, max: u32) -> Result<u32, String> {
    match value.parse::<u32>() {
        Ok(v) if (min..=max).contains(&v) && !value.starts_with('+') => Ok(v),
        _ => Err(format!(
            "{key} must be a whole number from {min} to {max}, not {value:?}"
        )),
    }
}

fn parse_flag(key: &str, value: &str) -> Result<bool, String> {
    match value {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(format!("{key} must be 1 or 0, not {value:?}")),
    }
}

/// `1,404,614`: distinct comic numbers, at most [`MAX_COMICS`] of them.
pub fn parse_comic_list(value: &str) -> Result<Vec<u32>, String> {
    let mut comics = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let num = parse_comic_number(part).map_err(|err| format!("comics: {err}"))?;
        if !comics.contains(&num) {
            comics.push(num);
        }
    }
    if comics.is_empty() {
        return Err("comics must list at least one comic number".into());
    }
    if comics.len() > MAX_COMICS as usize {
        return Err(format!(
            "comics may list at most {MAX_COMICS} comics, not {}",
            comics.len()
        ));
    }
    Ok(comics)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> (RunConfig, Vec<String>) {
        RunConfig::from_pairs(
            query
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| p.split_once('=').unwrap_or((p, ""))),
        )
    }

    #[test]
    fn reads_the_documented_url() {
        let (config, problems) =
            parse("n=20&mode=concurrent&limit=6&latency_ms=300&jitter_ms=0&seed=7&run=1");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(config.n, 20);
        assert_eq!(config.mode, Mode::Concurrent);
        assert_eq!(config.sim.latency_ms, 300);
        assert_eq!(config.sim.jitter_ms, 0);
        assert_eq!(config.sim.seed, 7);
        assert!(config.run_on_load);
        let (retried, problems) = parse("attempt=3&seed=4");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            (retried.sim.attempt, retried.sim.seed),
            (0, 4),
            "attempt is a retry's, not a setting"
        );
        let (listed, _) = parse("comics=1,404,614&mode=limited");
        assert_eq!(listed.comics, Some(vec![1, 404, 614]));
        assert_eq!(listed.mode, Mode::Limited);
    }

    #[test]
    fn bad_values_are_reported_and_defaulted() {
        let (config, problems) = parse(
            "n=0&mode=fast&limit=x&latency_ms=99999&comics=1,-2&order=up&cache=maybe&fail_rate=2&priority=img",
        );
        assert_eq!(problems.len(), 9, "{problems:?}");
        let defaults = RunConfig::default();
        assert_eq!(config.n, defaults.n);
        assert_eq!(config.mode, defaults.mode);
        assert_eq!(config.limit, defaults.limit);
        assert_eq!(config.sim, defaults.sim);
        assert_eq!(config.comics, None);
        assert_eq!(config.priority, Priority::ImagesFirst);
        assert!(problems.iter().any(|p| p.contains("mode")));
        assert!(
            problems
                .iter()
                .any(|p| p.contains("priority must be images or none"))
        );
        assert_eq!(parse("n=101").1.len(), 1);
    }

    #[test]
    fn round_trips() {
        let (config, _) = parse(
            "n=7&mode=limited&limit=3&comics=5,6&latency_ms=250&jitter_ms=40&seed=3&fail_rate=0.2&order=grid&cache=1&priority=none",
        );
        assert_eq!(config.priority, Priority::NoHints);
        let (again, problems) = parse(&config.to_query());
        assert!(problems.is_empty());
        assert_eq!(again, config);
        // The default, images first, stays out of the address.
        let (defaults, _) = parse("n=3&priority=images");
        assert_eq!(defaults.priority, Priority::ImagesFirst);
        assert!(
            !defaults.to_query().contains("priority"),
            "{}",
            defaults.to_query()
        );
    }

    #[test]
    fn every_mode_round_trips_through_the_url() {
        for mode in Mode::ALL {
            assert_eq!(Mode::parse(mode.as_str()), Some(mode));
            let (config, problems) = parse(&format!("mode={}&n=5", mode.as_str()));
            assert!(problems.is_empty(), "{problems:?}");
            assert_eq!(config.mode, mode);
            assert_eq!(parse(&config.to_query()).0, config);
        }
        assert_eq!(Mode::parse("gather"), Some(Mode::Gather));
        assert_eq!(Mode::parse("gather-all"), Some(Mode::GatherAll));
        for bad in ["Gather", "gather_all", "gatherall", "gather-all ", ""] {
            assert_eq!(Mode::parse(bad), None, "{bad:?}");
        }
        let (_, problems) = parse("mode=gather_all");
        assert_eq!(
            problems,
            vec![
                "mode must be one of sequential, limited, concurrent, gather, gather-all, not \"gather_all\""
                    .to_string()
            ]
        );
        assert!(Mode::Gather.is_gather() && Mode::GatherAll.is_gather());
        assert!(!Mode::Concurrent.is_gather());
    }

    #[test]
    fn in_flight_by_mode() {
        let mut config = RunConfig {
            mode: Mode::Sequential,
            ..RunConfig::default()
        };
        assert_eq!(config.max_in_flight(20), 1);
        config.mode = Mode::Concurrent;
        assert_eq!(config.max_in_flight(20), 20);
        config.mode = Mode::Limited;
        config.limit = 6;
        assert_eq!(config.max_in_flight(20), 6);
        assert_eq!(config.max_in_flight(3), 3);
        config.mode = Mode::Gather;
        assert_eq!(config.max_in_flight(20), 20);
    }

    #[test]
    fn strategies_are_named_as_the_controls_name_them() {
        assert_eq!(
            strategy_label(Mode::Concurrent, 6, Priority::ImagesFirst),
            "all at once"
        );
        assert_eq!(
            strategy_label(Mode::Concurrent, 6, Priority::NoHints),
            "all at once, no hints"
        );
        assert_eq!(
            strategy_label(Mode::Limited, 4, Priority::ImagesFirst),
            "at most 4 at a time"
        );
        assert_eq!(
            strategy_label(Mode::Sequential, 6, Priority::NoHints),
            "one after another, no hints"
        );
        assert_eq!(
            strategy_label(Mode::Gather, 6, Priority::ImagesFirst),
            "server gathers, streamed"
        );
        assert_eq!(
            strategy_label(Mode::GatherAll, 6, Priority::NoHints),
            "server gathers, waits for all, no hints"
        );
        assert_eq!(Priority::ImagesFirst.other(), Priority::NoHints);
        assert_eq!(Priority::NoHints.other(), Priority::ImagesFirst);
    }

    #[test]
    fn shards_read_from_the_url_and_round_trip() {
        let (config, problems) = parse("shards=8&mode=gather");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(config.shards, 8);
        assert_eq!(parse(&config.to_query()).0, config);
        assert!(!RunConfig::default().to_query().contains("shards"));
        for bad in ["0", "17", "x", "+4", ""] {
            let (config, problems) = parse(&format!("shards={bad}"));
            assert_eq!(config.shards, 1, "{bad}");
            assert_eq!(
                problems,
                vec![format!("shards must be a whole number from 1 to 16, not {bad:?}")]
            );
        }
    }

    #[test]
    fn comics_go_round_the_shards_at_the_pages_scheme_and_port() {
        let hosts: Vec<String> = (0..16).map(|j| format!("s{j}.localhost")).collect();
        let four = shard_origins("http:", "8080", &hosts, 4);
        assert_eq!(
            four,
            [
                "http://s0.localhost:8080",
                "http://s1.localhost:8080",
                "http://s2.localhost:8080",
                "http://s3.localhost:8080"
            ]
        );
        assert_eq!(shard_for(&four, 0), Some("http://s0.localhost:8080"));
        assert_eq!(shard_for(&four, 5), Some("http://s1.localhost:8080"));
        assert_eq!(shard_for(&four, 7), Some("http://s3.localhost:8080"));
        assert!(
            shard_origins("http:", "8080", &hosts, 1).is_empty(),
            "one host: the page's own"
        );
        assert!(
            shard_origins("http:", "8080", &[], 8).is_empty(),
            "no shards offered"
        );
        assert_eq!(shard_for(&[], 3), None);
        assert_eq!(
            shard_origins("https:", "", &hosts[..2], 16),
            ["https://s0.localhost", "https://s1.localhost"],
            "no more than the proxy offers"
        );
        assert_eq!(
            sharded_label(Mode::Concurrent, 6, Priority::ImagesFirst, 8),
            "all at once, 8 hosts"
        );
        assert_eq!(
            sharded_label(Mode::Gather, 6, Priority::NoHints, 1),
            "server gathers, streamed, no hints"
        );
    }

    #[test]
    fn comic_lists_dedupe_and_cap() {
        assert_eq!(parse_comic_list("3, 3,4,"), Ok(vec![3, 4]));
        assert!(parse_comic_list("").is_err());
        assert!(parse_comic_list("0").is_err());
        let many: Vec<String> = (1..=101).map(|n| n.to_string()).collect();
        assert!(parse_comic_list(&many.join(",")).is_err());
    }

    #[test]
    fn each_documented_value_reads_back_and_a_full_list_fits() {
        let (config, problems) = RunConfig::from_pairs([
            ("priority", "none"),
            ("priority", "images"),
            ("cache", "1"),
            ("cache", "0"),
        ]);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            (config.priority, config.use_cache),
            (Priority::ImagesFirst, false)
        );
        let hundred: Vec<String> = (1..=MAX_COMICS).map(|n| n.to_string()).collect();
        assert_eq!(parse_comic_list(&hundred.join(",")).map(|c| c.len()), Ok(100));
    }
}
