"""The deployed stack as imgrec settings, kept in the user's config file.

``imgrec deploy`` writes the stack's outputs (bucket and queue names, profile, group, subnet, security
group...) into the config file that every command reads (``--config``, else ``IMGREC_CONFIG``, else
``~/.config/imgrec/config.toml``), so that ``imgrec classify``, ``status``, ``scaler`` and the desktop app
work with no more settings. The file is the user's: only a marked block at its top is ours. A setting the
block replaces is kept, commented out with a marker, further down; ``imgrec teardown`` removes the block
and puts those lines back. Nothing is written unless the result reads back as TOML with the new values.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.config import CONFIG_ENV, DEFAULT_CONFIG_PATH, Config, ConfigError

BEGIN = "# >>> imgrec deploy"
END = "# <<< imgrec deploy"
REPLACED = "# (replaced by imgrec deploy) "  # a line of the user's that the block overrides

# setting -> the stack output that gives it
FROM_OUTPUTS = {
    "input_bucket": "InputBucket",
    "output_bucket": "OutputBucket",
    "request_queue": "RequestQueue",
    "dead_letter_queue": "DeadLetterQueue",
    "reply_queue_prefix": "ReplyQueuePrefix",
    "instance_profile": "WorkerInstanceProfile",
    "asg_name": "AutoScalingGroup",
}
CLOUD_FLEETS = ("asg", "ec2")


def config_path(cfg_path: str | None, env: Mapping[str, str] | None = None) -> Path:
    """The file the settings go to: the one ``load_config`` reads (``--config``, ``IMGREC_CONFIG``,
    the default path), whether it exists yet or not."""
    env = os.environ if env is None else env
    if cfg_path:
        return Path(cfg_path)
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    return DEFAULT_CONFIG_PATH


def deployed_settings(cfg: Config, outputs: Mapping[str, str]) -> dict[str, Any]:
    """What the config needs to use the deployment: names from the stack's outputs, the target, the fleet."""
    settings: dict[str, Any] = {}
    if cfg.endpoint_url:
        settings["endpoint_url"] = cfg.endpoint_url
    settings["region"] = cfg.region
    settings.update({name: outputs[key] for name, key in FROM_OUTPUTS.items()})
    settings["fleet"] = cfg.fleet if cfg.fleet in CLOUD_FLEETS else "asg"
    settings["instance_type"] = cfg.instance_type
    if outputs.get("WorkerImage"):
        settings["ami_id"] = outputs["WorkerImage"]
    if outputs.get("LaunchTemplate"):
        settings["launch_template"] = outputs["LaunchTemplate"]
    subnets = [s for s in outputs.get("SubnetIds", "").split(",") if s]
    if subnets:
        settings["subnet_id"] = subnets[0]
        settings["subnet_ids"] = subnets  # the EC2 fleet falls back across them when one has no capacity
    settings["security_group_ids"] = [outputs["SecurityGroup"]]
    return settings


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a JSON string is a TOML basic string


def toml_lines(settings: Mapping[str, Any]) -> list[str]:
    """``name = value`` lines, top-level keys of a config file."""
    return [f"{name} = {_toml_value(value)}" for name, value in settings.items()]


def _block(settings: Mapping[str, Any], heading: str) -> list[str]:
    lines = [f"{BEGIN}: {heading}", "# `imgrec deploy` rewrites this block; `imgrec teardown` removes it."]
    return lines + toml_lines(settings) + [END]


def _without_block(lines: list[str]) -> list[str]:
    """The lines outside our block, with the settings it had replaced put back."""
    kept: list[str] = []
    inside = False
    for line in lines:
        if line.startswith(BEGIN):
            inside = True
        elif inside and line.startswith(END):
            inside = False
        elif not inside:
            kept.append(line[len(REPLACED):] if line.startswith(REPLACED) else line)
    return kept


def _replace_settings(lines: list[str], names: set[str]) -> list[str]:
    """Comments out the user's own assignments of these settings (a multi-line array to its end)."""
    assignment = re.compile(r"\s*(" + "|".join(re.escape(n) for n in sorted(names)) + r")\s*=(.*)")
    out: list[str] = []
    open_array = False
    for line in lines:
        match = assignment.fullmatch(line)
        if open_array or match:
            out.append(REPLACED + line)
            if match:
                value = match.group(2).split("#", 1)[0].strip()
                open_array = value.startswith("[") and not value.endswith("]")
            elif "]" in line:
                open_array = False
        else:
            out.append(line)
    return out


def _flat(text: str, path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: could not merge the deployed settings into it ({exc}); "
                          "move its settings of the same names out of the way and deploy again") from None
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat.update(value if isinstance(value, dict) else {key: value})
    return flat


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.with_name(path.name + ".bak").write_bytes(path.read_bytes())
    draft = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    draft.write_text(text, encoding="utf-8")
    os.replace(draft, path)


def write(path: Path, settings: Mapping[str, Any], heading: str) -> None:
    """Puts ``settings`` in our block at the top of the file (made if need be), the previous version kept
    as ``<name>.bak``. Raises ConfigError, writing nothing, if the result would not read back as these."""
    old = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    rest = _replace_settings(_without_block(old), set(settings))
    text = "\n".join(_block(settings, heading) + rest) + "\n"
    flat = _flat(text, path)
    wrong = [name for name, value in settings.items()
             if flat.get(name) != (list(value) if isinstance(value, tuple) else value)]
    if wrong:
        raise ConfigError(f"config file {path}: could not set {', '.join(wrong)} (an assignment this command "
                          "does not recognise sets them again): remove those settings and deploy again")
    _write(path, text)


def deployed_stack(path: Path) -> str | None:
    """The stack whose settings the file's block holds; None without a block."""
    if not path.exists():
        return None
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _HEADING.match(line)
        if match:
            return match.group(1)
    return None


def remove(path: Path, stack_name: str) -> bool:
    """Takes the block of ``stack_name`` out of the file and puts back what it replaced; False when the
    file holds no block of that stack."""
    if deployed_stack(path) != stack_name:
        return False
    old = path.read_text(encoding="utf-8").splitlines()
    _write(path, "\n".join(_without_block(old)) + "\n")
    return True


def heading(stack_name: str, target: str) -> str:
    return f"stack {stack_name} at {target}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"


_HEADING = re.compile(re.escape(BEGIN) + r": stack (\S+) at ")
