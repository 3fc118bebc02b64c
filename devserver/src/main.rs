//! `cargo run -p devserver`: the whole of sellerdesk on 127.0.0.1, no AWS needed.

use devserver::config::DevConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = match DevConfig::parse(
        std::env::args().skip(1),
        std::env::var("SELLERDESK_ADMIN_TOKEN").ok(),
    ) {
        Ok(mut config) => {
            if config.stripe_webhook_secret.is_none() {
                config.stripe_webhook_secret = std::env::var("SELLERDESK_STRIPE_WEBHOOK_SECRET")
                    .ok()
                    .filter(|secret| !secret.is_empty());
            }
            config
        }
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(2);
        }
    };
    let server = devserver::start(config).await?;
    println!("sellerdesk dev server");
    println!("  data:        {}", server.storage);
    println!("  admin token: {}", server.admin_token);
    println!("  stripe webhook secret: {}", server.stripe_webhook_secret);
    println!("listening on {}", server.url());
    tokio::signal::ctrl_c().await?;
    server.stop();
    Ok(())
}
