"""``upload = preview``: the client sends a small JPEG in place of each photo, and every result still
carries the original file's name (moto, with the stand-in worker of test_job)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from moto import mock_aws
from PIL import Image

from shared import layout
from shared.config import Config
from shared.job import JobClient
from shared.preview import preview_jpeg, preview_long_side, preview_min_short_side
from shared.provision import provision
from shared.s3 import S3Service
from shared.scan import scan
from tests.shared.fake_worker import FakeWorker

EXIF_ORIENTATION = 0x0112
ROTATED_90 = 6  # the camera was held upright: the pixels are stored landscape, shown portrait


@pytest.fixture
def cfg():
    with mock_aws():
        cfg = Config(wait_time=0)
        provision(cfg)
        yield cfg.replace(upload="preview")


def camera_jpeg(path, size=(2000, 1500), orientation: int | None = None, seed: int = 0) -> None:
    """A noisy gradient, saved like a camera would (quality 92), optionally with an EXIF orientation."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 255, size[0], dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, size[1], dtype=np.float32)[:, None, None]
    pixels = np.broadcast_to((x + y) / 2, (size[1], size[0], 3)) + rng.normal(0, 6, (size[1], size[0], 3))
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    exif = Image.Exif()
    if orientation is not None:
        exif[EXIF_ORIENTATION] = orientation
    image.save(path, "JPEG", quality=92, exif=exif)


@pytest.fixture
def shoot(tmp_path):
    """Three 3 MP photos (one shot upright), a tiny PNG and a broken JPEG, scanned as the app would."""
    root = tmp_path / "shoot"
    root.mkdir()
    camera_jpeg(root / "beach.jpg", seed=1)
    camera_jpeg(root / "portrait.jpg", orientation=ROTATED_90, seed=2)
    camera_jpeg(root / "sunset.jpg", seed=3)
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 10, 10)).save(buffer, "PNG")
    (root / "icon.png").write_bytes(buffer.getvalue())
    broken = (root / "sunset.jpg").read_bytes()
    (root / "broken.jpg").write_bytes(broken[:2000])
    return scan([root]).images


def test_preview_sends_small_jpegs_and_results_keep_the_original_names(cfg, shoot):
    by_name = {item.name: item for item in shoot}
    with JobClient(cfg) as client:
        job = client.submit(shoot)
        worker = FakeWorker(cfg)
        worker.serve()
        results = list(client.collect(job, timeout=10))
        tally = client.upload_tally(job.job_id)
    # Exactly one row per file, under the file's own name.
    assert sorted(r.name for r in results) == sorted(by_name)
    assert all(r.ok and r.label == f"label-of-{r.name}" for r in results)

    sent = {request.name: worker.inputs[request.request_id] for request in worker.seen}
    assert sorted(sent) == sorted(by_name)
    for name in ("beach.jpg", "sunset.jpg", "portrait.jpg"):
        data = sent[name]
        assert len(data) < by_name[name].size / 10, name
        with Image.open(io.BytesIO(data)) as preview:
            assert preview.format == "JPEG"
            expected = (336, 448) if name == "portrait.jpg" else (448, 336)  # upright, long side 448
            assert preview.size == expected, name
    # Already small, or unreadable here: sent as they are, for the worker to answer as usual.
    for name in ("icon.png", "broken.jpg"):
        assert sent[name] == by_name[name].path.read_bytes(), name

    assert tally.files == len(shoot)
    assert tally.file_bytes == sum(item.size for item in shoot)
    assert tally.sent_bytes == sum(len(data) for data in sent.values())
    assert tally.saved_bytes == tally.file_bytes - tally.sent_bytes > 0.9 * tally.file_bytes


def test_the_preview_is_twice_the_published_models_input(cfg, shoot):
    s3 = S3Service(cfg)
    s3.put_json(cfg.output_bucket, layout.model_manifest_key(cfg.model),
                {"model": cfg.model, "preprocessing": {"resize": 342, "crop": [300, 300]}})
    photo = next(item for item in shoot if item.name == "beach.jpg")
    with JobClient(cfg) as client:
        job = client.submit([photo])
        worker = FakeWorker(cfg)
        worker.serve()
        assert [r.name for r in client.collect(job, timeout=10)] == ["beach.jpg"]
    with Image.open(io.BytesIO(worker.inputs[worker.seen[0].request_id])) as preview:
        assert preview.size == (600, 450)


def test_original_uploads_send_the_files_as_they_are(cfg, shoot):
    original = cfg.replace(upload="original")
    with JobClient(original) as client:
        job = client.submit(shoot)
        worker = FakeWorker(original)
        worker.serve()
        assert len(list(client.collect(job, timeout=10))) == len(shoot)
        tally = client.upload_tally(job.job_id)
    s3 = S3Service(original)
    for request in worker.seen:
        item = next(i for i in shoot if i.name == request.name)
        assert s3.get_bytes(request.bucket, request.key, byte_range=request.byte_range) == item.path.read_bytes()
    assert tally.sent_bytes == tally.file_bytes == sum(item.size for item in shoot)
    assert tally.saved_bytes == 0


def test_the_preview_size_without_a_published_model_is_448():
    assert preview_long_side(None) == 448
    assert preview_long_side({"crop": [224, 224]}) == 448
    assert preview_long_side({"crop": [240, 320]}) == 640
    assert preview_long_side({"crop": "broken"}) == 448


def test_a_panorama_preview_keeps_the_short_side_the_model_resizes_to(tmp_path):
    """A 4000x1000 panorama fit into 448x448 would be 448x112, and the worker would scale it back up to
    256 high: its preview keeps a short side of at least the model's resize instead."""
    path = tmp_path / "panorama.jpg"
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 255, (1000, 4000, 3), dtype=np.uint8)).save(path, "JPEG", quality=90)
    data = preview_jpeg(path, preview_long_side(None), 40_000_000, path.stat().st_size, preview_min_short_side(None))
    assert data is not None and len(data) < path.stat().st_size
    width, height = Image.open(io.BytesIO(data)).size
    assert height >= 256 and width == 1024
    assert preview_min_short_side({"resize": 320}) == 320 and preview_min_short_side({"resize": "x"}) == 256
