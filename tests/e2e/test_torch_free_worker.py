"""A worker with no torch at all serves the pipeline: the ONNX engine, its bundle fetched from the bucket."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cloud.worker.models import store
from shared.children import child_env
from shared.config import Config
from shared.job import JobClient
from shared.provision import provision
from shared.scan import scan
from shared.worker_status import parse_status_line

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent
RESULT_TIMEOUT = 120.0


def test_a_worker_without_torch_classifies_like_the_reference(moto_server, workload_dir, reference, tmp_path):
    cfg = moto_server.config(Config(input_bucket="torchless-in", output_bucket="torchless-out",
                                    request_queue="torchless-requests", dead_letter_queue="torchless-dlq",
                                    wait_time=1, visibility_timeout=10, model_cache=str(tmp_path / "worker-cache")))
    provision(cfg)
    store.publish_model(cfg.replace(model_cache=None))  # the session's cache: export once, publish
    log = tmp_path / "worker.log"
    with open(log, "wb") as stderr:
        worker = subprocess.Popen([sys.executable, str(HERE / "torch_free_worker.py"), "--worker-id", "torchless",
                                   "--status-stdout"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=stderr, env=child_env(cfg), text=True)
    try:
        items = scan([workload_dir]).images[:20]
        with JobClient(cfg) as client:
            job = client.submit(items)
            results = list(client.collect(job, timeout=RESULT_TIMEOUT))
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        finally:
            worker.kill()
    states = [e.state for e in map(parse_status_line, worker.stdout.read().splitlines()) if e]
    worker.stdout.close()
    text = log.read_text()
    assert worker.returncode == 0, text[-3000:]
    assert "heavy modules imported: none" in text
    assert "on onnx" in text and states[0] == "loading" and "ready" in states
    assert sorted(r.name for r in results) == sorted(i.name for i in items)
    for r in results:
        assert r.ok and r.worker_id == "torchless", (r.name, r.error)
        assert r.label == reference[r.name]["label"], r.name
    assert (tmp_path / "worker-cache" / "efficientnet-lite0").is_dir()  # fetched from the bucket into its cache
