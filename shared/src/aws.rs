//! AWS SDK configuration, loaded once per cold start (or dev-server start) and shared by clients.

use aws_config::BehaviorVersion;

/// Region, credentials and `AWS_ENDPOINT_URL` from the environment, as on Lambda.
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}
