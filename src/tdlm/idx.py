"""Reader for the IDX format of MNIST, so real data never needs a downloader at run time."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

# third byte of the magic number -> numpy dtype (big-endian), as in the IDX spec
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | Path, expected_ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (gzip-compressed or plain) into a native-endian array."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    with path.open("rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    opener = gzip.open if gz else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(
            f"{path}: bad IDX magic number {raw[:4].hex() if len(raw) >= 4 else raw.hex()!r}; "
            "expected 0x0000TTDD with type byte TT in "
            f"{sorted(hex(k) for k in _IDX_DTYPES)} (e.g. 0x00000803 images, 0x00000801 labels)"
        )
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    if expected_ndim is not None and ndim != expected_ndim:
        raise ValueError(f"{path}: IDX file has {ndim} dimensions, expected {expected_ndim}")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    count = int(np.prod(shape)) if shape else 0
    if len(raw) - offset != count * dtype.itemsize:
        raise ValueError(
            f"{path}: IDX header announces shape {shape} ({count * dtype.itemsize} bytes) "
            f"but the file holds {len(raw) - offset} bytes of data"
        )
    return np.frombuffer(raw, dtype=dtype, offset=offset).reshape(shape).astype(dtype.newbyteorder("="))
