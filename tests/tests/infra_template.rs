//! infra/template.yaml deploys exactly the Lambda functions of the route table, each built from
//! its own workspace package of the same name.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sellerdesk::api::routes::{Function, ROUTES};
use sellerdesk::lambda::Worker;

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn every_lambda_of_the_route_table_is_in_the_template_and_nothing_else() {
    let template = read("infra/template.yaml");
    let workspace = read("Cargo.toml");
    for function in Function::LAMBDAS {
        let name = function.name();
        assert!(
            template.contains(&format!("Binary: {name}\n")),
            "{name} is not built by the template"
        );
        assert!(
            template.contains(&format!(
                "FunctionName: !Sub \"${{AWS::StackName}}-{name}\""
            )),
            "{name} has no function"
        );
        assert!(
            workspace.contains(&format!("\"functions/{name}\"")),
            "{name} is not a workspace member"
        );
        let package = read(&format!("functions/{name}/Cargo.toml"));
        assert!(
            package.contains(&format!("name = \"{name}\"")),
            "package and binary must be named {name}"
        );
        assert!(
            ROUTES.iter().any(|r| r.function == function),
            "{name} serves no route"
        );
    }
    for worker in Worker::ALL {
        let name = worker.name();
        assert!(
            template.contains(&format!("Binary: {name}\n")),
            "{name} is not built"
        );
        assert!(
            template.contains(&format!(
                "FunctionName: !Sub \"${{AWS::StackName}}-{name}\""
            )),
            "{name} has no function"
        );
        assert!(
            workspace.contains(&format!("\"functions/{name}\"")),
            "{name} is not a member"
        );
    }
    assert_eq!(
        template.matches("BuildMethod: rust-cargolambda").count(),
        Function::LAMBDAS.len() + Worker::ALL.len()
    );
    // The sweeps run on a schedule with retries and a dead-letter queue; the dispatcher on the stream.
    assert!(
        template.contains("Type: ScheduleV2")
            && template.contains("RetryPolicy:")
            && template.contains("DeadLetterConfig:")
    );
    assert!(template.contains("Stream: !GetAtt Table.StreamArn"));
    assert!(!template.contains("Binary: devserver"));
}

#[test]
fn the_table_has_the_indexes_the_store_queries() {
    let template = read("infra/template.yaml");
    for index in sellerdesk::store::Index::ALL {
        let (pk, sk) = index.key_attributes();
        assert!(template.contains(&format!("IndexName: {}", index.name())));
        assert!(template.contains(&format!("AttributeName: {pk}")));
        assert!(template.contains(&format!("AttributeName: {sk}")));
    }
    for required in [
        "DeletionProtectionEnabled: true",
        "PointInTimeRecoveryEnabled: true",
        "StreamViewType:",
        "AttributeName: expires_at",
    ] {
        assert!(template.contains(required), "table lacks {required}");
    }
}

/// The `Cors:` block of one function's URL in the template: (methods, headers, max age, exposed).
fn template_cors(template: &str, binary: &str) -> (Vec<String>, Vec<String>, u32, Vec<String>) {
    let start = template.find(&format!("Binary: {binary}\n")).unwrap();
    let block = &template[start..];
    let cors = &block[block.find("Cors:").unwrap()..];
    let list = |name: &str| -> Vec<String> {
        let after = &cors[cors.find(name).unwrap() + name.len()..];
        after
            .lines()
            .skip(1)
            .map(str::trim)
            .take_while(|line| line.starts_with("- "))
            .map(|line| line.trim_start_matches("- ").to_string())
            .collect()
    };
    let max_age = cors[cors.find("MaxAge:").unwrap() + "MaxAge:".len()..]
        .lines()
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (
        list("AllowMethods:"),
        list("AllowHeaders:"),
        max_age,
        list("ExposeHeaders:"),
    )
}

// The dev server answers CORS from the same rule the template gives each function URL.
#[test]
fn every_function_url_has_the_cors_rule_of_its_routes() {
    let template = read("infra/template.yaml");
    for function in Function::LAMBDAS {
        let rule = sellerdesk::api::edge::cors_rule(|f| f == function);
        let (methods, headers, max_age, exposed) = template_cors(&template, function.name());
        assert_eq!(
            exposed,
            [sellerdesk::api::edge::EXPOSED_HEADERS],
            "{} exposed",
            function.name()
        );
        assert_eq!(methods, rule.methods, "{} methods", function.name());
        assert_eq!(headers, rule.headers, "{} headers", function.name());
        assert_eq!(max_age, rule.max_age_seconds, "{} max age", function.name());
    }
}

// Issue 11, §4-§5: failures surface. Every function's log group has a retention, every function
// has error and throttle alarms, the sweeps' failed invocations land in the dead-letter queue,
// give-ups raise an alarm, and no reservation is forced on a small account.
#[test]
fn failures_surface_and_logs_expire() {
    let template = read("infra/template.yaml");
    for function in Function::LAMBDAS
        .iter()
        .map(|f| f.name())
        .chain(["scheduled-sweeps", "outbox-dispatcher"])
    {
        assert!(
            template.contains(&format!("LogGroupName: !Sub \"/aws/lambda/${{AWS::StackName}}-{function}\"\n      RetentionInDays: !Ref LogRetentionDays")),
            "{function} has no log group with a retention"
        );
        let logical: String = function
            .split('-')
            .map(|part| {
                let mut chars = part.chars();
                chars
                    .next()
                    .map(|c| c.to_ascii_uppercase())
                    .into_iter()
                    .chain(chars)
                    .collect::<String>()
            })
            .collect();
        for alarm in ["ErrorsAlarm", "ThrottlesAlarm"] {
            assert!(
                template.contains(&format!("  {logical}{alarm}:\n")),
                "{function} lacks {alarm}"
            );
        }
    }
    let sweeps = &template[template.find("Binary: scheduled-sweeps").unwrap()..];
    let sweeps = &sweeps[..sweeps.find("\n  OutboxDispatcherFunction:").unwrap()];
    assert!(sweeps.contains("EventInvokeConfig:") && sweeps.contains("OnFailure:"));
    assert!(sweeps.contains("ReservedConcurrentExecutions: !If [ReserveSweeps"));
    for alarm in [
        "DeadLettersAlarm:",
        "OutboxStreamLagAlarm:",
        "ScheduledSweepsGiveUpsAlarm:",
        "OutboxDispatcherGiveUpsAlarm:",
        "RefundsStillPendingAlarm:",
    ] {
        assert!(template.contains(alarm), "{alarm} is missing");
    }
}

// Issue 11, §4: a claim's lease outlives the function that holds it, so a function killed at its
// timeout cannot have its claim taken over while it still runs.
#[test]
fn every_lease_outlives_its_functions_timeout() {
    let template = read("infra/template.yaml");
    for worker in ["scheduled-sweeps", "outbox-dispatcher"] {
        let block = &template[template.find(&format!("Binary: {worker}")).unwrap()..];
        let timeout: i64 = block[block.find("Timeout: ").unwrap() + "Timeout: ".len()..]
            .lines()
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        for lease in [
            sellerdesk::outbox::dispatch::LEASE,
            sellerdesk::usecases::refunds::provider_tasks::LEASE,
        ] {
            assert!(
                lease.num_seconds() > timeout,
                "{worker}: lease {lease} vs timeout {timeout}s"
            );
        }
    }
}

// Issue 11, §5: a function that calls Stripe inside a request outlives that call and the store's
// calls, so the client gets our answer (and the idempotency claim is settled), not a bare 502.
#[test]
fn functions_that_call_out_outlive_their_outbound_calls() {
    let template = read("infra/template.yaml");
    let margin = sellerdesk::bootstrap::OUTBOUND_TIMEOUT + sellerdesk::aws::OPERATION_TIMEOUT;
    // the dispatcher starts a send only with the SDK's whole operation timeout left
    assert_eq!(
        sellerdesk::outbox::dispatch::SEND_TAKES_AT_MOST
            .to_std()
            .unwrap(),
        sellerdesk::aws::OPERATION_TIMEOUT
    );
    for function in ["checkout-callbacks", "refund-requests", "scheduled-sweeps"] {
        let block = &template[template.find(&format!("Binary: {function}")).unwrap()..];
        let block = &block[..block.find("Policies:").unwrap()];
        assert!(
            block.contains("SELLERDESK_STRIPE_SECRET_KEY"),
            "{function} calls out"
        );
        let timeout: u64 = block[block.find("Timeout: ").unwrap() + "Timeout: ".len()..]
            .lines()
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(
            timeout > margin.as_secs(),
            "{function}: {timeout}s ≤ {}s",
            margin.as_secs()
        );
    }
}

// Issue 11, §1: a claimed Idempotency-Key is taken over only when no request can still be
// running, so its time is longer than every function's timeout.
#[test]
fn an_idempotency_claim_outlives_every_functions_timeout() {
    let template = read("infra/template.yaml");
    let longest = template
        .lines()
        .filter_map(|line| line.trim().strip_prefix("Timeout: "))
        .map(|seconds| seconds.parse::<i64>().unwrap())
        .max()
        .unwrap();
    assert!(
        sellerdesk::app::idempotency::IN_FLIGHT_AT_MOST.num_seconds() > longest,
        "claims are taken over after {} but a function may run {longest}s",
        sellerdesk::app::idempotency::IN_FLIGHT_AT_MOST
    );
}

// Issue 11, §3: mail goes through a configuration set whose permanent bounces and complaints
// reach the outbox dispatcher (through SNS), which keeps the suppression list.
#[test]
fn bounces_and_complaints_reach_the_suppression_list() {
    let template = read("infra/template.yaml");
    assert!(template.contains(&format!(
        "{}: !Ref MailConfigurationSet",
        sellerdesk::bootstrap::MAIL_CONFIGURATION_SET_ENV
    )));
    let set = &template[template.find("  MailConfigurationSet:\n").unwrap()..];
    assert!(set.contains("SuppressedReasons: [BOUNCE, COMPLAINT]"));
    let destination = &template[template.find("  MailFeedbackEvents:\n").unwrap()..];
    let destination = &destination[..destination.find("\n\n").unwrap()];
    assert!(destination.contains("MatchingEventTypes: [bounce, complaint]"));
    assert!(destination.contains("TopicARN: !Ref MailFeedback"));
    let dispatcher = &template[template.find("Binary: outbox-dispatcher").unwrap()..];
    let dispatcher = &dispatcher[..dispatcher.find("Policies:").unwrap()];
    assert!(
        dispatcher
            .contains("Type: SNS\n          Properties:\n            Topic: !Ref MailFeedback")
    );
    assert!(dispatcher.contains("EventInvokeConfig:"));
    assert!(template.contains("Service: ses.amazonaws.com\n            Action: sns:Publish"));
}

// Issue 12, §5: one sender: only the outbox dispatcher may send mail (from the platform's
// sender alone) or publish events, and it runs the outbox's schedule itself.
#[test]
fn only_the_outbox_dispatcher_sends_mail_and_events() {
    let template = read("infra/template.yaml");
    assert_eq!(template.matches("- ses:SendEmail").count(), 1);
    assert_eq!(template.matches("- events:PutEvents").count(), 1);
    let dispatcher = &template[template.find("Binary: outbox-dispatcher").unwrap()..];
    let dispatcher = &dispatcher[..dispatcher.find("\n  OperatorAlarms:").unwrap()];
    assert!(dispatcher.contains("- ses:SendEmail") && dispatcher.contains("- events:PutEvents"));
    assert!(dispatcher.contains("\"ses:FromAddress\": !Ref MailFrom"));
    assert!(dispatcher.contains("Type: ScheduleV2"));
}

// Issue 12, §5: the admin routes are reached only with AWS credentials (the admin token is the
// second factor, sent as X-Admin-Token beside the signature).
#[test]
fn the_admin_function_url_requires_aws_credentials() {
    let template = read("infra/template.yaml");
    let admin = &template[template.find("Binary: admin-api").unwrap()..];
    let admin = &admin[..admin.find("Policies:").unwrap()];
    assert!(admin.contains("AuthType: AWS_IAM"), "{admin}");
    for other in [
        "checkout-callbacks",
        "orders-api",
        "refund-requests",
        "ticket-updates",
    ] {
        let block = &template[template.find(&format!("Binary: {other}")).unwrap()..];
        let block = &block[..block.find("Policies:").unwrap()];
        assert!(block.contains("AuthType: NONE"), "{other}");
    }
}

/// One function's block of the template: from its `Binary:` line to the next top-level resource
/// (or top-level comment).
fn function_block<'t>(template: &'t str, binary: &str) -> &'t str {
    let start = template.find(&format!("Binary: {binary}\n")).unwrap();
    let rest = &template[start..];
    let end = rest
        .match_indices("\n  ")
        .find(|(at, _)| {
            rest[at + 3..]
                .chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '#')
        })
        .map_or(rest.len(), |(at, _)| at);
    &rest[..end]
}

// Issue 12, §4: no secret is a stack parameter or an environment variable. Each function reads
// from Secrets Manager exactly the secrets it needs, named by ARN in its environment, and is
// granted GetSecretValue on those alone; the link key and the admin token are generated by the
// stack.
#[test]
fn each_function_reads_only_its_own_secrets_from_secrets_manager() {
    use std::collections::BTreeSet;
    let template = read("infra/template.yaml");
    assert!(
        !template.contains("NoEcho"),
        "a secret is still a parameter"
    );
    for plain in [
        "SELLERDESK_LINK_KEY:",
        "SELLERDESK_ADMIN_TOKEN_SHA256:",
        "SELLERDESK_STRIPE_SECRET_KEY:",
        "SELLERDESK_STRIPE_WEBHOOK_SECRETS:",
    ] {
        assert!(
            !template.contains(plain),
            "{plain} is an environment variable"
        );
    }
    let expected: [(&str, &[&str]); 7] = [
        ("admin-api", &["AdminTokenSecret"]),
        (
            "checkout-callbacks",
            &[
                "LinkKeySecret",
                "StripeSecretKeySecret",
                "StripeWebhookSecretsSecret",
            ],
        ),
        ("orders-api", &["LinkKeySecret"]),
        (
            "refund-requests",
            &["LinkKeySecret", "StripeSecretKeySecret"],
        ),
        ("ticket-updates", &["LinkKeySecret"]),
        (
            "scheduled-sweeps",
            &["LinkKeySecret", "StripeSecretKeySecret"],
        ),
        ("outbox-dispatcher", &[]),
    ];
    let arn_env = |secret: &str| match secret {
        "LinkKeySecret" => sellerdesk::bootstrap::LINK_KEY_SECRET.arn_env,
        "AdminTokenSecret" => sellerdesk::bootstrap::ADMIN_TOKEN_SECRET.arn_env,
        "StripeSecretKeySecret" => sellerdesk::bootstrap::STRIPE_SECRET_KEY_SECRET.arn_env,
        "StripeWebhookSecretsSecret" => {
            sellerdesk::bootstrap::STRIPE_WEBHOOK_SECRETS_SECRET.arn_env
        }
        other => panic!("{other}"),
    };
    for (binary, secrets) in expected {
        let block = function_block(&template, binary);
        let named: BTreeSet<&str> = block
            .lines()
            .filter_map(|line| {
                let (name, value) = line.trim().split_once(": !Ref ")?;
                name.ends_with("_SECRET_ARN").then_some(value)
            })
            .collect();
        let granted: BTreeSet<&str> = block
            .split("- Sid: ")
            .filter(|statement| statement.contains("secretsmanager:"))
            .inspect(|statement| {
                assert!(
                    statement.contains("- secretsmanager:GetSecretValue")
                        && statement.matches("secretsmanager:").count() == 1,
                    "{binary}: {statement}"
                );
            })
            .flat_map(|statement| {
                statement
                    .lines()
                    .filter_map(|line| line.trim().strip_prefix("- !Ref "))
            })
            .collect();
        let secrets: BTreeSet<&str> = secrets.iter().copied().collect();
        assert_eq!(named, secrets, "{binary} names other secrets");
        assert_eq!(granted, secrets, "{binary} may read other secrets");
        for secret in &secrets {
            assert!(
                block.contains(&format!("{}: !Ref {secret}", arn_env(secret))),
                "{binary}: {secret} under another name"
            );
        }
    }
    for generated in ["LinkKeySecret", "AdminTokenSecret"] {
        let block = &template[template.find(&format!("\n  {generated}:")).unwrap()..];
        let block = &block[..block.find("\n\n").unwrap()];
        let length: u32 = block[block.find("PasswordLength: ").unwrap() + 16..]
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            block.contains("GenerateSecretString") && length >= 32,
            "{generated}"
        );
    }
}
