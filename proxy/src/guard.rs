//! Middleware that every request passes: size limits, per-address rate limiting on /api,
//! hardening headers, and one structured log line per request.

use std::{
    net::{IpAddr, SocketAddr},
    num::NonZeroU32,
    sync::Arc,
    time::Instant,
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, Uri, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};

use fanout_api::{parse_batch_query, routes};

use crate::{X_CACHE, error::ApiError, shards};

pub const MAX_URI_BYTES: usize = 2048;
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// More header fields than this get 431. hyper's HTTP/1.1 parser is set to take more
/// ([`crate::server`]), so that the answer is ours, in JSON.
pub const MAX_HEADERS: usize = 100;

/// What every request passes through first: the Host check and size limits, then the
/// handler, then the hardening headers, with one log line at the end. One layer rather than
/// several, because each layer costs a boxed future on the hot path.
pub async fn frontline(State(site): State<Arc<Site>>, request: Request, next: Next) -> Response {
    let log = tracing::enabled!(target: "fanout_proxy::access", tracing::Level::INFO);
    let started = Instant::now();
    let logged = log.then(|| (request.method().clone(), request.uri().path().to_owned()));
    let refusal = match malformed_host(&request) {
        Some(problem) => Some(ApiError::BadRequest(problem.into())),
        None if site.hosts.allows(&request) => oversized(&request),
        None => Some(ApiError::MisdirectedRequest),
    };
    let path = request.uri().path();
    let is_api = path
        .strip_prefix(routes::API_ROOT)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    let grant = is_api.then(|| site.cross_origin.grant(&request)).flatten();
    let mut response = match refusal {
        Some(refusal) => refusal.into_response(),
        None => next.run(request).await,
    };
    if is_api {
        shards::answer(response.headers_mut(), grant);
    }
    harden(response.headers_mut());
    if let Some((method, path)) = logged {
        let cache = response
            .headers()
            .get(&X_CACHE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        tracing::info!(
            target: "fanout_proxy::access",
            %method,
            path,
            status = response.status().as_u16(),
            ms = started.elapsed().as_secs_f64() * 1000.0,
            cache,
        );
    }
    response
}

/// Who the proxy answers, and to whom its API answers cross-origin.
pub struct Site {
    pub hosts: HostCheck,
    pub cross_origin: shards::CrossOrigin,
}

/// The host names this proxy answers to, against DNS rebinding: a page on another site
/// whose name resolves to this machine would otherwise drive the proxy from the victim's
/// browser. `None`: any name (a wildcard listen address with no name configured).
pub struct HostCheck {
    allowed: Option<Vec<String>>,
}

impl HostCheck {
    /// The listen address (unless a wildcard), localhost, 127.0.0.1, [::1], and `names`.
    /// With a wildcard listen address and no names the check is off: the proxy cannot know
    /// every name and address the machine is reached by.
    #[cfg(test)]
    pub fn new(listen: IpAddr, names: &[String]) -> Self {
        Self::with_shards(listen, names, &[])
    }

    /// As [`HostCheck::new`], and the shard names too. Shards alone do not turn the check
    /// on for a wildcard listen address: they are not the names the page is served at.
    pub fn with_shards(listen: IpAddr, names: &[String], shards: &[String]) -> Self {
        if listen.is_unspecified() && names.is_empty() {
            return HostCheck { allowed: None };
        }
        let mut allowed = Self::page_hosts(listen, names);
        allowed.extend(shards.iter().map(|name| normalise_host(name)));
        HostCheck {
            allowed: Some(allowed),
        }
    }

    /// The names the page is served at: localhost, 127.0.0.1, [::1], the listen address
    /// (unless a wildcard) and `names`.
    pub fn page_hosts(listen: IpAddr, names: &[String]) -> Vec<String> {
        let mut allowed: Vec<String> = ["localhost", "127.0.0.1", "[::1]"].map(String::from).to_vec();
        if !listen.is_unspecified() {
            allowed.push(normalise_host(&listen.to_string()));
        }
        allowed.extend(names.iter().map(|name| normalise_host(name)));
        allowed
    }

    pub fn is_off(&self) -> bool {
        self.allowed.is_none()
    }

    fn allows(&self, request: &Request) -> bool {
        let Some(allowed) = &self.allowed else {
            return true;
        };
        request_host(request).is_some_and(|(host, _)| {
            let host = normalise_host(&host);
            allowed.contains(&host)
        })
    }
}

/// The request's host and port: HTTP/2 carries them in the URI, HTTP/1.1 in the Host header.
pub(crate) fn request_host(request: &Request) -> Option<(String, Option<u16>)> {
    match request.uri().host() {
        Some(host) => Some((host.to_owned(), request.uri().port_u16())),
        None => request
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<axum::http::uri::Authority>().ok())
            .map(|authority| (authority.host().to_owned(), authority.port_u16())),
    }
}

/// Lower case, no trailing dot, IPv6 addresses in brackets: the form Host headers use.
pub(crate) fn normalise_host(name: &str) -> String {
    let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
    match name.parse::<std::net::Ipv6Addr>() {
        Ok(v6) => format!("[{v6}]"),
        Err(_) => match name
            .strip_prefix('[')
            .and_then(|n| n.strip_suffix(']'))
            .and_then(|n| n.parse::<std::net::Ipv6Addr>().ok())
        {
            Some(v6) => format!("[{v6}]"),
            None => name,
        },
    }
}

/// What is wrong with the request's Host (and HTTP/2 `:authority`), if anything: RFC 9112
/// asks for exactly one Host on HTTP/1.1, RFC 9113 for `:authority` and `host` to agree,
/// and an authority here is a host name or address with an optional port, nothing more.
fn malformed_host(request: &Request) -> Option<&'static str> {
    let mut hosts = request.headers().get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Some("more than one Host header");
    }
    let authority = request.uri().authority().map(|a| a.as_str().as_bytes());
    match (authority, host) {
        (None, None) if request.version() == axum::http::Version::HTTP_11 => Some("no Host header"),
        (None, None) => None,
        (Some(authority), Some(host)) if !authority.eq_ignore_ascii_case(host.as_bytes()) => {
            Some("the request's authority and its Host header differ")
        }
        (Some(authority), _) => authority_problem(authority),
        (None, Some(host)) => authority_problem(host.as_bytes()),
    }
}

/// `host[:port]`, where host is a DNS name (labels not empty; one trailing dot allowed),
/// an IPv4 address, or an IPv6 address in brackets, and port is 1 to 65535.
///
/// Every request passes here, so the usual `name:port` is checked in one pass over its
/// bytes, and only a refusal looks further to say why: string searches and UTF-8 decoding
/// up front cost about 1,000 instructions a request, 3 % of a cached comic (callgrind).
fn authority_problem(authority: &[u8]) -> Option<&'static str> {
    const NOT_A_NAME: &str = "the Host is not a valid host name";
    const BAD_PORT: &str = "the Host's port is not a number from 1 to 65535";
    let why_not = |usual: &'static str| {
        Some(if !authority.is_ascii() {
            "the Host is not ASCII"
        } else if authority.contains(&b'@') {
            "the Host carries user information"
        } else {
            usual
        })
    };
    let Some(rest) = authority.strip_prefix(b"[") else {
        let (host, port) = match authority.iter().position(|&b| b == b':') {
            Some(colon) => (&authority[..colon], Some(&authority[colon + 1..])),
            None => (authority, None),
        };
        return match port {
            _ if !is_host_name(host) => why_not(NOT_A_NAME),
            Some(port) if !is_port(port) => why_not(BAD_PORT),
            _ => None,
        };
    };
    if !authority.is_ascii() || authority.contains(&b'@') {
        return why_not(NOT_A_NAME);
    }
    let Some(close) = rest.iter().position(|&b| b == b']') else {
        return Some("the Host has an unclosed IPv6 bracket");
    };
    let v6 = std::str::from_utf8(&rest[..close]).expect("checked ASCII");
    if v6.parse::<std::net::Ipv6Addr>().is_err() {
        return Some("the Host is not a valid IPv6 address");
    }
    match &rest[close + 1..] {
        [] => None,
        [b':', port @ ..] if is_port(port) => None,
        [b':', ..] => Some(BAD_PORT),
        _ => Some("the Host has text after its IPv6 address"),
    }
}

/// The bytes a host name's labels are made of: letters, digits, `-` and `_`.
static LABEL_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        byte += 1;
    }
    table
};

/// Labels of 1 to 63 [`LABEL_BYTE`]s joined by dots, with one trailing dot allowed (an
/// IPv4 address is such a name too).
fn is_host_name(host: &[u8]) -> bool {
    let name = host.strip_suffix(b".").unwrap_or(host);
    let mut label = 0;
    for &byte in name {
        if LABEL_BYTE[usize::from(byte)] {
            label += 1;
            if label > 63 {
                return false;
            }
        } else if byte == b'.' && label > 0 {
            label = 0;
        } else {
            return false;
        }
    }
    label > 0
}

/// 1 to 65535 in at most five digits.
fn is_port(port: &[u8]) -> bool {
    (1..=5).contains(&port.len())
        && port.iter().all(u8::is_ascii_digit)
        && (1..=65_535).contains(&port.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0')))
}

/// Refuses oversized request lines and headers before any handler runs.
fn oversized(request: &Request) -> Option<ApiError> {
    let uri = request.uri();
    if uri.path().len() + uri.query().map_or(0, str::len) > MAX_URI_BYTES {
        return Some(ApiError::UriTooLong);
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    (header_bytes > MAX_HEADER_BYTES || request.headers().len() > MAX_HEADERS)
        .then_some(ApiError::HeadersTooLarge)
}

/// The per-client request rate limit (`--rate-limit`), keyed by address (IPv6 by /64).
pub struct ClientLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl ClientLimiter {
    /// `per_second` requests a second per address, with five seconds' worth as a burst so
    /// that one run of 100 comics (200 requests) goes through at once.
    pub fn new(per_second: u32) -> Option<Arc<Self>> {
        let rate = NonZeroU32::new(per_second)?;
        let burst = NonZeroU32::new(per_second.saturating_mul(5)).unwrap_or(rate);
        Some(Arc::new(Self::with_quota(
            Quota::per_second(rate).allow_burst(burst),
        )))
    }

    fn with_quota(quota: Quota) -> Self {
        ClientLimiter {
            limiter: RateLimiter::keyed(quota),
        }
    }

    /// Lets `cost` requests from `ip` through at once, or says in how many whole seconds the
    /// limiter would (its real wait, rounded up). A cost above the burst can never pass.
    fn check(&self, ip: IpAddr, cost: NonZeroU32) -> Result<(), Refusal> {
        match self.limiter.check_key_n(&client_key(ip), cost) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(self.limiter.clock().now());
                Err(Refusal::RetryAfter(
                    wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
                ))
            }
            Err(governor::InsufficientCapacity(burst)) => Err(Refusal::OverBurst(burst)),
        }
    }

    /// Forgets idle addresses so that the table stays small.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// Why the limiter refused.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    /// Whole seconds until the requests would pass.
    RetryAfter(u64),
    /// More at once than the burst holds: no wait helps.
    OverBurst(u32),
}

pub async fn rate_limit(
    State(limiter): State<Arc<ClientLimiter>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let cost = request_cost(request.uri());
    match limiter.check(peer.ip(), cost) {
        Ok(()) => next.run(request).await,
        Err(Refusal::RetryAfter(retry_after_secs)) => {
            ApiError::RateLimited { retry_after_secs }.into_response()
        }
        Err(Refusal::OverBurst(burst)) => ApiError::BadRequest(format!(
            "a batch of {cost} comics is more than this proxy lets one client ask for at once \
             ({burst}); ask for fewer"
        ))
        .into_response(),
    }
}

/// How many requests one request counts as: a batch counts each distinct comic it names
/// (it costs upstream what that many single requests cost), anything else one. A batch the
/// handler will refuse as malformed counts one.
fn request_cost(uri: &Uri) -> NonZeroU32 {
    let comics = (uri.path() == routes::COMICS)
        .then(|| parse_batch_query(uri.query().unwrap_or("")).ok())
        .flatten()
        .map_or(1, |batch| batch.ids.len());
    NonZeroU32::new(u32::try_from(comics).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN)
}

/// Who counts as one client for rate limits and connection caps: an IPv4 address, or an
/// IPv6 /64 (one host is usually handed a whole /64, so single addresses cost it nothing).
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(prefix.into())
        }
        v4 => v4,
    }
}

/// Headers every response carries; responses that set their own CSP keep it.
fn harden(headers: &mut HeaderMap) {
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=()",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; frame-ancestors 'none'; sandbox",
        ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(host: &str) -> Request {
        Request::builder()
            .uri("/api/health")
            .header(header::HOST, host)
            .body(axum::body::Body::empty())
            .unwrap()
    }

    #[test]
    fn host_check_allows_loopback_names_the_listen_address_and_configured_names() {
        let check = HostCheck::new("192.168.1.5".parse().unwrap(), &["Fanout.Example.".into()]);
        for ok in [
            "localhost:8080",
            "127.0.0.1",
            "[::1]:8080",
            "192.168.1.5:8080",
            "fanout.example",
            "FANOUT.example:443",
        ] {
            assert!(check.allows(&request(ok)), "{ok}");
        }
        for refused in [
            "evil.example",
            "127.0.0.2",
            "192.168.1.6:8080",
            "localhost.evil.example",
            "",
        ] {
            assert!(!check.allows(&request(refused)), "{refused}");
        }
        let no_host = Request::builder()
            .uri("/")
            .body(axum::body::Body::empty())
            .unwrap();
        assert!(!check.allows(&no_host));
        let h2 = Request::builder()
            .uri("https://evil.example/api/health")
            .header(header::HOST, "localhost")
            .body(axum::body::Body::empty())
            .unwrap();
        assert!(!check.allows(&h2), "the URI's authority wins over Host");
    }

    #[test]
    fn malformed_hosts_are_named() {
        for ok in [
            "localhost",
            "localhost.",
            "LocalHost:8080",
            "127.0.0.1:1",
            "[::1]",
            "[::1]:65535",
            "fanout_box.example",
        ] {
            assert_eq!(authority_problem(ok.as_bytes()), None, "{ok}");
        }
        for bad in [
            "evil@localhost",
            "localhost:abc",
            "localhost:99999",
            "localhost:0",
            "localhost:",
            "localhost..",
            ".localhost",
            "a..b",
            "",
            "[::1",
            "[zz]:80",
            "[::1]x",
            "local host",
            "[::1]:",
            "h\u{e9}te",
            "127.0.0.1:080000",
        ] {
            assert!(authority_problem(bad.as_bytes()).is_some(), "{bad}");
        }
        let label = "a".repeat(63);
        assert_eq!(authority_problem(format!("{label}.example:443").as_bytes()), None);
        assert!(authority_problem(format!("a{label}.example").as_bytes()).is_some());
        let two = Request::builder()
            .uri("/")
            .header(header::HOST, "localhost")
            .header(header::HOST, "localhost")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(malformed_host(&two), Some("more than one Host header"));
        let disagree = Request::builder()
            .uri("http://localhost/")
            .header(header::HOST, "evil.example")
            .body(axum::body::Body::empty())
            .unwrap();
        assert!(malformed_host(&disagree).is_some());
        let none = Request::builder()
            .uri("/")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(malformed_host(&none), Some("no Host header"));
    }

    #[test]
    fn host_check_is_off_only_for_a_wildcard_listen_with_no_names() {
        assert!(HostCheck::new("0.0.0.0".parse().unwrap(), &[]).is_off());
        assert!(HostCheck::new("::".parse().unwrap(), &[]).is_off());
        assert!(!HostCheck::new("127.0.0.1".parse().unwrap(), &[]).is_off());
        let named = HostCheck::new("0.0.0.0".parse().unwrap(), &["box.lan".into(), "::1".into()]);
        assert!(named.allows(&request("box.lan:8080")));
        assert!(!named.allows(&request("10.0.0.7:8080")));
    }

    #[test]
    fn retry_after_is_the_limiters_real_wait_and_ipv6_counts_per_slash_64() {
        let limiter =
            ClientLimiter::with_quota(Quota::with_period(std::time::Duration::from_secs(7)).unwrap());
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let one = NonZeroU32::MIN;
        assert_eq!(limiter.check(a, one), Ok(()));
        let Err(Refusal::RetryAfter(wait)) = limiter.check("2001:db8::2".parse().unwrap(), one) else {
            panic!("the second request within the period is refused with a wait");
        };
        assert!((6..=7).contains(&wait), "{wait}");
        assert_eq!(
            limiter.check("2001:db8:0:1::1".parse().unwrap(), one),
            Ok(()),
            "another /64"
        );
    }

    #[test]
    fn a_batch_costs_one_per_distinct_comic_and_no_more_than_the_burst_passes() {
        let cost = |uri: &str| request_cost(&uri.parse().unwrap()).get();
        assert_eq!(cost("/api/comics?ids=1,2,3,2&latency_ms=9"), 3);
        assert_eq!(cost("/api/comics/1?ids=1,2,3"), 1);
        assert_eq!(cost("/api/comics?ids=1,,2"), 1, "refused by the handler");
        assert_eq!(cost("/api/comics"), 1);
        let limiter = ClientLimiter::new(2).unwrap(); // burst 10
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let n = |n| NonZeroU32::new(n).unwrap();
        assert_eq!(limiter.check(ip, n(11)), Err(Refusal::OverBurst(10)));
        assert_eq!(limiter.check(ip, n(10)), Ok(()));
        assert!(matches!(limiter.check(ip, n(1)), Err(Refusal::RetryAfter(1))));
    }

    #[test]
    fn ipv6_clients_are_their_slash_64_and_mapped_ipv4_is_ipv4() {
        let key = |s: &str| client_key(s.parse().unwrap());
        assert_eq!(key("2001:db8:1:2:3:4:5:6"), key("2001:db8:1:2::9"));
        assert_eq!(key("2001:db8:1:2:3:4:5:6").to_string(), "2001:db8:1:2::");
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:10.1.2.3"), key("10.1.2.3"));
        assert_ne!(key("10.1.2.3"), key("10.1.2.4"));
    }
}
