"""What the embedded moto server adds to moto's CloudFormation and bucket policies, piece by piece
(the round trip in test_roundtrip.py shows them together)."""

from __future__ import annotations

import json

import pytest

from cloud.local import moto_server

TLS_ONLY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
    "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})


def test_a_tls_only_bucket_policy_refuses_plain_http_and_lets_tls_through():
    from moto.iam.access_control import PermissionResult

    assert moto_server.bucket_permission(TLS_ONLY, "s3:GetObject", "arn:aws:s3:::b/k", secure=False) \
        == PermissionResult.DENIED
    assert moto_server.bucket_permission(TLS_ONLY, "s3:GetObject", "arn:aws:s3:::b/k", secure=True) \
        == PermissionResult.NEUTRAL
    assert moto_server.bucket_permission(TLS_ONLY, "s3:GetObject", "arn:aws:s3:::other/k", secure=False) \
        == PermissionResult.NEUTRAL


@pytest.mark.parametrize(("environ", "secure"), [
    ({"REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http"}, True),  # loopback: nothing crosses a network
    ({"REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http", "HTTP_X_FORWARDED_PROTO": "http"}, False),
    ({"REMOTE_ADDR": "10.0.0.5", "wsgi.url_scheme": "http"}, False),
    ({"REMOTE_ADDR": "10.0.0.5", "wsgi.url_scheme": "https"}, True),
])
def test_the_transport_a_request_came_by(environ, secure):
    assert moto_server.secure_transport(environ) is secure


def test_conditions_are_checked_not_assumed():
    context = {"aws:SecureTransport": "true", "aws:RequestTag/imgrec:role": "worker"}
    assert moto_server.condition_holds({"Bool": {"aws:SecureTransport": "true"}}, context)
    assert not moto_server.condition_holds({"Bool": {"aws:SecureTransport": "false"}}, context)
    assert moto_server.condition_holds({"StringLike": {"aws:RequestTag/imgrec:role": "work*"}}, context)
    assert not moto_server.condition_holds({"StringEquals": {"ec2:Vpc": "vpc-1"}}, context)  # absent key
    assert moto_server.condition_holds({"StringEqualsIfExists": {"ec2:Vpc": "vpc-1"}}, context)
    assert not moto_server.condition_holds({"NumericLessThan": {"aws:SecureTransport": "1"}}, context)


def test_lifecycle_rules_become_the_s3_apis_and_what_is_not_applied_is_refused():
    rules = moto_server.lifecycle_rules({"Rules": [
        {"Id": "expire", "Status": "Enabled", "ExpirationInDays": "30"},
        {"Id": "abort", "Status": "Enabled", "Prefix": "jobs/",
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
    ]})
    assert rules == [
        {"ID": "expire", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 30}},
        {"ID": "abort", "Status": "Enabled", "Filter": {"Prefix": "jobs/"},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
    ]
    with pytest.raises(moto_server.UnsupportedProperty, match="Transitions"):
        moto_server.lifecycle_rules({"Rules": [{"Status": "Enabled", "Transitions": []}]})


TEMPLATE = {
    "Parameters": {"Image": {"Type": "String"}, "WantExtra": {"Type": "String"}},
    "Conditions": {"HasImage": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Image"}, ""]}]},
                   "WithExtra": {"Fn::And": [{"Condition": "HasImage"},
                                             {"Fn::Equals": [{"Ref": "WantExtra"}, "yes"]}]}},
    "Resources": {
        "Template": {"Type": "T", "Properties": {
            "ImageId": {"Fn::If": ["HasImage", {"Ref": "Image"}, {"Ref": "AWS::NoValue"}]}}},
        "Group": {"Type": "G", "Properties": {"Version": {"Fn::GetAtt": ["Template", "LatestVersionNumber"]}}},
        "Policy": {"Type": "P", "Properties": {"Arn": {"Fn::Sub": "arn:group/${Group}"}}},
        "Bucket": {"Type": "B", "Properties": {}},
        "Extra": {"Type": "E", "Condition": "WithExtra", "Properties": {}},
    },
}


def test_an_update_reaches_what_depends_on_a_changed_parameter_through_any_function():
    everything = {"Template", "Group", "Policy", "Bucket"}
    diff = moto_server.resource_diff(TEMPLATE, TEMPLATE, everything, everything, {"Image"})
    assert diff == {"Add": [], "Modify": ["Template", "Group", "Policy"], "Remove": []}


def test_a_condition_that_turns_adds_or_removes_its_resource():
    before, after = {"Template", "Group", "Policy", "Bucket"}, {"Template", "Group", "Policy", "Bucket", "Extra"}
    assert moto_server.resource_diff(TEMPLATE, TEMPLATE, before, after, {"WantExtra"}) == {
        "Add": ["Extra"], "Modify": [], "Remove": []}
    assert moto_server.resource_diff(TEMPLATE, TEMPLATE, after, before, {"WantExtra"})["Remove"] == ["Extra"]
    assert moto_server.resource_diff(TEMPLATE, TEMPLATE, before, before, set()) == {
        "Add": [], "Modify": [], "Remove": []}
