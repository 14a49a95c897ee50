"""The result base shared by every result object, and number formatting for people.

Every result (estimates, checks, decisions, …) is a frozen dataclass on :class:`ResultMixin`,
which gives ``to_dict``/``to_json``, ``to_frame``, text and HTML. Anything may import this module;
it imports nothing from supportlab but the error hierarchy.

Example:
    >>> fmt(1234567), fmt(0.1234, pct=True), fmt_p(3e-7)
    ('1,234,567', '12.3%', '3.0e-07')
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping
from dataclasses import fields
from typing import Any, ClassVar

import numpy as np
import pandas as pd

__all__ = ["ResultMixin", "fmt", "fmt_p", "json_safe"]


def json_safe(value: Any) -> Any:
    """Convert a value to plain JSON types; NaN and infinities become ``None``."""
    if isinstance(value, ResultMixin):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, pd.DataFrame):
        return [json_safe(r) for r in value.to_dict(orient="records")]
    if isinstance(value, (list, tuple, np.ndarray)):
        return [json_safe(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    if value is None or isinstance(value, str):
        return value
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)


def fmt(x: Any, *, pct: bool = False, signed: bool = False) -> str:
    """Format a number for people: 4 significant digits, % for relative values."""
    if x is None:
        return "—"
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return f"{int(x):,}"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(v):
        return "—"
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if pct:
        return f"{v * 100:+.1f}%" if signed else f"{v * 100:.1f}%"
    text = f"{v:+.4g}" if signed else f"{v:.4g}"
    return text.replace("e+0", "e+").replace("e-0", "e-")


def fmt_p(p: float) -> str:
    if p is None or not math.isfinite(p):
        return "—"
    if p < 1e-4:
        return f"{p:.1e}"
    return f"{p:.4f}"


class ResultMixin:
    """Shared presentation of result objects: dict/JSON, pandas, text and HTML.

    Subclasses are frozen dataclasses; they may override :meth:`_lines` (text) and
    :meth:`to_frame`.
    """

    _title: ClassVar[str] = "result"

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-safe Python values (NaN and infinities become ``None``)."""
        return {f.name: json_safe(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]

    def to_json(self, **kwargs: Any) -> str:
        """One JSON object with every field (``ensure_ascii=False``)."""
        kwargs.setdefault("ensure_ascii", False)
        return json.dumps(self.to_dict(), **kwargs)

    def to_frame(self) -> pd.DataFrame:
        """One row with the scalar fields (tuples are joined with ``"; "``)."""
        row: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            if isinstance(v, (ResultMixin, Mapping, pd.DataFrame)):
                continue
            if isinstance(v, tuple):
                v = "; ".join(str(x) for x in v)
            row[f.name] = v
        return pd.DataFrame([row])

    def _lines(self) -> list[str]:
        return [f"{k}: {v}" for k, v in self.to_frame().iloc[0].items()]

    def __str__(self) -> str:
        return "\n".join(self._lines())

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td style='text-align:left'>{html.escape(line)}</td></tr>"
                       for line in self._lines())
        return (f"<table class='supportlab-result'><caption>{html.escape(self._title)}"
                f"</caption>{rows}</table>")
