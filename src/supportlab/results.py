"""The result base shared by every result object, driven by the names of its fields.

Every result (estimates, checks, power, sequential looks, decisions, …) is a frozen dataclass on
:class:`ResultMixin`, which derives from the fields alone: text (``str()``/:meth:`to_string`),
HTML (``_repr_html_``/:meth:`to_html`, escaped), Markdown (:meth:`to_markdown`),
:meth:`to_frame`, :meth:`to_dict` and :meth:`to_json`, in English or Japanese (``lang=``).

Conventions (the result vocabulary of the whole library):

* ``X_lower``/``X_upper`` pairs (``ci_lower``/``ci_upper``, ``rel_ci_lower``, ``cs_upper``, …,
  and a bare ``lower``/``upper``) are one interval, shown ``[lo, hi]``;
* ``rel_*`` and ``*_share`` are shown as %, ``confidence_level`` and ``*_level`` too;
* ``p_value``, ``*_p_value``, ``p_*`` and ``*_p`` are p-values;
* integers (``n_*`` counts) get thousands separators; effects (``*effect*``, ``*uplift*``,
  ``*diff*``) a sign;
* ``warnings``, ``notes`` (and a class's ``_bullets``) are bullet lists; nested results are
  nested sections, tuples of results and data frames are tables.

A class may set ``_title``/``_title_ja``, ``_order`` (fields shown first), ``_hidden`` (fields
not displayed; they stay in :meth:`to_dict`), ``_bullets``, ``_labels`` and a one-line
:meth:`~ResultMixin._headline`. Base module: imports only :mod:`supportlab.display`.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Lift(ResultMixin):
    ...     _title = "Lift"
    ...     n_control: int
    ...     rel_effect: float
    ...     rel_ci_lower: float
    ...     rel_ci_upper: float
    ...     p_value: float
    >>> print(Lift(12000, 0.052, 0.01, 0.094, 0.0123))
    Lift
      n (control)      12,000
      relative effect  +5.2%
      relative CI      [+1.0%, +9.4%]
      p-value          0.0123
    >>> print(Lift(12000, 0.052, 0.01, 0.094, 0.0123).to_string(lang="ja").splitlines()[1])
      対照群の数          12,000
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from supportlab.display import (
    Bullets,
    Field,
    Section,
    Table,
    check_lang,
    fmt,
    fmt_p,
    label,
    render_html,
    render_markdown,
    render_text,
    text_table,
)

__all__ = ["ResultMixin", "fmt", "fmt_p", "format_frame", "format_value", "frame_table",
           "json_safe"]

_YES = {"en": ("yes", "no"), "ja": ("はい", "いいえ")}


def json_safe(value: Any) -> Any:
    """Convert a value to plain JSON types; NaN and infinities become ``None``.

    Example:
        >>> json_safe({"a": (1, float("nan")), "b": np.int64(3)})
        {'a': [1, None], 'b': 3}
    """
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


# -- naming conventions -----------------------------------------------------------------------------


def _is_p(name: str) -> bool:
    return (name in ("p_value", "p", "p_adjusted") or name.endswith(("_p_value", "_p"))
            or name.startswith(("p_value", "p_")))


def _is_pct(name: str) -> bool:
    return (name.startswith("rel_") or name.endswith(("_share", "_level", "_rate"))
            or name.startswith("share_") or name in ("confidence_level", "levels", "ci_level"))


def _is_signed(name: str) -> bool:
    return any(w in name for w in ("effect", "uplift", "diff", "change"))


def format_value(name: str, value: Any, *, lang: str = "en", pct: bool | None = None,
                 signed: bool | None = None) -> str:
    """Format one value for people by the conventions of its field name.

    Example:
        >>> format_value("p_value", 3e-9), format_value("rel_effect", 0.05)
        ('3.0e-09', '+5.0%')
        >>> format_value("n_control", 1200), format_value("confidence_level", 0.95)
        ('1,200', '95.0%')
    """
    pct = _is_pct(name) if pct is None else pct
    signed = _is_signed(name) if signed is None else signed
    if value is None:
        return "—"
    if isinstance(value, (bool, np.bool_)):
        yes, no = _YES.get(lang, _YES["en"])
        return yes if value else no
    if isinstance(value, (int, np.integer)):
        return fmt(int(value), signed=signed and not name.startswith("n_"))
    if isinstance(value, (float, np.floating)):
        if _is_p(name):
            return fmt_p(float(value))
        return fmt(float(value), pct=pct, signed=signed)
    if isinstance(value, (tuple, list)):
        return ", ".join(format_value(name, v, lang=lang, pct=pct, signed=signed) for v in value)
    if isinstance(value, (pd.Timestamp,)):
        return str(value)
    return str(value)


def _interval(lo: Any, hi: Any, *, pct: bool, signed: bool = True) -> str:
    return f"[{fmt(lo, pct=pct, signed=signed)}, {fmt(hi, pct=pct, signed=signed)}]"


def _pairs(names: Sequence[str]) -> dict[str, str]:
    """``{lower_name: prefix}`` for every ``P_lower``/``P_upper`` (or ``lower``/``upper``) pair."""
    have = set(names)
    out: dict[str, str] = {}
    for n in names:
        if n == "lower" and "upper" in have:
            out[n] = "interval"
        elif n.endswith("_lower") and n[:-6] + "_upper" in have:
            out[n] = n[:-6]
    return out


def format_frame(df: pd.DataFrame, *, lang: str = "en", max_rows: int | None = 50,
                 is_pct: Callable[[str], bool] | None = None) -> Table:
    """A :class:`~supportlab.display.Table` of a frame, cells formatted by column names.

    ``X_lower``/``X_upper`` columns become one ``X`` interval column.

    Example:
        >>> t = format_frame(pd.DataFrame({"segment": ["A"], "effect": [0.5],
        ...                                "ci_lower": [0.1], "ci_upper": [0.9]}))
        >>> t.headers, t.rows
        (('segment', 'effect', 'CI'), (('A', '+0.5', '[+0.1, +0.9]'),))
    """
    cols = [str(c) for c in df.columns]
    pairs = _pairs(cols)
    uppers = {p + "_upper" if p != "interval" else "upper" for p in pairs.values()}
    pct_of = is_pct or _is_pct
    shown = df if max_rows is None else df.head(max_rows)
    headers: list[str] = []
    specs: list[tuple[str, str | None, bool]] = []  # (column, upper column of an interval, %)
    numeric: list[bool] = []
    for c in cols:
        if c in uppers:
            continue
        if c in pairs:
            prefix = pairs[c]
            headers.append(label(prefix, lang))
            specs.append((c, "upper" if prefix == "interval" else prefix + "_upper",
                          pct_of(prefix) or pct_of(c)))
            numeric.append(False)
        else:
            headers.append(label(c, lang))
            specs.append((c, None, pct_of(c)))
            numeric.append(pd.api.types.is_numeric_dtype(df[c].dtype)
                           and not pd.api.types.is_bool_dtype(df[c].dtype))

    def cell(r: Mapping[str, Any], c: str, up: str | None, pc: bool) -> str:
        if up is not None:
            return _interval(r[c], r[up], pct=pc)
        return format_value(c, _scalar(r[c]), lang=lang, pct=pc)

    rows = tuple(tuple(cell(r, *spec) for spec in specs)
                 for r in shown.to_dict(orient="records"))
    return Table(label="", headers=tuple(headers), rows=rows,
                 align=tuple("right" if n else "left" for n in numeric),
                 more=max(0, len(df) - len(shown)))


def _scalar(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return None
    if v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


def frame_table(df: pd.DataFrame, *, max_rows: int | None = 50, lang: str = "en",
                raw_headers: bool = True) -> str:
    """An aligned text table of a frame for terminals (wide characters count two cells).

    The CLI prints frames with it instead of ``DataFrame.to_string``, which counts characters
    and so misaligns Japanese names. A named or non-default index is shown as a first column.

    Example:
        >>> print(frame_table(pd.DataFrame({"name": ["関東商事", "B"], "deals": [1200, 3]})))
        name      deals
        --------  -----
        関東商事  1,200
        B             3
    """
    if df.index.name is not None or not isinstance(df.index, pd.RangeIndex):
        df = df.reset_index()  # a meaningful index (e.g. partner_id) is shown as a column
    t = format_frame(df, lang=lang, max_rows=max_rows)
    headers = [str(c) for c in df.columns] if raw_headers and len(t.headers) == df.shape[1] \
        else list(t.headers)
    out = text_table(t.rows, headers=headers, align=list(t.align))
    if t.more:
        out += f"\n… {t.more:,} more rows"
    return out


# -- the base ---------------------------------------------------------------------------------------


class ResultMixin:
    """Shared presentation of result objects, derived from their fields' names.

    Subclasses are frozen dataclasses. Hooks (all optional): ``_title``/``_title_ja``,
    ``_order`` (fields shown first), ``_hidden`` (fields not displayed), ``_bullets`` (tuple
    fields shown as bullet lists besides ``warnings`` and ``notes``), ``_labels``
    (``{lang: {field: label}}``), :meth:`_headline` (a one-line summary after the title),
    :meth:`_is_percent` and :meth:`_tables` (extra tables, e.g. a ranking).
    """

    _title: ClassVar[str] = "result"
    _title_ja: ClassVar[str | None] = None
    _order: ClassVar[tuple[str, ...]] = ()
    _hidden: ClassVar[frozenset[str]] = frozenset({"details", "evidence"})
    _bullets: ClassVar[frozenset[str]] = frozenset()
    _labels: ClassVar[Mapping[str, Mapping[str, str]]] = {}

    # -- data ---------------------------------------------------------------------------------------

    def _field_names(self) -> list[str]:
        return [f.name for f in fields(self)]  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-safe Python values (NaN and infinities become ``None``)."""
        return {n: json_safe(getattr(self, n)) for n in self._field_names()}

    def to_json(self, **kwargs: Any) -> str:
        """One JSON object with every field (``ensure_ascii=False``, no NaN)."""
        kwargs.setdefault("ensure_ascii", False)
        return json.dumps(self.to_dict(), **kwargs)

    def to_frame(self) -> pd.DataFrame:
        """One row with the scalar fields (tuples are joined with ``"; "``)."""
        row: dict[str, Any] = {}
        for n in self._field_names():
            v = getattr(self, n)
            if isinstance(v, (ResultMixin, Mapping, pd.DataFrame)):
                continue
            if isinstance(v, tuple):
                if any(isinstance(x, ResultMixin) for x in v):
                    continue
                v = "; ".join(str(x) for x in v)
            row[n] = v
        return pd.DataFrame([row])

    # -- hooks --------------------------------------------------------------------------------------

    def _headline(self, lang: str) -> str | None:
        """A one-line summary shown after the title (none by default)."""
        return None

    def _hidden_fields(self, lang: str) -> frozenset[str]:
        """Fields not displayed in ``lang`` (default: ``_hidden``)."""
        return self._hidden

    def _is_percent(self, name: str) -> bool:
        """Whether field ``name`` is shown as a percentage (default: by its name)."""
        return _is_pct(name)

    def _tables(self, lang: str) -> list[tuple[str, pd.DataFrame]]:
        """Extra ``(label, frame)`` tables shown after the fields (none by default)."""
        return []

    def _label(self, name: str, lang: str) -> str:
        own = self._labels.get(lang, {}).get(name)
        return own if own is not None else label(name, lang)

    def title(self, lang: str = "en") -> str:
        """The display title in ``lang``."""
        return self._title_ja if lang == "ja" and self._title_ja else self._title

    # -- the document -------------------------------------------------------------------------------

    def to_section(self, lang: str = "en") -> Section:
        """The result as a :class:`~supportlab.display.Section` (what every renderer draws)."""
        check_lang(lang)
        hidden = self._hidden_fields(lang)
        names = [n for n in self._field_names() if n not in hidden]
        order = [n for n in self._order if n in names] + [n for n in names if n not in self._order]
        pairs = _pairs(order)
        uppers = {("upper" if p == "interval" else p + "_upper") for p in pairs.values()}
        bullets = self._bullets | {"warnings", "notes"}
        items: list[Field | Bullets | Table | Section] = []
        tail: list[Field | Bullets | Table | Section] = []
        for n in order:
            if n in uppers:
                continue
            v = getattr(self, n)
            if n in pairs:
                p = pairs[n]
                up = "upper" if p == "interval" else p + "_upper"
                items.append(Field(self._label(p, lang),
                                   _interval(v, getattr(self, up),
                                             pct=self._is_percent(p) or self._is_percent(n))))
            elif isinstance(v, ResultMixin):
                nested = v.to_section(lang)
                tail.append(Section(self._label(n, lang), nested.items, nested.headline))
            elif isinstance(v, pd.DataFrame):
                t = format_frame(v, lang=lang, is_pct=self._is_percent)
                tail.append(Table(self._label(n, lang), t.headers, t.rows, t.align, t.more))
            elif isinstance(v, tuple) and v and all(isinstance(x, ResultMixin) for x in v):
                frame = pd.concat([x.to_frame() for x in v], ignore_index=True)
                t = format_frame(frame, lang=lang, is_pct=self._is_percent)
                tail.append(Table(self._label(n, lang), t.headers, t.rows, t.align, t.more))
            elif n in bullets and isinstance(v, (tuple, list)):
                if v:
                    tail.append(Bullets(self._label(n, lang), tuple(str(x) for x in v)))
            elif isinstance(v, Mapping):
                if v:
                    items.append(Field(self._label(n, lang), ", ".join(
                        f"{k}: {format_value(str(k), x, lang=lang)}" for k, x in v.items())))
            elif isinstance(v, (tuple, list)) and not v:
                continue
            else:
                items.append(Field(self._label(n, lang),
                                   format_value(n, v, lang=lang, pct=self._is_percent(n))))
        for lab, frame in self._tables(lang):
            t = format_frame(frame, lang=lang, is_pct=self._is_percent)
            items.append(Table(lab, t.headers, t.rows, t.align, t.more))
        # bullet lists (warnings, notes) come last, after the numbers they qualify
        tail.sort(key=lambda it: isinstance(it, Bullets))
        return Section(self.title(lang), tuple(items + tail), self._headline(lang))

    def to_string(self, lang: str = "en") -> str:
        """Plain text with aligned fields (wide characters count two cells)."""
        return render_text(self.to_section(lang))

    def to_markdown(self, lang: str = "en") -> str:
        """Markdown for reports: a heading, a table of fields, bullet lists, nested tables."""
        return render_markdown(self.to_section(lang))

    def to_html(self, lang: str = "en") -> str:
        """HTML for notebooks and reports; every value is escaped."""
        return render_html(self.to_section(lang))

    def __str__(self) -> str:
        return self.to_string()

    def _repr_html_(self) -> str:
        return self.to_html()
