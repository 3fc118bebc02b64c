//! The README's first command: the binary prints its URL and admin token, serves, and keeps its
//! data across a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{get, post_json, start_binary, temp_dir};
use serde_json::json;

#[tokio::test]
async fn prints_url_and_token_serves_and_keeps_data_across_a_restart() {
    let data = temp_dir("restart");
    // given a server with a generated admin token
    let mut first = start_binary(&data, None).await;
    assert!(
        first.admin_token.starts_with("adm_"),
        "no admin token printed"
    );
    let created = post_json(
        &first.url,
        "/admin/vendors",
        Some(&first.admin_token),
        &json!({"name": "Kurswerk", "email": "info@kurswerk.example"}),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let api_key = created.json()["api_key"].as_str().unwrap().to_string();
    first.child.kill().await.unwrap();
    // when it restarts on the same data folder, with the token from the environment
    let mut second = start_binary(&data, Some("env-admin-token-0123456789")).await;
    assert_eq!(second.admin_token, "env-admin-token-0123456789");
    // then the vendor is still there
    let settings = get(&second.url, "/api/settings", Some(&api_key)).await;
    assert_eq!(settings.status, 200, "{}", settings.text);
    assert_eq!(settings.json()["vendor_id"], created.json()["vendor_id"]);
    second.child.kill().await.unwrap();
}
