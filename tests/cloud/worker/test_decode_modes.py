"""Every image mode decodes to what a viewer shows (issue 8): the same label as the same photo in plain 8-bit
RGB, and pixels within 2 levels of it on average. Each variant is built from a real workload photo: the
monarch butterfly (test_2.JPEG) in colour and in grey, and a grey photo (test_32.JPEG, chain mail).
Transparent variants show their photo in a white frame that is transparent in the file (black underneath),
the inside partly transparent over colours chosen so that, over white, it is the photo again."""

from __future__ import annotations

import io
import struct
import time
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from cloud.worker.decode import decode_image, to_rgb
from cloud.worker.models.engine import load_engine
from shared.config import Config
from tests.reliability import Outcome

EXIF_ORIENTATION = 0x0112
FRAME = 3  # pixels of transparent border in the transparent variants (wider frames change the grey labels)
MAX_MEAN_LEVELS = 2.0


@pytest.fixture(scope="module")
def engine():
    """The ONNX engine on the default model (its bundle comes from the session's model cache)."""
    return load_engine(Config())


@pytest.fixture(scope="module")
def photos(workload_dir) -> dict[str, np.ndarray]:
    """name -> 8-bit RGB samples (height, width, 3); grey photos have three equal channels."""
    monarch = Image.open(workload_dir / "test_2.JPEG").convert("RGB")
    chain_mail = Image.open(workload_dir / "test_32.JPEG").convert("RGB")
    return {
        "monarch": np.asarray(monarch),
        "grey monarch": np.asarray(monarch.convert("L").convert("RGB")),
        "grey chain mail": np.asarray(chain_mail.convert("L").convert("RGB")),
    }


# --- files built here ---------------------------------------------------------------------------------------

def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png16(samples: np.ndarray) -> bytes:
    """A 16-bit PNG (grey, grey+alpha, RGB or RGBA by the channel count): Pillow cannot write these."""
    height, width = samples.shape[:2]
    channels = 1 if samples.ndim == 2 else samples.shape[2]
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in samples)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def deep(grey: np.ndarray) -> np.ndarray:
    """8-bit samples as genuine 16-bit data: v * 257 plus noise below half a level, so v when rounded."""
    noise = np.random.default_rng(8).integers(-120, 121, grey.shape)
    return np.clip(grey.astype(np.int64) * 257 + noise, 0, 65535).astype(np.uint16)


def framed(rgb: np.ndarray) -> np.ndarray:
    out = rgb.copy()
    out[:FRAME], out[-FRAME:], out[:, :FRAME], out[:, -FRAME:] = 255, 255, 255, 255
    return out


def frame_mask(shape: tuple[int, ...]) -> np.ndarray:
    mask = np.zeros(shape[:2], bool)
    mask[:FRAME], mask[-FRAME:], mask[:, :FRAME], mask[:, -FRAME:] = True, True, True, True
    return mask


def over_white_as(rgb: np.ndarray) -> np.ndarray:
    """RGBA that shows ``framed(rgb)`` over white: the frame fully transparent over black, the inside
    transparent where the photo is light, its colours darkened so that compositing brings them back."""
    target = framed(rgb).astype(np.float64)
    alpha = np.rint(255 * (1 - 0.8 * target.min(axis=2) / 255)) / 255  # >= 1 - min/255: colours stay >= 0
    colour = np.clip(np.rint((target - 255 * (1 - alpha[..., None])) / alpha[..., None]), 0, 255)
    mask = frame_mask(rgb.shape)
    alpha[mask], colour[mask] = 0, 0
    return np.dstack([colour, np.rint(alpha * 255)]).astype(np.uint8)


def with_transparent_frame(rgb: np.ndarray) -> tuple[Image.Image, int]:
    """The photo in 255 palette colours, the frame in a 256th one: black, and transparent."""
    image = Image.fromarray(rgb).quantize(255)
    indices = np.asarray(image).copy()
    indices[frame_mask(rgb.shape)] = 255
    palette = image.getpalette()[: 255 * 3] + [0, 0, 0]
    out = Image.fromarray(indices, "P")
    out.putpalette(palette)
    return out, 255


def quantized_framed(rgb: np.ndarray) -> np.ndarray:
    """What the palette variants show: their palette's colours (the encoder's loss, not the decoder's)."""
    image, _ = with_transparent_frame(rgb)
    return framed(np.asarray(image.convert("RGB")))


def sideways(samples: np.ndarray, fmt: str, **options) -> bytes:
    """Stored turned a quarter left, with EXIF orientation 6 (turn it a quarter right to show it)."""
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    return encoded(Image.fromarray(np.ascontiguousarray(np.rot90(samples))), fmt, exif=exif, **options)


def without_adobe_marker(cmyk: np.ndarray) -> bytes:
    """A plain (not inverted) CMYK JPEG, as some non-Adobe writers make: no APP14 "Adobe" segment."""
    data = encoded(Image.fromarray(255 - cmyk, "CMYK"), "JPEG", quality=100, subsampling=0)  # Pillow inverts
    start = data.find(b"\xff\xee")
    assert data[start + 4 : start + 9] == b"Adobe"
    return data[:start] + data[start + 2 + struct.unpack(">H", data[start + 2 : start + 4])[0] :]


def cmyk_with_black(rgb: np.ndarray) -> np.ndarray:
    """CMYK with the grey in K (as print separations are), which is RGB under multiplicative conversion."""
    k = 255 - rgb.max(axis=2).astype(np.float64)
    ink = np.where(k[..., None] < 255, (255 - rgb - k[..., None]) / np.maximum(255 - k[..., None], 1) * 255, 0)
    return np.rint(np.dstack([ink, k])).astype(np.uint8)


Variant = Callable[[np.ndarray], tuple[bytes, np.ndarray]]  # 8-bit RGB photo -> (file, what it shows)

GREY: dict[str, Variant] = {
    "16-bit grey PNG (I;16)": lambda p: (png16(deep(p[..., 0])), p),
    "16-bit big-endian grey TIFF (I;16B)": lambda p: (
        encoded(Image.frombytes("I;16B", p.shape[1::-1], deep(p[..., 0]).astype(">u2").tobytes()), "TIFF"), p),
    "32-bit grey TIFF (I)": lambda p: (
        encoded(Image.fromarray(np.rint(p[..., 0] * ((2**31 - 1) / 255)).astype(np.int32)), "TIFF"), p),
    "16-bit PGM (I, no depth in the mode)": lambda p: (
        b"P5 %d %d 65535\n" % p.shape[1::-1] + deep(p[..., 0]).astype(">u2").tobytes(), p),
    "float grey TIFF, 0..1 (F)": lambda p: (encoded(Image.fromarray(p[..., 0] / np.float32(255)), "TIFF"), p),
    "float grey TIFF, 0..255 (F)": lambda p: (encoded(Image.fromarray(p[..., 0].astype(np.float32)), "TIFF"), p),
    "16-bit grey PNG taken sideways": lambda p: (sideways(deep(p[..., 0]), "PNG"), p),
    "grey + alpha PNG (LA)": lambda p: (
        encoded(Image.fromarray(over_white_as(p)[..., [0, 3]], "LA"), "PNG"), framed(p)),
}

COLOUR: dict[str, Variant] = {
    "16-bit RGB PNG": lambda p: (png16(np.dstack([deep(p[..., c]) for c in range(3)])), p),
    "16-bit RGBA PNG": lambda p: (png16(over_white_as(p).astype(np.uint16) * 257), framed(p)),
    "RGBA PNG": lambda p: (encoded(Image.fromarray(over_white_as(p), "RGBA"), "PNG"), framed(p)),
    "palette PNG with a transparent index (P)": lambda p: (
        encoded(with_transparent_frame(p)[0], "PNG", transparency=255), quantized_framed(p)),
    "palette PNG with alpha per entry (P, tRNS)": lambda p: (
        encoded(with_transparent_frame(p)[0], "PNG", transparency=bytes([255] * 255 + [0])), quantized_framed(p)),
    "GIF with a transparent index": lambda p: (
        encoded(with_transparent_frame(p)[0], "GIF", transparency=255), quantized_framed(p)),
    "CMYK JPEG, Adobe (inverted)": lambda p: (
        encoded(Image.fromarray(cmyk_with_black(p), "CMYK"), "JPEG", quality=100, subsampling=0), p),
    "CMYK JPEG, no Adobe marker": lambda p: (without_adobe_marker(cmyk_with_black(p)), p),
    "JPEG taken sideways": lambda p: (sideways(p, "JPEG", quality=100, subsampling=0), p),
}

CASES = [pytest.param(photo, variant, id=f"{photo}: {variant}") for variant in COLOUR for photo in ["monarch"]]
CASES += [pytest.param(photo, variant, id=f"{photo}: {variant}")
          for variant in GREY for photo in ["grey monarch", "grey chain mail"]]


@pytest.mark.parametrize("photo, variant", CASES)
def test_each_mode_decodes_to_what_a_viewer_shows_and_gets_the_8bit_label(engine, photos, photo, variant,
                                                                         reliability):
    data, shown = {**COLOUR, **GREY}[variant](photos[photo])
    started = time.monotonic()
    decoded = decode_image(data)
    assert decoded.mode == "RGB" and decoded.size == (shown.shape[1], shown.shape[0])
    levels = float(np.abs(np.asarray(decoded, dtype=np.int16) - shown.astype(np.int16)).mean())
    assert levels <= MAX_MEAN_LEVELS, f"{levels:.1f} levels off on average"
    expected, got = engine.classify([Image.fromarray(shown), decoded])
    wrong = None if got.label == expected.label else f"{got.label!r}, not the 8-bit photo's {expected.label!r}"
    reliability.record("16-bit and other image modes", images=1, results=[Outcome(f"{photo}: {variant}", error=wrong)],
                       seconds=time.monotonic() - started)
    assert got.label == expected.label


def test_the_variants_labels_are_the_photos_own(engine, photos):
    """The photos the variants show keep their labels when framed: a frame is no excuse for a wrong label."""
    shown = [photos["monarch"], framed(photos["monarch"]), photos["grey monarch"], framed(photos["grey monarch"]),
             photos["grey chain mail"], framed(photos["grey chain mail"])]
    labels = [p.label for p in engine.classify([Image.fromarray(s) for s in shown])]
    assert labels == ["monarch", "monarch", "grey whale", "grey whale", "chain mail", "chain mail"]


def test_palette_with_alpha_is_composited_over_white():
    """"PA" comes from no file we build here, so through to_rgb: half-transparent black over white is mid grey."""
    image = Image.new("PA", (2, 1))
    image.putpalette([0, 0, 0, 255, 0, 0])
    image.putpixel((0, 0), (0, 128))
    image.putpixel((1, 0), (1, 255))
    assert np.asarray(to_rgb(image)).tolist() == [[[127, 127, 127], [255, 0, 0]]]
