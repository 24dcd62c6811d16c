"""Opening images safely: one decode, bad files described instead of raised.

Every reader here treats the file as hostile: decompression bombs are refused before
decoding, truncated data is an error (never silently padded), and the reason a file
cannot be read is turned into a short human sentence.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from labelclean.io.locations import read_error, read_image_bytes

ImageFile.LOAD_TRUNCATED_IMAGES = False
#: Images declaring more pixels than this are refused as decompression bombs (PIL's own limit).
DEFAULT_MAX_PIXELS = 2 * 89_478_485
_ORIENTATION_TAG = 0x0112
_TRANSPOSED_ORIENTATIONS = {5, 6, 7, 8}
#: where a JPEG can say its orientation (EXIF, XMP); without them it is upright, unparsed
_JPEG_ORIENTATION = {"exif", "xmp", "XML:com.adobe.xmp"}


class UnreadableImage(Exception):
    """A file that cannot be used as an image; ``str(exc)`` is the human reason."""


def describe_unidentified(data: bytes) -> str:
    """Why PIL did not recognise ``data`` as an image."""
    head = data[:512].lstrip().lower()
    if head.startswith((b"<!doctype", b"<html", b"<?xml", b"<svg", b"<head", b"<body")):
        return "not an image: HTML or XML text"
    try:
        head.decode("utf-8")
        if all(32 <= b or b in (9, 10, 13) for b in head):
            return "not an image: text"
    except UnicodeDecodeError:
        pass
    return "not an image: unrecognised format"


def open_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS,
               draft_size: tuple[int, int] | None = None,
               draft_mode: str | None = None) -> tuple[Image.Image, dict]:
    """Decode ``data`` fully (or in JPEG draft mode at about ``draft_size``).

    Returns the decoded image with its EXIF orientation applied, and facts about the file:
    ``width``/``height`` (full size, after orientation), ``mode`` and ``format`` as stored.
    Raises :class:`UnreadableImage` with a human reason for anything that is not a usable
    image.
    """
    if not data:
        raise UnreadableImage("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            width, height = img.size
            if width * height > max_pixels:
                raise UnreadableImage(_bomb_reason(width * height, max_pixels))
            info = {"mode": img.mode, "format": img.format or ""}
            orientation = (1 if img.format == "JPEG" and not _JPEG_ORIENTATION.intersection(
                img.info) else img.getexif().get(_ORIENTATION_TAG, 1))
            if draft_size is not None and img.format == "JPEG":
                img.draft(draft_mode, draft_size)
            img.load()
    except UnreadableImage:
        raise
    except Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = int(found.group(1)) if found else max_pixels + 1
        raise UnreadableImage(_bomb_reason(pixels, max_pixels)) from None
    except UnidentifiedImageError:
        raise UnreadableImage(describe_unidentified(data)) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError,
            struct.error) as exc:
        text = str(exc).lower()
        if "truncated" in text or isinstance(exc, EOFError):
            raise UnreadableImage("truncated image data") from None
        raise UnreadableImage(f"corrupt image data ({type(exc).__name__})") from None
    if orientation in _TRANSPOSED_ORIENTATIONS:
        width, height = height, width
    if orientation != 1:
        try:
            img = ImageOps.exif_transpose(img)
        except Exception:  # a broken EXIF block must not make the pixels unreadable
            pass
    info.update(width=width, height=height)
    return img, info


def _bomb_reason(pixels: int, limit: int) -> str:
    return f"decompression bomb: declares {pixels:,} pixels (limit {limit:,})"


def to_rgb(img: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Any PIL mode to 8-bit RGB: 16-bit and float scaled, alpha composited on ``background``."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr = np.clip(arr / top * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, mode="L").convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, background)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return img.convert("RGB")


def load_rgb(path: str | Path, *, max_side: int | None = None,
             max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Read a file (local path or URI, :mod:`labelclean.io.locations`) as an RGB image,
    decoding JPEGs in draft mode when ``max_side`` allows.

    Raises :class:`UnreadableImage` for unusable files, like :func:`open_image` (``missing
    file`` / ``cannot read file: ...`` for one that cannot be read).
    """
    try:
        data = read_image_bytes(path)
    except OSError as exc:
        raise UnreadableImage(read_error(exc)) from None
    draft = (max_side, max_side) if max_side else None
    img, _ = open_image(data, max_pixels=max_pixels, draft_size=draft, draft_mode="RGB")
    return to_rgb(img)
