"""Fixtures for the worker's tests: the real model (loaded once per session), bad files built here."""

from __future__ import annotations

import io
import struct
import zlib

import pytest


@pytest.fixture(scope="session")
def classifier():
    """The default model, loaded once for the whole session (it takes seconds)."""
    from cloud.worker.models.registry import load_classifier

    return load_classifier("efficientnet-lite0", "cpu")


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny, valid-looking PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])  # keep depth, colour type, ...
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


@pytest.fixture(scope="session")
def png_claiming():
    """Builds a PNG whose header claims the given size: png_claiming(60000, 60000)."""
    return _png_claiming


@pytest.fixture(scope="session")
def good_jpeg(workload_dir) -> bytes:
    """test_2.JPEG: a monarch butterfly."""
    return (workload_dir / "test_2.JPEG").read_bytes()


@pytest.fixture(scope="session")
def bad_files(good_jpeg) -> dict[str, tuple[bytes, str]]:
    """name -> (bytes, the reason a user should see)."""
    return {
        "notes.jpg": (b"these are my holiday notes, not a photo\n", "not an image"),
        "empty.jpg": (b"", "empty file"),
        "truncated.jpg": (good_jpeg[: len(good_jpeg) // 2], "truncated or corrupt image"),
        "bomb.png": (_png_claiming(60000, 60000), "image too large: 60000x60000 pixels (limit 40000000)"),
    }
