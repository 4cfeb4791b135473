"""One way to start a child process (shared/children.py): the command line from source and from a frozen
bundle, the spawn options, and the dispatch a frozen executable runs first, exercised through a stand-in
for the bundle's executable (a script that runs desktop.app's main, as the bundle does)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cloud.local.server import MotoServer
from shared.children import CHILD_FLAG, ROLES, child_command, child_env, config_env, run_child, spawn
from shared.config import CONFIG_ENV, load_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def frozen_stand_in(tmp_path, monkeypatch):
    """Makes this process look frozen, with an "executable" that runs desktop.app's main as the bundle's does."""
    exe = tmp_path / "imgrec-desktop"
    exe.write_text(f"#!/bin/sh\nexec {sys.executable} -c 'import sys; from desktop.app import main; "
                   f"sys.exit(main())' \"$@\"\n")
    exe.chmod(0o755)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(exe))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the stand-in's interpreter finds the source as the bundle would
    return exe


@pytest.mark.parametrize("role", sorted(ROLES))
def test_each_role_runs_a_module_that_exists_from_source_with_python_m(role):
    module, leading = ROLES[role]
    assert importlib.util.find_spec(module) is not None, f"{role}: no module {module}"
    assert child_command(role, "--x", "1") == [sys.executable, "-m", module, *leading, "--x", "1"]


def test_a_frozen_executable_runs_itself_with_the_role(monkeypatch):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/opt/imgrec-desktop/imgrec-desktop")
    assert child_command("worker", "--worker-id", "local-1") == [
        "/opt/imgrec-desktop/imgrec-desktop", CHILD_FLAG, "worker", "--worker-id", "local-1"]


def test_an_unknown_role_is_refused():
    with pytest.raises(ValueError, match="no child role 'wroker'"):
        child_command("wroker")
    assert run_child([CHILD_FLAG, "wroker"]) == 2
    assert run_child(["--demo", "photos"]) is None  # the app's own command line: not a child


def test_config_passes_down_unchanged():
    cfg = load_config(env={}, overrides={"endpoint_url": "http://127.0.0.1:5000", "wait_time": 3,
                                         "idle_timeout": 2.5, "model": "resnet18"})
    assert load_config(env=config_env(cfg)) == cfg


def test_a_child_gets_the_config_instead_of_the_settings_file_and_the_source_only_from_source(monkeypatch):
    cfg = load_config(env={}, overrides={"wait_time": 3})
    monkeypatch.setenv(CONFIG_ENV, "/elsewhere/config.toml")
    monkeypatch.delenv("PYTHONPATH", raising=False)
    env = child_env(cfg, {"OMP_NUM_THREADS": "1"})
    assert CONFIG_ENV not in env and env["IMGREC_WAIT_TIME"] == "3" and env["OMP_NUM_THREADS"] == "1"
    assert env["PYTHONPATH"] == str(ROOT) and env["PYTHONUNBUFFERED"] == "1"
    assert child_env()[CONFIG_ENV] == "/elsewhere/config.toml"  # no Config given: the parent's settings
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert "PYTHONPATH" not in child_env(cfg)


def test_a_child_leads_its_own_group_or_session_at_the_niceness_asked(tmp_path):
    """The moto server as the child: started, then looked at while it serves."""
    started = []
    try:
        plain = spawn("moto-server", ["--port", "0"], stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(plain)
        niced = spawn("moto-server", ["--port", "0"], session=True, niceness=7, stdin=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL)
        started.append(niced)
        assert os.getpgid(plain.pid) == plain.pid and os.getsid(plain.pid) == os.getsid(0)
        assert os.getsid(niced.pid) == niced.pid
        assert os.getpriority(os.PRIO_PROCESS, niced.pid) >= 7
        assert os.getpriority(os.PRIO_PROCESS, plain.pid) == os.getpriority(os.PRIO_PROCESS, 0)
    finally:
        for process in started:
            process.kill()
            process.wait()


def test_the_frozen_dispatch_runs_the_moto_server(frozen_stand_in):
    with MotoServer() as server:
        cmdline = Path(f"/proc/{server.process.pid}/cmdline").read_bytes()
        assert f"\0{CHILD_FLAG}\0moto-server\0--host\0".encode() in cmdline
        assert server.config(load_config(env={})).is_local


def test_the_frozen_dispatch_passes_stdin_stdout_and_the_exit_code_through(frozen_stand_in):
    helper = spawn("job-helper", stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = helper.communicate("not a job request\n", timeout=60)
    assert helper.returncode == 2, err
    event = json.loads(out.splitlines()[-1])
    assert event["event"] == "error" and event["message"].startswith("bad job request")

