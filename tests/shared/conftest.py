"""Fixtures of the job-client tests: moto in-process (`mock_aws`), provisioned, and small photos."""

from __future__ import annotations

import io

import pytest
from moto import mock_aws
from PIL import Image

from shared.config import Config
from shared.provision import provision
from shared.scan import scan


@pytest.fixture
def cfg():
    with mock_aws():
        cfg = Config(wait_time=0)
        provision(cfg)
        yield cfg


@pytest.fixture
def photos(tmp_path):
    def make(n: int, folder: str = "photos"):
        root = tmp_path / folder
        root.mkdir(exist_ok=True)
        for i in range(n):
            buffer = io.BytesIO()
            Image.new("RGB", (4, 4), (i, 0, 0)).save(buffer, "PNG")
            (root / f"img{i:03d}.png").write_bytes(buffer.getvalue())
        return scan([root]).images
    return make
