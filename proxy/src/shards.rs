//! Domain sharding: more host names that reach this same proxy, so that a browser over
//! HTTP/1.1 gives each its own six connections; and the cross-origin answers that let the
//! page (and only the page) use them.
//!
//! The page at `http://localhost:8080` loads comic `i` from shard `i mod k`, for example
//! `http://s3.localhost:8080`: another origin, and another site. Its metadata `fetch` and its
//! `<img crossorigin="anonymous">` are then CORS requests carrying `Origin`, and they work only
//! when the answer names that origin. So an API answer names the requesting origin when it
//! is one of the page's own (a name this proxy serves the page at, or a shard, at the same
//! port), and nothing otherwise. Images keep `Cross-Origin-Resource-Policy: same-origin`,
//! which applies only to no-cors loads: a page elsewhere cannot embed them, while the page's
//! CORS-mode images pass by the CORS answer. `Timing-Allow-Origin` names the same origin, so
//! that the page's Resource Timing keeps each shard request's connection set-up and status.

use axum::{
    extract::Request,
    http::{HeaderMap, HeaderValue, header},
};

use crate::guard::{normalise_host, request_host};

/// The most shard hosts: the page's dial goes from 1 to 16.
pub const MAX_SHARDS: usize = 16;

/// `s0.localhost` … `s15.localhost`: the shards of a loopback listen address, also named on
/// the self-signed certificate so that a sharded run over HTTPS validates where it is trusted.
pub fn loopback_shard_hosts() -> Vec<String> {
    (0..MAX_SHARDS).map(|j| format!("s{j}.localhost")).collect()
}

/// Shards open their answers to the page's own origins only, so on a wildcard listen address
/// `--shard-host` needs `--allowed-host` to say what those are: without it every sharded
/// request would be refused by the browser (no CORS grant for an unnamed page).
pub fn page_named_for(
    listen: std::net::IpAddr,
    allowed: &[String],
    patterns: &[String],
) -> Result<(), String> {
    if listen.is_unspecified() && allowed.is_empty() && !patterns.is_empty() {
        return Err(format!(
            "--shard-host on the wildcard address {listen} needs --allowed-host naming the host the \
             page is served at: the shards open their answers to that origin only"
        ));
    }
    Ok(())
}

/// The shard host names: `--shard-host` expanded, or with none given and a loopback listen
/// address `s0.localhost` … `s15.localhost` (browsers resolve every `*.localhost` to
/// loopback), or none.
pub fn shard_hosts(listen: std::net::IpAddr, patterns: &[String]) -> Result<Vec<String>, String> {
    if patterns.is_empty() {
        return Ok(if listen.is_loopback() {
            loopback_shard_hosts()
        } else {
            Vec::new()
        });
    }
    let mut hosts = Vec::new();
    for pattern in patterns {
        for host in expand(pattern)? {
            if !hosts.contains(&host) {
                hosts.push(host);
            }
        }
    }
    if hosts.len() > MAX_SHARDS {
        return Err(format!(
            "--shard-host names {} hosts; at most {MAX_SHARDS}",
            hosts.len()
        ));
    }
    Ok(hosts)
}

/// `img{0..15}.example.com` → `img0.example.com` … `img15.example.com`; a name without braces
/// is itself. One range at most, numbers ascending.
fn expand(pattern: &str) -> Result<Vec<String>, String> {
    let bad = |why: &str| format!("--shard-host {pattern:?}: {why}");
    let name_ok = |name: &str| {
        let name = name.strip_suffix('.').unwrap_or(name);
        !name.is_empty()
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    };
    let names = match pattern.split_once('{') {
        None => vec![pattern.to_string()],
        Some((before, rest)) => {
            let (range, after) = rest.split_once('}').ok_or_else(|| bad("a '{' without its '}'"))?;
            let (from, to) = range
                .split_once("..")
                .ok_or_else(|| bad("write a range as {0..15}"))?;
            let number = |n: &str| {
                n.parse::<usize>()
                    .ok()
                    .filter(|_| n.bytes().all(|b| b.is_ascii_digit()))
            };
            let (Some(from), Some(to)) = (number(from), number(to)) else {
                return Err(bad("a range's ends are whole numbers"));
            };
            if from > to || to - from >= MAX_SHARDS {
                return Err(bad(&format!(
                    "a range goes up and holds at most {MAX_SHARDS} numbers"
                )));
            }
            (from..=to).map(|j| format!("{before}{j}{after}")).collect()
        }
    };
    names
        .into_iter()
        .map(|name| {
            let name = normalise_host(&name);
            if name_ok(&name) {
                Ok(name)
            } else {
                Err(bad("not a host name"))
            }
        })
        .collect()
}

/// The origins the API answers cross-origin: the page's host names and its shards.
pub struct CrossOrigin {
    /// Normalised host names (no port).
    hosts: Vec<String>,
}

impl CrossOrigin {
    /// `page_hosts` are the names the page is served at (the Host allow-list's), `shards`
    /// the shard names.
    pub fn new(page_hosts: &[String], shards: &[String]) -> Self {
        let mut hosts: Vec<String> = page_hosts.iter().map(|h| normalise_host(h)).collect();
        hosts.extend(shards.iter().map(|h| normalise_host(h)));
        CrossOrigin { hosts }
    }

    /// The request's `Origin`, when it is one of ours at the port the request came to:
    /// `http(s)://` one of our names, with the same port as the request's own authority.
    pub fn grant(&self, request: &Request) -> Option<HeaderValue> {
        let origin = request.headers().get(header::ORIGIN)?;
        let text = origin.to_str().ok()?;
        let rest = text
            .strip_prefix("http://")
            .or_else(|| text.strip_prefix("https://"))?;
        let authority = rest.parse::<axum::http::uri::Authority>().ok()?;
        if authority.as_str() != rest || rest.contains('@') {
            return None;
        }
        let (_, port) = request_host(request)?;
        let ours = self.hosts.contains(&normalise_host(authority.host()));
        (ours && authority.port_u16() == port).then(|| origin.clone())
    }
}

/// The cross-origin headers of an API answer: it varies by `Origin` whatever the grant, and a
/// granted origin may read it and its timing.
pub fn answer(headers: &mut HeaderMap, grant: Option<HeaderValue>) {
    headers.append(header::VARY, HeaderValue::from_static("origin"));
    if let Some(origin) = grant {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        headers.insert(axum::http::HeaderName::from_static("timing-allow-origin"), origin);
    }
}

/// The page's CSP sources for its shards: each shard at the scheme and port the page itself
/// was asked for (`http://s3.localhost:8080`).
pub fn csp_sources(shards: &[String], tls: bool, request: &Request) -> String {
    let scheme = if tls { "https" } else { "http" };
    let port = request_host(request)
        .and_then(|(_, port)| port)
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    shards
        .iter()
        .map(|host| format!(" {scheme}://{host}{port}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(host: &str, origin: Option<&str>) -> Request {
        let mut builder = Request::builder().uri("/api/health").header(header::HOST, host);
        if let Some(origin) = origin {
            builder = builder.header(header::ORIGIN, origin);
        }
        builder.body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn shards_on_a_wildcard_address_need_the_pages_own_name() {
        let any: std::net::IpAddr = "0.0.0.0".parse().unwrap();
        let pattern = ["img{0..3}.example.com".to_owned()];
        let problem = page_named_for(any, &[], &pattern).unwrap_err();
        assert!(problem.contains("--allowed-host"), "{problem}");
        assert!(page_named_for(any, &["fanout.example.com".into()], &pattern).is_ok());
        assert!(page_named_for(any, &[], &[]).is_ok());
        assert!(page_named_for("127.0.0.1".parse().unwrap(), &[], &pattern).is_ok());
    }

    #[test]
    fn patterns_expand_to_at_most_sixteen_names() {
        let loopback = "127.0.0.1".parse().unwrap();
        let defaults = shard_hosts(loopback, &[]).unwrap();
        assert_eq!(defaults.len(), 16);
        assert_eq!(defaults[0], "s0.localhost");
        assert_eq!(defaults[15], "s15.localhost");
        assert!(
            shard_hosts("192.168.1.5".parse().unwrap(), &[])
                .unwrap()
                .is_empty()
        );
        let named = shard_hosts(loopback, &["IMG{0..15}.Example.com".into()]).unwrap();
        assert_eq!(named.len(), 16);
        assert_eq!(named[3], "img3.example.com");
        assert_eq!(
            shard_hosts(loopback, &["a.example".into(), "b{1..2}.example".into()]).unwrap(),
            ["a.example", "b1.example", "b2.example"]
        );
        for bad in [
            "img{0..16}.example.com",
            "img{3..1}.example",
            "img{0..x}.example",
            "img{0-3}.example",
            "img{0..3.example",
            "evil/path{0..1}",
            "",
            "a..b",
        ] {
            assert!(shard_hosts(loopback, &[bad.into()]).is_err(), "{bad}");
        }
        let seventeen = ["a{0..15}.example".into(), "b.example".into()];
        assert!(shard_hosts(loopback, &seventeen).is_err());
    }

    #[test]
    fn only_our_origins_at_our_port_are_granted() {
        let cors = CrossOrigin::new(
            &["localhost".into(), "127.0.0.1".into()],
            &["s1.localhost".into()],
        );
        let grant = |host: &str, origin: &str| cors.grant(&req(host, Some(origin)));
        assert!(grant("s1.localhost:8080", "http://localhost:8080").is_some());
        assert!(grant("s1.localhost:8080", "http://127.0.0.1:8080").is_some());
        assert!(grant("localhost:8080", "http://s1.localhost:8080").is_some());
        assert!(grant("s1.localhost", "https://localhost").is_some());
        for foreign in [
            "http://evil.localhost:8080",
            "http://s2.localhost:8080",
            "http://localhost:9999",
            "http://localhost",
            "null",
            "http://localhost:8080/",
            "ftp://localhost:8080",
            "http://user@localhost:8080",
            "*",
        ] {
            assert!(grant("s1.localhost:8080", foreign).is_none(), "{foreign}");
        }
        assert!(cors.grant(&req("s1.localhost:8080", None)).is_none());
    }

    #[test]
    fn answers_vary_by_origin_and_name_only_a_granted_one() {
        let mut headers = HeaderMap::new();
        answer(&mut headers, None);
        assert_eq!(headers.get(header::VARY).unwrap(), "origin");
        assert!(headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        answer(
            &mut headers,
            Some(HeaderValue::from_static("http://localhost:8080")),
        );
        assert_eq!(
            headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).unwrap(),
            "http://localhost:8080"
        );
        assert_eq!(
            headers.get("timing-allow-origin").unwrap(),
            "http://localhost:8080"
        );
    }

    #[test]
    fn csp_lists_each_shard_at_the_pages_port() {
        let shards = ["s0.localhost".to_string(), "s1.localhost".to_string()];
        assert_eq!(
            csp_sources(&shards, false, &req("127.0.0.1:8080", None)),
            " http://s0.localhost:8080 http://s1.localhost:8080"
        );
        assert_eq!(
            csp_sources(&shards, true, &req("localhost", None)),
            " https://s0.localhost https://s1.localhost"
        );
    }
}
