use anyhow::Context as _;
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
        // Colour codes only for a person at a terminal, not in files and pipes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let config = Config::parse();
    if config.check {
        // `cargo xtask serve` looks for this line; a usage error exits 2, as clap's do.
        match tls::check(&config)
            .and_then(|()| fanout_proxy::check_shard_hosts(&config).map_err(anyhow::Error::msg))
        {
            Ok(()) => println!("fanout-proxy: the flags are valid"),
            Err(err) => {
                eprintln!("fanout-proxy: {err:#}");
                std::process::exit(2);
            }
        }
        return;
    }
    if let Err(err) = run(config).await {
        eprintln!("fanout-proxy: {err:#}");
        std::process::exit(1);
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    match fanout_proxy::raise_open_file_limit() {
        Ok(((soft, hard), (now, _))) => {
            tracing::info!("open-file limit: soft {soft}, hard {hard}; soft raised to {now}")
        }
        Err(err) => tracing::warn!("cannot raise the open-file limit: {err}"),
    }
    let tls = tls::from_config(&config)?;
    let proxy = Proxy::build(&config).await?;
    let listener = listen(config.listen).with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
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
    if let Some(material) = &tls
        && let Some(saved) = &material.saved
    {
        println!("{}", tls::trust_hint(saved.path(), &url));
        if let Some(pin) = &material.spki_sha256 {
            println!("{}", tls::chromium_hint(pin, &url));
        }
    }
    proxy
        .serve(listener, tls, shutdown_signal())
        .await
        .context("server error")?;
    tracing::info!("stopped");
    Ok(())
}

/// A listening socket with a long accept queue: under a flood of connections (which the
/// proxy accepts and closes at once when over a cap) a short queue overflows, and then an
/// ordinary client's connection attempt waits out a SYN retransmit, a second or more.
fn listen(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    const BACKLOG: u32 = 4096; // the kernel lowers it to net.core.somaxconn
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
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
