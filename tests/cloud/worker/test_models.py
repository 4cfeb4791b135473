"""The model registry: the shipped default works offline and is right on obvious photos; other names
fail fast and clearly when their weights cannot be had."""

from __future__ import annotations

import time
from collections import OrderedDict

import pytest
import torch
from PIL import Image

from cloud.worker.models.errors import ModelUnavailable, UnknownModel, WeightsMismatch
from cloud.worker.models.registry import load_classifier
from cloud.worker.models.shipped import map_by_position

# Images of the workload whose content is obvious to a person, and the label a person would give.
OBVIOUS = {
    "test_2.JPEG": "monarch",
    "test_3.JPEG": "steel arch bridge",
    "test_10.JPEG": "guacamole",
    "test_25.JPEG": "fountain",
}


def test_default_model_labels_obvious_photos(classifier, workload_dir):
    images = [Image.open(workload_dir / name).convert("RGB") for name in OBVIOUS]
    predictions = classifier.classify(images)
    assert [p.label for p in predictions] == list(OBVIOUS.values())
    for p in predictions:
        assert p.top5[0] == (p.label, p.score)
        assert len(p.top5) == 5 and len({label for label, _ in p.top5}) == 5
        scores = [score for _, score in p.top5]
        assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1.0001


def test_default_model_uses_its_own_preprocessing(classifier):
    assert classifier.name == "efficientnet-lite0" and classifier.device.type == "cpu"
    tensor = classifier.transform(Image.new("RGB", (64, 48), (255, 255, 255)))
    assert tuple(tensor.shape) == (3, 224, 224)
    # mean = std = 0.5: white maps to +1, not to ImageNet-normalised values.
    assert torch.allclose(tensor, torch.ones_like(tensor))


def test_a_batch_gives_what_single_images_give(classifier, workload_dir):
    images = [Image.open(workload_dir / f"test_{i}.JPEG").convert("RGB") for i in range(6)]
    batched = [p.label for p in classifier.classify(images)]
    assert batched == [classifier.classify([image])[0].label for image in images]


def test_an_unknown_name_says_what_is_available():
    with pytest.raises(UnknownModel) as caught:
        load_classifier("resnet81")
    message = str(caught.value)
    assert "unknown model 'resnet81'" in message
    assert "efficientnet-lite0" in message and "torchvision" in message and "timm" in message
    assert "Did you mean: resnet18" in message


@pytest.mark.parametrize("name", ["resnet18", "timm:resnet18"])
def test_a_model_without_shipped_weights_fails_fast_offline(name, monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no cached torchvision weights
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    with pytest.raises(ModelUnavailable) as caught:
        load_classifier(name)
    assert str(caught.value) == (
        "could not fetch weights for resnet18: no network (HF_HUB_OFFLINE is set); "
        "only efficientnet-lite0 ships its weights"
    )
    # A generous "does not hang" bound (no network retries offline), not a speed goal.
    assert time.monotonic() - started < 60


def test_shipped_weights_are_mapped_by_position_and_shapes_checked():
    target = OrderedDict(conv=torch.zeros(4, 3), bias=torch.zeros(4))
    mapped = map_by_position(OrderedDict(_conv=torch.ones(4, 3), _bias=torch.ones(4)), target)
    assert list(mapped) == ["conv", "bias"] and bool(mapped["conv"].eq(1).all())
    with pytest.raises(WeightsMismatch, match=r"_bias \(5,\) vs bias \(4,\)"):
        map_by_position(OrderedDict(_conv=torch.ones(4, 3), _bias=torch.ones(5)), target)
    with pytest.raises(WeightsMismatch, match="1 tensors, the model expects 2"):
        map_by_position(OrderedDict(_conv=torch.ones(4, 3)), target)
