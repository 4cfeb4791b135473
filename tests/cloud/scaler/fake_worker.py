"""A stand-in for `python -m cloud.worker` that speaks the same status-line protocol, without torch.

It consumes the request queue (receive, "work" FAKE_SECONDS_PER_IMAGE per message, delete) and prints
one JSON line per state change; SIGTERM makes it finish the message in hand and exit 0. The scaler
tests use it to check the fleet and the loop in seconds; the real worker is tested end to end in
test_autoscale_e2e.py.
"""

from __future__ import annotations

import json
import os
import signal
import sys
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

    def on_term(signum, frame):
        global stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    say("loading", worker_id)
    time.sleep(float(os.environ.get("FAKE_BOOT_SECONDS", "0.2")))
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
