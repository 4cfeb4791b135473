"""End to end with ``upload = preview``: 12 MP photos go up as small JPEGs, the real workers classify
them, and every file comes back once, under its own name, as a label or an error."""

from __future__ import annotations

import pytest

from bench.photos import make_photo
from shared import results_csv
from shared.job import JobClient
from shared.scan import scan

pytestmark = pytest.mark.e2e


def test_preview_uploads_come_back_once_per_file_under_the_original_names(cloud, workload_dir, tmp_path):
    folder = tmp_path / "shoot"
    folder.mkdir()
    make_photo(workload_dir / "test_2.JPEG", folder / "IMG_0002.jpg", seed=2)  # the monarch butterfly
    (folder / "small.jpg").write_bytes((workload_dir / "test_2.JPEG").read_bytes())  # 64x64: sent as it is
    broken = (folder / "IMG_0002.jpg").read_bytes()
    (folder / "IMG_0003.jpg").write_bytes(broken[: len(broken) // 3])  # cut off mid-transfer
    (folder / "notes.jpg").write_text("not a photo\n")
    scanned = scan([folder])

    cfg = cloud.cfg.replace(upload="preview")
    with JobClient(cfg) as client:
        job = client.submit(scanned.images, skipped=scanned.skipped)
        results = list(client.collect(job, timeout=120))
        tally = client.upload_tally(job.job_id)

    rows = results_csv.to_rows(results, scanned.skipped)
    by_image = {}
    for row in rows:
        by_image.setdefault(row.image, []).append(row)
    assert sorted(by_image) == ["IMG_0002.jpg", "IMG_0003.jpg", "notes.jpg", "small.jpg"]
    assert all(len(v) == 1 for v in by_image.values())
    assert by_image["IMG_0002.jpg"][0].label == "monarch"
    assert by_image["small.jpg"][0].label == "monarch"
    assert by_image["IMG_0003.jpg"][0].error == "truncated or corrupt image"  # the worker's own answer
    assert by_image["notes.jpg"][0].error
    # The photo went up as a preview of a few dozen kilobytes instead of its 3 MB.
    assert tally.saved_bytes > 2_500_000
