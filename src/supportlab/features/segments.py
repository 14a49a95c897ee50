"""Partner attributes and segments as of an anchor date.

Every partner gets its attributes (rank, region, manager, products carried), derived values as of
the anchor date (``tenure_days``, ``tenure_band``) and its segment labels: the product × rank ×
tenure band cell of the seed article ("製品A × ランクB × 立ち上げ1年未満") and membership of named
segments, such as a package's target segment.

A segment is a rule of the one condition language (:mod:`supportlab.features.rules`), or its
mapping form, shorthand for the same rule::

    {product: A, rank: [B, C], tenure_days: {max: 365}}
    # is  'A' in products and rank in ['B', 'C'] and tenure_days < 365

``product`` means "carries the product"; a list means "one of"; ``{min: .., max: ..}`` bounds a
number (``min`` inclusive, ``max`` exclusive, so ``tenure_days: {max: 365}`` is "under a year").
Attributes are computed in the engine (:func:`attributes_table`), so segments filter there.

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

import ibis
import numpy as np
import pandas as pd

from supportlab.data.engine import Engine
from supportlab.errors import ConfigError
from supportlab.features.rules import LIST_SEPARATOR, Rule, condition_rule

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


def attributes_table(engine: Engine, as_of: dt.date | str,
                     bands: Sequence[tuple[str, float, float]] = TENURE_BANDS) -> ibis.Table:
    """Attributes of every partner as of a date, as one ibis table (computed in the engine).

    Columns: ``partner_id, name, rank, region, manager, joined_at, tenure_days, tenure_band,
    segment, products`` (see :func:`partner_attributes`).
    """
    p = engine.table("partners")
    day = pd.Timestamp(as_of).date()
    tenure = ibis.literal(day).delta(p.joined_at.cast("date"), unit="day").cast("float64")
    cases = [((tenure >= lo) & (tenure < hi), label) if hi != np.inf else (tenure >= lo, label)
             for label, lo, hi in bands]
    band = ibis.cases(*cases, else_="unknown")
    out = p.select("partner_id", "name", "rank", "region", "manager", "joined_at",
                   tenure_days=tenure, tenure_band=band)
    out = out.mutate(segment=out["rank"].cast("string").fill_null("unknown") + "×"
                     + out.tenure_band)
    if engine.has_table("partner_products"):
        pp = engine.table("partner_products")
        agg = pp.group_by("partner_id").aggregate(
            _products=pp["product"].cast("string").collect(distinct=True).sort())
        agg = agg.rename(_pid="partner_id")
        out = out.left_join(agg, out.partner_id == agg._pid)
        out = out.select(*[c for c in out.columns if c not in ("_pid", "_products")],
                         products=out._products.join(LIST_SEPARATOR).fill_null(""))
    else:
        out = out.mutate(products=ibis.literal(""))
    return out


def partner_attributes(engine: Engine, as_of: dt.date | str,
                       bands: Sequence[tuple[str, float, float]] = TENURE_BANDS) -> pd.DataFrame:
    """Attributes of every partner as of a date (one row per partner).

    Columns: ``name, rank, region, manager, joined_at, tenure_days, tenure_band, products``
    (products carried, ``|``-separated and sorted) and ``segment`` (rank × tenure band).
    """
    df = engine.execute(attributes_table(engine, as_of, bands)).set_index("partner_id")
    df = df.sort_index()
    joined = pd.to_datetime(df["joined_at"])
    if getattr(joined.dt, "tz", None) is not None:
        joined = joined.dt.tz_localize(None)
    df["joined_at"] = joined
    df["tenure_days"] = df["tenure_days"].astype("Float64")
    return df


def segment_rule(segment: str | Mapping[str, Any] | None, where: str | None = None) -> Rule | None:
    """A segment (a rule, or its mapping form) compiled to a rule; None for "everyone".

    Example:
        >>> print(segment_rule({"product": "A", "rank": ["B"], "tenure_days": {"max": 365}}))
        'A' in products and rank in ['B'] and tenure_days < 365
    """
    return condition_rule(segment, where)


def in_segment(df: pd.DataFrame, segment: str | Mapping[str, Any] | None) -> pd.Series:
    """Which partners (rows) are in a segment (every condition holds)."""
    rule = segment_rule(segment)
    if rule is None:
        return pd.Series(True, index=df.index)
    return rule.evaluate(df)


def assign_segments(df: pd.DataFrame, segments: Mapping[str, str | Mapping[str, Any]]
                    ) -> pd.DataFrame:
    """Add one boolean column per named segment (named after the segment)."""
    out = df.copy()
    for name, seg in segments.items():
        if name in df.columns:
            raise ConfigError(f"segment name '{name}' clashes with a partner feature",
                              where=f"segments.{name}", fix="rename the segment")
        out[name] = in_segment(df, seg)
    return out


def load_segments(path: str | Path | None) -> dict[str, Any]:
    """Named segments from a YAML file (``segments: {name: {conditions}}``); {} if absent.

    Example file (``experiments/segments.yaml``)::

        segments:
          new_b_partners: {rank: [B], tenure_days: {max: 365}}
          product_a_sellers: {product: A}

    Each name becomes a true/false partner feature that rules can use
    (``"new_b_partners and completion_rate < 0.5"``).
    """
    from supportlab.config.loader import load_file
    from supportlab.config.models import SegmentsFile, plain

    if path is None or not Path(path).is_file():
        return {}
    p = Path(path)
    spec = load_file(p, SegmentsFile)  # every problem of the file at once
    out: dict[str, Any] = {}
    for name, cond in spec.segments.items():
        out[name] = plain(cond)
        condition_rule(out[str(name)], f"{p}: segments.{name}")  # errors now, with the key
    return out
