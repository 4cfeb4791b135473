"""A stand-in for `python -m cloud.worker` that speaks the same status-line protocol, without a model.

It consumes the request queue (receive, "work" FAKE_SECONDS_PER_IMAGE per message, delete) and reports
through the real :class:`cloud.worker.status.StatusReporter` on stdout: its states, and its measured
rate after each message. SIGTERM makes it finish the message in hand (and wait FAKE_DRAIN_SECONDS) and exit 0; a second
SIGTERM makes it exit at once with 143. The scaler tests use it
to check the fleet and the loop in seconds; the real worker is tested end to end in test_autoscale_e2e.py.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from cloud.worker.status import StatusReporter  # noqa: E402
from shared.config import load_config  # noqa: E402
from shared.sqs import SQSService  # noqa: E402
from shared.worker_status import BUSY, DRAINING, IDLE, LOADING, READY, STOPPED  # noqa: E402

stopping = False


def main() -> int:
    global stopping
    worker_id = sys.argv[1]
    per_image = float(os.environ.get("FAKE_SECONDS_PER_IMAGE", "0.05"))

    def on_term(signum, frame):
        global stopping
        if stopping:  # a second SIGTERM: exit now, as the real worker does
            os._exit(128 + signal.SIGTERM)
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    status = StatusReporter(worker_id, stdout=sys.stdout)
    status.set(LOADING)
    time.sleep(float(os.environ.get("FAKE_BOOT_SECONDS", "0.2")))
    cfg = load_config()
    sqs = SQSService(cfg)
    url = sqs.url(cfg.request_queue)
    status.set(READY)
    while not stopping:
        messages = sqs.receive(url, max_messages=int(os.environ.get("FAKE_BATCH", "5")), wait=1)
        if not messages:
            continue
        status.set(BUSY)  # busy = holds messages; idle again as soon as the batch is done
        for message in messages:
            time.sleep(per_image)
            sqs.delete_batch(url, [message.receipt])
            status.add_processed(1)
        status.set(IDLE)
    status.set(DRAINING)
    time.sleep(float(os.environ.get("FAKE_DRAIN_SECONDS", "0")))
    status.set(STOPPED)
    return 0


if __name__ == "__main__":
    sys.exit(main())
