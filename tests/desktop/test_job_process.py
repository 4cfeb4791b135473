"""The job helper's wire format: the Config, the plan and the rows survive the trip between processes."""

from __future__ import annotations

from pathlib import Path

from desktop.job_process import JobPlan, decode_request, encode_request, row_from_dict, row_to_dict
from desktop.rows import DONE, TableRow
from shared.config import Config
from shared.scan import Item, Skipped


def test_request_round_trips_config_with_its_sources_and_the_plan():
    cfg = Config().replace(source="desktop settings", endpoint_url="http://127.0.0.1:5000",
                           security_group_ids=("sg-1", "sg-2"), upload_concurrency=4)
    plan = JobPlan("job1", "photos", (Item(Path("/p/a.jpg"), "a.jpg", 123, ".jpg"),),
                   (Skipped("notes.txt", "skipped: not an image (text file)", False),))
    cfg2, plan2, history, target = decode_request(encode_request(cfg, plan, "/h.sqlite3", "local"))
    assert cfg2 == cfg and cfg2.source_of("upload_concurrency") == "desktop settings"
    assert plan2 == plan and (history, target) == ("/h.sqlite3", "local")


def test_rows_round_trip():
    row = TableRow(name="a.jpg", path="/p/a.jpg", label="cat", score=0.5, top5=(("cat", 0.5), ("dog", 0.25)),
                   worker="w", model="m", latency_s=1.5, request_id="r", job_id="j", status=DONE)
    assert row_from_dict(row_to_dict(row)) == row
