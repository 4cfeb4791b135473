"""The target that the commands, the workers and the app work with: how it is named to a person, how it
is reached, and one sentence for what went wrong with it. The same words everywhere.

* :func:`describe`: the endpoint, or ``AWS <region>`` (and where the region came from when no setting
  chose it, and the profile);
* :func:`reach`: the target, checked and complete, before the first real call;
* :func:`is_missing` and :func:`not_provisioned`: a bucket or queue that does not exist, and the
  sentence that says so and tells the user to run ``imgrec provision``;
* :func:`explain`: one sentence for any failure of a call to the target.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from shared import aws
from shared.config import Config
from shared.s3 import bucket_is_missing
from shared.sqs import queue_is_missing

PROVISION_HINT = "run `imgrec provision`"


def describe(cfg: Config) -> str:
    if cfg.endpoint_url:
        return cfg.endpoint_url
    region = f"AWS {cfg.region}" + ("" if cfg.is_given("region") else f" (region from {cfg.source_of('region')})")
    return region + (f" (profile {cfg.profile})" if cfg.profile else "")


def reach(cfg: Config) -> Config:
    """The target, checked and complete: an endpoint is probed first, so one that refuses connections or
    does not answer fails fast, in one line (``aws.EndpointUnreachable``, within
    ``aws.PROBE_DEADLINE_SECONDS``), instead of after boto3's timeouts and retries; on AWS, the buckets no
    setting names are named after the account (``aws.with_account_defaults``)."""
    if cfg.endpoint_url:
        aws.probe(cfg.endpoint_url)
        return cfg
    return aws.with_account_defaults(cfg)


def is_missing(exc: BaseException) -> bool:
    """Whether a call failed because a queue or bucket does not exist: the target is not provisioned."""
    return queue_is_missing(exc) or bucket_is_missing(exc)


def not_provisioned(cfg: Config, what: str) -> str:
    """The sentence for ``what`` (``the request queue 'imgrec-requests'``) missing at the target."""
    return f"{describe(cfg)}: {what} does not exist: {PROVISION_HINT}"


def explain(exc: BaseException, cfg: Config) -> str:
    """One sentence for a failed call to the target, naming it."""
    if isinstance(exc, aws.EndpointUnreachable):
        return str(exc)  # names the endpoint and gives a hint already
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "error"), error.get("Message", "")
        if is_missing(exc):
            return f"{describe(cfg)} is not provisioned ({message or code}): {PROVISION_HINT}"
        return f"{describe(cfg)}: {code}" + (f": {message}" if message else "")
    return f"{describe(cfg)}: {exc}"
