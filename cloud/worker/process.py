"""Starting a worker as a child process, with this process's configuration passed down.

The embedded local cloud and the autoscaler's local fleet both use :func:`spawn_worker`. The child
is ``python -m cloud.worker --worker-id ID --status-stdout``: its stdout carries only status lines
(see :mod:`cloud.worker.status`; read them with ``parse_status_line``), its logs go to stderr.

Its parent stops it, once: a worker drains on the first SIGTERM and exits at once on a second. So the
worker is kept out of its parent's process group, where a signal to the group (Ctrl-C in a terminal,
``kill -TERM -PGID``) would reach it directly and then again from the parent stopping it. And it stops
with its parent: a parent that is killed outright (SIGKILL) leaves no worker behind
(:func:`stop_with_parent`, which the worker calls at start-up).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from pathlib import Path

from cloud.worker.models.errors import ModelError
from shared.config import Config

log = logging.getLogger(__name__)

EXPORT_TIMEOUT_SECONDS = 600.0  # loading torch and the model, exporting, checking on 100 images: ~10 s here
_SOURCE_ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding cloud/ and shared/
PARENT_PID_ENV = "IMGREC_WORKER_PARENT_PID"  # set by spawn_worker: the pid of the process that started it
PARENT_CHECK_SECONDS = 0.5  # how often a spawned worker checks that its parent is still there


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
    The caller owns the process: stop it with SIGTERM (it drains and exits 0) and wait for it. If the
    caller dies first, the worker drains and exits on its own (within ``PARENT_CHECK_SECONDS``).
    The worker runs in a process group of its own, so that a signal sent to the caller's group reaches
    only the caller, which then stops its workers once (see the module's docstring).
    ``new_session``: a session (so, on Linux, a scheduler autogroup) of its own as well, and its
    inference no longer takes CPU time from its parent's group (the desktop app's window).
    """
    command = [sys.executable, "-m", "cloud.worker", "--worker-id", worker_id, "--status-stdout",
               *extra_args]
    group = {"start_new_session": True} if new_session else {"process_group": 0}  # a session leads a group
    stderr = open(log_path, "ab") if log_path else None  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
                                env=child_env(cfg, {**(env or {}), PARENT_PID_ENV: str(os.getpid())}),
                                text=True, bufsize=1, **group)
    finally:
        if stderr is not None:
            stderr.close()  # the child has its own copy


def stop_with_parent(request_stop: Callable[[], None], stopped: threading.Event) -> None:
    """In a worker that :func:`spawn_worker` started: calls ``request_stop`` (drain, as on a first
    SIGTERM) once the parent is gone, unless ``stopped`` is set first. A background thread compares
    ``os.getppid()`` with the parent's pid every ``PARENT_CHECK_SECONDS``: an orphan is re-parented
    (to init or a subreaper), so a parent that died, even of SIGKILL, shows as a changed ppid. (Not
    Linux's parent-death signal: that fires when the spawning *thread* ends, and the autoscaler spawns
    from its loop's thread.) No watch for a worker started otherwise (by hand, systemd, an EC2 boot
    script), nor on Windows, which does not re-parent orphans. The variable is removed so that the
    processes the worker starts do not inherit it."""
    raw = os.environ.pop(PARENT_PID_ENV, "")
    if not raw.isdigit() or os.name != "posix":
        return
    parent = int(raw)

    def watch() -> None:
        while os.getppid() == parent:
            if stopped.wait(PARENT_CHECK_SECONDS):
                return
        log.warning("the process that started this worker (pid %d) is gone: finishing the batch in hand, "
                    "then exiting", parent)
        request_stop()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
