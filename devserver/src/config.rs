//! Command-line flags of the dev server (API.md "Local dev server").

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevConfig {
    /// 0 picks a free port.
    pub port: u16,
    pub data_dir: PathBuf,
    /// `--admin-token`, else `SELLERDESK_ADMIN_TOKEN`, else generated at start.
    pub admin_token: Option<String>,
    /// Use DynamoDB/SES/EventBridge from the AWS environment instead of the embedded store.
    pub aws: bool,
    /// `--cors-origin` (repeatable): the frontend origins a browser may call from.
    pub cors_origins: Vec<String>,
    /// `--stripe-webhook-secret`, else `SELLERDESK_STRIPE_WEBHOOK_SECRET`, else generated at
    /// start: the platform's Stripe endpoint secret, which the simulated provider signs with.
    pub stripe_webhook_secret: Option<String>,
    /// `--rate-limits on|off`: the abuse limits on public routes (on unless load-testing).
    pub rate_limits: bool,
}

/// The frontend a vendor runs locally, and the default `portal_base_url`.
pub const DEFAULT_CORS_ORIGIN: &str = "http://localhost:3000";

impl Default for DevConfig {
    fn default() -> DevConfig {
        DevConfig {
            port: 8080,
            data_dir: PathBuf::from(".sellerdesk"),
            admin_token: None,
            aws: false,
            cors_origins: vec![DEFAULT_CORS_ORIGIN.to_string()],
            stripe_webhook_secret: None,
            rate_limits: true,
        }
    }
}

pub const USAGE: &str =
    "usage: devserver [--port N] [--data DIR] [--admin-token T] [--stripe-webhook-secret S]
                 [--rate-limits on|off] [--cors-origin O]... [--aws]
  --port N          port on 127.0.0.1 (default 8080; 0 picks a free one)
  --data DIR        data folder (default ./.sellerdesk)
  --admin-token T   admin token (else $SELLERDESK_ADMIN_TOKEN, else generated and printed)
  --stripe-webhook-secret S
                    the platform's Stripe endpoint secret, which POST /webhooks/stripe
                    verifies and the simulated provider signs with (else
                    $SELLERDESK_STRIPE_WEBHOOK_SECRET, else generated and printed)
  --rate-limits on|off
                    the abuse limits on checkout, tickets and comments (default on;
                    off for load tests)
  --cors-origin O   a frontend origin browsers may call from (repeatable;
                    default http://localhost:3000)
  --aws             use DynamoDB, SES and EventBridge from the AWS environment
                    (AWS_ENDPOINT_URL, AWS_REGION, SELLERDESK_TABLE, ...)";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}\n{USAGE}")]
pub struct BadArguments(String);

impl DevConfig {
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        env_admin_token: Option<String>,
    ) -> Result<DevConfig, BadArguments> {
        let mut config = DevConfig {
            admin_token: env_admin_token.filter(|t| !t.is_empty()),
            cors_origins: Vec::new(),
            ..DevConfig::default()
        };
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .ok_or_else(|| BadArguments(format!("{name} needs a value")))
            };
            match flag.as_str() {
                "--port" => {
                    let text = value("--port")?;
                    config.port = text
                        .parse()
                        .map_err(|_| BadArguments(format!("--port: {text:?} is not a port")))?;
                }
                "--data" => config.data_dir = PathBuf::from(value("--data")?),
                "--admin-token" => config.admin_token = Some(value("--admin-token")?),
                "--stripe-webhook-secret" => {
                    config.stripe_webhook_secret = Some(value("--stripe-webhook-secret")?)
                }
                "--aws" => config.aws = true,
                "--rate-limits" => {
                    config.rate_limits = match value("--rate-limits")?.as_str() {
                        "on" => true,
                        "off" => false,
                        other => {
                            return Err(BadArguments(format!(
                                "--rate-limits: {other:?} is neither on nor off"
                            )));
                        }
                    }
                }
                "--cors-origin" => {
                    let origin = value("--cors-origin")?;
                    if !(origin.starts_with("http://") || origin.starts_with("https://"))
                        || origin.trim_end_matches('/') != origin
                    {
                        return Err(BadArguments(format!(
                            "--cors-origin: {origin:?} is not an origin such as http://localhost:3000"
                        )));
                    }
                    config.cors_origins.push(origin);
                }
                "-h" | "--help" => return Err(BadArguments("help".into())),
                other => return Err(BadArguments(format!("unknown argument {other:?}"))),
            }
        }
        if config.cors_origins.is_empty() {
            config.cors_origins = DevConfig::default().cors_origins;
        }
        if config
            .stripe_webhook_secret
            .as_deref()
            .is_some_and(|s| s.len() < 16)
        {
            return Err(BadArguments(
                "the Stripe webhook secret must be at least 16 characters".into(),
            ));
        }
        if config.admin_token.as_deref().is_some_and(|t| t.len() < 16) {
            return Err(BadArguments(
                "the admin token must be at least 16 characters".into(),
            ));
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_flags_and_env() {
        let default = DevConfig::parse(args(&[]), None).unwrap();
        assert_eq!(
            (
                default.port,
                default.data_dir.to_str().unwrap(),
                default.aws
            ),
            (8080, ".sellerdesk", false)
        );
        let from_env = DevConfig::parse(args(&[]), Some("env-token-0123456789".into())).unwrap();
        assert_eq!(
            from_env.admin_token.as_deref(),
            Some("env-token-0123456789")
        );
        let flags = DevConfig::parse(
            args(&[
                "--port",
                "0",
                "--data",
                "/tmp/x",
                "--admin-token",
                "flag-token-0123456789",
                "--aws",
            ]),
            Some("env-token-0123456789".into()),
        )
        .unwrap();
        assert_eq!(flags.port, 0);
        assert_eq!(flags.admin_token.as_deref(), Some("flag-token-0123456789"));
        assert!(flags.aws);
    }

    #[test]
    fn cors_origins_default_to_the_local_frontend_and_repeat() {
        let default = DevConfig::parse(args(&[]), None).unwrap();
        assert_eq!(default.cors_origins, ["http://localhost:3000"]);
        let two = DevConfig::parse(
            args(&[
                "--cors-origin",
                "https://app.example",
                "--cors-origin",
                "http://localhost:5173",
            ]),
            None,
        )
        .unwrap();
        assert_eq!(
            two.cors_origins,
            ["https://app.example", "http://localhost:5173"]
        );
        for bad in ["app.example", "https://app.example/", "*"] {
            assert!(DevConfig::parse(args(&["--cors-origin", bad]), None).is_err());
        }
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(DevConfig::parse(args(&["--port", "x"]), None).is_err());
        assert!(DevConfig::parse(args(&["--port"]), None).is_err());
        assert!(DevConfig::parse(args(&["--bogus"]), None).is_err());
        assert!(DevConfig::parse(args(&["--admin-token", "short"]), None).is_err());
    }
}
