//! The built page: SPA fallback, caching by kind of file, the CSP, and no escape from --dist.

mod common;

use common::xkcd_proxy;

#[tokio::test]
async fn index_and_client_routes_get_the_page_with_a_strict_csp() {
    let proxy = xkcd_proxy(|_| {}).await;
    for path in ["/", "/runs/42", "/index.html"] {
        let response = proxy.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        assert_eq!(headers["cache-control"], "no-cache", "{path}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        // The one inline bootstrap script is pinned by its hash; nothing else inline runs.
        assert!(
            csp.contains("'wasm-unsafe-eval'") && csp.contains("'sha256-"),
            "{csp}"
        );
        assert!(
            !csp.contains("'unsafe-inline'") && !csp.contains(" 'unsafe-eval'"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_eq!(headers["x-frame-options"], "DENY");
        assert!(response.text().await.unwrap().contains("boot()"));
    }
}

#[tokio::test]
async fn hashed_assets_are_immutable_others_short_lived() {
    let proxy = xkcd_proxy(|_| {}).await;
    let asset = proxy.get("/app-0123456789abcdef.js").await;
    assert_eq!(asset.status(), 200);
    assert_eq!(
        asset.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let robots = proxy.get("/robots.txt").await;
    assert_eq!(robots.headers()["cache-control"], "public, max-age=300");
}

#[tokio::test]
async fn precompressed_variants_are_served_as_they_are() {
    let proxy = xkcd_proxy(|_| {}).await;
    // A client that leaves the encoding to us, so that we see the bytes as sent.
    let raw = reqwest::Client::builder().no_gzip().build().unwrap();
    let gz = raw
        .get(format!("{}/app-fedcba9876543210.js", proxy.base))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.status(), 200);
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert_eq!(
        gz.headers()["vary"],
        "accept-encoding",
        "a shared cache must not hand these bytes to a client that cannot decode them"
    );
    assert_eq!(
        gz.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        gz.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    let mut unzipped = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(&gz.bytes().await.unwrap()[..]),
        &mut unzipped,
    )
    .unwrap();
    assert_eq!(
        unzipped, "export {} // from the .gz",
        "the file, not a fresh compression"
    );
    let plain = raw
        .get(format!("{}/app-fedcba9876543210.js", proxy.base))
        .send()
        .await
        .unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.headers()["vary"], "accept-encoding");
    assert_eq!(plain.text().await.unwrap(), "export {} // plain");
}

#[tokio::test]
async fn no_path_leaves_dist() {
    let proxy = xkcd_proxy(|_| {}).await;
    for path in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2e%2e%2fsecret.txt",
        "/..%2fsecret.txt",
        "/./../secret.txt",
        "/%252e%252e/secret.txt",
        "//secret.txt",
        "/..\\secret.txt",
    ] {
        let response = proxy.get(path).await;
        let body = response.text().await.unwrap();
        assert!(!body.contains("do not serve"), "{path} escaped dist");
    }
}
