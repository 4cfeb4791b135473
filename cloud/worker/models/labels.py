"""Class names, always from the libraries that publish the models, never from a hand-written file."""

from __future__ import annotations

from functools import cache

IMAGENET_1K = 1000


@cache
def imagenet_1k() -> tuple[str, ...]:
    """torchvision's ImageNet-1k category names: short ("monarch", "guacamole") and unique
    ("crane" the bird is "crane bird"), as published in the metadata of its ImageNet weights."""
    from torchvision.models import ResNet18_Weights

    return tuple(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def for_timm_model(model) -> tuple[str, ...]:
    """Names for a timm model's outputs: ImageNet-1k names, or timm's own for other ImageNet subsets."""
    num_classes = getattr(model, "num_classes", IMAGENET_1K)
    if num_classes == IMAGENET_1K:
        return imagenet_1k()
    from timm.data import ImageNetInfo, infer_imagenet_subset

    subset = infer_imagenet_subset(model)
    if subset:
        info = ImageNetInfo(subset)
        if info.num_classes() == num_classes:
            return tuple(info.index_to_description(i).split(",")[0] for i in range(num_classes))
    return tuple(f"class {i}" for i in range(num_classes))
