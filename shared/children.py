"""Starting this program's own child processes: one way, the same from source and from a frozen bundle.

A child is one of :data:`ROLES` (the moto server, a classifier worker, the desktop's job helper, the
model export, the scaler), started with :func:`spawn`, or with :func:`child_command` and
:func:`child_env` by a caller that starts processes its own way::

    child_command("worker", "--worker-id", "local-1")
    # from source:         [python, "-m", "cloud.worker", "--worker-id", "local-1"]
    # from the bundle:     [<app>/imgrec-desktop, "--imgrec-child", "worker", "--worker-id", "local-1"]

A frozen executable's ``sys.executable`` is the app, not a Python interpreter (PyInstaller), so it
cannot run ``-m``: it runs itself with :data:`CHILD_FLAG` and the role, and its ``main()`` hands such
a command line to :func:`run_child` before anything else, which runs the role's module as ``__main__``,
as ``-m`` would. The modules are named here as text, so that this module imports none of them
(``shared`` knows nothing of ``cloud`` or ``desktop``); build.spec lists them for the bundle.

The spawn options are given here and nowhere else:

* process group: every child leads a group of its own, so that a signal to its parent's group (Ctrl-C
  in a terminal, ``kill -TERM -PGID``) reaches only the parent, which then stops its children once;
  ``session=True``: a session of its own as well (on Linux a scheduler autogroup), so that its CPU use
  is not charged to its parent's group (the desktop app's window);
* ``niceness``: raised right after the start (never lowered), and on Linux that of its autogroup when
  it leads a session;
* environment: this process's, plus ``cfg``'s settings as ``IMGREC_<NAME>`` variables
  (:func:`config_env`, which ``load_config`` reads back into an equal Config), what running from source
  needs, the parent's pid (:data:`PARENT_PID_ENV`), and the caller's additions.

A child that must not outlive its parent (a worker, the moto server) calls :func:`stop_with_parent` at
start-up: it then stops when its parent is gone, even after a SIGKILL.
"""

from __future__ import annotations

import logging
import os
import runpy
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from pathlib import Path

from shared.config import CONFIG_ENV, Config

log = logging.getLogger(__name__)

CHILD_FLAG = "--imgrec-child"  # a frozen executable's first argument when it runs as a child

# role -> (the module run as __main__, the arguments that come before the caller's)
ROLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "moto-server": ("cloud.local.moto_server", ()),
    "worker": ("cloud.worker", ()),
    "job-helper": ("desktop.job_process", ()),
    "model-export": ("cloud.cli", ("model", "export")),
    "scaler": ("cloud.cli", ("scaler",)),
}

PARENT_PID_ENV = "IMGREC_PARENT_PID"  # set by spawn: the pid of the process that started the child
PARENT_CHECK_SECONDS = 0.5  # how often a child that stops with its parent checks that it is still there

_SOURCE_ROOT = str(Path(__file__).resolve().parents[1])  # the folder holding shared/, cloud/ and desktop/


def frozen() -> bool:
    """Whether this process is a frozen bundle's executable (PyInstaller sets ``sys.frozen``)."""
    return bool(getattr(sys, "frozen", False))


def child_command(role: str, *args: str) -> list[str]:
    """The command line that runs ``role`` with ``args``, from source or in a frozen bundle."""
    module, leading = _role(role)
    if frozen():
        return [sys.executable, CHILD_FLAG, role, *args]
    return [sys.executable, "-m", module, *leading, *args]


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


def child_env(cfg: Config | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a child: this process's, with ``cfg`` (when given) as its settings in place of
    any settings file, its output unbuffered, this source tree on its path (from source), this process's
    pid (:data:`PARENT_PID_ENV`), and ``extra``."""
    env = dict(os.environ)
    if cfg is not None:
        env.pop(CONFIG_ENV, None)
        env.update(config_env(cfg))
    if not frozen():
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_SOURCE_ROOT, env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"  # a bundle's executable is built unbuffered (build.spec)
    env[PARENT_PID_ENV] = str(os.getpid())  # for stop_with_parent
    env.update(extra or {})
    return env


def spawn(role: str, args: Sequence[str] = (), *, cfg: Config | None = None, env: Mapping[str, str] | None = None,
          session: bool = False, niceness: int = 0, **popen) -> subprocess.Popen:
    """Starts ``role`` with ``args``: in a process group (``session``: a session) of its own, at
    ``niceness`` or nicer, with :func:`child_env` (``cfg``, ``env``). ``popen``: the pipes and their
    text mode (``stdin``, ``stdout``, ``stderr``, ``text``, ``bufsize``). The caller owns the process."""
    if session:
        popen["start_new_session"] = True  # a session leader leads its process group too
    elif os.name == "posix":
        popen["process_group"] = 0
    process = subprocess.Popen(child_command(role, *args), env=child_env(cfg, env), **popen)
    if niceness > 0:
        renice(process.pid, niceness)
    return process


def renice(pid: int, niceness: int) -> None:
    """Raises the niceness of a process to ``niceness`` (never lowers it), and on Linux that of its
    autogroup when it leads a session of its own. A process already gone is skipped."""
    if not hasattr(os, "setpriority"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, pid, max(os.getpriority(os.PRIO_PROCESS, pid), niceness))
    except OSError as exc:  # already gone, or not ours to change
        log.debug("could not lower the priority of process %s: %s", pid, exc)
        return
    try:
        if os.getsid(pid) != pid:
            return  # it shares a session (maybe the window's): its process niceness is what counts
        with open(f"/proc/{pid}/autogroup", "w") as fh:
            fh.write(str(niceness))
    except OSError as exc:  # not Linux, autogroups off, or the process is gone
        log.debug("could not lower the autogroup priority of process %s: %s", pid, exc)


def stop_with_parent(request_stop: Callable[[], None], stopped: threading.Event | None = None) -> None:
    """In a child that :func:`spawn` started: calls ``request_stop`` once the parent is gone, unless
    ``stopped`` is set first. A background thread compares ``os.getppid()`` with the parent's pid every
    ``PARENT_CHECK_SECONDS``: an orphan is re-parented (to init or a subreaper), so a parent that died,
    even of SIGKILL, shows as a changed ppid. (Not Linux's parent-death signal: that fires when the
    spawning *thread* ends, and the autoscaler spawns from its loop's thread.) No watch for a process
    started otherwise (by hand, systemd, an EC2 boot script), nor on Windows, which does not re-parent
    orphans. The variable is removed, so that what this child starts does not inherit it."""
    raw = os.environ.pop(PARENT_PID_ENV, "")
    if not raw.isdigit() or os.name != "posix":
        return
    parent = int(raw)
    stopped = stopped or threading.Event()

    def watch() -> None:
        while os.getppid() == parent:
            if stopped.wait(PARENT_CHECK_SECONDS):
                return
        log.warning("the process that started this one (pid %d) is gone: stopping", parent)
        request_stop()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def run_child(argv: Sequence[str]) -> int | None:
    """First thing in a frozen executable's main(): when ``argv`` (without the program) is
    ``[CHILD_FLAG, ROLE, *args]``, runs that role's module as ``__main__`` with ``args`` and returns its
    exit code (a module that exits raises SystemExit, as under ``-m``); otherwise returns None."""
    if not argv or argv[0] != CHILD_FLAG:
        return None
    if len(argv) < 2 or argv[1] not in ROLES:
        print(f"{CHILD_FLAG}: expected one of {', '.join(ROLES)}", file=sys.stderr)
        return 2
    module, leading = ROLES[argv[1]]
    sys.argv = [module, *leading, *argv[2:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    return 0


def _role(role: str) -> tuple[str, tuple[str, ...]]:
    try:
        return ROLES[role]
    except KeyError:
        raise ValueError(f"no child role {role!r}; the roles are {', '.join(ROLES)}") from None
