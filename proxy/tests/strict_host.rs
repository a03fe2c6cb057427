//! Host headers the proxy refuses (RFC 9112 §3.2, RFC 9113 §8.3.1), and the JSON answers
//! the router gives before hyper's own limits are reached: real requests on loopback,
//! written byte for byte where a client library would not send them.

mod common;

use bytes::Bytes;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

async fn proxy_addr() -> String {
    let proxy = common::demo_proxy(|_| {}).await;
    proxy.base.trim_start_matches("http://").to_owned()
}

/// Sends `head` on a fresh connection; returns the status and the body.
async fn raw(addr: &str, head: &str) -> (u16, String) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn json_code(body: &str) -> String {
    let value: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body:?}"));
    value["error"]["code"].as_str().expect("error.code").to_owned()
}

#[tokio::test]
async fn malformed_hosts_get_a_json_400() {
    let addr = proxy_addr().await;
    for host in [
        "Host: localhost\r\nHost: localhost",
        "Host: evil@localhost",
        "Host: localhost:abc",
        "Host: localhost:99999",
        "Host: localhost..",
    ] {
        let (status, body) = raw(
            &addr,
            &format!("GET /api/health HTTP/1.1\r\n{host}\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert_eq!(status, 400, "{host}");
        assert_eq!(json_code(&body), "bad_request", "{host}");
    }
    let (status, _) = raw(
        &addr,
        "GET /api/health HTTP/1.1\r\nHost: localhost.\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200, "one trailing dot is a fully qualified name");
}

#[tokio::test]
async fn over_http2_the_authority_and_host_must_agree() {
    let addr = proxy_addr().await;
    let tcp = TcpStream::connect(&addr).await.unwrap();
    let (send, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let port = &addr[addr.rfind(':').unwrap() + 1..];
    let (status, body) = ask_h2(&send, port, Some("evil.example")).await;
    assert_eq!(status, 400);
    assert_eq!(json_code(&body), "bad_request");
    let agreeing = format!("localhost:{port}");
    assert_eq!(ask_h2(&send, port, Some(&agreeing)).await.0, 200);
    assert_eq!(ask_h2(&send, port, None).await.0, 200);
}

/// GET /api/health with `:authority` localhost:port and, if given, a `host` header.
async fn ask_h2(send: &h2::client::SendRequest<Bytes>, port: &str, host: Option<&str>) -> (u16, String) {
    let mut request = axum::http::Request::get(format!("http://localhost:{port}/api/health"));
    if let Some(host) = host {
        request = request.header("host", host);
    }
    let mut send = send.clone().ready().await.unwrap();
    let (response, _) = send.send_request(request.body(()).unwrap(), true).unwrap();
    let response = response.await.unwrap();
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        bytes.extend_from_slice(&chunk);
    }
    (status, String::from_utf8(bytes).unwrap())
}

#[tokio::test]
async fn the_router_answers_size_limits_in_json_before_hyper_does() {
    let addr = proxy_addr().await;
    let many: String = (0..150).map(|i| format!("X-H{i}: 1\r\n")).collect();
    let (status, body) = raw(
        &addr,
        &format!("GET /api/health HTTP/1.1\r\nHost: localhost\r\n{many}Connection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(status, 431, "more header fields than the router takes");
    assert_eq!(json_code(&body), "headers_too_large");
    let long = "a".repeat(20 * 1024);
    let (status, body) = raw(
        &addr,
        &format!("GET /{long} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(status, 414);
    assert_eq!(json_code(&body), "uri_too_long");
}
