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
}

pub const USAGE: &str = "usage: devserver [--port N] [--data DIR] [--admin-token T] [--aws]
  --port N          port on 127.0.0.1 (default 8080; 0 picks a free one)
  --data DIR        data folder (default ./.sellerdesk)
  --admin-token T   admin token (else $SELLERDESK_ADMIN_TOKEN, else generated and printed)
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
            port: 8080,
            data_dir: PathBuf::from(".sellerdesk"),
            admin_token: env_admin_token.filter(|t| !t.is_empty()),
            aws: false,
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
                "--aws" => config.aws = true,
                "-h" | "--help" => return Err(BadArguments("help".into())),
                other => return Err(BadArguments(format!("unknown argument {other:?}"))),
            }
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
    fn bad_arguments_are_refused() {
        assert!(DevConfig::parse(args(&["--port", "x"]), None).is_err());
        assert!(DevConfig::parse(args(&["--port"]), None).is_err());
        assert!(DevConfig::parse(args(&["--bogus"]), None).is_err());
        assert!(DevConfig::parse(args(&["--admin-token", "short"]), None).is_err());
    }
}
