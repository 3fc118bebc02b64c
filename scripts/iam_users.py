"""Creates, in a moto server, one IAM user per function of infra/template.yaml holding exactly the
actions that function's `Policies` grant, and writes their access keys as JSON.

moto 5 checks an action against resource "*" only (it ignores resource ARNs: tests/tests/
iam_policies.rs compares those with the template), and it asks for `dynamodb:TransactWriteItems`,
an action real IAM does not have (IAM authorizes each item of a transaction by PutItem, DeleteItem
or ConditionCheckItem). So each statement is translated: its actions kept, its resources "*", and
TransactWriteItems added to a function that may write items. The translation is printed.

Usage: python iam_users.py TEMPLATE OUT.json   (AWS_ENDPOINT_URL names the moto server)
"""
import json
import sys

import boto3
import yaml

ITEM_WRITES = {"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem", "dynamodb:UpdateItem"}


class TemplateLoader(yaml.SafeLoader):
    """Reads CloudFormation's short tags (!Ref, !Sub, !GetAtt…) as their plain values."""


def _any_tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


TemplateLoader.add_multi_constructor("!", _any_tag)


def as_list(value):
    return value if isinstance(value, list) else [value]


def function_policies(template):
    """{binary: [statement, …]} for every function; a policy the harness cannot read fails."""
    policies = {}
    for name, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        binary = resource["Metadata"]["BuildProperties"]["Binary"]
        statements = []
        for policy in resource["Properties"].get("Policies", []):
            if not isinstance(policy, dict) or "Statement" not in policy:
                sys.exit(f"iam_users: {name} has a policy entry this harness cannot translate: {policy!r}")
            statements.extend(policy["Statement"])
        policies[binary] = statements
    return policies


def translated(statements):
    """moto's view of the statements: same actions, resource "*", TransactWriteItems if writing."""
    actions = sorted({action for s in statements if s["Effect"] == "Allow" for action in as_list(s["Action"])})
    if ITEM_WRITES & set(actions):
        actions.append("dynamodb:TransactWriteItems")
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}


def main():
    template_path, out_path = sys.argv[1], sys.argv[2]
    with open(template_path, encoding="utf-8") as f:
        template = yaml.load(f, Loader=TemplateLoader)
    iam = boto3.client("iam", region_name="us-east-1")
    users = {}
    for binary, statements in sorted(function_policies(template).items()):
        document = translated(statements)
        user = f"sellerdesk-{binary}"
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName=binary, PolicyDocument=json.dumps(document))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        users[binary] = {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}
        print(f"iam_users: {user}: {', '.join(document['Statement'][0]['Action'])} on *")
    print("iam_users: resources are '*' and dynamodb:TransactWriteItems is added for moto; "
          "resource ARNs are checked by tests/tests/iam_policies.rs")
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(users, f)


if __name__ == "__main__":
    main()
