"""Small measuring helpers for the benchmarks: CPU seconds of a process, and AWS requests counted by type.

    cpu = process_cpu_seconds(worker.pid)        # utime + stime of a live process, children excluded
    own = own_cpu_seconds()                      # this process, every thread, children excluded
    kids = children_cpu_seconds()                # children this process has waited for

    counter = RequestCounter()
    counter.attach(s3_client)                    # counts what that client sends
    count_shared_aws_clients(counter)            # or: every client shared.aws.client makes from now on
    counter.counts()                             # Counter({"s3.PutObject": 300, "sqs.ReceiveMessage": 41, ...})
    counter.sent                                 # [(time.time(), name, body bytes), ...] in the order sent
    counter.threads["sqs.ReceiveMessage"]        # names of the threads that sent them

    copies = workload_copies(tmp, 3)             # the standard workload, 3 times, under names of their own

Requests are counted on botocore's ``before-send`` event: once per HTTP request actually sent, so a
retried call counts once per attempt, as AWS bills it.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
WORKLOAD = Path(__file__).resolve().parents[2] / "shared" / "workloads" / "imagenet-100"  # beside the checkout


def workload_copies(dest: Path, repeat: int) -> list[Path]:
    """The workload repeated: copy r of test_7.JPEG is dest/r<r>/test_7.JPEG (same bytes, own name)."""
    out = []
    for r in range(repeat):
        folder = dest / f"r{r}"
        folder.mkdir(parents=True)
        for f in sorted(WORKLOAD.glob("*.JPEG")):
            shutil.copyfile(f, folder / f.name)
            out.append(folder / f.name)
    return out

# /proc/<pid>/stat fields after "(comm)": the 1st is field 3 (state), so utime (14) and stime (15)
# are the 12th and 13th. comm may hold spaces and parentheses: split after its last ")".
_UTIME, _STIME = 11, 12


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (all its threads; its children excluded), from
    /proc/<pid>/stat (Linux). Raises OSError when there is no such process."""
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[_UTIME]) + int(fields[_STIME])) / _CLOCK_TICKS


def own_cpu_seconds() -> float:
    """User + system CPU seconds of this process (all threads; children excluded)."""
    return time.process_time()


def children_cpu_seconds() -> float:
    """User + system CPU seconds of this process's children that have ended and been waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


Labeller = Callable[[str, str, str], str]  # (service, operation, url) -> the name it is counted under


class RequestCounter:
    """Counts the requests boto3 clients send, as ``"<service>.<Operation>"`` (``label`` may name them
    otherwise), each with the time it was sent, its body's size and the thread that sent it; also the
    ReceiveMessage calls that came back empty. Thread-safe; one counter may watch many clients."""

    def __init__(self, label: Labeller | None = None):
        self._label = label or (lambda service, operation, _url: f"{service}.{operation}")
        self._lock = threading.Lock()
        self.sent: list[tuple[float, str, int]] = []  # (time.time(), name, body bytes), in the order sent
        self.empty_receives: list[float] = []  # time.time() of each ReceiveMessage that returned nothing
        self.threads: dict[str, set[str]] = {}  # name -> the names of the threads that sent one

    def attach(self, client):
        """Counts every request ``client`` sends from now on; returns the client."""
        client.meta.events.register("before-send", self._on_send)
        client.meta.events.register("after-call.sqs.ReceiveMessage", self._on_receive)
        return client

    def _on_send(self, request=None, event_name: str = "", **_kwargs) -> None:
        _, service, operation = (event_name.split(".", 2) + ["?", "?"])[:3]
        name = self._label(service, operation, getattr(request, "url", "") or "")
        body = getattr(request, "body", None)
        size = len(body) if isinstance(body, (bytes, bytearray, str)) else 0  # a streamed body: not measured
        thread = threading.current_thread().name
        with self._lock:
            self.sent.append((time.time(), name, size))
            self.threads.setdefault(name, set()).add(thread)
        # None: botocore sends the request as usual.

    def _on_receive(self, parsed=None, **_kwargs) -> None:
        if not (parsed or {}).get("Messages"):
            with self._lock:
                self.empty_receives.append(time.time())

    def counts(self, start: float = float("-inf"), end: float = float("inf")) -> Counter:
        """Requests sent in [start, end) (time.time()), by name."""
        with self._lock:
            return Counter(name for t, name, _size in self.sent if start <= t < end)

    def to_dict(self) -> dict:
        with self._lock:
            return {"sent": [[round(t, 4), name, size] for t, name, size in self.sent],
                    "empty_receives": [round(t, 4) for t in self.empty_receives],
                    "threads": {name: sorted(threads) for name, threads in self.threads.items()}}

    def save(self, path: str | os.PathLike) -> None:
        Path(path).write_text(json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: str | os.PathLike) -> RequestCounter:
        data = json.loads(Path(path).read_text())
        counter = cls()
        counter.sent = [(t, name, size) for t, name, size in data["sent"]]
        counter.empty_receives = list(data["empty_receives"])
        counter.threads = {name: set(threads) for name, threads in data["threads"].items()}
        return counter


def count_shared_aws_clients(counter: RequestCounter) -> None:
    """Every client that ``shared.aws.client`` builds from now on is attached to ``counter``. Call it
    before the code to measure makes its clients (shared.s3 and shared.sqs look ``aws.client`` up at
    each call, so patching the module attribute reaches them)."""
    from shared import aws

    build = aws.client

    def counted_client(*args, **kwargs):
        return counter.attach(build(*args, **kwargs))

    aws.client = counted_client
