"""Perceptual hashes (via ``imagehash``), one registry entry per method.

Every method maps an image to a 64-bit hash stored as a 16-character hex string; similar
images have hashes a small Hamming distance apart (0 = same hash, 64 = opposite).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image

from labelclean.errors import RegistryError

HASH_BITS = 64


def _imagehash(name: str) -> Callable[[Image.Image], np.ndarray]:
    def compute(img: Image.Image) -> np.ndarray:
        import imagehash

        fn = {"phash": imagehash.phash, "dhash": imagehash.dhash,
              "ahash": imagehash.average_hash, "whash": imagehash.whash}[name]
        return fn(img).hash
    compute.__name__ = name
    return compute


HASH_METHODS: dict[str, Callable[[Image.Image], np.ndarray]] = {
    name: _imagehash(name) for name in ("phash", "dhash", "ahash", "whash")
}


def list_hash_methods() -> list[str]:
    """Names of the perceptual hash methods."""
    return sorted(HASH_METHODS)


def check_hash_methods(names: list[str]) -> list[str]:
    for name in names:
        if name not in HASH_METHODS:
            raise RegistryError("hash method", name, list_hash_methods())
    return names


def hash_hex(name: str, img: Image.Image) -> str:
    """The ``name`` hash of ``img`` as 16 hex characters."""
    if name not in HASH_METHODS:
        raise RegistryError("hash method", name, list_hash_methods())
    bits = np.asarray(HASH_METHODS[name](img), dtype=bool).ravel()
    return np.packbits(bits).tobytes().hex()


def hex_to_bytes(hashes: list[str]) -> np.ndarray:
    """Hex hashes to an (N, 8) uint8 array (the layout faiss binary indexes take)."""
    return np.frombuffer(bytes.fromhex("".join(hashes)), dtype=np.uint8).reshape(-1, 8)


def hamming(a: str, b: str) -> int:
    """Hamming distance between two hex hashes (0 = identical)."""
    return int(bin(int(a, 16) ^ int(b, 16)).count("1"))
