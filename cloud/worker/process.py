"""Starting a worker as a child process, with this process's configuration passed down.

The embedded local cloud and the autoscaler's local fleet both use :func:`spawn_worker`. The child
is ``python -m cloud.worker --worker-id ID --status-stdout``: its stdout carries only status lines
(see :mod:`cloud.worker.status`; read them with ``parse_status_line``), its logs go to stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path

from cloud.worker.models.errors import ModelError
from shared.config import Config

EXPORT_TIMEOUT_SECONDS = 600.0  # loading torch and the model, exporting, checking on 100 images: ~10 s here
_SOURCE_ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding cloud/ and shared/


def config_env(cfg: Config) -> dict[str, str]:
    """Every setting as IMGREC_<NAME>, which load_config reads back into an equal Config."""
    env = {}
    for f in fields(cfg):
        if f.name == "sources":
            continue
        value = getattr(cfg, f.name)
        if value is None:
            text = ""
        elif isinstance(value, tuple):
            text = ",".join(value)
        else:
            text = str(value)
        env[f"IMGREC_{f.name.upper()}"] = text
    return env


def child_env(cfg: Config, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a child that runs this code with this configuration (and ``env`` added)."""
    result = {k: v for k, v in os.environ.items() if k != "IMGREC_CONFIG"}
    result.update(config_env(cfg))
    result["PYTHONPATH"] = os.pathsep.join(p for p in (_SOURCE_ROOT, result.get("PYTHONPATH")) if p)
    result["PYTHONUNBUFFERED"] = "1"
    result.update(env or {})
    return result


def export_in_child(cfg: Config, timeout: float = EXPORT_TIMEOUT_SECONDS) -> None:
    """``imgrec model export`` for cfg.model into the model cache, in a child process: the export
    imports torch, which a caller such as the desktop app must not have in its own process."""
    done = subprocess.run([sys.executable, "-m", "cloud.cli", "model", "export"], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, env=child_env(cfg), timeout=timeout)
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise ModelError(lines[-1].removeprefix("imgrec model: ") if lines else
                         f"exporting {cfg.model} failed (exit code {done.returncode})")


def spawn_worker(
    cfg: Config,
    worker_id: str,
    extra_args: Sequence[str] = (),
    *,
    log_path: str | os.PathLike | None = None,
    env: Mapping[str, str] | None = None,
    new_session: bool = False,
) -> subprocess.Popen:
    """Starts a worker; stdout is a text pipe of status lines, stderr goes to ``log_path`` (appended)
    or is inherited. ``env`` adds variables (OMP_NUM_THREADS=1 for several workers on few cores).
    The caller owns the process: stop it with SIGTERM (it drains and exits 0) and wait for it.
    ``new_session``: the child gets a session (so, on Linux, a scheduler autogroup) of its own, and its
    inference no longer takes CPU time from its parent's group (the desktop app's window).
    """
    command = [sys.executable, "-m", "cloud.worker", "--worker-id", worker_id, "--status-stdout",
               *extra_args]
    stderr = open(log_path, "ab") if log_path else None  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
                                env=child_env(cfg, env), text=True, bufsize=1, start_new_session=new_session)
    finally:
        if stderr is not None:
            stderr.close()  # the child has its own copy
