"""One frozen configuration, filled from defaults <- a TOML file <- environment <- CLI flags.

Every value remembers where it came from, so a wrong value is reported as, for example,
``max_workers = -1 (from environment IMGREC_MAX_WORKERS): must be >= 0``.

AWS settings follow the standard conventions: ``AWS_PROFILE``, ``AWS_REGION`` (or
``AWS_DEFAULT_REGION``), ``AWS_ENDPOINT_URL`` and boto3's own credential chain. A region that no
file, variable or option gives comes from the AWS profile (``region`` in ``~/.aws/config`` or
``AWS_CONFIG_FILE``), as boto3 would take it, and only then is ``us-east-1``. Bucket names that are
not given are derived from the account on real AWS (``shared.aws.with_account_defaults``).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

# Documented limits, checked once at the boundary.
MAX_WAIT_TIME_SECONDS = 20  # SQS long poll maximum
MAX_BATCH = 10  # SQS receive / send / delete batch maximum
MAX_MESSAGE_BYTES = 1024  # our own cap on a request message: the image travels through S3
MAX_VISIBILITY_TIMEOUT = 12 * 60 * 60

DEVICES = ("auto", "cpu", "cuda")
ENGINES = ("auto", "onnx", "torch")
UPLOADS = ("original", "preview")
MARKETS = ("on-demand", "spot")

CONFIG_ENV = "IMGREC_CONFIG"
DEFAULT_CONFIG_PATH = Path.home() / ".config" / "imgrec" / "config.toml"
DEFAULT_AWS_CONFIG_PATH = Path.home() / ".aws" / "config"

# Where a value came from when the user did not give it: the default, or derived from the AWS profile
# (the region) or the account (bucket names). Config.is_given tells these from values the user chose.
DEFAULT_SOURCE = "default"
PROFILE_SOURCE = "AWS profile"
ACCOUNT_SOURCE = "AWS account"


class ConfigError(ValueError):
    """A setting has a wrong value; the message names the setting and where it came from."""


@dataclass(frozen=True)
class Config:
    # --- AWS target -------------------------------------------------------------------------
    profile: str | None = None
    region: str = "us-east-1"
    endpoint_url: str | None = None  # None: real AWS; set: a moto server (or any S3/SQS-compatible endpoint)

    # --- resources --------------------------------------------------------------------------
    input_bucket: str = "imgrec-input"
    output_bucket: str = "imgrec-output"
    request_queue: str = "imgrec-requests"
    dead_letter_queue: str = "imgrec-requests-dlq"
    reply_queue_prefix: str = "imgrec-replies-"
    # Days an input object is kept before S3 deletes it (a lifecycle rule that `provision` sets on the
    # input bucket); 0 keeps inputs for ever. Results, in the output bucket, never expire.
    input_expiry_days: int = 30

    # --- queue behaviour --------------------------------------------------------------------
    visibility_timeout: int = 60  # seconds a received request stays hidden before redelivery
    max_receives: int = 3  # receives before a request is moved to the dead-letter queue
    wait_time: int = MAX_WAIT_TIME_SECONDS  # long-poll seconds

    # --- model and worker -------------------------------------------------------------------
    model: str = "efficientnet-lite0"
    device: str = "auto"  # auto | cpu | cuda
    # auto | onnx | torch. onnx: ONNX Runtime serving an exported model bundle, no torch in the process;
    # torch: the reference (timm/torchvision in eager mode); auto: onnx (see cloud/worker/models/engine.py).
    engine: str = "auto"
    model_cache: str | None = None  # where model bundles are kept locally (default ~/.cache/imgrec/models)
    batch_size: int = 16  # images per inference batch in a worker (bench/batch_sweep.py; README)
    max_image_bytes: int = 25 * 1024 * 1024
    max_image_pixels: int = 40_000_000  # decompression-bomb guard
    idle_timeout: float = 0.0  # seconds; 0 = never exit when idle
    heartbeat_interval: float = 0.0  # seconds; 0 = a third of the visibility timeout

    # --- client -----------------------------------------------------------------------------
    upload_concurrency: int = 16
    # original: upload the file as it is (S3 keeps every input, as the original design did);
    # preview: upload a downscaled JPEG (long side twice the model's input) and keep the original on disk.
    upload: str = "original"
    result_timeout: float = 600.0  # seconds without progress before a job gives up waiting

    # --- scaler -----------------------------------------------------------------------------
    fleet: str = "local"  # local | ec2 | asg
    min_workers: int = 0
    max_workers: int = 19
    # Seconds a backlog may take: the scaler adds workers until those it has, at their measured speed,
    # would drain the queue within this. Cloud fleets: 60 s, more than a new instance's ~40 s boot;
    # the local fleet, where a worker costs a second of CPU and no money, uses 5 s unless this is set.
    target_drain_seconds: float = 60.0
    # Images per second of one worker, assumed until a worker has reported its own measured rate.
    default_worker_rate: float = 40.0
    activation_backlog: int = 1
    scale_in_delay: float = 1.0
    scaler_tick: float = 2.0

    # --- EC2 fleet --------------------------------------------------------------------------
    ami_id: str | None = None
    instance_type: str = "t3.medium"
    instance_profile: str | None = None
    subnet_id: str | None = None
    security_group_ids: tuple[str, ...] = ()
    key_name: str | None = None
    # The instance metadata service, where a worker on a spot instance watches for the two-minute
    # interruption notice (the boot script sets it on EC2); None: no watch.
    imds_endpoint: str | None = None
    instance_name_prefix: str = "app-instance"
    asg_name: str | None = None
    # The deployment's worker launch template (imgrec deploy sets it): the EC2 fleet launches from it, so
    # its instances get the template's encrypted gp3 root volume, IMDSv2 and credit settings.
    launch_template: str | None = None
    # Where and what the EC2 fleet launches, tried in order when EC2 has no capacity for one (the first
    # subnet with each type, then the next subnet...). Empty: subnet_id and instance_type alone.
    subnet_ids: tuple[str, ...] = ()
    instance_types: tuple[str, ...] = ()
    # on-demand | spot. spot: workers launch as spot instances, on demand where spot is refused; spot
    # instances cannot be stopped, so the fleet then keeps no warm pool.
    market: str = "on-demand"

    # Where each non-default value came from, for error messages ("environment IMGREC_X", ...).
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        _validate(self)

    def source_of(self, name: str) -> str:
        return self.sources.get(name, DEFAULT_SOURCE)

    def is_given(self, name: str) -> bool:
        """Whether the user chose this value (file, environment, option, code), rather than it being the
        default or derived from the AWS profile or account."""
        return not self.source_of(name).startswith((DEFAULT_SOURCE, PROFILE_SOURCE, ACCOUNT_SOURCE))

    def replace(self, source: str = "code", **changes: Any) -> Config:
        """A copy with some values changed, keeping the record of where values came from."""
        sources = dict(self.sources)
        sources.update({k: source for k in changes})
        return dataclasses.replace(self, sources=sources, **changes)

    @property
    def is_local(self) -> bool:
        return bool(self.endpoint_url) and _is_loopback(self.endpoint_url)


_FIELDS = {f.name: f for f in fields(Config) if f.name != "sources"}

# Standard AWS environment variables, then our own IMGREC_<FIELD> for every field.
_AWS_ENV = {
    "AWS_PROFILE": "profile",
    "AWS_DEFAULT_REGION": "region",
    "AWS_REGION": "region",  # wins over AWS_DEFAULT_REGION, as in the AWS SDKs
    "AWS_ENDPOINT_URL": "endpoint_url",
}


def _is_loopback(url: str) -> bool:
    from urllib.parse import urlparse

    host = urlparse(url).hostname or ""
    return host == "localhost" or host.startswith("127.") or host == "::1"


def _coerce(name: str, raw: Any, source: str) -> Any:
    """Turns a raw value (TOML value or string) into the field's type, or raises ConfigError."""
    kind = _FIELDS[name].type
    where = f"{name} = {raw!r} (from {source})"
    try:
        if kind in ("int",):
            if isinstance(raw, bool):
                raise ValueError
            return int(raw)
        if kind in ("float",):
            if isinstance(raw, bool):
                raise ValueError
            return float(raw)
        if kind == "str":
            return str(raw)
        if kind == "str | None":
            return None if raw in (None, "") else str(raw)
        if kind == "tuple[str, ...]":
            if isinstance(raw, str):
                return tuple(s.strip() for s in raw.split(",") if s.strip())
            return tuple(str(s) for s in raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected {kind}") from None
    raise AssertionError(f"unhandled config type {kind} for {name}")


def _validate(cfg: Config) -> None:
    def bad(name: str, why: str) -> ConfigError:
        return ConfigError(f"{name} = {getattr(cfg, name)!r} (from {cfg.source_of(name)}): {why}")

    for name in ("visibility_timeout", "batch_size", "max_receives", "upload_concurrency",
                 "max_image_bytes", "max_image_pixels"):
        if getattr(cfg, name) < 1:
            raise bad(name, "must be at least 1")
    for name in ("min_workers", "max_workers", "idle_timeout", "heartbeat_interval", "scale_in_delay",
                 "activation_backlog", "input_expiry_days"):
        if getattr(cfg, name) < 0:
            raise bad(name, "must not be negative")
    for name in ("scaler_tick", "target_drain_seconds", "default_worker_rate"):
        if not 0 < getattr(cfg, name) < float("inf"):
            raise bad(name, "must be positive")
    if cfg.result_timeout <= 0:
        raise bad("result_timeout", "must be positive")
    if not 0 <= cfg.wait_time <= MAX_WAIT_TIME_SECONDS:
        raise bad("wait_time", f"must be between 0 and {MAX_WAIT_TIME_SECONDS} (the SQS long-poll limit)")
    if cfg.visibility_timeout > MAX_VISIBILITY_TIMEOUT:
        raise bad("visibility_timeout", f"must be at most {MAX_VISIBILITY_TIMEOUT} s (the SQS limit)")
    if cfg.min_workers > cfg.max_workers:
        raise bad("min_workers", f"must not exceed max_workers ({cfg.max_workers})")
    if cfg.fleet not in ("local", "ec2", "asg"):
        raise bad("fleet", "must be one of local, ec2, asg")
    if cfg.device not in DEVICES:
        raise bad("device", f"must be one of {', '.join(DEVICES)}")
    if cfg.engine not in ENGINES:
        raise bad("engine", f"must be one of {', '.join(ENGINES)}")
    if cfg.upload not in UPLOADS:
        raise bad("upload", f"must be one of {', '.join(UPLOADS)}")
    if cfg.market not in MARKETS:
        raise bad("market", f"must be one of {', '.join(MARKETS)}")
    if cfg.endpoint_url is not None and not cfg.endpoint_url.startswith(("http://", "https://")):
        raise bad("endpoint_url", "must start with http:// or https://")
    if cfg.heartbeat_interval and cfg.heartbeat_interval >= cfg.visibility_timeout:
        raise bad("heartbeat_interval", f"must be shorter than visibility_timeout ({cfg.visibility_timeout} s)")
    for name in ("input_bucket", "output_bucket", "request_queue", "dead_letter_queue"):
        if not getattr(cfg, name):
            raise bad(name, "must not be empty")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    # Sections are only for grouping: [aws], [worker], [scaler] ... are flattened.
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    unknown = sorted(set(flat) - set(_FIELDS))
    if unknown:
        raise ConfigError(f"config file {path}: unknown setting(s) {', '.join(unknown)}")
    return flat


def _profile_region(profile: str | None, env: Mapping[str, str]) -> tuple[str, str] | None:
    """The region the AWS profile names, and where it was found, as boto3 would read it; None without one.
    A local file read, never a network call."""
    import botocore.configloader
    import botocore.exceptions

    path = Path(env["AWS_CONFIG_FILE"]).expanduser() if env.get("AWS_CONFIG_FILE") else DEFAULT_AWS_CONFIG_PATH
    name = profile or env.get("AWS_DEFAULT_PROFILE") or "default"
    try:
        region = botocore.configloader.load_config(str(path))["profiles"].get(name, {}).get("region")
    except (botocore.exceptions.BotoCoreError, OSError, ValueError):  # no file, or one boto3 cannot read
        return None
    return (region, f"{PROFILE_SOURCE} {name} in {path}") if region else None


def load_config(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    flags: Mapping[str, str] | None = None,
) -> Config:
    """Defaults <- TOML file <- environment <- overrides (CLI flags; None values are ignored).
    ``flags``: how the command line spells each override (``endpoint_url`` -> ``--endpoint``), for errors."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}

    file_path = Path(path) if path else (Path(env[CONFIG_ENV]) if env.get(CONFIG_ENV) else None)
    if file_path is not None and not file_path.is_file():
        raise ConfigError(f"config file {file_path} does not exist")
    if file_path is None and DEFAULT_CONFIG_PATH.is_file():
        file_path = DEFAULT_CONFIG_PATH
    if file_path is not None:
        for name, raw in _read_toml(file_path).items():
            source = f"config file {file_path}"
            values[name], sources[name] = _coerce(name, raw, source), source

    for var, name in _AWS_ENV.items():
        if env.get(var):
            source = f"environment {var}"
            values[name], sources[name] = _coerce(name, env[var], source), source
    for name in _FIELDS:
        var = f"IMGREC_{name.upper()}"
        if var in env:
            source = f"environment {var}"
            values[name], sources[name] = _coerce(name, env[var], source), source

    for name, raw in (overrides or {}).items():
        if raw is None:
            continue
        if name not in _FIELDS:
            raise ConfigError(f"unknown setting {name}")
        source = f"option {(flags or {}).get(name) or '--' + name.replace('_', '-')}"
        values[name], sources[name] = _coerce(name, raw, source), source

    endpoint = values.get("endpoint_url")
    if "region" not in values and not (endpoint and _is_loopback(endpoint)):  # a local cloud uses no profile
        found = _profile_region(values.get("profile"), env)
        if found:
            values["region"], sources["region"] = found
    return Config(sources=sources, **values)
