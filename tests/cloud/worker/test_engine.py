"""The ONNX engine against the torch reference: same input tensor, same labels, bundles that can't be faked."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from cloud.worker.decode import decode_image
from cloud.worker.models import store
from cloud.worker.models.bundle import MANIFEST_FILE, ONNX_FILE, BadBundle, read_bundle
from cloud.worker.models.engine import load_engine
from cloud.worker.models.errors import ModelUnavailable
from cloud.worker.models.export import ExportRefused, check
from cloud.worker.models.onnx_engine import OnnxClassifier
from cloud.worker.models.preprocess import Preprocessing
from shared.config import Config
from shared.s3 import S3Service


@pytest.fixture(scope="module")
def bundle():
    """The default model's bundle from the session's model cache (exported by the first test that needs it)."""
    return store.local_bundle(Config())


@pytest.fixture(scope="module")
def onnx(bundle):
    return OnnxClassifier(bundle, "cpu")


def _encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _awkward_images(good_jpeg: bytes) -> dict[str, bytes]:
    photo = decode_image(good_jpeg)
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise
    grey16 = Image.fromarray(np.asarray(photo.convert("L"), dtype=np.uint16) * 257)  # 16-bit greyscale
    return {
        "cmyk.jpg": _encoded(photo.convert("CMYK"), "JPEG", quality=95),
        "palette.png": _encoded(photo.convert("P", palette=Image.Palette.ADAPTIVE), "PNG"),
        "grey16.png": _encoded(grey16, "PNG"),
        "sideways.jpg": _encoded(photo.resize((64, 40)), "JPEG", exif=exif),
        "one-pixel.png": _encoded(Image.new("RGB", (1, 1), (200, 30, 40)), "PNG"),
        "strip.png": _encoded(Image.new("RGB", (4000, 12), (10, 120, 250)), "PNG"),
    }


def test_the_torch_free_preprocessing_gives_the_torch_transforms_tensor(classifier, workload_dir, good_jpeg):
    spec = classifier.preprocessing
    assert spec == Preprocessing(resize=256, crop=(224, 224), interpolation="bicubic", mean=(0.5,) * 3, std=(0.5,) * 3)
    files = {p.name: p.read_bytes() for p in sorted(workload_dir.glob("*.JPEG"))}
    files.update(_awkward_images(good_jpeg))
    worst = 0.0
    for name, data in files.items():
        image = decode_image(data)
        ours = spec(image)
        theirs = classifier.transform(image).numpy()
        assert ours.shape == theirs.shape == (3, 224, 224), name
        worst = max(worst, float(np.abs(ours - theirs).max()))
    assert worst <= 1e-6


def test_onnx_labels_equal_torch_labels_on_the_workload(classifier, onnx, workload_dir):
    images = [decode_image(p.read_bytes()) for p in sorted(workload_dir.glob("*.JPEG"))]
    for start in range(0, len(images), 25):
        chunk = images[start : start + 25]
        ours, theirs = onnx.classify(chunk), classifier.classify(chunk)
        for a, b in zip(ours, theirs, strict=True):
            assert a.label == b.label
            assert [label for label, _ in a.top5] == [label for label, _ in b.top5]
            assert a.score == pytest.approx(b.score, abs=1e-4)


def test_the_default_engine_is_onnx_and_needs_no_torch_model(bundle):
    classifier = load_engine(Config())
    assert classifier.engine == "onnx" and classifier.name == "efficientnet-lite0"
    assert classifier.labels[323] == "monarch"  # class names from torchvision's metadata, carried by the bundle
    assert load_engine(Config(engine="torch")).engine == "torch"


def test_the_export_refuses_a_model_that_answers_differently(classifier, bundle, workload_dir, tmp_path):
    """A bundle whose preprocessing drifted (bilinear instead of bicubic) is refused, with the worst image named."""
    drifted = Preprocessing(resize=256, crop=(224, 224), interpolation="bilinear", mean=(0.5,) * 3, std=(0.5,) * 3)
    shutil.copytree(bundle.path, tmp_path / "b")
    manifest = json.loads((tmp_path / "b" / MANIFEST_FILE).read_text())
    manifest["preprocessing"] = drifted.to_dict()
    (tmp_path / "b" / MANIFEST_FILE).write_text(json.dumps(manifest))
    candidate = OnnxClassifier(read_bundle(tmp_path / "b"), "cpu")
    paths = sorted(workload_dir.glob("*.JPEG"))[:8]
    with pytest.raises(ExportRefused, match=r"differs .* on test_\d+\.JPEG"):
        check(classifier, candidate, paths)
    report = check(classifier, OnnxClassifier(bundle, "cpu"), paths)
    assert report.top1_agree == 8 and report.max_probability_diff <= 1e-4


def test_an_altered_or_incomplete_bundle_is_refused(bundle, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(bundle.path, copy)
    assert read_bundle(copy).sha256 == bundle.sha256
    with open(copy / ONNX_FILE, "r+b") as fh:
        fh.seek(-100, 2)
        fh.write(b"\0" * 100)
    with pytest.raises(BadBundle, match="does not match its sha256"):
        read_bundle(copy)
    manifest = json.loads((copy / MANIFEST_FILE).read_text())
    for field, value in (("sha256", "../../etc/passwd"), ("labels", "monarch"), ("format", 99)):
        (copy / MANIFEST_FILE).write_text(json.dumps({**manifest, field: value}))
        with pytest.raises(BadBundle):
            read_bundle(copy, verify=False)


def test_a_published_bundle_reaches_an_empty_cache_and_classifies_the_same(moto_server, bundle, onnx, good_jpeg,
                                                                            tmp_path):
    from shared.provision import provision

    cfg = moto_server.config(Config(output_bucket="models-test-out", input_bucket="models-test-in",
                                    model_cache=str(tmp_path / "fresh-cache")))
    provision(cfg)
    s3 = S3Service(cfg)
    assert store.fetch(s3, cfg.output_bucket, cfg.model, store.cache_root(cfg)) is None  # nothing published yet
    store.publish(s3, cfg.output_bucket, bundle)
    worker_side = load_engine(cfg, s3)
    assert worker_side.bundle.sha256 == bundle.sha256
    assert worker_side.bundle.path.is_relative_to(tmp_path / "fresh-cache")
    image = decode_image(good_jpeg)
    assert worker_side.classify([image]) == onnx.classify([image])

    # A sidecar that points at weights other than its own hash is refused; nothing is cached.
    manifest = s3.get_json(cfg.output_bucket, "models/efficientnet-lite0/bundle.json")
    other = "0" * 64
    s3.put_bytes(cfg.output_bucket, f"models/efficientnet-lite0/{other}.onnx", b"not a model")
    s3.put_json(cfg.output_bucket, "models/efficientnet-lite0/bundle.json", {**manifest, "sha256": other})
    with pytest.raises(BadBundle, match="does not match"):
        store.fetch(s3, cfg.output_bucket, cfg.model, tmp_path / "other-cache")
    assert not (tmp_path / "other-cache" / "efficientnet-lite0" / other).exists()


def test_no_bundle_and_no_torch_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setattr(store, "can_export", lambda: False)
    with pytest.raises(ModelUnavailable, match=r"imgrec model publish --model efficientnet-lite0"):
        load_engine(Config(model_cache=str(tmp_path / "empty")))


def test_the_torch_engine_and_the_onnx_engine_use_one_softmax_and_top5(classifier, onnx, good_jpeg):
    image = decode_image(good_jpeg)
    batch = torch.from_numpy(onnx.preprocessing.to_batch([onnx.prepare(image)]))
    assert np.allclose(classifier.probabilities(batch), onnx.probabilities(batch.numpy()), atol=1e-5)
