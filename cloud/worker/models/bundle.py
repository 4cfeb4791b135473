"""A model bundle: an ONNX file with a dynamic batch axis plus a JSON sidecar that says how to use it.

    <dir>/model.onnx
    <dir>/bundle.json   {"format": 1, "model": "efficientnet-lite0", "sha256": "...", "labels": [...],
                         "preprocessing": {"resize": 256, "crop": [224, 224], "interpolation": "bicubic",
                                           "mean": [...], "std": [...]}, "input": "input", ...}

The sidecar carries everything a worker needs besides the weights: class names (taken from the model's
library at export time), the exact preprocessing, the source model and the content hash of the ONNX
file. Nothing in it is trusted blindly: :func:`parse_manifest` checks every field a worker relies on.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloud.worker.models.errors import ModelError
from cloud.worker.models.preprocess import Preprocessing

FORMAT = 1
ONNX_FILE = "model.onnx"
MANIFEST_FILE = "bundle.json"
_SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_LABELS = 100_000


class BadBundle(ModelError):
    """A bundle is incomplete, altered or of a format this version does not read."""


@dataclass(frozen=True)
class Bundle:
    model: str  # the registry name it was exported from ("efficientnet-lite0", "timm:resnet50.a1_in1k")
    sha256: str  # of model.onnx
    labels: tuple[str, ...]
    preprocessing: Preprocessing
    input_name: str = "input"
    output_name: str = "logits"
    details: Mapping[str, Any] = field(default_factory=dict, compare=False)  # source, versions, the export check
    path: Path | None = field(default=None, compare=False)  # the folder, once on disk

    @property
    def onnx_path(self) -> Path:
        if self.path is None:
            raise BadBundle(f"bundle {self.model} is not on disk")
        return self.path / ONNX_FILE

    def manifest(self) -> dict[str, Any]:
        return {"format": FORMAT, "model": self.model, "sha256": self.sha256, "labels": list(self.labels),
                "preprocessing": self.preprocessing.to_dict(), "input": self.input_name,
                "output": self.output_name, **dict(self.details)}

    def at(self, path: Path) -> Bundle:
        return Bundle(self.model, self.sha256, self.labels, self.preprocessing, self.input_name,
                      self.output_name, self.details, Path(path))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def parse_manifest(data: Any, where: str) -> Bundle:
    """A Bundle from a sidecar's JSON, or BadBundle naming ``where`` and what is wrong."""
    def bad(why: str) -> BadBundle:
        return BadBundle(f"model bundle {where}: {why}")

    if not isinstance(data, dict):
        raise bad("the sidecar is not a JSON object")
    if data.get("format") != FORMAT:
        raise bad(f"format {data.get('format')!r}, this version reads format {FORMAT}")
    model, sha, labels = data.get("model"), data.get("sha256"), data.get("labels")
    if not isinstance(model, str) or not model:
        raise bad("no model name")
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        raise bad("no valid sha256")
    if (not isinstance(labels, list) or not 0 < len(labels) <= MAX_LABELS
            or not all(isinstance(label, str) for label in labels)):
        raise bad("no valid list of class names")
    try:
        preprocessing = Preprocessing.from_dict(data.get("preprocessing") or {})
    except ValueError as exc:
        raise bad(str(exc)) from None
    names = data.get("input", "input"), data.get("output", "logits")
    if not all(isinstance(name, str) and name for name in names):
        raise bad("input and output names must be strings")
    known = {"format", "model", "sha256", "labels", "preprocessing", "input", "output"}
    details = {k: v for k, v in data.items() if k not in known}
    return Bundle(model, sha, tuple(labels), preprocessing, names[0], names[1], details)


def read_bundle(path: Path, verify: bool = True) -> Bundle:
    """The bundle in folder ``path``; with ``verify``, the ONNX file's hash must match the sidecar's."""
    path = Path(path)
    try:
        data = json.loads((path / MANIFEST_FILE).read_text())
    except FileNotFoundError:
        raise BadBundle(f"no model bundle in {path} (no {MANIFEST_FILE})") from None
    except (OSError, ValueError) as exc:
        raise BadBundle(f"model bundle {path}: unreadable sidecar: {exc}") from None
    bundle = parse_manifest(data, str(path)).at(path)
    if not bundle.onnx_path.is_file():
        raise BadBundle(f"model bundle {path}: {ONNX_FILE} is missing")
    if verify and file_sha256(bundle.onnx_path) != bundle.sha256:
        raise BadBundle(f"model bundle {path}: {ONNX_FILE} does not match its sha256 (altered or incomplete)")
    return bundle


def write_manifest(bundle: Bundle, path: Path) -> None:
    (Path(path) / MANIFEST_FILE).write_text(json.dumps(bundle.manifest(), indent=1) + "\n")
