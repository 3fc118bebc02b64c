//! The README's first command: the binary prints its URL and admin token, serves, and keeps its
//! data across a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{get, post_json, temp_dir};
use serde_json::json;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

struct Started {
    child: Child,
    url: String,
    admin_token: String,
}

/// Starts the real binary and reads its banner up to the `listening on` line.
async fn start(data: &std::path::Path, env_token: Option<&str>) -> Started {
    let mut command = Command::new(env!("CARGO_BIN_EXE_devserver"));
    command
        .args(["--port", "0", "--data"])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    command.env_remove("SELLERDESK_ADMIN_TOKEN");
    if let Some(token) = env_token {
        command.env("SELLERDESK_ADMIN_TOKEN", token);
    }
    let mut child = command.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut admin_token = String::new();
    let read_banner = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(token) = line.trim().strip_prefix("admin token:") {
                admin_token = token.trim().to_string();
            }
            if let Some(url) = line.strip_prefix("listening on ") {
                return url.trim().to_string();
            }
        }
        panic!("the dev server ended before listening");
    };
    let url = tokio::time::timeout(std::time::Duration::from_secs(30), read_banner)
        .await
        .unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    Started {
        child,
        url,
        admin_token,
    }
}

#[tokio::test]
async fn prints_url_and_token_serves_and_keeps_data_across_a_restart() {
    let data = temp_dir("restart");
    // given a server with a generated admin token
    let mut first = start(&data, None).await;
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
    let mut second = start(&data, Some("env-admin-token-0123456789")).await;
    assert_eq!(second.admin_token, "env-admin-token-0123456789");
    // then the vendor is still there
    let settings = get(&second.url, "/api/settings", Some(&api_key)).await;
    assert_eq!(settings.status, 200, "{}", settings.text);
    assert_eq!(settings.json()["vendor_id"], created.json()["vendor_id"]);
    second.child.kill().await.unwrap();
}
