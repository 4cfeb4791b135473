"""`imgrec provision`, `status`, `results` and the target choice, against the session's moto server."""

from __future__ import annotations

import json

import pytest

from cloud.cli import main as imgrec
from cloud.client_commands import has_aws_target
from cloud.local.server import free_port
from shared import layout
from shared.config import Config, load_config
from shared.job import new_job_id
from shared.job_manifest import Manifest
from shared.messages import Result
from shared.result_objects import batch_body
from shared.s3 import S3Service


@pytest.fixture
def endpoint(moto_server):
    return moto_server.endpoint


def test_provision_then_status_json_names_buckets_and_queues(endpoint, capsys):
    assert imgrec(["provision", "--endpoint", endpoint, "--json"]) == 0
    provisioned = json.loads(capsys.readouterr().out)
    cfg = Config(endpoint_url=endpoint)
    S3Service(cfg).put_json(cfg.output_bucket, layout.worker_status_key("w-7"),
                            {"worker_id": "w-7", "state": "idle", "ts": 1.0, "processed": 3})
    assert imgrec(["status", "--endpoint", endpoint, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["buckets"] == provisioned["buckets"] == {"input": "imgrec-input", "output": "imgrec-output"}
    assert set(status["queues"]) == {"requests", "dead_letter"}
    assert status["queues"]["requests"].startswith(endpoint)
    assert status["queue"] == {"visible": 0, "in_flight": 0, "delayed": 0}
    assert [w["worker_id"] for w in status["workers"]] == ["w-7"]


def test_status_in_words(endpoint, capsys):
    assert imgrec(["provision", "--endpoint", endpoint]) == 0
    assert imgrec(["status", "--endpoint", endpoint]) == 0
    out = capsys.readouterr().out
    assert "requests: 0 waiting, 0 in flight" in out and "dead letters: 0" in out


@pytest.mark.parametrize("command", [["status"], ["provision"], ["results", "some-job"],
                                     ["classify", "--no-progress"]])
def test_an_unreachable_endpoint_is_one_line_and_exit_2(command, capsys, tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    if command[0] == "classify":
        (tmp_path / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
        command = [*command, str(tmp_path)]
    assert imgrec([*command, "--endpoint", dead]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and dead in err[0] and "cannot reach" in err[0]
    assert "Traceback" not in err[0]


def test_results_of_an_unknown_job_is_a_clear_error(endpoint, capsys):
    assert imgrec(["provision", "--endpoint", endpoint]) == 0
    capsys.readouterr()
    assert imgrec(["results", "no-such-job", "--endpoint", endpoint]) == 2
    assert "no job 'no-such-job'" in capsys.readouterr().err


def test_no_settings_and_no_credentials_means_no_aws_target(monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert not has_aws_target(load_config(env={}))
    assert has_aws_target(load_config(env={}, overrides={"endpoint_url": "http://127.0.0.1:5000"}))
    assert has_aws_target(load_config(env={"AWS_PROFILE": "work"}))
    assert has_aws_target(load_config(env={"AWS_REGION": "eu-west-1"}))


def test_credentials_in_the_environment_mean_aws(monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert has_aws_target(load_config(env={}))  # AWS_ACCESS_KEY_ID / SECRET set by the autouse fixture


def test_status_counts_a_request_answered_twice_once(endpoint, capsys):
    """A redelivered request is answered again in a second batch object: still one result."""
    assert imgrec(["provision", "--endpoint", endpoint]) == 0
    cfg = Config(endpoint_url=endpoint)
    s3 = S3Service(cfg)
    job_id = new_job_id()
    rids = [layout.new_request_id() for _ in range(3)]
    s3.put_json(cfg.output_bucket, layout.manifest_key(job_id),
                Manifest(job_id, requests={rid: f"{rid}.jpg" for rid in rids}, complete=True).to_dict())
    answers = [Result(rid, job_id, f"{rid}.jpg", label="monarch", score=0.9) for rid in rids]
    s3.put_bytes(cfg.output_bucket, layout.result_batch_key(job_id, layout.new_batch_id()), batch_body(answers[:2]))
    s3.put_bytes(cfg.output_bucket, layout.result_batch_key(job_id, layout.new_batch_id()), batch_body(answers[1:]))
    capsys.readouterr()
    assert imgrec(["status", "--endpoint", endpoint, "--json"]) == 0
    recent = {j["job_id"]: j["results"] for j in json.loads(capsys.readouterr().out)["recent_jobs"]}
    assert recent[job_id] == 3


@pytest.mark.parametrize(("argv", "expected"), [
    (["classify", "--endpoint", "notaurl", "x.jpg"], "endpoint_url = 'notaurl' (from option --endpoint)"),
    (["classify", "--timeout", "-1", "x.jpg"], "result_timeout = -1.0 (from option --timeout)"),
    (["scaler", "--tick", "0"], "scaler_tick = 0.0 (from option --tick)"),
])
def test_a_bad_flag_is_named_as_it_is_spelled_on_the_command_line(argv, expected, capsys):
    assert imgrec(argv) == 2
    assert expected in capsys.readouterr().err


def test_status_lists_live_workers_only_and_counts_the_rest(endpoint, capsys):
    """Stopped workers and workers whose status went silent (killed) are counted, not listed."""
    import time

    from shared.config import Config
    from shared.layout import worker_status_key
    from shared.s3 import S3Service

    assert imgrec(["provision", "--endpoint", endpoint]) == 0
    s3 = S3Service(Config(endpoint_url=endpoint))
    now = time.time()
    for worker_id, state, ts in (("live-1", "idle", now), ("done-1", "stopped", now), ("killed-1", "busy", now - 3600)):
        s3.put_json("imgrec-output", worker_status_key(worker_id),
                    {"worker_id": worker_id, "state": state, "ts": ts, "processed": 3})
    capsys.readouterr()
    assert imgrec(["status", "--endpoint", endpoint]) == 0
    out = capsys.readouterr().out
    assert "stopped or silent for over" in out  # counted (the session's server holds other tests' workers)
    assert "live-1: idle" in out and "done-1" not in out and "killed-1" not in out
    assert imgrec(["status", "--endpoint", endpoint, "--json"]) == 0
    listed = {w["worker_id"] for w in json.loads(capsys.readouterr().out)["workers"]}
    assert {"live-1", "done-1", "killed-1"} <= listed
