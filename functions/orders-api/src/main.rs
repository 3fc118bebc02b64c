//! Lambda `orders-api`: the vendor CRM routes and the customer order page (API.md "Vendor").

use sellerdesk::api::routes::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    sellerdesk::lambda::run(Function::OrdersApi).await
}
