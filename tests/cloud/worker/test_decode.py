"""The decode guards: every bad input is refused with a short reason, before any big allocation."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from cloud.worker.decode import BadImage, decode_image


def reason(data: bytes, **limits) -> str:
    with pytest.raises(BadImage) as caught:
        decode_image(data, **limits)
    return caught.value.reason


def test_bad_files_are_refused_with_their_reason(bad_files):
    for name, (data, expected) in bad_files.items():
        assert reason(data) == expected, name


def test_a_decompression_bomb_is_refused_from_its_header_alone(png_claiming):
    bomb = png_claiming(60000, 60000)
    started = time.perf_counter()
    assert reason(bomb, max_pixels=40_000_000) == "image too large: 60000x60000 pixels (limit 40000000)"
    # Decoding 3.6 billion pixels would take minutes and gigabytes; the guard answers at once.
    assert time.perf_counter() - started < 1


def test_the_configured_pixel_limit_is_the_one_that_applies(png_claiming):
    assert decode_image(png_claiming(8, 8), max_pixels=64).size == (8, 8)
    assert reason(png_claiming(8, 8), max_pixels=63) == "image too large: 8x8 pixels (limit 63)"
    # Above Pillow's own hard limit (2 x 89 M pixels), still our check and our message.
    assert reason(png_claiming(20000, 10000), max_pixels=100) == "image too large: 20000x10000 pixels (limit 100)"


def test_too_many_bytes_is_refused_before_decoding(good_jpeg):
    assert reason(good_jpeg, max_bytes=100) == f"image too large: {len(good_jpeg)} bytes (limit 100)"


def test_a_good_photo_decodes_to_rgb(good_jpeg):
    image = decode_image(good_jpeg)
    assert image.mode == "RGB" and image.size == (64, 64)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "I;16"])
def test_other_colour_modes_become_rgb(mode):
    buffer = io.BytesIO()
    Image.new(mode, (10, 7)).save(buffer, "TIFF")
    image = decode_image(buffer.getvalue())
    assert image.mode == "RGB" and image.size == (10, 7)


def test_a_sideways_photo_is_turned_upright():
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    Image.new("RGB", (40, 20), "red").save(buffer, "JPEG", exif=exif)
    assert decode_image(buffer.getvalue()).size == (20, 40)
