"""``imgrec model export``: a classifier from the registry (torch) as a model bundle for the ONNX engine.

The export checks itself before it writes anything: on a set of real images (the standard workload
when it is beside the checkout, else the files given), the Pillow + numpy preprocessing must give
the torch transform's input tensor (within ``MAX_INPUT_DIFF``), and ONNX Runtime's probabilities must
equal torch's (within ``MAX_PROBABILITY_DIFF``) with the same top-1 on every image. Otherwise it
refuses, naming the worst image. Needs torch (the ``export`` extra); the bundle it writes does not.
"""

from __future__ import annotations

import datetime
import logging
import shutil
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cloud.worker.decode import BadImage, decode_image
from cloud.worker.models.bundle import ONNX_FILE, Bundle, file_sha256, write_manifest
from cloud.worker.models.classifier import Classifier
from cloud.worker.models.errors import ModelError
from cloud.worker.models.onnx_engine import OnnxClassifier
from cloud.worker.models.registry import load_classifier, resolve

log = logging.getLogger(__name__)

OPSET = 17
MAX_INPUT_DIFF = 1e-6
MAX_PROBABILITY_DIFF = 1e-4
CHECK_BATCH = 16
_SOURCE_ROOT = Path(__file__).resolve().parents[3]
STANDARD_WORKLOAD = _SOURCE_ROOT.parent / "shared" / "workloads" / "imagenet-100"
SAMPLES = _SOURCE_ROOT / "samples"


class ExportRefused(ModelError):
    """The exported model does not give the reference's answers; nothing was written."""


@dataclass(frozen=True)
class CheckReport:
    images: int
    max_input_diff: float
    max_probability_diff: float
    top1_agree: int
    worst: str  # the image with the largest probability difference

    def to_dict(self) -> dict:
        return {"images": self.images, "max_input_diff": self.max_input_diff,
                "max_probability_diff": self.max_probability_diff, "top1_agree": self.top1_agree,
                "worst": self.worst}


def images_in(folder: Path) -> list[Path]:
    """The files directly in ``folder`` that decode as images, by name."""
    if not folder.is_dir():
        return []
    files = sorted(p for p in folder.glob("*") if p.is_file() and not p.name.startswith("."))
    return [p for p in files if _decodes(p)]


def default_check_images() -> list[Path]:
    """The standard workload (100 photos) beside the checkout, else the repository's samples."""
    for folder in (STANDARD_WORKLOAD, SAMPLES):
        images = images_in(folder)
        if images:
            return images
    return []


def _decodes(path: Path) -> bool:
    try:
        decode_image(path.read_bytes())
        return True
    except (BadImage, OSError):
        return False


def export_bundle(model: str, out_dir: Path, check_images: Sequence[Path] | None = None) -> Bundle:
    """Exports ``model`` to ``out_dir`` (created; replaced if it holds a bundle) after the check passes."""
    started = time.monotonic()
    reference = load_classifier(model, "cpu")
    if reference.preprocessing is None:
        raise ModelError(f"{model}: its preprocessing ({reference.transform}) cannot be reproduced without "
                         "torch, so it cannot be exported; serve it with --engine torch")
    images = list(check_images) if check_images is not None else default_check_images()
    if not images:
        raise ModelError("no images to check the export against: give some with --check FOLDER")
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=".export-"))
    try:
        _to_onnx(reference, scratch / ONNX_FILE)
        sha = file_sha256(scratch / ONNX_FILE)
        draft = Bundle(model=reference.name, sha256=sha, labels=reference.labels,
                       preprocessing=reference.preprocessing).at(scratch)
        report = check(reference, OnnxClassifier(draft, "cpu"), images)
        bundle = Bundle(model=reference.name, sha256=sha, labels=reference.labels,
                        preprocessing=reference.preprocessing, details=_details(model, report))
        write_manifest(bundle, scratch)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        scratch.rename(out_dir)  # the bundle appears whole or not at all
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    log.info("exported %s to %s in %.1f s (%d check images, max probability difference %.1e)",
             model, out_dir, time.monotonic() - started, report.images, report.max_probability_diff)
    return bundle.at(out_dir)


def _details(model: str, report: CheckReport) -> dict:
    import timm
    import torchvision

    return {"source": ":".join(resolve(model)), "opset": OPSET,
            "exported": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__, "timm": timm.__version__},
            "check": report.to_dict()}


def _to_onnx(reference: Classifier, path: Path) -> None:
    crop_h, crop_w = reference.preprocessing.crop
    module = reference.model.to(memory_format=torch.contiguous_format)
    example = torch.zeros(2, 3, crop_h, crop_w)
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(module, (example,), str(path), input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                              opset_version=OPSET, dynamo=False)
    finally:
        reference.model.to(memory_format=torch.channels_last)


def check(reference: Classifier, candidate: OnnxClassifier, paths: Sequence[Path]) -> CheckReport:
    """Compares the candidate with the reference on every image; raises ExportRefused on a difference."""
    input_diff = prob_diff = 0.0
    agree = 0
    worst, worst_diff = "", -1.0
    for start in range(0, len(paths), CHECK_BATCH):
        chunk = paths[start : start + CHECK_BATCH]
        images = [decode_image(p.read_bytes()) for p in chunk]
        ours = candidate.preprocessing.to_batch([candidate.prepare(image) for image in images])
        theirs = torch.stack([reference.transform(image) for image in images])
        diffs = np.abs(ours - theirs.numpy()).reshape(len(chunk), -1).max(axis=1)
        if diffs.max() > MAX_INPUT_DIFF:
            bad = chunk[int(diffs.argmax())]
            raise ExportRefused(f"the torch-free preprocessing differs from {reference.name}'s own by "
                                f"{diffs.max():.2e} on {bad.name} (limit {MAX_INPUT_DIFF:g}); nothing was written")
        input_diff = max(input_diff, float(diffs.max()))
        expected = reference.probabilities(theirs)
        got = candidate.probabilities(ours)
        row_diff = np.abs(expected - got).max(axis=1)
        for path, diff, e, g in zip(chunk, row_diff, expected, got, strict=True):
            if diff > worst_diff:
                worst, worst_diff = path.name, float(diff)
            if int(e.argmax()) != int(g.argmax()):
                raise ExportRefused(
                    f"ONNX Runtime's top-1 for {path.name} is {candidate.labels[int(g.argmax())]!r}, torch's is "
                    f"{reference.labels[int(e.argmax())]!r}; nothing was written")
            agree += 1
        prob_diff = max(prob_diff, float(row_diff.max()))
    if prob_diff > MAX_PROBABILITY_DIFF:
        raise ExportRefused(f"ONNX Runtime's probabilities differ from torch's by {prob_diff:.2e} on {worst} "
                            f"(limit {MAX_PROBABILITY_DIFF:g}); nothing was written")
    return CheckReport(images=len(paths), max_input_diff=input_diff, max_probability_diff=prob_diff,
                       top1_agree=agree, worst=worst)
