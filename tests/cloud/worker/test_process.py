"""A real worker process (`python -m cloud.worker`, started by spawn_worker) against a real moto
server: it announces its states on stdout, answers, and drains on SIGTERM without waiting out its
20-second long poll."""

from __future__ import annotations

import queue
import signal
import threading
import time
import uuid

import pytest

from cloud.worker.process import spawn_worker
from shared.config import load_config
from shared.job import new_job_id
from shared.layout import input_key, new_request_id, reply_queue_name, worker_status_key
from shared.messages import Request, Result
from shared.provision import provision
from shared.s3 import S3Service
from shared.sqs import SQSService
from shared.worker_status import parse_status_line

READY_TIMEOUT_SECONDS = 120  # load the model on a busy 2-core machine (the first one may export it)
WAIT_TIME = 3  # long-poll seconds: a stopping worker waits its open polls out


@pytest.fixture
def cloud(moto_server):
    uid = uuid.uuid4().hex[:8]
    cfg = moto_server.config(load_config(env={})).replace(
        input_bucket=f"imgrec-in-{uid}", output_bucket=f"imgrec-out-{uid}", request_queue=f"requests-{uid}",
        dead_letter_queue=f"requests-dlq-{uid}", wait_time=WAIT_TIME)
    provision(cfg)
    return cfg


class StatusReader:
    def __init__(self, process):
        self.events: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            event = parse_status_line(line)
            if event is not None:
                self.events.put(event)

    def wait_for(self, state: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while state not in self.seen:
            self.seen.append(self.events.get(timeout=max(0.01, deadline - time.monotonic())).state)


def test_spawned_worker_answers_and_drains_on_sigterm(cloud, good_jpeg, tmp_path):
    s3, sqs = S3Service(cloud), SQSService(cloud)
    process = spawn_worker(cloud, "spawned-1", log_path=tmp_path / "worker.log", session=True)
    try:
        status = StatusReader(process)
        status.wait_for("ready", READY_TIMEOUT_SECONDS)
        assert status.seen == ["loading", "ready"]

        reply_url = sqs.create_queue(reply_queue_name(cloud.reply_queue_prefix, uuid.uuid4().hex[:8]))
        job_id, request_id = new_job_id(), new_request_id()
        key = input_key(job_id, request_id, ".jpg")
        s3.put_bytes(cloud.input_bucket, key, good_jpeg)
        sqs.send_batch(sqs.url(cloud.request_queue),
                       [Request(request_id, job_id, cloud.input_bucket, key, "butterfly.jpg", reply_url).to_json()])
        [reply] = sqs.receive(reply_url, wait=20)
        result = Result.from_json(reply.body)
        assert (result.label, result.worker_id) == ("monarch", "spawned-1")

        status.wait_for("idle", 10)
        process.send_signal(signal.SIGTERM)  # while its receivers sit in long polls
        status.wait_for("draining", 5)
        # A request that arrives while the stopping worker's polls are still open is handed to one of
        # them: the worker gives it back before it exits, so it is visible again at once, not after the
        # visibility timeout.
        request_url = sqs.url(cloud.request_queue)
        rid2 = new_request_id()
        key2 = input_key(job_id, rid2, ".jpg")
        s3.put_bytes(cloud.input_bucket, key2, good_jpeg)
        sqs.send_batch(request_url, [Request(rid2, job_id, cloud.input_bucket, key2, "again.jpg", reply_url).to_json()])
        assert process.wait(timeout=WAIT_TIME + 10) == 0
        depth = sqs.depth(request_url)
        assert (depth.visible, depth.in_flight) == (1, 0), depth
        status.wait_for("stopped", 5)
        assert status.seen[-2:] == ["draining", "stopped"]
        heartbeat = s3.get_json(cloud.output_bucket, worker_status_key("spawned-1"))
        assert heartbeat["state"] == "stopped" and heartbeat["processed"] == 1 and heartbeat["pid"] == process.pid
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
