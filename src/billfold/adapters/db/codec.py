"""Documents as stored: JSON compressed with zstd and a dictionary shipped with Billfold (ADR 0011).

Why: a renewal day writes about 46 KB of JSON per subscription (the invoice, the subscription and five events that
each carry the whole object), and the database's cost of taking those bytes in (on PostgreSQL: parsing the JSON,
compressing it again for TOAST and moving it out of line) was half of the bill run's CPU (docs/benchmarks.md).
Compressed with a dictionary trained on Billfold's own documents (the keys, the shapes and the fixed texts of
Stripe-shaped objects), a 6.5 KB event becomes about 0.8 KB in 9 µs, and a row stays in line.

- ``pack(json)`` compresses with the newest dictionary; the frame names the dictionary it needs (its id).
- ``unpack(stored)`` reads any stored form: a zstd frame (with the dictionary it names, or none), or plain JSON
  (rows written before migration 0005, which changed the column's type and kept their bytes).

Dictionaries live in ``dictionaries/docs-<id>.zdict`` and are never changed or removed once released: a stored
document needs its dictionary for as long as it exists. A new one (``scripts/train_doc_dictionary.py``) gets the
next id and is used for new writes from then on. Compressors are per thread (the API serves from a thread pool).
"""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path

import zstandard

DICTIONARIES = Path(__file__).parent / "dictionaries"
LEVEL = 3
_MAGIC = b"\x28\xb5\x2f\xfd"  # a zstd frame's first bytes; JSON documents start with "{"


@cache
def dictionary(dict_id: int) -> zstandard.ZstdCompressionDict:
    path = DICTIONARIES / f"docs-{dict_id}.zdict"
    if not path.exists():
        raise LookupError(f"document dictionary {dict_id} is missing ({path}): it must never be removed")
    d = zstandard.ZstdCompressionDict(path.read_bytes(), dict_type=zstandard.DICT_TYPE_FULLDICT)
    d.precompute_compress(level=LEVEL)
    return d


def dictionary_ids() -> list[int]:
    return sorted(int(p.stem.removeprefix("docs-")) for p in DICTIONARIES.glob("docs-*.zdict"))


@cache
def current_dictionary_id() -> int | None:
    """The newest shipped dictionary (new writes use it), or None when there is none (plain zstd)."""
    ids = dictionary_ids()
    return ids[-1] if ids else None


class _Codecs(threading.local):
    def __init__(self) -> None:
        current = current_dictionary_id()
        self.compressor = zstandard.ZstdCompressor(
            level=LEVEL, dict_data=dictionary(current) if current is not None else None, write_checksum=True
        )
        self.decompressors: dict[int, zstandard.ZstdDecompressor] = {}

    def decompressor(self, dict_id: int) -> zstandard.ZstdDecompressor:
        d = self.decompressors.get(dict_id)
        if d is None:
            d = self.decompressors[dict_id] = zstandard.ZstdDecompressor(
                dict_data=dictionary(dict_id) if dict_id else None
            )
        return d


_codecs = _Codecs()


def pack(raw: bytes) -> bytes:
    """A JSON document (UTF-8) as stored."""
    return _codecs.compressor.compress(raw)


def unpack(stored: bytes | memoryview | str) -> bytes:
    """A stored document back as JSON (UTF-8): a zstd frame is decompressed; plain JSON is returned as is."""
    if isinstance(stored, str):
        return stored.encode()
    if isinstance(stored, memoryview):
        stored = stored.tobytes()
    if stored[:4] != _MAGIC:
        return stored
    dict_id = zstandard.get_frame_parameters(stored).dict_id
    return _codecs.decompressor(dict_id).decompress(stored)
