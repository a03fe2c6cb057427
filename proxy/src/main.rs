use clap::Parser;
use fanout_proxy::{Config, Proxy, tls};
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
    if config.check {
        println!("fanout-proxy: the flags are valid");
        return;
    }
    if let Err(err) = run(config).await {
        eprintln!("fanout-proxy: {err}");
        std::process::exit(1);
    }
}

async fn run(config: Config) -> Result<(), String> {
    let tls = tls::from_config(&config)?;
    let proxy = Proxy::build(&config).await?;
    let listener = std::net::TcpListener::bind(config.listen)
        .map_err(|err| format!("cannot listen on {}: {err}", config.listen))?;
    let addr = listener.local_addr().map_err(|err| err.to_string())?;
    if !proxy.page_built {
        tracing::warn!(
            "no page in {}: run `cargo xtask serve` to build it",
            config.dist.display()
        );
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{addr}/");
    // The one line a person (and `cargo xtask`) looks for.
    println!(
        "fanout-proxy listening on {url} (origin: {})",
        proxy.origin_description
    );
    let served = match &tls {
        Some(material) => {
            if let Some(cert) = &material.generated_cert {
                println!("{}", tls::trust_hint(cert, &url));
            }
            proxy.serve_tls(listener, material, shutdown_signal()).await
        }
        None => {
            listener.set_nonblocking(true).map_err(|err| err.to_string())?;
            let listener = tokio::net::TcpListener::from_std(listener).map_err(|err| err.to_string())?;
            proxy.serve(listener, shutdown_signal()).await
        }
    };
    served.map_err(|err| format!("server error: {err}"))?;
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
