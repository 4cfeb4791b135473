"""The parameters `imgrec deploy` gives the template, where they come from the worker image."""

from __future__ import annotations

import pytest

from cloud.deploy.deploy import DeployError, Image, _image_parameters, instance_arch
from shared.config import load_config


@pytest.mark.parametrize(("instance_type", "arch"), [
    ("t3.medium", "x86_64"), ("c7i.large", "x86_64"), ("g4dn.xlarge", "x86_64"), ("g5.xlarge", "x86_64"),
    ("t4g.medium", "arm64"), ("c7g.large", "arm64"), ("c7gd.large", "arm64"), ("m7g.large", "arm64"),
])
def test_the_architecture_of_an_instance_type(instance_type, arch):
    assert instance_arch(instance_type) == arch


def test_the_launch_templates_take_the_images_root_and_a_controller_of_its_architecture():
    cfg = load_config(env={}).replace(instance_type="t4g.medium")
    image = Image("ami-0123456789abcdef0", "arm64", "/dev/xvda", 20)
    assert _image_parameters(cfg, image) == {"RootDeviceName": "/dev/xvda", "RootVolumeGiB": "20",
                                             "ControllerInstanceType": "t4g.micro"}


def test_an_instance_type_that_cannot_boot_the_image_is_refused_before_anything_is_made():
    cfg = load_config(env={})  # t3.medium: x86_64
    with pytest.raises(DeployError, match="instance_type = 't3.medium'.*x86_64.*arm64"):
        _image_parameters(cfg, Image("ami-0123456789abcdef0", "arm64", "/dev/xvda", 16))
