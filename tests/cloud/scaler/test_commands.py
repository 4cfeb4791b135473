"""`imgrec scaler --once --log-json` against a mock account: one JSON object per tick, appended; the settings
checked at start, and the names it works with on AWS."""

from __future__ import annotations

import json

from cloud.cli import main
from shared.sqs import SQSService


def env_for(cfg, monkeypatch):
    for name in ("request_queue", "dead_letter_queue", "input_bucket", "output_bucket", "ami_id", "subnet_id",
                 "instance_profile"):
        monkeypatch.setenv(f"IMGREC_{name.upper()}", getattr(cfg, name))


def test_once_decides_acts_and_appends_one_json_object_per_tick(aws_cfg, monkeypatch, tmp_path):
    env_for(aws_cfg, monkeypatch)
    monkeypatch.setenv("IMGREC_DEFAULT_WORKER_RATE", "1")  # no worker has reported: 120 messages are 120 s
    sqs = SQSService(aws_cfg)
    sqs.send_batch(sqs.url(aws_cfg.request_queue), [f"m{i}" for i in range(120)])
    log_path = tmp_path / "ticks.jsonl"

    assert main(["scaler", "--fleet", "ec2", "--once", "--log-json", str(log_path)]) == 0
    assert main(["scaler", "--fleet", "ec2", "--once", "--log-json", str(log_path)]) == 0

    first, second = (json.loads(line) for line in log_path.read_text().splitlines())
    assert (first["visible"], first["in_flight"], first["running"], first["booting"]) == (120, 0, 0, 0)
    # Two instances drain 120 messages at 1 image/s within the cloud fleets' 60-s target.
    assert (first["desired"], first["action"], len(first["launched"])) == (2, "scale-out", 2)
    assert "default" in first["reason"] and first["rate"] is None
    # The second tick sees the two instances booting and launches nothing more for the same backlog.
    assert (second["booting"], second["desired"], second["action"], second["launched"]) == (2, 2, "hold", [])
    assert second["ts"] >= first["ts"] > 1_600_000_000


def test_once_is_refused_for_the_local_fleet(capsys):
    assert main(["scaler", "--fleet", "local", "--once"]) == 2
    assert "--once needs a cloud fleet" in capsys.readouterr().err


def test_the_ec2_fleet_without_an_instance_profile_fails_at_start_naming_the_setting(aws_cfg, monkeypatch, capsys):
    env_for(aws_cfg, monkeypatch)
    monkeypatch.delenv("IMGREC_INSTANCE_PROFILE")
    sqs = SQSService(aws_cfg)
    sqs.send_batch(sqs.url(aws_cfg.request_queue), ["m"])
    assert main(["scaler", "--fleet", "ec2", "--once"]) == 2
    err = capsys.readouterr().err
    assert "configuration error: instance_profile is not set (from default)" in err
    assert "Traceback" not in err


def test_on_aws_the_scaler_names_buckets_after_the_account_and_says_where_it_works(aws_cfg, monkeypatch, caplog):
    env_for(aws_cfg, monkeypatch)
    monkeypatch.delenv("IMGREC_INPUT_BUCKET")
    monkeypatch.delenv("IMGREC_OUTPUT_BUCKET")
    caplog.set_level("INFO", logger="imgrec.scaler")
    assert main(["scaler", "--fleet", "ec2", "--once"]) == 0
    assert ("AWS us-east-1 (region from environment AWS_DEFAULT_REGION), queue " + aws_cfg.request_queue
            + ", buckets imgrec-input-123456789012-us-east-1 and imgrec-output-123456789012-us-east-1") in caplog.text
