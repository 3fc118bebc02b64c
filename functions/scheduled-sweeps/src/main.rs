//! Lambda `scheduled-sweeps`: every minute, the tickets', provider calls' and outbox's sweeps.

use sellerdesk::lambda::Worker;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    sellerdesk::lambda::run_worker(Worker::ScheduledSweeps).await
}
