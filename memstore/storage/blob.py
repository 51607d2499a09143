"""Tensor blobs: a fixed header (magic, format version, dtype, codec, shape, checksum) and a payload.

Codecs: `raw`; `zstd`; `shuffle-zstd`, which first splits every element into byte planes (for bf16: all
high bytes, then all low bytes), so the similar sign/exponent bytes compress together. The checksum
(CRC-32) covers the header fields and the stored payload, so a flipped bit anywhere is caught before
decompression. Nothing is pickled.
"""

from __future__ import annotations

import struct
import threading
import zlib
from enum import IntEnum

import numpy as np
import torch
import zstandard

from msa.memstore.errors import CorruptData, InvalidArgument

MAGIC = b"MSAB"
FORMAT_VERSION = 1
# magic, format version, dtype, codec, ndim, raw payload bytes, stored payload bytes
_FIXED = struct.Struct("<4sBBBBQQ")
_CRC = struct.Struct("<I")
MAX_DIMS = 8


class Codec(IntEnum):
    RAW = 0
    ZSTD = 1
    SHUFFLE_ZSTD = 2

    @classmethod
    def parse(cls, name: str) -> Codec:
        names = {"raw": cls.RAW, "zstd": cls.ZSTD, "shuffle-zstd": cls.SHUFFLE_ZSTD}
        if name not in names:
            raise InvalidArgument(f"codec {name!r} is not one of {sorted(names)}")
        return names[name]


DTYPES = [torch.float32, torch.bfloat16, torch.float16, torch.int32, torch.int64, torch.uint8, torch.int8,
          torch.float8_e4m3fn]
_DTYPE_CODE = {dt: i for i, dt in enumerate(DTYPES)}


_local = threading.local()  # zstd contexts are reusable but not thread-safe


def _compressor(level: int) -> zstandard.ZstdCompressor:
    cache = _local.__dict__.setdefault("compressors", {})
    if level not in cache:
        cache[level] = zstandard.ZstdCompressor(level=level)
    return cache[level]


def _decompressor() -> zstandard.ZstdDecompressor:
    if not hasattr(_local, "decompressor"):
        _local.decompressor = zstandard.ZstdDecompressor()
    return _local.decompressor


def _shuffle(data: bytes, itemsize: int) -> bytes:
    return np.frombuffer(data, np.uint8).reshape(-1, itemsize).T.tobytes()


def encode(tensor: torch.Tensor, codec: Codec = Codec.ZSTD, level: int = 3) -> bytes:
    """tensor (any shape, a supported dtype, any device) -> blob bytes."""
    if tensor.dtype not in _DTYPE_CODE:
        raise InvalidArgument(f"dtype {tensor.dtype} cannot be stored; use one of {DTYPES}")
    if tensor.dim() > MAX_DIMS:
        raise InvalidArgument(f"{tensor.dim()} dimensions; at most {MAX_DIMS}")
    t = tensor.detach().contiguous().cpu()
    raw = t.reshape(-1).view(torch.uint8).numpy().tobytes()
    if codec == Codec.RAW:
        payload = raw
    elif codec == Codec.ZSTD:
        payload = _compressor(level).compress(raw)
    else:
        payload = _compressor(level).compress(_shuffle(raw, t.element_size()))
    head = _FIXED.pack(MAGIC, FORMAT_VERSION, _DTYPE_CODE[t.dtype], int(codec), t.dim(), len(raw), len(payload))
    head += struct.pack(f"<{t.dim()}Q", *t.shape)
    return head + _CRC.pack(zlib.crc32(payload, zlib.crc32(head))) + payload


def _header(data: bytes | memoryview) -> tuple[torch.dtype, Codec, tuple[int, ...], int, int, int]:
    """-> (dtype, codec, shape, raw size, payload start, payload size), every field checked."""
    mv = memoryview(data)
    if len(mv) < _FIXED.size:
        raise CorruptData(f"blob of {len(mv)} bytes is shorter than its header")
    magic, version, dtype, codec, ndim, raw_size, size = _FIXED.unpack_from(mv)
    if magic != MAGIC:
        raise CorruptData(f"blob magic {bytes(magic)!r} is not {MAGIC!r}")
    if version != FORMAT_VERSION:
        raise CorruptData(f"blob format version {version} is not {FORMAT_VERSION}; upgrade msa-memstore")
    if dtype >= len(DTYPES) or codec not in Codec._value2member_map_ or ndim > MAX_DIMS:
        raise CorruptData(f"blob header has dtype {dtype}, codec {codec}, {ndim} dimensions")
    start = _FIXED.size + 8 * ndim + _CRC.size
    if len(mv) != start + size:
        raise CorruptData(f"blob is {len(mv)} bytes, its header says {start + size}")
    dims = struct.unpack_from(f"<{ndim}Q", mv, _FIXED.size)
    (crc,) = _CRC.unpack_from(mv, start - _CRC.size)
    if zlib.crc32(mv[start:], zlib.crc32(mv[: start - _CRC.size])) != crc:
        raise CorruptData("blob checksum mismatch")
    dt = DTYPES[dtype]
    if raw_size != int(np.prod(dims, dtype=np.int64)) * dt.itemsize:
        raise CorruptData(f"blob shape {dims} and dtype {dt} do not make {raw_size} bytes")
    return dt, Codec(codec), tuple(dims), raw_size, start, size


def verify(data: bytes | memoryview) -> tuple[int, int]:
    """Check the header and checksum without decoding; -> (raw bytes, stored bytes)."""
    _, _, _, raw_size, _, size = _header(data)
    return raw_size, size


def decode(data: bytes | memoryview) -> torch.Tensor:
    """blob bytes -> a CPU tensor in its own memory (safe after the LMDB transaction ends)."""
    dtype, codec, shape, raw_size, start, _ = _header(data)
    payload = memoryview(data)[start:]
    if raw_size == 0:
        return torch.empty(shape, dtype=dtype)
    try:
        raw = payload if codec == Codec.RAW else _decompressor().decompress(payload, max_output_size=raw_size)
    except zstandard.ZstdError as e:
        raise CorruptData(f"blob payload does not decompress: {e}") from e
    if len(raw) != raw_size:
        raise CorruptData(f"blob payload decodes to {len(raw)} bytes, expected {raw_size}")
    # A fresh writable array: the input is read-only (LMDB's memory, or zstd's output); byte planes are
    # put back into elements on the way.
    flat = np.frombuffer(raw, np.uint8)
    flat = flat.reshape(dtype.itemsize, -1).T.copy().reshape(-1) if codec == Codec.SHUFFLE_ZSTD else flat.copy()
    return torch.from_numpy(flat).view(dtype).reshape(shape)
