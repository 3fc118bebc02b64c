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
