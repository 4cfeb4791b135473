"""The spot interruption notice: a fake IMDS on a loopback port serves it; the worker drains, nothing is lost.

The watcher reads IMDS the IMDSv2 way (a session token with every read), survives IMDS errors, and
calls back once. `imgrec worker` (its handler, in this process, against moto) stops receiving when the
notice appears, finishes the batch in hand, gives the rest back at once; a second worker then
answers every remaining request, each exactly once.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time

import pytest
from moto import mock_aws

from cloud.worker import commands as worker_commands
from cloud.worker import spot
from cloud.worker.spot import Imds, Notice, SpotWatch
from shared.backoff import Backoff
from shared.config import load_config
from shared.provision import provision
from tests.cloud.ami.fake_imds import FakeImds
from tests.cloud.worker.test_loop import Client

NOTICE = json.dumps({"action": "terminate", "time": "2026-11-30T12:02:00Z"})
DEADLINE_SECONDS = 60


@pytest.fixture
def fast_polls(monkeypatch):
    monkeypatch.setattr(spot, "POLL_SECONDS", 0.02)


def test_no_endpoint_no_watch_and_an_on_demand_instance_is_not_watched(monkeypatch, fast_polls):
    cfg = load_config(env={})
    assert spot.watch(cfg, lambda notice: None) is None  # not on EC2: IMDS is never asked
    with FakeImds({"instance-life-cycle": "on-demand"}) as imds:
        assert spot.watch(cfg.replace(imds_endpoint=imds.endpoint), lambda notice: None) is None
        assert imds.served("instance-life-cycle") == [200] and imds.served(spot.ACTION_PATH) == []


def test_the_notice_is_read_with_a_session_token_and_reported_once(monkeypatch, fast_polls):
    notices: list[Notice] = []
    got = threading.Event()
    with FakeImds({"instance-life-cycle": "spot"}) as imds:
        watch = spot.watch(load_config(env={}).replace(imds_endpoint=imds.endpoint),
                           lambda notice: (notices.append(notice), got.set()))
        try:
            assert watch is not None
            assert imds.wait_for(lambda: imds.served(spot.ACTION_PATH).count(404) >= 3)
            assert notices == []  # no notice, no drain
            imds.set(spot.ACTION_PATH, NOTICE)
            assert got.wait(DEADLINE_SECONDS)
            time.sleep(0.1)  # polls that would report it again, were the watch still going
        finally:
            watch.stop()
        assert notices == [Notice("terminate", "2026-11-30T12:02:00Z")]
        assert set(imds.served(spot.ACTION_PATH)) == {404, 200}  # never a 401: every read had a token
        assert [path for method, path, _ in imds.requests if method == "PUT"] == ["api/token"]  # one session


def test_imds_errors_are_survived_and_a_refused_token_is_renewed():
    got = threading.Event()
    with FakeImds() as imds:
        imds.fail_tokens(3)  # IMDS is not answering yet
        watch = SpotWatch(Imds(imds.endpoint), lambda notice: got.set(), interval=0.02,
                          backoff=Backoff(first=0.02, longest=0.05)).start()
        try:
            assert imds.wait_for(lambda: 404 in imds.served(spot.ACTION_PATH))  # it kept trying
            imds.tokens.clear()  # IMDS forgets the session (a restart): the next read gets a 401
            assert imds.wait_for(lambda: imds.served(spot.ACTION_PATH)[-1:] == [404] and
                                 401 in imds.served(spot.ACTION_PATH))
            imds.set(spot.ACTION_PATH, "not JSON")  # a notice all the same
            assert got.wait(DEADLINE_SECONDS)
        finally:
            watch.stop()
        assert watch.notice == Notice("terminate", "")
        assert [status for method, _, status in imds.requests if method == "PUT"][:4] == [503, 503, 503, 200]


class SlowModel:
    """The real model, a little slower per batch, so that a notice finds work still to do; it says
    when its first batch is done."""

    def __init__(self, model, delay: float):
        self.model, self.delay = model, delay
        self.first_batch = threading.Event()

    def __getattr__(self, name):
        return getattr(self.model, name)

    def classify_prepared(self, batch):
        time.sleep(self.delay)
        try:
            return self.model.classify_prepared(batch)
        finally:
            self.first_batch.set()


def test_a_notice_drains_the_worker_and_nothing_is_lost(monkeypatch, fast_polls, classifier, workload_dir, caplog):
    caplog.set_level(logging.INFO, logger="cloud.worker.loop")
    model = SlowModel(classifier, delay=0.15)
    monkeypatch.setattr("cloud.worker.models.engine.load_engine", lambda cfg, s3=None, serving=False: model)
    files = {f"test_{i}.JPEG": (workload_dir / f"test_{i}.JPEG").read_bytes() for i in range(40)}
    # The notice goes out once the worker has classified its first batch.
    with mock_aws(), FakeImds({"instance-life-cycle": "spot",
                               spot.ACTION_PATH: lambda: NOTICE if model.first_batch.is_set() else None}) as imds:
        # Buckets named, so that the worker command does not name them after the (mock) account.
        cfg = load_config(env={"IMGREC_INPUT_BUCKET": "spot-in", "IMGREC_OUTPUT_BUCKET": "spot-out"},
                          overrides={"wait_time": 1, "visibility_timeout": 30, "batch_size": 4})
        provision(cfg)
        client = Client(cfg)
        client.submit(files)
        started = time.monotonic()
        args = argparse.Namespace(worker_id="i-spot", status_stdout=False)
        # (The idle timeout only bounds this test should the notice go unheeded: all done, then idle.)
        assert worker_commands.worker(cfg.replace(idle_timeout=3.0, imds_endpoint=imds.endpoint), args) == 0
        # Drained well inside the two minutes' notice, and not by waiting out the visibility timeout.
        assert time.monotonic() - started < cfg.visibility_timeout
        assert 200 in imds.served(spot.ACTION_PATH)
        assert "stopping (spot interruption notice: terminate at 2026-11-30T12:02:00Z)" in caplog.text

        answered = client.stored()
        assert 0 < len(answered) < len(files)  # the notice came with work left
        depth = client.depth()
        assert depth.in_flight == 0 and depth.visible == len(files) - len(answered)  # given back at once

        # Another worker (no IMDS: not a spot instance) takes the rest: every request answered once.
        model.delay = 0.0
        assert worker_commands.worker(cfg.replace(idle_timeout=1.0), argparse.Namespace(worker_id="i-other")) == 0
        results = client.stored()
        assert sorted(client.names) == sorted(results) and all(len(r) == 1 for r in results.values())
        assert {r[0].worker_id for r in results.values()} == {"i-spot", "i-other"}
        assert client.depth().total == 0
