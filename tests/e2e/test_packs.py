"""End to end: inputs go up in packs, and a bad file inside a pack is answered alone."""

from __future__ import annotations

import pytest

from shared import layout
from shared.job import JobClient
from shared.s3 import S3Service
from shared.scan import scan

pytestmark = pytest.mark.e2e


def test_a_corrupt_file_in_a_pack_gets_its_own_error_row_and_its_pack_mates_their_labels(
        cloud, workload_items, reference, tmp_path):
    folder = tmp_path / "pack"
    folder.mkdir()
    good = workload_items[:8]
    for item in good:
        (folder / item.name).write_bytes(item.path.read_bytes())
    jpeg = workload_items[8].path.read_bytes()
    (folder / "aaa-truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])  # sorts first: the pack's first bytes
    (folder / "zzz-corrupt.jpg").write_bytes(jpeg[:200] + bytes(len(jpeg) - 200))  # a JPEG header, then zeros
    items = scan([folder]).images
    assert len(items) == 10

    with JobClient(cloud.cfg) as client:
        job = client.submit(items)
        results = list(client.collect(job, timeout=120.0))
    s3 = S3Service(cloud.cfg)
    assert list(s3.list_keys(cloud.cfg.input_bucket, layout.job_prefix(job.job_id))) == [
        layout.pack_key(job.job_id, 0)]  # ten files, one input object

    by_name = {r.name: r for r in results}
    assert len(results) == 10 and len(by_name) == 10  # one row per file, under its own name
    for name in ("aaa-truncated.jpg", "zzz-corrupt.jpg"):
        assert by_name[name].error and not by_name[name].label, name
    for item in good:
        assert by_name[item.name].ok, (item.name, by_name[item.name].error)
        assert by_name[item.name].label == reference[item.name]["label"], item.name
