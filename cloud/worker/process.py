"""Starting a worker as a child process, with this process's configuration passed down.

The embedded local cloud and the autoscaler's local fleet both use :func:`spawn_worker`. The child is
the ``worker`` role of :mod:`shared.children` (``python -m cloud.worker`` from source, the bundle's own
executable when frozen) with ``--worker-id ID --status-stdout``: its stdout carries only status lines
(see :mod:`shared.worker_status`; read them with ``parse_status_line``), its logs go to stderr.

Its parent stops it, once: a worker drains on the first SIGTERM and exits at once on a second. So the
worker is kept out of its parent's process group, where a signal to the group (Ctrl-C in a terminal,
``kill -TERM -PGID``) would reach it directly and then again from the parent stopping it. And it stops
with its parent: a parent that is killed outright (SIGKILL) leaves no worker behind
(:func:`shared.children.stop_with_parent`, which the worker calls at start-up).
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Mapping, Sequence

from cloud.worker.models.errors import ModelError
from shared.children import config_env, spawn
from shared.config import Config

# config_env is importable from here too, for bench/cost.py; it lives in shared.children.
__all__ = ["config_env", "export_in_child", "spawn_worker"]

log = logging.getLogger(__name__)

EXPORT_TIMEOUT_SECONDS = 600.0  # loading torch and the model, exporting, checking on 100 images: ~10 s here


def export_in_child(cfg: Config, timeout: float = EXPORT_TIMEOUT_SECONDS) -> None:
    """``imgrec model export`` for cfg.model into the model cache, in a child process: the export
    imports torch, which a caller such as the desktop app must not have in its own process."""
    child = spawn("model-export", cfg=cfg, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                  stderr=subprocess.PIPE, text=True)
    try:
        _out, err = child.communicate(timeout=timeout)
    except BaseException:
        child.kill()
        child.communicate()
        raise
    if child.returncode != 0:
        lines = [line for line in err.strip().splitlines() if line.strip()]
        raise ModelError(lines[-1].removeprefix("imgrec model: ") if lines else
                         f"exporting {cfg.model} failed (exit code {child.returncode})")


def spawn_worker(
    cfg: Config,
    worker_id: str,
    extra_args: Sequence[str] = (),
    *,
    log_path: str | os.PathLike | None = None,
    env: Mapping[str, str] | None = None,
    session: bool = False,
    niceness: int = 0,
) -> subprocess.Popen:
    """Starts a worker; stdout is a text pipe of status lines, stderr goes to ``log_path`` (appended)
    or is inherited. ``env`` adds variables (OMP_NUM_THREADS=1 for several workers on few cores).
    The caller owns the process: stop it with SIGTERM (it drains and exits 0) and wait for it. If the
    caller dies first, the worker drains and exits on its own (within ``PARENT_CHECK_SECONDS``).
    The worker runs in a process group of its own, so that a signal sent to the caller's group reaches
    only the caller, which then stops its workers once (see the module's docstring).
    ``session``: a session (so, on Linux, a scheduler autogroup) of its own as well, and its
    inference no longer takes CPU time from its parent's group (the desktop app's window); ``niceness``:
    set at the start (see :func:`shared.children.spawn`).
    """
    stderr = open(log_path, "ab") if log_path else None  # noqa: SIM115 - handed to the child
    try:
        return spawn("worker", ["--worker-id", worker_id, "--status-stdout", *extra_args], cfg=cfg,
                     env=env, session=session, niceness=niceness,
                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, text=True, bufsize=1)
    finally:
        if stderr is not None:
            stderr.close()  # the child has its own copy
