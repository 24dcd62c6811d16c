"""Generators of hostile and unusual image files for the scan tests."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def photo(seed: int = 0, size: tuple[int, int] = (64, 48)) -> Image.Image:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(arr, "RGB")


def jpeg_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", **kw)
    return buf.getvalue()


def bomb_png(width: int = 60000, height: int = 60000) -> bytes:
    """A tiny PNG whose header declares a huge canvas."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))


def write_unreadable(root: Path) -> dict[str, str]:
    """Write the files that must be rows with readable=false; returns {name: reason prefix}."""
    root.mkdir(parents=True, exist_ok=True)
    good = jpeg_bytes(photo(1, (256, 192)), quality=90)
    files = {
        "zero.jpg": (b"", "empty file (0 bytes)"),
        "truncated.jpg": (good[: len(good) // 2], "truncated image data"),
        "random.png": (np.random.default_rng(0).bytes(2048), "not an image: unrecognised format"),
        "page.jpg": (b"<!DOCTYPE html><html><body>404 Not Found</body></html>",
                     "not an image: HTML or XML text"),
        "notes.jpg": (b"just some text that someone saved with the wrong name\n",
                      "not an image: text"),
        "bomb.png": (bomb_png(), "decompression bomb"),
    }
    for name, (data, _) in files.items():
        (root / name).write_bytes(data)
    return {name: reason for name, (_, reason) in files.items()}


def write_readable(root: Path) -> dict[str, tuple[int, int, str, str]]:
    """Write unusual but valid images; returns {name: (width, height, mode, format)}."""
    root.mkdir(parents=True, exist_ok=True)
    out: dict[str, tuple[int, int, str, str]] = {}

    def save(name: str, img: Image.Image, fmt: str, **kw) -> None:
        img.save(root / name, format=fmt, **kw)
        out[name] = (img.width, img.height, img.mode, fmt)

    save("cmyk.jpg", photo(2).convert("CMYK"), "JPEG")
    arr16 = (np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 20)
    save("deep16.png", Image.fromarray(arr16), "PNG")
    pal = photo(3).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    pal.info["transparency"] = 0
    save("palette.png", pal, "PNG", transparency=0)
    save("grey_alpha.png", photo(4).convert("LA"), "PNG")
    frames = [photo(5 + i).convert("P") for i in range(3)]
    frames[0].save(root / "anim.gif", save_all=True, append_images=frames[1:], duration=50)
    out["anim.gif"] = (64, 48, "P", "GIF")
    save("pic.webp", photo(8), "WEBP")
    save("pic.bmp", photo(9), "BMP")
    save("pic.tiff", photo(10), "TIFF")
    rotated = photo(11, (80, 40))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: stored 80x40, shown 40x80
    rotated.save(root / "rotated.jpg", format="JPEG", exif=exif)
    out["rotated.jpg"] = (40, 80, "RGB", "JPEG")
    for name in ("with space.jpg", "ünïcødé 写真.jpg", "a<b>&c.jpg"):
        save(name, photo(12), "JPEG")
    return out
