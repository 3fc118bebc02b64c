//! AWS SDK configuration, loaded once per cold start (or dev-server start) and shared by clients.

use aws_config::BehaviorVersion;

/// One attempt of an AWS call, and the whole call with the SDK's retries: a hung connection
/// fails inside a request instead of taking the function's whole time.
pub const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
pub const OPERATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// Region, credentials and `AWS_ENDPOINT_URL` from the environment (tests and tools).
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// The configuration a function (or the dev server with `--aws`) serves with: the environment's,
/// with the attempt and operation timeouts above.
pub async fn load_function_config() -> aws_config::SdkConfig {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build();
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts)
        .load()
        .await
}
