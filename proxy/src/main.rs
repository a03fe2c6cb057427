use clap::Parser;
use fanout_proxy::{Config, Proxy};
use tracing_subscriber::EnvFilter;

// Many small, short-lived allocations per request: mimalloc handles them faster than glibc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let config = Config::parse();
    if let Err(err) = run(config).await {
        eprintln!("fanout-proxy: {err}");
        std::process::exit(1);
    }
}

async fn run(config: Config) -> Result<(), String> {
    let proxy = Proxy::build(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|err| format!("cannot listen on {}: {err}", config.listen))?;
    let addr = listener.local_addr().map_err(|err| err.to_string())?;
    if !proxy.page_built {
        tracing::warn!(
            "no page in {}: run `cargo xtask serve` to build it",
            config.dist.display()
        );
    }
    // The one line a person (and `cargo xtask`) looks for.
    println!(
        "fanout-proxy listening on http://{addr} (origin: {})",
        proxy.origin_description
    );
    proxy
        .serve(listener, shutdown_signal())
        .await
        .map_err(|err| format!("server error: {err}"))?;
    tracing::info!("stopped");
    Ok(())
}

/// SIGINT or SIGTERM: stop accepting, finish what is in flight.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("can listen for SIGTERM");
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down: finishing in-flight requests");
}
