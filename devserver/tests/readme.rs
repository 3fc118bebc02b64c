//! The README's walk-through works as written (issue 16, item 17): its shell block runs against a
//! fresh dev server, and every answer has the status and the `"field": value` facts the README
//! shows beside it (a command without a status shown must succeed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use serde_json::Value;
use std::time::Duration;

/// The walk-through's shell block: the lines between "```sh" and "```" after its heading.
fn walk_through() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md beside the workspace");
    let section = readme
        .split_once("## Walk-through")
        .expect("a walk-through section")
        .1;
    let block = section.split_once("```sh\n").expect("a shell block").1;
    let block = block.split_once("\n```").expect("the block's end").0;
    block.lines().map(str::to_string).collect()
}

/// One `curl` call of the walk-through and what the README says of its answer.
#[derive(Debug)]
struct Expected {
    command: String,
    /// `# → 201`: this status; none shown: any 2xx.
    status: Option<u16>,
    /// `"field": "value"` or `"field": 12` shown beside it (placeholders with `…` or `$` are
    /// not facts): some object in the answer has that field with that value.
    facts: Vec<(String, Value)>,
}

/// The README's text after `→` on the command's last line, or on the comment line below it.
fn annotation<'a>(last_line: &'a str, next_line: Option<&'a str>) -> Option<&'a str> {
    if let Some((_, shown)) = last_line.split_once("# →") {
        return Some(shown);
    }
    next_line
        .map(str::trim_start)
        .and_then(|line| line.strip_prefix("# →"))
}

fn status_of(shown: &str) -> Option<u16> {
    let digits: String = shown.trim_start().chars().take(3).collect();
    (digits.len() == 3 && digits.chars().all(|c| c.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The `"name": value` pairs of `shown` whose value is a plain string or number.
fn facts_of(shown: &str) -> Vec<(String, Value)> {
    let mut facts = Vec::new();
    let mut rest = shown;
    while let Some(open) = rest.find('"') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('"') else { break };
        let name = &after[..close];
        let tail = &after[close + 1..];
        rest = tail;
        let Some(value) = tail.strip_prefix(": ") else {
            continue;
        };
        if let Some(text) = value.strip_prefix('"') {
            let Some(end) = text.find('"') else { break };
            let text = &text[..end];
            rest = &value[end + 2..];
            let placeholder = text.contains('…') || text.contains('$') || text.contains("...");
            if !placeholder && !name.is_empty() {
                facts.push((name.to_string(), Value::String(text.to_string())));
            }
        } else {
            let number: String = value.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(n) = number.parse::<u64>() {
                facts.push((name.to_string(), Value::from(n)));
            }
        }
    }
    facts
}

/// Every `curl` call of the block, in order, with what the README says of its answer.
fn expectations(lines: &[String]) -> Vec<Expected> {
    let mut found = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let line = &lines[index];
        let is_call = !line.trim_start().starts_with('#') && line.contains("curl ");
        if !is_call {
            index += 1;
            continue;
        }
        let mut command = line.clone();
        while command.ends_with('\\') && index + 1 < lines.len() {
            index += 1;
            command.push('\n');
            command.push_str(&lines[index]);
        }
        let last = lines[index].as_str();
        let next = lines.get(index + 1).map(String::as_str);
        let shown = annotation(last, next).unwrap_or_default();
        found.push(Expected {
            command,
            status: status_of(shown),
            facts: facts_of(shown),
        });
        index += 1;
    }
    found
}

/// Whether some object in `value` has `name` with `expected`.
fn holds(value: &Value, name: &str, expected: &Value) -> bool {
    match value {
        Value::Object(fields) => {
            fields.get(name) == Some(expected) || fields.values().any(|v| holds(v, name, expected))
        }
        Value::Array(items) => items.iter().any(|v| holds(v, name, expected)),
        _ => false,
    }
}

// Issue 16, item 17: the README's walk-through, verbatim but for how the server is started
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_walk_through_works_as_written() {
    // given the walk-through, whose first lines start a dev server and wait for it
    let lines = walk_through();
    let admin_token = lines[0]
        .strip_prefix("cargo run -p devserver -- --admin-token ")
        .and_then(|rest| rest.strip_suffix(" &"))
        .expect("the walk-through starts the dev server with an admin token")
        .to_string();
    assert!(lines[1].starts_with("URL="), "{}", lines[1]);
    assert!(lines[2].starts_with("until curl"), "{}", lines[2]);
    let steps = &lines[3..];
    // and a fresh dev server started as that line starts it (its own port and data folder)
    let data = common::temp_dir("readme");
    let server = devserver::start(devserver::config::DevConfig {
        port: 0,
        data_dir: data.clone(),
        admin_token: Some(admin_token),
        aws: false,
        ..Default::default()
    })
    .await
    .unwrap();
    // when its steps run in bash, each answer kept (`curl` records the status and the body)
    let answers = common::temp_dir("readme-answers");
    let prelude = format!(
        r#"set -euo pipefail
URL={url}
ANSWERS={answers}
: > "$ANSWERS/statuses"
curl() {{
  local n
  n=$(( $(wc -l < "$ANSWERS/statuses") + 1 ))
  command curl -sS -o "$ANSWERS/body.$n" -w '%{{http_code}}\n' "$@" >> "$ANSWERS/statuses"
  cat "$ANSWERS/body.$n"
  echo
}}
"#,
        url = server.url(),
        answers = answers.display(),
    );
    let script = format!("{prelude}{}\n", steps.join("\n"));
    let run = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&answers)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the walk-through finishes")
        .expect("bash runs");
    let said = format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{said}");
    // then every call answered as the README says
    let expected = expectations(steps);
    let statuses: Vec<u16> = std::fs::read_to_string(answers.join("statuses"))
        .unwrap()
        .lines()
        .map(|line| line.trim().parse().unwrap())
        .collect();
    assert_eq!(
        statuses.len(),
        expected.len(),
        "every curl of the README ran once: {statuses:?}\n{said}"
    );
    assert!(expected.iter().any(|e| e.status.is_some()));
    assert!(expected.iter().filter(|e| !e.facts.is_empty()).count() >= 5);
    for (number, (call, status)) in expected.iter().zip(&statuses).enumerate() {
        let body = std::fs::read_to_string(answers.join(format!("body.{}", number + 1))).unwrap();
        match call.status {
            Some(shown) => assert_eq!(*status, shown, "{}\n→ {body}", call.command),
            None => assert!(
                (200..300).contains(status),
                "{status}: {}\n→ {body}",
                call.command
            ),
        }
        if call.facts.is_empty() {
            continue;
        }
        let answer: Value = serde_json::from_str(&body)
            .unwrap_or_else(|_| panic!("{} answered no JSON: {body}", call.command));
        for (name, value) in &call.facts {
            assert!(
                holds(&answer, name, value),
                "{}\nshows \"{name}\": {value}, answered {body}",
                call.command
            );
        }
    }
    server.stop();
    let _ = std::fs::remove_dir_all(&answers);
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn the_readme_facts_are_read_as_written() {
    assert_eq!(
        facts_of(
            r#" 201 {"order_number": "SD-000001", "total": {"amount": "11.89"}, "customer_link": ".../orders/$TOKEN", "n": 2}"#
        ),
        vec![
            ("order_number".to_string(), Value::from("SD-000001")),
            ("amount".to_string(), Value::from("11.89")),
            ("n".to_string(), Value::from(2)),
        ]
    );
    assert_eq!(status_of(" 400 {…}"), Some(400));
    assert_eq!(status_of(r#" {"payment_url": "…"}"#), None);
}
