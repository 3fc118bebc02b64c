//! Lambda `checkout-callbacks`: the public checkout and the payment providers' webhooks.

use sellerdesk::api::routes::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    sellerdesk::lambda::run(Function::CheckoutCallbacks).await
}
