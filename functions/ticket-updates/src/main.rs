//! Lambda `ticket-updates`: tickets read and updated by the customer's ticket link and the vendor's key (API.md).

use sellerdesk::api::routes::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    sellerdesk::lambda::run(Function::TicketUpdates).await
}
