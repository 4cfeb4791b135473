"""What a job cost: requests counted from its figures, instance-seconds from the scaler's ticks or the
workers' status objects, priced with the dated table; free on the embedded cloud. `imgrec classify`
prints it last."""

from __future__ import annotations

import threading
import time

import pytest

from cloud.cli import main as imgrec
from shared import job_cost, layout, prices
from shared.config import Config
from shared.job_cost import InstanceMeter, JobFigures, count_requests, estimate, seconds_from_statuses
from shared.provision import provision
from shared.s3 import S3Service
from shared.worker_status import parse_status_object
from tests.shared.fake_worker import FakeWorker


def test_requests_are_counted_from_the_jobs_figures():
    figures = JobFigures("j", images=100, results=100, result_objects=7)
    r = count_requests(figures, batch_size=16)
    # 10 packs + 7 result objects + manifest twice + merged CSV; each pack read once;
    # SQS: 10 x (send, receive, delete) of requests, 7 replies, 10 x (receive, delete) of replies, queue life.
    assert (r.s3_put, r.s3_get, r.sqs) == (10 + 7 + 2 + 1, 10, 30 + 7 + 20 + 3)
    # Without a listing, one result object per batch_size results.
    assert count_requests(JobFigures("j", images=100, results=100), batch_size=16).s3_put == 10 + 7 + 3
    assert r.usd == pytest.approx(20 * prices.S3_PUT_PER_REQUEST + 10 * prices.S3_GET_PER_REQUEST
                                  + 60 * prices.SQS_STANDARD_PER_REQUEST)


def test_the_meter_integrates_the_scalers_ticks_over_the_jobs_window():
    meter = InstanceMeter()
    for ts, workers in ((0, 0), (10, 2), (20, 1), (40, 0)):
        meter.add(ts, workers)
    assert meter.seconds(5, 30) == pytest.approx(2 * 10 + 1 * 10)
    assert meter.seconds(-100, 100) == pytest.approx(2 * 10 + 1 * 20)
    assert meter.seconds(50, 60) == 0.0


def test_status_objects_count_each_worker_seen_during_the_job():
    start, end = 1000.0, 1100.0
    statuses = [
        {"worker_id": "gone-before", "state": "stopped", "ts": 990.0},  # not during the job
        {"worker_id": "live", "state": "idle", "ts": 1098.0},  # up until the end
        {"worker_id": "stopped-mid-job", "state": "stopped", "ts": 1040.0},
        {"worker_id": "silent", "state": "busy", "ts": 1060.0},  # killed: its last report
    ]
    read = [parse_status_object(status) for status in statuses]
    assert seconds_from_statuses(read, start, end) == pytest.approx(100 + 40 + 60)


def test_a_job_is_priced_and_unknown_parts_are_said_not_priced():
    figures = JobFigures("j", images=100, results=100, result_objects=7)
    cost = job_cost.price(figures, batch_size=16, instance_type="t3.medium", instance_seconds=3600,
                          source=job_cost.SCALER)
    assert cost.compute_usd == pytest.approx(prices.INSTANCES["t3.medium"][0])
    assert cost.usd == pytest.approx(cost.compute_usd + cost.requests.usd)
    assert cost.short() == job_cost.money(cost.usd)
    assert "3,600 instance-seconds of t3.medium, from the autoscaler" in cost.line()
    assert "20 S3 PUT, 10 S3 GET, 60 SQS" in cost.line()

    unknown = job_cost.price(figures, batch_size=16, instance_type="x9.huge", instance_seconds=60,
                             source=job_cost.SCALER)
    assert unknown.usd is None and unknown.short().startswith("≥ $")
    assert "compute not priced" in unknown.line() and "x9.huge" in unknown.line()


def test_the_embedded_cloud_is_free_and_asks_nothing():
    class NoCalls:
        def __getattr__(self, name):
            raise AssertionError(f"a local job's cost must not call S3 ({name})")

    cfg = Config(endpoint_url="http://127.0.0.1:4566")
    cost = estimate(cfg, JobFigures("j", 5, 5), started=0, ended=1, s3=NoCalls())
    assert cost.local and cost.usd == 0 and cost.short() == "local: free"


@pytest.fixture
def aws_cfg():
    """Moto in-process (no network), no endpoint: the target counts as AWS."""
    from moto import mock_aws

    with mock_aws():
        cfg = Config(wait_time=0)
        provision(cfg)
        yield cfg


def test_on_aws_result_objects_and_worker_status_objects_are_read(aws_cfg):
    s3 = S3Service(aws_cfg)
    for n in range(3):
        s3.put_bytes(aws_cfg.output_bucket, layout.result_batch_key("job-1", f"{n:032x}"), b"[]", "application/json")
    now = time.time()
    s3.put_json(aws_cfg.output_bucket, layout.worker_status_key("i-1"), {"state": "idle", "ts": now})
    s3.put_json(aws_cfg.output_bucket, layout.worker_status_key("i-2"), {"state": "stopped", "ts": now - 30})
    cost = estimate(aws_cfg, JobFigures("job-1", images=30, results=30), started=now - 60, ended=now)
    assert cost.requests.s3_put == 3 + 3 + 3  # packs, listed result objects, manifest and CSV
    assert cost.instance_seconds == pytest.approx(60 + 30, abs=0.5)
    assert cost.source == job_cost.STATUS_OBJECTS and cost.usd > 0


def _serve(cfg: Config, stop: threading.Event) -> threading.Thread:
    def loop():
        worker = FakeWorker(cfg)
        while not stop.is_set():
            if not worker.serve():
                stop.wait(0.05)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("target", ["aws", "local"])
def test_classify_prints_what_the_job_cost_last(target, request, photos, capsys, monkeypatch):
    items = photos(12)
    if target == "local":
        endpoint = request.getfixturevalue("moto_server").endpoint
        monkeypatch.setenv("IMGREC_REQUEST_QUEUE", "cost-requests")
        monkeypatch.setenv("IMGREC_DEAD_LETTER_QUEUE", "cost-dlq")
        cfg = Config(endpoint_url=endpoint, wait_time=0, request_queue="cost-requests", dead_letter_queue="cost-dlq")
        provision(cfg)
        options = ["--endpoint", endpoint]
    else:
        cfg, options = request.getfixturevalue("aws_cfg"), []
        monkeypatch.setenv("IMGREC_INPUT_BUCKET", cfg.input_bucket)  # named: not derived from the account
        monkeypatch.setenv("IMGREC_OUTPUT_BUCKET", cfg.output_bucket)
        S3Service(cfg).put_json(cfg.output_bucket, layout.worker_status_key("i-1"),
                                {"state": "idle", "ts": time.time() + 600})
    stop = threading.Event()
    worker = _serve(cfg, stop)
    try:
        code = imgrec(["classify", str(items[0].path.parent), "--no-progress", *options])
    finally:
        stop.set()
        worker.join(10)
    assert code == 0
    last = capsys.readouterr().err.strip().splitlines()[-1]
    if target == "local":
        assert last.startswith("cost: local: free")
    else:
        assert last.startswith("cost: about $") and "instance-seconds of t3.medium, from the workers' status" in last
        written = sum(1 for _ in S3Service(cfg).list_keys(cfg.output_bucket, "results/"))
        # 2 packs (12 images), the result objects the worker wrote, the manifest twice, the merged CSV.
        assert f"{2 + written + 3} S3 PUT, 2 S3 GET" in last
