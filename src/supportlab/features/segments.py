"""Partner attributes and segments as of an anchor date.

Every partner gets its attributes (rank, region, manager, products carried), derived values as of
the anchor date (``tenure_days``, ``tenure_band``) and its segment labels: the product × rank ×
tenure band cell of the seed article ("製品A × ランクB × 立ち上げ1年未満") and membership of named
segments, such as a package's target segment.

A segment is a mapping of conditions, all of which must hold::

    {product: A, rank: [B, C], tenure_days: {max: 365}}

``product`` means "carries the product"; a list means "one of"; ``{min: .., max: ..}`` bounds a
number (``min`` inclusive, ``max`` exclusive, so ``tenure_days: {max: 365}`` is "under a year").

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"rank": ["B", "A"], "tenure_days": [100, 900], "products": ["A|B", "A"]},
    ...                   index=pd.Index(["P1", "P2"], name="partner_id"))
    >>> in_segment(df, {"product": "A", "rank": ["B"], "tenure_days": {"max": 365}}).tolist()
    [True, False]
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from supportlab.data.engine import Engine
from supportlab.errors import ConfigError

#: default tenure bands: (label, lower bound in days inclusive, upper bound exclusive)
TENURE_BANDS: tuple[tuple[str, float, float], ...] = (
    ("<1y", 0, 365), ("1-3y", 365, 3 * 365), ("3y+", 3 * 365, np.inf))


def tenure_band(days: pd.Series, bands: Sequence[tuple[str, float, float]] = TENURE_BANDS
                ) -> pd.Series:
    """Label tenure in days with bands; unknown tenure gets ``"unknown"``."""
    out = pd.Series("unknown", index=days.index, dtype="object")
    for label, lo, hi in bands:
        out[(days >= lo) & (days < hi)] = label
    return out


def partner_attributes(engine: Engine, as_of: dt.date | str,
                       bands: Sequence[tuple[str, float, float]] = TENURE_BANDS) -> pd.DataFrame:
    """Attributes of every partner as of a date (one row per partner).

    Columns: ``name, rank, region, manager, joined_at, tenure_days, tenure_band, products``
    (products carried, ``|``-separated and sorted) and ``segment`` (rank × tenure band).
    """
    p = engine.table("partners")
    df = engine.execute(p.select("partner_id", "name", "rank", "region", "manager", "joined_at")
                        ).set_index("partner_id").sort_index()
    if engine.has_table("partner_products"):
        pp = engine.table("partner_products")
        prods = engine.execute(pp.select("partner_id", "product"))
        agg = (prods.sort_values("product").groupby("partner_id")["product"]
               .agg(lambda s: "|".join(dict.fromkeys(s))))
        df["products"] = agg.reindex(df.index).fillna("")
    else:
        df["products"] = ""
    anchor = pd.Timestamp(as_of).normalize()
    joined = pd.to_datetime(df["joined_at"])
    if getattr(joined.dt, "tz", None) is not None:
        joined = joined.dt.tz_localize(None)
    df["joined_at"] = joined
    df["tenure_days"] = (anchor - joined.dt.normalize()).dt.days.astype("Float64")
    df["tenure_band"] = tenure_band(df["tenure_days"], bands)
    df["segment"] = df["rank"].astype(str) + "×" + df["tenure_band"].astype(str)
    return df


def _condition(df: pd.DataFrame, key: str, cond: Any) -> pd.Series:
    if key in ("product", "products"):
        wanted = cond if isinstance(cond, (list, tuple)) else [cond]
        carried = df["products"].fillna("").str.split("|")
        return carried.map(lambda ps: any(str(w) in ps for w in wanted)).astype(bool)
    if key not in df.columns:
        import difflib

        near = difflib.get_close_matches(key, list(df.columns), n=1)
        raise ConfigError(f"segment condition on unknown attribute '{key}'",
                          fix=(f"did you mean '{near[0]}'? " if near else "") +
                          f"available: {', '.join(sorted(map(str, df.columns)))}")
    col = df[key]
    if isinstance(cond, Mapping):
        unknown = set(cond) - {"min", "max"}
        if unknown:
            raise ConfigError(f"segment bound on '{key}' uses {sorted(unknown)}",
                              fix="use {min: ..., max: ...} (min inclusive, max exclusive)")
        num = pd.to_numeric(col, errors="coerce")
        ok = pd.Series(True, index=df.index)
        if "min" in cond:
            ok &= num >= float(cond["min"])
        if "max" in cond:
            ok &= num < float(cond["max"])
        return ok.fillna(False).astype(bool)
    if isinstance(cond, (list, tuple)):
        return col.astype("object").isin(list(cond)).astype(bool)
    return (col.astype("object") == cond).fillna(False).astype(bool)


def in_segment(df: pd.DataFrame, segment: Mapping[str, Any]) -> pd.Series:
    """Which partners (rows) satisfy every condition of a segment."""
    ok = pd.Series(True, index=df.index)
    for key, cond in (segment or {}).items():
        ok &= _condition(df, str(key), cond)
    return ok


def assign_segments(df: pd.DataFrame, segments: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Add one boolean column per named segment (named after the segment)."""
    out = df.copy()
    for name, seg in segments.items():
        if name in df.columns:
            raise ConfigError(f"segment name '{name}' clashes with a partner feature",
                              fix="rename the segment")
        out[name] = in_segment(df, seg)
    return out


def load_segments(path: str | Path | None) -> dict[str, dict[str, Any]]:
    """Named segments from a YAML file (``segments: {name: {conditions}}``); {} if absent.

    Example file (``experiments/segments.yaml``)::

        segments:
          new_b_partners: {rank: [B], tenure_days: {max: 365}}
          product_a_sellers: {product: A}

    Each name becomes a true/false partner feature that rules can use
    (``"new_b_partners and completion_rate < 0.5"``).
    """
    import yaml

    if path is None or not Path(path).is_file():
        return {}
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8-sig")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML ({exc})", where=str(p)) from None
    segs = raw.get("segments") if isinstance(raw, Mapping) else None
    if not isinstance(segs, Mapping):
        raise ConfigError("expected a mapping with a 'segments' key", where=str(p),
                          fix="start the file with 'segments:'")
    out = {}
    for name, cond in segs.items():
        if not isinstance(cond, Mapping) or not cond:
            raise ConfigError("a segment must be a non-empty mapping of conditions",
                              where=f"{p}: segments.{name}",
                              fix="write e.g. {rank: [B], tenure_days: {max: 365}}")
        if not str(name).isidentifier():
            raise ConfigError(f"segment name '{name}' cannot be used in rules",
                              where=f"{p}: segments.{name}",
                              fix="use letters, digits and underscores")
        out[str(name)] = dict(cond)
    return out
