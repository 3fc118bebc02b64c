//! Lambda `refund-requests`: refunds by the vendor and the customer's refund, cancel and support requests (API.md).

use sellerdesk::api::routes::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    sellerdesk::lambda::run(Function::RefundRequests).await
}
