"""Serves moto's S3/SQS/EC2/Auto Scaling emulation for the embedded local cloud, made fast enough to
benchmark against: `python -m cloud.local.moto_server --port PORT`.

Measured here, per request on moto 5.2 (see bench/throughput.py for the end-to-end effect):
- moto's SQS checks every queued message's visibility on every call, and each clock read builds
  datetimes (~15 µs): with 600 messages queued one ReceiveMessage took ~1 s and one
  GetQueueAttributes ~0.4 s. Reading the clock with time.time() (the same value) makes them
  ~60 ms and ~25 ms.
- moto lists its own package folder (~180 stat calls) on every request to route it; the folder
  does not change while it runs, so the list is computed once.
- moto's stock server closes the connection after each response; here it speaks HTTP/1.1 with
  keep-alive, so boto3's connection pool is used as on AWS.
Behaviour is unchanged: these replace how values are computed, not what they are.

A bucket policy is evaluated with the request's transport (:func:`secure_transport`): moto denied every
object request of a bucket whose policy requires TLS, whatever the request.

And moto 5.2's CloudFormation is completed where a stack of ours needs it (:func:`complete_cloudformation`),
so that a local `imgrec deploy` shows what AWS would:

- protections it left unapplied: a bucket's ``PublicAccessBlockConfiguration`` and
  ``LifecycleConfiguration``, a security group's ``SecurityGroupEgress``, and the ``AWS::S3::BucketPolicy``
  and ``AWS::SQS::QueuePolicy`` resources, which it skipped with a warning;
- updates: moto modified only resources whose own text changed or that Ref a changed parameter, ignoring
  conditions, Fn::Sub and Fn::GetAtt, so `imgrec deploy --image AMI` reached no launch template
  (:func:`resource_diff`); it could not update a managed policy or an instance profile, nor delete a
  managed policy, and it kept a stack's outputs from before a change set.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import threading
import time
from typing import Any

from shared.children import stop_with_parent


def apply_speedups() -> None:
    from moto import backends
    from moto.core import utils
    from moto.sqs import models as sqs_models

    slow_unix_time = utils.unix_time

    def unix_time(dt=None) -> float:
        return time.time() if dt is None else slow_unix_time(dt)

    def unix_time_millis(dt=None) -> float:
        return unix_time(dt) * 1000.0

    for module in (utils, sqs_models):
        module.unix_time = unix_time
        module.unix_time_millis = unix_time_millis

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules


# --- bucket policies and the transport --------------------------------------------------------------------

# moto evaluates a bucket policy's statements with Principal "*" on object requests, but with no request
# context: it takes every condition but StringEquals as met (and a failed one as a deny, whatever the
# statement's Effect). So the TLS-only
# policy that AWS recommends (Deny unless aws:SecureTransport) refused every object request, over TLS or
# not. Here the policy is evaluated with aws:SecureTransport from the connection: a request over TLS, or
# from this machine (the server listens on loopback, so nothing crosses a network), is secure; one that
# came through a proxy is what the proxy says in X-Forwarded-Proto, so "X-Forwarded-Proto: http" is a
# plain-HTTP request. A statement whose condition does not hold does not apply, as on AWS.
_request = threading.local()
_LOOPBACK = ("127.", "::1", "::ffff:127.")


def secure_transport(environ: dict[str, Any]) -> bool:
    """aws:SecureTransport for a request to this server."""
    forwarded = environ.get("HTTP_X_FORWARDED_PROTO")
    if forwarded:
        return forwarded.split(",", 1)[0].strip().lower() == "https"
    return environ.get("wsgi.url_scheme") == "https" or str(environ.get("REMOTE_ADDR", "")).startswith(_LOOPBACK)


def _is_cloudformation(environ: dict[str, Any]) -> bool:
    """A signed request to CloudFormation (its credential scope names the service)."""
    return "/cloudformation/" in environ.get("HTTP_AUTHORIZATION", "")


def prepared(app):
    """The WSGI app, with each request's transport known to the policy evaluation (per thread), and moto's
    CloudFormation completed before its first request: importing it costs most of a second, which a
    server that never sees a stack (every embedded cloud) should not pay at start."""
    lock = threading.Lock()

    def serve_request(environ, start_response):
        _request.secure = secure_transport(environ)
        if not _completed and _is_cloudformation(environ):
            with lock:
                complete_cloudformation()
        return app(environ, start_response)
    return serve_request


def condition_holds(conditions: dict[str, Any], context: dict[str, str]) -> bool:
    """An IAM Condition block against the request's context keys (moto checks StringEquals only, and takes
    any other operator as met). A key the context lacks fails its test, unless the operator ends in
    IfExists; an operator not known here fails too."""
    known = {key.lower(): value for key, value in context.items()}
    for operator, tests in conditions.items():
        base, if_exists = (operator[:-len("IfExists")], True) if operator.endswith("IfExists") else (operator, False)
        for key, expected in tests.items():
            wanted = [str(v) for v in (expected if isinstance(expected, list) else [expected])]
            actual = known.get(key.lower())
            if actual is None:
                if if_exists:
                    continue
                return False
            if base == "Bool":
                met = actual.lower() in [v.lower() for v in wanted]
            elif base in ("StringEquals", "StringNotEquals"):
                met = (actual in wanted) == (base == "StringEquals")
            elif base in ("StringLike", "StringNotLike"):
                met = any(fnmatch.fnmatchcase(actual, v) for v in wanted) == (base == "StringLike")
            else:
                return False
            if not met:
                return False
    return True


def bucket_permission(policy: str, action: str, resource: str, secure: bool):
    """moto's PermissionResult for a request to a bucket with this policy, conditions evaluated."""
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult

    statements = json.loads(policy).get("Statement", [])
    context = {"aws:SecureTransport": "true" if secure else "false"}
    permitted = False
    for statement in [statements] if isinstance(statements, dict) else statements:
        if statement.get("Principal") not in ("*", {"AWS": "*"}):
            continue  # moto checks no other principal: such a statement does not apply here
        check = IAMPolicyStatement(statement)
        if "NotAction" in statement:
            concerned = not check._check_element_matches("NotAction", action)
        else:
            concerned = check._check_element_matches("Action", action)
        if not concerned or ("Resource" in statement and not check._check_element_matches("Resource", resource)):
            continue
        if not condition_holds(statement.get("Condition", {}), context):
            continue
        if statement.get("Effect") == "Deny":
            return PermissionResult.DENIED
        permitted = True
    return PermissionResult.PERMITTED if permitted else PermissionResult.NEUTRAL


def _evaluate_bucket_policies() -> None:
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket

    def get_permission(self, action: str, resource: str):
        if self.policy is None:
            return PermissionResult.NEUTRAL
        policy = self.policy.decode() if isinstance(self.policy, bytes) else self.policy
        return bucket_permission(policy, action, resource, getattr(_request, "secure", True))

    FakeBucket.get_permission = get_permission


# --- CloudFormation ------------------------------------------------------------------------------------

# What a CloudFormation lifecycle rule may say, and what the S3 API calls it (the rest is refused rather
# than ignored: a rule that does less locally than on AWS must not pass unnoticed).
_LIFECYCLE_DAYS = {
    "ExpirationInDays": ("Expiration", "Days"),
    "AbortIncompleteMultipartUpload": ("AbortIncompleteMultipartUpload", "DaysAfterInitiation"),
    "NoncurrentVersionExpirationInDays": ("NoncurrentVersionExpiration", "NoncurrentDays"),
}


class UnsupportedProperty(ValueError):
    """A template asks for something this local cloud does not apply."""


def lifecycle_rules(configuration: dict[str, Any]) -> list[dict[str, Any]]:
    """A CloudFormation ``LifecycleConfiguration`` as the S3 API's rules (what PutBucketLifecycleConfiguration
    takes), for moto's backend."""
    rules = []
    for rule in configuration.get("Rules", []):
        api: dict[str, Any] = {"Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")}}
        if "Id" in rule:
            api["ID"] = rule["Id"]
        for key, value in rule.items():
            if key in ("Id", "Status", "Prefix"):
                continue
            if key == "AbortIncompleteMultipartUpload":
                value = value["DaysAfterInitiation"]
            elif key == "NoncurrentVersionExpiration":
                key, value = "NoncurrentVersionExpirationInDays", value["NoncurrentDays"]
            elif key == "ExpiredObjectDeleteMarker":
                api["Expiration"] = {"ExpiredObjectDeleteMarker": bool(value)}
                continue
            if key not in _LIFECYCLE_DAYS:
                raise UnsupportedProperty(f"lifecycle rule {rule.get('Id', '?')}: {key} is not applied by the "
                                          "local cloud")
            outer, inner = _LIFECYCLE_DAYS[key]
            api[outer] = {inner: int(value)}
        rules.append(api)
    return rules


def _apply_bucket_protections(backend, name: str, properties: dict[str, Any]) -> None:
    """The settings moto's AWS::S3::Bucket leaves out, set (or removed) as the template says."""
    block = properties.get("PublicAccessBlockConfiguration")
    if block:
        backend.put_public_access_block(name, block)
    else:
        backend.delete_public_access_block(name)
    if properties.get("LifecycleConfiguration"):
        backend.put_bucket_lifecycle_configuration(name, lifecycle_rules(properties["LifecycleConfiguration"]))
    else:
        backend.delete_bucket_lifecycle(name)


MAX_POLICY_VERSIONS = 5  # IAM keeps at most this many versions of a managed policy
_EGRESS_KEYS = {"IpProtocol", "FromPort", "ToPort", "CidrIp", "CidrIpv6", "Description"}


def _replace_egress(backend, group, rules: list[dict[str, Any]]) -> None:
    """A security group's outbound rules: exactly these, as on AWS when a template lists them."""
    backend.revoke_security_group_egress(group.id, None, None, None, [],
                                         security_rule_ids=[rule.id for rule in group.egress_rules],
                                         vpc_id=group.vpc_id)
    for rule in rules:
        unknown = set(rule) - _EGRESS_KEYS
        if unknown:
            raise UnsupportedProperty(f"egress rule of {group.id}: {', '.join(sorted(unknown))} not applied by the "
                                      "local cloud")
        ranges = [{"CidrIp": rule["CidrIp"]} if "CidrIp" in rule else {"CidrIpv6": rule["CidrIpv6"]}]
        if "Description" in rule:
            ranges[0]["Description"] = rule["Description"]
        backend.authorize_security_group_egress(group.id, str(rule["IpProtocol"]), rule.get("FromPort"),
                                                rule.get("ToPort"), ranges, vpc_id=group.vpc_id)


def references(node: Any) -> set[str]:
    """What a piece of a template depends on: the logical ids and parameters it names (Ref, Fn::GetAtt,
    ``${...}`` in Fn::Sub) and, as ``"Condition:<name>"``, the conditions it names (Fn::If, Condition)."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= references(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0] if isinstance(value, list) else str(value).split(".", 1)[0])
            elif key == "Fn::Sub":
                text, variables = (value, {}) if isinstance(value, str) else (value[0], value[1])
                found |= {name.split(".", 1)[0] for name in re.findall(r"\$\{([^!}][^}]*)\}", text)} - set(variables)
                found |= references(variables)
            elif key == "Fn::If":
                found.add(f"Condition:{value[0]}")
                found |= references(value[1:])
            elif key == "Condition" and isinstance(value, str):
                found.add(f"Condition:{value}")
            else:
                found |= references(value)
    return found


def resource_diff(old: dict[str, Any], new: dict[str, Any], old_present: set[str], new_present: set[str],
                  changed_parameters: set[str]) -> dict[str, list[str]]:
    """What an update adds, modifies and removes, as CloudFormation plans it: a resource whose condition
    turns true is added, false removed; one whose definition changed, or that depends (through Ref,
    Fn::GetAtt, Fn::Sub or a condition) on a changed parameter or a modified resource, is modified.
    Modifications come dependencies first."""
    old_resources, new_resources = old.get("Resources", {}), new.get("Resources", {})
    conditions = new.get("Conditions", {})

    def depends_on(name: str) -> set[str]:
        direct, seen = references(new_resources[name]), set()
        while True:
            pending = {d for d in direct if d.startswith("Condition:")} - seen
            if not pending:
                return direct
            seen |= pending
            for condition in pending:
                direct |= references(conditions.get(condition.split(":", 1)[1], {}))

    added = [name for name in new_resources if name in new_present and name not in old_present]
    removed = [name for name in old_resources if name in old_present and name not in new_present]
    kept = [name for name in new_resources if name in new_present and name in old_present]
    changed = set(changed_parameters) | set(added)
    modified = {name for name in kept if new_resources[name] != old_resources.get(name)}
    needs = {name: depends_on(name) for name in kept}
    while True:
        more = {name for name in kept if name not in modified and needs[name] & (changed | modified)}
        if not more:
            break
        modified |= more
    ordered: list[str] = []
    while len(ordered) < len(modified):
        ready = [name for name in kept if name in modified and name not in ordered
                 and not (needs[name] & (modified - set(ordered)) - {name})]
        ordered.extend(ready or sorted(modified - set(ordered)))  # a cycle: CloudFormation would refuse it
    return {"Add": added, "Modify": ordered, "Remove": removed}


_completed = False


def complete_cloudformation() -> None:
    """Makes moto's CloudFormation apply what a stack of ours relies on; idempotent."""
    global _completed
    if _completed:
        return
    from moto.cloudformation import parsing
    from moto.cloudformation.models import Change, ChangeSet, CloudFormationBackend, Stack
    from moto.core.common_models import CloudFormationModel
    from moto.ec2.models import ec2_backends
    from moto.ec2.models.security_groups import SecurityGroup
    from moto.iam.exceptions import DeleteConflictException
    from moto.iam.models import ManagedPolicy
    from moto.s3.cloud_formation import cfn_to_api_encryption
    from moto.s3.exceptions import MissingBucket
    from moto.s3.models import FakeBucket, s3_backends
    from moto.sqs.exceptions import QueueDoesNotExist
    from moto.sqs.models import sqs_backends
    from moto.utilities.tagging_service import TaggingService
    from moto.utilities.utils import get_partition

    def s3_backend(account_id: str, region_name: str):
        return s3_backends[account_id][get_partition(region_name)]

    create_bucket = FakeBucket.create_from_cloudformation_json.__func__

    def create_protected_bucket(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        bucket = create_bucket(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        _apply_bucket_protections(s3_backend(account_id, region_name), bucket.name,
                                  cloudformation_json.get("Properties", {}))
        return bucket

    def update_bucket(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        # moto's own update tags the bucket by its BucketName property, absent when CloudFormation named
        # it (a KeyError, so every update of such a bucket failed); a new name means a new bucket.
        properties = cloudformation_json["Properties"]
        if properties.get("BucketName", original_resource.name) != original_resource.name:
            new = cls.create_from_cloudformation_json(properties["BucketName"], cloudformation_json, account_id,
                                                      region_name)
            cls.delete_from_cloudformation_json(original_resource.name, cloudformation_json, account_id,
                                                region_name)
            return new
        backend = s3_backend(account_id, region_name)
        name = original_resource.name
        if "BucketEncryption" in properties:
            backend.put_bucket_encryption(name, cfn_to_api_encryption(properties["BucketEncryption"]))
        if "Tags" in properties:
            backend.put_bucket_tagging(name, TaggingService().flatten_tag_list(properties["Tags"]))
        _apply_bucket_protections(backend, name, properties)
        return original_resource

    FakeBucket.create_from_cloudformation_json = classmethod(create_protected_bucket)
    FakeBucket.update_from_cloudformation_json = classmethod(update_bucket)

    create_group = SecurityGroup.create_from_cloudformation_json.__func__

    def create_group_with_egress(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        # moto applies SecurityGroupIngress and leaves every group's default "all traffic out" rule.
        group = create_group(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        egress = cloudformation_json["Properties"].get("SecurityGroupEgress")
        if egress is not None:
            _replace_egress(ec2_backends[account_id][region_name], group, egress)
        return group

    SecurityGroup.create_from_cloudformation_json = classmethod(create_group_with_egress)

    def update_managed_policy(cls, original_resource, new_resource_name, cloudformation_json, account_id,
                              region_name):
        # moto has no update for AWS::IAM::ManagedPolicy (the stack then held None in its place) and no
        # delete (the policy outlived its stack). An update is a new default version, as on AWS.
        policy, backend = original_resource, original_resource.backend
        while len(policy.versions) >= MAX_POLICY_VERSIONS:
            oldest = next(v for v in policy.versions if not v.is_default)
            backend.delete_policy_version(policy.arn, oldest.version_id)
        document = json.dumps(cloudformation_json["Properties"]["PolicyDocument"])
        backend.create_policy_version(policy.arn, document, set_as_default=True)
        return policy

    def delete_managed_policy(self, account_id, region_name):
        # As on AWS: a policy still attached to a user or group is not deleted (DeleteConflict); the
        # stack's own roles are being deleted with it.
        backend = self.backend
        holders = [h for h in (*backend.users.values(), *backend.groups.values()) if self.arn in h.managed_policies]
        if holders:
            raise DeleteConflictException(f"Cannot delete a policy attached to entities: {self.arn}")
        for role in backend.roles.values():
            if self.arn in role.managed_policies:
                self.detach_from(role)
        backend.delete_policy(self.arn)

    ManagedPolicy.update_from_cloudformation_json = classmethod(update_managed_policy)
    ManagedPolicy.delete = delete_managed_policy

    class BucketPolicy(CloudFormationModel):
        """AWS::S3::BucketPolicy: the bucket's policy document, JSON as PutBucketPolicy stores it."""

        __module__ = "moto.s3.models"  # moto files each model under the service its module names

        def __init__(self, bucket: str, account_id: str, region_name: str):
            self.bucket, self.account_id, self.region_name = bucket, account_id, region_name

        @property
        def physical_resource_id(self) -> str:
            return self.bucket

        @staticmethod
        def cloudformation_name_type() -> str:
            return ""

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::S3::BucketPolicy"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return False

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                            **kwargs):
            properties = cloudformation_json["Properties"]
            policy = json.dumps(properties["PolicyDocument"]).encode()
            s3_backend(account_id, region_name).put_bucket_policy(properties["Bucket"], policy)
            return cls(properties["Bucket"], account_id, region_name)

        @classmethod
        def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json,
                                            account_id, region_name):
            if cloudformation_json["Properties"]["Bucket"] != original_resource.bucket:
                original_resource.delete(account_id, region_name)
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id,
                                                       region_name)

        def delete(self, account_id: str, region_name: str) -> None:
            try:
                s3_backend(account_id, region_name).delete_bucket_policy(self.bucket)
            except MissingBucket:  # the bucket went first
                pass

    class QueuePolicy(CloudFormationModel):
        """AWS::SQS::QueuePolicy: the same policy document as the ``Policy`` attribute of each queue."""

        __module__ = "moto.sqs.models"

        def __init__(self, queues: list[str], account_id: str, region_name: str):
            self.queues, self.account_id, self.region_name = queues, account_id, region_name

        @property
        def physical_resource_id(self) -> str:
            return ",".join(self.queues)

        @staticmethod
        def cloudformation_name_type() -> str:
            return ""

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::SQS::QueuePolicy"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return False

        @staticmethod
        def _set(queues: list[str], policy: str | None, account_id: str, region_name: str) -> None:
            backend = sqs_backends[account_id][region_name]
            for url in queues:
                try:
                    backend.set_queue_attributes(url.rstrip("/").rsplit("/", 1)[-1], {"Policy": policy})
                except QueueDoesNotExist:  # the queue went first
                    pass

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                            **kwargs):
            properties = cloudformation_json["Properties"]
            queues = list(properties["Queues"])
            cls._set(queues, json.dumps(properties["PolicyDocument"]), account_id, region_name)
            return cls(queues, account_id, region_name)

        @classmethod
        def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json,
                                            account_id, region_name):
            gone = set(original_resource.queues) - set(cloudformation_json["Properties"]["Queues"])
            cls._set(sorted(gone), None, account_id, region_name)
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id,
                                                       region_name)

        def delete(self, account_id: str, region_name: str) -> None:
            self._set(self.queues, None, account_id, region_name)

    execute_change_set = CloudFormationBackend.execute_change_set

    def execute_change_set_with_outputs(self, change_set_name, stack_name=None):
        # moto applies the change set's resources but keeps the outputs of the stack's earlier template
        # (none at all for a new stack, made from an empty template when the change set was).
        execute_change_set(self, change_set_name, stack_name)
        change_set = self.change_sets.get(change_set_name) or next(
            cs for cs in self.change_sets.values() if cs.change_set_name == change_set_name)
        stack = self.stacks[change_set.stack_id]
        stack._parse_template()
        stack.output_map = stack._create_output_map()

    CloudFormationBackend.execute_change_set = execute_change_set_with_outputs

    def present(resource_map, template: dict[str, Any], parameters: dict[str, Any] | None) -> set[str]:
        """The resources of ``template`` whose condition holds with these parameters."""
        scratch = parsing.ResourceMap(resource_map.stack_id, resource_map["AWS::StackName"], parameters or {}, {},
                                      region_name=resource_map._region_name, account_id=resource_map._account_id,
                                      template=template, cross_stack_resources=resource_map.cross_stack_resources)
        if template:
            scratch.load_mapping()
            scratch.load_parameters()
            scratch.load_conditions()
        return {name for name, resource in template.get("Resources", {}).items()
                if "Condition" not in resource or scratch.lazy_condition_map[resource["Condition"]]}

    def build_resource_diff(self, other_template, parameters=None):
        # moto: a resource is modified only if its own text changed or it Refs a changed parameter, and
        # conditions are ignored; so a new parameter value reached no launch template, and a condition
        # turned true made nothing.
        new_parameters = self.input_parameters if parameters is None else parameters
        changed = {name for name in set(new_parameters) | set(self.input_parameters)
                   if new_parameters.get(name) != self.input_parameters.get(name)}
        return resource_diff(self._template, other_template, present(self, self._template, self.input_parameters),
                             present(self, other_template, new_parameters), changed)

    def change_set_diff(self):
        actions = self.stack.resource_map.build_resource_diff(self.template_dict, self.parameters)
        old = self.stack.resource_map._template.get("Resources", {})
        return [Change(action=action, logical_resource_id=name,
                       resource_type=(old if action == "Remove" else self.template_dict["Resources"])[name]["Type"])
                for action, names in actions.items() for name in names]

    update_resources = parsing.ResourceMap.update

    def update_forgetting_removed(self, template, parameters=None):
        # moto deletes a removed resource but keeps it among the stack's resources, so deleting the stack
        # later deleted it again and failed (a removed controller's launch template: MissingParameter).
        removed = self.build_resource_diff(template, parameters)["Remove"]
        update_resources(self, template, parameters)
        for name in removed:
            self._parsed_resources.pop(name, None)

    update_one = parsing.parse_and_update_resource

    def update_one_or_keep_it(logical_id, resource_json, resources_map, account_id, region_name):
        # A resource type moto cannot update (AWS::IAM::InstanceProfile...) came back as None, which the
        # stack then held in its place: never deleted, and naming nothing. It stays as it was instead.
        before = resources_map._parsed_resources.get(logical_id)
        updated = update_one(logical_id, resource_json, resources_map, account_id, region_name)
        return before if updated is None else updated

    parsing.parse_and_update_resource = update_one_or_keep_it
    parsing.ResourceMap.build_resource_diff = build_resource_diff
    parsing.ResourceMap.update = update_forgetting_removed
    ChangeSet.diff = change_set_diff

    parameter_list = Stack.parameter_list.fget

    def joined_parameter_list(self):
        # moto shows a list parameter as Python's repr of the list; CloudFormation joins it with commas.
        return [{**p, "ParameterValue": ",".join(p["ParameterValue"])} if isinstance(p["ParameterValue"], list)
                else p for p in parameter_list(self)]

    Stack.parameter_list = property(joined_parameter_list)

    for cache in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cache.cache_clear()  # the lists of models are built once from CloudFormationModel's subclasses
    assert parsing.get_model_map()["AWS::S3::BucketPolicy"] is BucketPolicy
    _completed = True


def serve(host: str, port: int) -> None:
    apply_speedups()
    _evaluate_bucket_policies()
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import WSGIRequestHandler, make_server

    class KeepAliveHandler(WSGIRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_request(self, *args, **kwargs) -> None:  # one line per request would swamp the log
            pass

    app = prepared(DomainDispatcherApplication(create_backend_app))
    server = make_server(host, port, app, threaded=True, request_handler=KeepAliveHandler)
    # Started by spawn (the embedded cloud): stop when the parent is gone, even killed, as workers do.
    stop_with_parent(server.shutdown)
    server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
