"""Arrow columns of the simulated tables: fixed-width ids, UTC timestamps, the table schemas.

The simulator builds its tables as Arrow arrays straight from NumPy, without Python loops over
rows, so that a world of ten million events stays fast and small in memory.

Example:
    >>> import numpy as np
    >>> fixed_ids("P", np.array([1, 42]), 5).to_pylist()
    ['P00001', 'P00042']
    >>> timestamps(np.array([0])).to_pylist()[0].isoformat()
    '1970-01-01T00:00:00+00:00'
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import NDArray

__all__ = ["DEALS_SCHEMA", "EVENTS_SCHEMA", "MAX_BATCH_ROWS", "TS", "fixed_ids", "pieces",
           "timestamps", "to_arrow"]

#: the type of every timestamp column: microseconds, UTC
TS = pa.timestamp("us", tz="UTC")
#: rows per Arrow record batch at most
MAX_BATCH_ROWS = 1 << 22

#: the columns of a simulated ``events`` table
EVENTS_SCHEMA = pa.schema([
    ("event_id", pa.string()), ("partner_id", pa.string()), ("user_id", pa.string()),
    ("ts", TS), ("event_type", pa.string()), ("content_id", pa.string()),
    ("value", pa.float64()),
])
#: the columns of a simulated ``deals`` table
DEALS_SCHEMA = pa.schema([
    ("deal_id", pa.string()), ("partner_id", pa.string()), ("product", pa.string()),
    ("registered_at", TS), ("stage", pa.string()), ("amount", pa.float64()),
    ("closed_at", TS), ("won", pa.bool_()),
])


def fixed_ids(prefix: str, numbers: NDArray[Any], width: int) -> pa.Array:
    """``prefix`` + zero-padded numbers as a string array, built without Python loops."""
    head = np.frombuffer(prefix.encode("utf-8"), dtype=np.uint8)
    n = len(numbers)
    w = len(head) + width
    buf = np.empty((n, w), dtype=np.uint8)
    buf[:, : len(head)] = head
    x = np.asarray(numbers, dtype=np.int64).copy()
    for j in range(w - 1, len(head) - 1, -1):
        buf[:, j] = x % 10 + 48
        x //= 10
    if n * w < 2**31:
        offsets = np.arange(0, (n + 1) * w, w, dtype=np.int32)
        return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buf))
    large = np.arange(0, (n + 1) * w, w, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(large), pa.py_buffer(buf))


def pieces(parts: list[dict[str, NDArray[Any]]]) -> Iterator[dict[str, NDArray[Any]]]:
    """Consume ``parts`` (freeing each as it goes) in pieces of at most MAX_BATCH_ROWS rows."""
    while parts:
        part = parts.pop(0)
        n = len(part["partner"])
        for i in range(0, n, MAX_BATCH_ROWS):
            yield {k: v[i: i + MAX_BATCH_ROWS] for k, v in part.items()}


def timestamps(seconds: NDArray[Any], mask: NDArray[Any] | None = None) -> pa.Array:
    """UTC epoch seconds as a timestamp array (``mask`` marks nulls)."""
    return pa.array(seconds * 1_000_000, type=TS, mask=mask)


def to_arrow(df: pd.DataFrame) -> pa.Table:
    """A pandas frame as an Arrow table with plain ``string`` columns and no pandas metadata."""
    table = pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(None)
    fields = [pa.field(f.name, pa.string()) if pa.types.is_large_string(f.type) else f
              for f in table.schema]
    return table.cast(pa.schema(fields))
