"""The desktop's own settings: where to connect, who scales, how files are sent. Plain data, saved as JSON.

They sit on top of the shared Config (defaults <- TOML <- environment): the settings dialog changes
only what it shows, and :func:`to_config` hands the rest of the Config through untouched.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from shared.config import UPLOADS, Config, ConfigError

EMBEDDED, AWS = "embedded", "aws"  # targets
IN_APP, EXTERNAL = "in_app", "external"  # who runs the autoscaler
ORIGINAL, PREVIEW = UPLOADS  # what is uploaded: the files as they are, or downscaled JPEGs

SETTINGS_SOURCE = "desktop settings"


@dataclass(frozen=True)
class DesktopSettings:
    target: str = EMBEDDED  # embedded: a local cloud started in this process; aws: AWS or any endpoint
    profile: str = ""
    region: str = "us-east-1"
    endpoint_url: str = ""  # aws target only; empty = AWS itself
    input_bucket: str = "imgrec-input"
    output_bucket: str = "imgrec-output"
    request_queue: str = "imgrec-requests"
    dead_letter_queue: str = "imgrec-requests-dlq"
    scaler: str = IN_APP  # in_app: run cloud.scaler's loop here; external: only observe
    max_workers: int = 0  # the in-app autoscaler's cap; 0: the fleet's own default (measured for local)
    upload: str = ORIGINAL  # original | preview; takes effect with the next job, no reconnect

    @classmethod
    def from_config(cls, cfg: Config, **changes) -> DesktopSettings:
        """Settings that start from the shared Config's values (TOML file, environment)."""
        base = cls(
            target=AWS if cfg.endpoint_url or cfg.profile else EMBEDDED,
            profile=cfg.profile or "",
            region=cfg.region,
            endpoint_url=cfg.endpoint_url or "",
            input_bucket=cfg.input_bucket,
            output_bucket=cfg.output_bucket,
            request_queue=cfg.request_queue,
            dead_letter_queue=cfg.dead_letter_queue,
            upload=cfg.upload,
        )
        return replace(base, **changes)

    def validate(self) -> DesktopSettings:
        if self.target not in (EMBEDDED, AWS):
            raise ConfigError(f"target = {self.target!r} ({SETTINGS_SOURCE}): must be {EMBEDDED} or {AWS}")
        if self.scaler not in (IN_APP, EXTERNAL):
            raise ConfigError(f"scaler = {self.scaler!r} ({SETTINGS_SOURCE}): must be {IN_APP} or {EXTERNAL}")
        if self.upload not in UPLOADS:
            raise ConfigError(f"upload = {self.upload!r} ({SETTINGS_SOURCE}): must be {ORIGINAL} or {PREVIEW}")
        if self.max_workers < 0:
            raise ConfigError(f"max_workers = {self.max_workers} ({SETTINGS_SOURCE}): must not be negative")
        for name in ("region", "input_bucket", "output_bucket", "request_queue", "dead_letter_queue"):
            if not getattr(self, name).strip():
                raise ConfigError(f"{name} ({SETTINGS_SOURCE}): must not be empty")
        return self

    def to_config(self, base: Config) -> Config:
        """The Config to run with. For the embedded target the endpoint is filled in once it runs."""
        self.validate()
        changes = dict(
            region=self.region.strip(),
            input_bucket=self.input_bucket.strip(),
            output_bucket=self.output_bucket.strip(),
            request_queue=self.request_queue.strip(),
            dead_letter_queue=self.dead_letter_queue.strip(),
            upload=self.upload,
        )
        if self.max_workers:
            changes["max_workers"] = max(self.max_workers, base.min_workers)
        if self.target == AWS:
            changes.update(profile=self.profile.strip() or None, endpoint_url=self.endpoint_url.strip() or None)
        else:
            changes.update(profile=None, endpoint_url=None)
        return base.replace(source=SETTINGS_SOURCE, **changes)

    def for_job(self, cfg: Config) -> Config:
        """The connection's Config with what may change between jobs without reconnecting (upload)."""
        return cfg if cfg.upload == self.upload else cfg.replace(source=SETTINGS_SOURCE, upload=self.upload)

    def needs_reconnect(self, other: DesktopSettings) -> bool:
        """Whether going from these settings to ``other`` changes more than how the next job uploads."""
        return replace(other, upload=self.upload) != self

    def describe_target(self) -> str:
        if self.target == EMBEDDED:
            return "embedded local cloud"
        if self.endpoint_url:
            return self.endpoint_url
        return f"AWS {self.region}" + (f" (profile {self.profile})" if self.profile else "")


def load_settings(path: str | Path, defaults: DesktopSettings) -> DesktopSettings:
    """The saved settings over the defaults; a missing file gives the defaults, a broken one an error."""
    path = Path(path)
    if not path.is_file():
        return defaults
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"settings file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"settings file {path}: not a JSON object")
    known = {f.name: f for f in fields(DesktopSettings)}
    changes = {}
    for name, value in data.items():
        if name not in known:
            continue  # written by a newer version: ignore rather than refuse to start
        expected = int if name == "max_workers" else str
        if not isinstance(value, expected) or isinstance(value, bool):
            raise ConfigError(f"settings file {path}: {name} = {value!r} must be a {expected.__name__}")
        changes[name] = value
    return replace(defaults, **changes).validate()


def save_settings(path: str | Path, settings: DesktopSettings) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_text(json.dumps(asdict(settings), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
