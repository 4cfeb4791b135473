"""Which engine serves: ``engine = auto | onnx | torch`` (the ``engine`` setting, ``--engine``).

* ``onnx``: ONNX Runtime over a model bundle (:mod:`cloud.worker.models.onnx_engine`). The bundle comes
  from the output bucket when one is published there (a worker with an S3 client), else from the
  local cache, exported into it first when this environment has torch. Imports no torch.
* ``torch``: the model in torch eager mode (:mod:`cloud.worker.models.registry`), the reference.
* ``auto``: onnx. On CPU it measured about twice torch eager's images per core here, with the same
  labels. On CUDA ONNX Runtime needs the onnxruntime-gpu build; with the stock build it serves on CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from PIL import Image

from cloud.worker.models.prediction import Prediction
from cloud.worker.models.preprocess import Preprocessing
from shared.config import Config
from shared.s3 import S3Service


class ImageClassifier(Protocol):
    """What the worker loop and ``imgrec predict`` need of an engine."""

    name: str
    engine: str  # onnx | torch
    labels: tuple[str, ...]
    preprocessing: Preprocessing | None  # the model's preprocessing as data (None: torch-only transform)

    def prepare(self, image: Image.Image): ...

    def classify_prepared(self, prepared: Sequence) -> list[Prediction]: ...

    def classify(self, images: Sequence[Image.Image]) -> list[Prediction]: ...


def chosen_engine(cfg: Config) -> str:
    return "torch" if cfg.engine == "torch" else "onnx"


def load_engine(cfg: Config, s3: S3Service | None = None, *, serving: bool = False) -> ImageClassifier:
    """The configured model on the configured engine and device; a ModelError says why not.
    ``serving``: for a worker (batches with gaps between them), rather than back-to-back batches."""
    if chosen_engine(cfg) == "torch":
        from cloud.worker.models.registry import load_classifier

        return load_classifier(cfg.model, cfg.device)
    from cloud.worker.models.onnx_engine import OnnxClassifier
    from cloud.worker.models.store import cache_root, fetch, local_bundle

    bundle = fetch(s3, cfg.output_bucket, cfg.model, cache_root(cfg)) if s3 is not None else None
    return OnnxClassifier(bundle or local_bundle(cfg), cfg.device, spin=not serving)
