"""The CloudFormation template, read: it lints clean, and every IAM grant in it is one listed here.

The lists below are the review: a grant added to the template without being added here fails, and so
does one that names another resource or loses its condition. ``*`` as a resource is allowed only for the
calls that have no resource-level permission at all.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from cloud.deploy.stack import TEMPLATE_FILE, template_body
from cloud.scaler.fleet_ec2 import QUEUE_TAG, ROLE, ROLE_TAG

cfn_yaml = pytest.importorskip("cfnlint.decode.cfn_yaml", reason="cfn-lint is in the dev extra")

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "cloud" / "deploy" / TEMPLATE_FILE

ARN = "arn:${AWS::Partition}"
EC2 = f"{ARN}:ec2:${{AWS::Region}}:${{AWS::AccountId}}"
REPLIES = f"{ARN}:sqs:${{AWS::Region}}:${{AWS::AccountId}}:${{AWS::StackName}}-replies-*"
OUR_QUEUE = tuple(sorted([("StringEquals", f"aws:RequestTag/{ROLE_TAG}", ROLE),
                          ("StringEquals", f"aws:RequestTag/{QUEUE_TAG}", "${RequestQueue.QueueName}")]))
OUR_INSTANCES = tuple(sorted([("StringEquals", f"ec2:ResourceTag/{ROLE_TAG}", ROLE),
                              ("StringEquals", f"ec2:ResourceTag/{QUEUE_TAG}", "${RequestQueue.QueueName}")]))

# (action, resource, conditions): every Allow of each part, and nothing else.
WORKER = {
    ("s3:GetObject", "${InputBucket.Arn}/jobs/*", ()),
    ("s3:GetObject", "${OutputBucket.Arn}/models/*", ()),
    ("s3:PutObject", "${OutputBucket.Arn}/results/*", ()),
    ("s3:PutObject", "${OutputBucket.Arn}/workers/*", ()),
    ("sqs:GetQueueUrl", "${RequestQueue.Arn}", ()),
    ("sqs:ReceiveMessage", "${RequestQueue.Arn}", ()),
    ("sqs:DeleteMessage", "${RequestQueue.Arn}", ()),
    ("sqs:ChangeMessageVisibility", "${RequestQueue.Arn}", ()),
    ("sqs:GetQueueUrl", "${DeadLetterQueue.Arn}", ()),
    ("sqs:SendMessage", "${DeadLetterQueue.Arn}", ()),
    ("sqs:SendMessage", REPLIES, ()),
}
SCALER = {
    ("sqs:GetQueueUrl", "${RequestQueue.Arn}", ()),
    ("sqs:GetQueueAttributes", "${RequestQueue.Arn}", ()),
    ("s3:GetObject", "${OutputBucket.Arn}/workers/*", ()),
    ("ec2:DescribeInstances", "*", ()),
    ("ec2:RunInstances", f"{EC2}:instance/*", OUR_QUEUE),
    ("ec2:RunInstances", f"{ARN}:ec2:${{AWS::Region}}::image/*",
     (("StringEquals", f"ec2:ResourceTag/{ROLE_TAG}", ROLE),)),
    ("ec2:RunInstances", f"{EC2}:subnet/*", (("StringEquals", "ec2:Vpc", f"{EC2}:vpc/${{VpcId}}"),)),
    ("ec2:RunInstances", f"{EC2}:network-interface/*", (("StringEquals", "ec2:Vpc", f"{EC2}:vpc/${{VpcId}}"),)),
    ("ec2:RunInstances", f"{EC2}:security-group/${{WorkerSecurityGroup.GroupId}}", ()),
    ("ec2:RunInstances", f"{EC2}:volume/*", ()),
    ("ec2:RunInstances", f"{EC2}:launch-template/${{WorkerLaunchTemplate}}", ()),
    ("ec2:CreateTags", f"{EC2}:instance/*", (("StringEquals", "ec2:CreateAction", "RunInstances"),)),
    ("ec2:StartInstances", f"{EC2}:instance/*", OUR_INSTANCES),
    ("ec2:StopInstances", f"{EC2}:instance/*", OUR_INSTANCES),
    ("ec2:TerminateInstances", f"{EC2}:instance/*", OUR_INSTANCES),
    ("iam:PassRole", "${WorkerRole.Arn}", (("StringEquals", "iam:PassedToService", "ec2.amazonaws.com"),)),
    ("autoscaling:DescribeAutoScalingGroups", "*", ()),
    ("autoscaling:SetDesiredCapacity",
     f"{ARN}:autoscaling:${{AWS::Region}}:${{AWS::AccountId}}:autoScalingGroup:*:autoScalingGroupName/${{WorkerGroup}}",
     ()),
    ("autoscaling:SetInstanceProtection",
     f"{ARN}:autoscaling:${{AWS::Region}}:${{AWS::AccountId}}:autoScalingGroup:*:autoScalingGroupName/${{WorkerGroup}}",
     ()),
    ("sqs:ListQueues", "*", ()),
    ("sqs:ListQueueTags", REPLIES, ()),
    ("sqs:GetQueueAttributes", REPLIES, ()),
    ("sqs:DeleteQueue", REPLIES, ()),
}
CLIENT = {
    ("s3:PutObject", "${InputBucket.Arn}/jobs/*", ()),
    ("s3:DeleteObject", "${InputBucket.Arn}/jobs/*", ()),
    ("s3:PutObject", "${OutputBucket.Arn}/jobs/*", ()),
    ("s3:GetObject", "${OutputBucket.Arn}/jobs/*", ()),
    ("s3:GetObject", "${OutputBucket.Arn}/results/*", ()),
    ("s3:GetObject", "${OutputBucket.Arn}/models/*", ()),
    ("s3:GetObject", "${OutputBucket.Arn}/workers/*", ()),
    ("s3:ListBucket", "${InputBucket.Arn}", ()),
    ("s3:ListBucket", "${OutputBucket.Arn}", ()),
    ("sqs:GetQueueUrl", "${RequestQueue.Arn}", ()),
    ("sqs:GetQueueAttributes", "${RequestQueue.Arn}", ()),
    ("sqs:SendMessage", "${RequestQueue.Arn}", ()),
    ("sqs:GetQueueUrl", "${DeadLetterQueue.Arn}", ()),
    ("sqs:GetQueueAttributes", "${DeadLetterQueue.Arn}", ()),
    *{(f"sqs:{action}", REPLIES, ()) for action in ("CreateQueue", "TagQueue", "ListQueueTags", "GetQueueUrl",
                                                     "GetQueueAttributes", "ReceiveMessage", "DeleteMessage",
                                                     "DeleteQueue")},
    ("sqs:ListQueues", "*", ()),
}
# Calls for which IAM has no resource-level permission: "*" is the narrowest resource there is.
NO_RESOURCE_LEVEL = {"ec2:DescribeInstances", "autoscaling:DescribeAutoScalingGroups", "sqs:ListQueues"}


@pytest.fixture(scope="module")
def template() -> dict:
    return cfn_yaml.loads(TEMPLATE.read_text())


def show(node) -> str:
    """An intrinsic function as the text it stands for: ``${Logical.Attribute}`` or the Fn::Sub string."""
    if isinstance(node, str):
        return node
    if isinstance(node, dict) and "Fn::Sub" in node:
        return node["Fn::Sub"] if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"][0]
    if isinstance(node, dict) and "Fn::GetAtt" in node:
        return "${" + ".".join(node["Fn::GetAtt"]) + "}"
    if isinstance(node, dict) and "Ref" in node:
        return "${" + node["Ref"] + "}"
    raise AssertionError(f"unexpected {node!r} in a policy")


def as_list(node) -> list:
    return list(node) if isinstance(node, list) else [node]


def grants(document: dict) -> set[tuple]:
    found = set()
    for statement in as_list(document["Statement"]):
        assert statement["Effect"] == "Allow", statement
        assert "NotAction" not in statement and "NotResource" not in statement, statement
        conditions = tuple(sorted((operator, key, show(value))
                                  for operator, tests in statement.get("Condition", {}).items()
                                  for key, value in tests.items()))
        for action in as_list(statement["Action"]):
            for resource in as_list(statement["Resource"]):
                found.add((action, show(resource), conditions))
    return found


def test_the_template_passes_cfn_lint():
    from cfnlint.api import ManualArgs, lint_file

    matches = lint_file(TEMPLATE, ManualArgs(regions=["us-east-1", "eu-west-1", "ap-southeast-2"]))
    assert not matches, "\n".join(str(m) for m in matches)


def test_the_template_ships_with_the_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "*.yaml" in project["tool"]["setuptools"]["package-data"]["cloud.deploy"]
    assert template_body() == TEMPLATE.read_text()


def test_the_worker_role_may_only_do_what_the_worker_does(template):
    role = template["Resources"]["WorkerRole"]["Properties"]
    assert [s["Principal"] for s in role["AssumeRolePolicyDocument"]["Statement"]] == [{"Service": "ec2.amazonaws.com"}]
    assert "ManagedPolicyArns" not in role
    assert set().union(*(grants(p["PolicyDocument"]) for p in role["Policies"])) == WORKER


def test_the_scaler_may_only_do_what_the_scaler_does(template):
    role = template["Resources"]["ScalerRole"]["Properties"]
    assert "Policies" not in role
    assert [show(arn) for arn in role["ManagedPolicyArns"]] == ["${ScalerPolicy}"]
    assert grants(template["Resources"]["ScalerPolicy"]["Properties"]["PolicyDocument"]) == SCALER


def test_desktop_and_cli_users_may_only_do_what_the_client_does(template):
    assert grants(template["Resources"]["ClientPolicy"]["Properties"]["PolicyDocument"]) == CLIENT


def test_every_iam_policy_in_the_template_is_one_of_those_read_above(template):
    policies = {name for name, r in template["Resources"].items()
                if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::User", "AWS::IAM::Group")}
    roles = {name for name, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    assert policies == {"ScalerPolicy", "ClientPolicy"}
    assert roles == {"WorkerRole", "ScalerRole"}


def test_a_wildcard_resource_only_where_iam_has_nothing_narrower():
    for part in (WORKER, SCALER, CLIENT):
        for action, resource, _ in part:
            assert (resource == "*") == (action in NO_RESOURCE_LEVEL), (action, resource)
            assert "*" not in action


def test_the_scalers_ec2_mutations_need_our_tags(template):
    mutations = {g for g in SCALER if g[0] in ("ec2:StartInstances", "ec2:StopInstances", "ec2:TerminateInstances")}
    assert mutations and all(conditions == OUR_INSTANCES for _, _, conditions in mutations)
    launches = {g for g in SCALER if g[0] == "ec2:RunInstances" and g[1].endswith(":instance/*")}
    assert launches == {("ec2:RunInstances", f"{EC2}:instance/*", OUR_QUEUE)}
    assert {g for g in SCALER if g[0] == "ec2:CreateTags"} == {
        ("ec2:CreateTags", f"{EC2}:instance/*", (("StringEquals", "ec2:CreateAction", "RunInstances"),))}
    # The group's launch template tags its instances the same way, so the scaler may manage them too.
    specs = template["Resources"]["WorkerLaunchTemplate"]["Properties"]["LaunchTemplateData"]["TagSpecifications"]
    instance_tags = {t["Key"]: show(t["Value"]) for s in specs if s["ResourceType"] == "instance" for t in s["Tags"]}
    assert instance_tags[ROLE_TAG] == ROLE and instance_tags[QUEUE_TAG] == "${RequestQueue.QueueName}"


def test_buckets_and_queues_refuse_requests_without_tls(template):
    resources = template["Resources"]
    for policy, kind, target in (("InputBucketPolicy", "s3", "InputBucket"),
                                 ("OutputBucketPolicy", "s3", "OutputBucket"),
                                 ("RequestQueuePolicy", "sqs", "RequestQueue"),
                                 ("DeadLetterQueuePolicy", "sqs", "DeadLetterQueue")):
        (statement,) = resources[policy]["Properties"]["PolicyDocument"]["Statement"]
        assert statement["Effect"] == "Deny" and statement["Principal"] == "*"
        assert statement["Action"] == f"{kind}:*"
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert any(target in show(r) for r in as_list(statement["Resource"]))
