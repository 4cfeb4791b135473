"""The serving engine: a model bundle run by ONNX Runtime, with Pillow + numpy preprocessing.

No torch, torchvision or timm is imported here or by anything this imports: a worker that serves
with this engine needs only onnxruntime, numpy and Pillow. On CPU it runs the default model about
twice as fast as torch eager (bench/throughput.py, bench/batch_sweep.py) and starts in a fraction of
a second.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np
from PIL import Image

from cloud.worker.models.bundle import Bundle
from cloud.worker.models.errors import DeviceUnavailable, ModelError
from cloud.worker.models.prediction import Prediction, softmax, top_predictions

log = logging.getLogger(__name__)

CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"


def cpu_threads() -> int:
    """OMP_NUM_THREADS when a supervisor set it (several workers sharing cores), else every usable CPU."""
    configured = os.environ.get("OMP_NUM_THREADS", "").strip()
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def providers_for(device: str) -> list[str]:
    """ONNX Runtime providers for ``device`` (auto | cpu | cuda), best first."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    if device == "cuda" and CUDA_PROVIDER not in available:
        raise DeviceUnavailable("device 'cuda' was asked for, but this onnxruntime has no CUDA provider "
                                "(install onnxruntime-gpu on a machine with a GPU)")
    if device in ("cuda", "auto") and CUDA_PROVIDER in available:
        return [CUDA_PROVIDER, CPU_PROVIDER]
    return [CPU_PROVIDER]


class OnnxClassifier:
    """Load once, classify many; the same interface as the torch ``Classifier``."""

    engine = "onnx"

    def __init__(self, bundle: Bundle, device: str = "auto", *, spin: bool = True):
        """``spin``: ONNX Runtime's threads spin while they wait for work. Back-to-back batches
        (``imgrec predict``) run faster so; a worker, whose batches come with gaps while it downloads
        and publishes, only burns CPU so (bench/throughput.py: worker CPU per image 27.0 ms spinning,
        23.2 ms not, the same images/s), so workers turn it off."""
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = cpu_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only
        if not spin:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = onnxruntime.InferenceSession(str(bundle.onnx_path), options,
                                                         providers=providers_for(device))
        except (onnxruntime.capi.onnxruntime_pybind11_state.Fail, RuntimeError, ValueError) as exc:
            raise ModelError(f"could not load the model bundle {bundle.path}: {exc}") from exc
        self.bundle = bundle
        self.name = bundle.model
        self.labels = bundle.labels
        self.preprocessing = bundle.preprocessing
        used = self._session.get_providers()[0]
        self.device = "cuda" if used == CUDA_PROVIDER else "cpu"
        if device == "cuda" and self.device != "cuda":
            raise DeviceUnavailable("device 'cuda' was asked for, but ONNX Runtime could not use the GPU")
        self._input, self._output = bundle.input_name, bundle.output_name

    def prepare(self, image: Image.Image) -> Image.Image:
        """Per-image preprocessing (resize, crop) that is safe and cheap to run in many threads."""
        return self.preprocessing.prepare(image)

    def classify(self, images: Sequence[Image.Image]) -> list[Prediction]:
        return self.classify_prepared([self.prepare(image) for image in images])

    def classify_prepared(self, prepared: Sequence[Image.Image]) -> list[Prediction]:
        if not prepared:
            return []
        return top_predictions(self.probabilities(self.preprocessing.to_batch(prepared)), self.labels)

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """Softmax of the model's output for an NCHW float32 batch."""
        logits = self._session.run([self._output], {self._input: batch})[0]
        return softmax(logits)

    def __repr__(self) -> str:
        return f"OnnxClassifier({self.name!r}, device={self.device})"
