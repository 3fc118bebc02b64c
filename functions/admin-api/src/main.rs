//! Lambda `admin-api`: the platform's admin routes (API.md "Admin").

use sellerdesk::api::routes::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    sellerdesk::lambda::run(Function::AdminApi).await
}
