//! Lambda `outbox-dispatcher`: on the table's stream, sends new outbox items at once.

use sellerdesk::lambda::Worker;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    sellerdesk::lambda::run_worker(Worker::OutboxDispatcher).await
}
