"""A stand-in for `python -m cloud.worker` that speaks the same status-line protocol, without torch.

It consumes the request queue (receive, "work" FAKE_SECONDS_PER_IMAGE per message, delete) and prints
one JSON line per state change; SIGTERM makes it finish the message in hand and exit 0. With
``--standby`` it reports ``standby`` after its "boot" and waits for SIGUSR1 (SIGTERM: exit 0 at once),
as the real worker does. The scaler
tests use it to check the fleet and the loop in seconds; the real worker is tested end to end in
test_autoscale_e2e.py.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from shared.config import load_config  # noqa: E402
from shared.sqs import SQSService  # noqa: E402

stopping = False


def say(state: str, worker_id: str) -> None:
    print(json.dumps({"event": "state", "state": state, "worker_id": worker_id, "ts": time.time()}), flush=True)


def main() -> int:
    global stopping
    worker_id = sys.argv[1]
    per_image = float(os.environ.get("FAKE_SECONDS_PER_IMAGE", "0.05"))
    activated = threading.Event()

    def on_term(signum, frame):
        global stopping
        stopping = True
        activated.set()  # wakes a standby wait

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGUSR1, lambda *_: activated.set())
    say("loading", worker_id)
    time.sleep(float(os.environ.get("FAKE_BOOT_SECONDS", "0.2")))
    if "--standby" in sys.argv[2:]:
        say("standby", worker_id)
        while not activated.wait(0.1):
            pass
        if stopping:
            say("stopped", worker_id)
            return 0
    cfg = load_config()
    sqs = SQSService(cfg)
    url = sqs.url(cfg.request_queue)
    say("ready", worker_id)
    while not stopping:
        messages = sqs.receive(url, max_messages=int(os.environ.get("FAKE_BATCH", "5")), wait=1)
        if not messages:
            continue
        say("busy", worker_id)  # busy = holds messages; idle again as soon as the batch is done
        for message in messages:
            time.sleep(per_image)
            sqs.delete_batch(url, [message.receipt])
        say("idle", worker_id)
    say("draining", worker_id)
    say("stopped", worker_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
