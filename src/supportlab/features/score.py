"""The support score (支援スコア): a 0–100 score of a partner's recent engagement.

The score is a weighted sum of components, each a metric over the last ``lookback_days``
(default 90) mapped to 0–1, so that sales and marketing can read it the way they read SFA/MA
dashboards. Every component's contribution (in points) is reported beside the score.

=================  ==========================================  =====================  ======
component          metric                                      mapped to 0–1 by       weight
=================  ==========================================  =====================  ======
login_recency      days since the last login                   1 − days/60, floor 0     25
completion         videos + trainings completed                count/6, cap 1           25
downloads          downloads                                   count/5, cap 1           15
test_results       latest test score                           score/100; none → 0      20
material_use       uses of sales materials                     count/4, cap 1           15
=================  ==========================================  =====================  ======

score = 100 × Σ weight·component / Σ weight. Weights, caps and the lookback are set in
``supportlab.toml``::

    [score]
    lookback_days = 90
    weights = {login_recency = 25, completion = 25, downloads = 15, test_results = 20, material_use = 15}
    caps = {login_recency = 60, completion = 6, downloads = 5, material_use = 4}

Example:
    >>> cfg = ScoreConfig()
    >>> sum(cfg.weights.values())
    100.0
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import pandas as pd

from supportlab.data.engine import Engine
from supportlab.errors import DataValidationError
from supportlab.features.metrics import (
    Metric,
    check_as_of,
    joined_by,
    metrics_table,
    window_asof,
)

COMPONENTS = ("login_recency", "completion", "downloads", "test_results", "material_use")
_DEFAULT_WEIGHTS = {"login_recency": 25.0, "completion": 25.0, "downloads": 15.0,
                    "test_results": 20.0, "material_use": 15.0}
_DEFAULT_CAPS = {"login_recency": 60.0, "completion": 6.0, "downloads": 5.0,
                 "material_use": 4.0}

SNAPSHOT_DDL = """
CREATE TABLE IF NOT EXISTS score_snapshots (
    as_of DATE NOT NULL,
    partner_id VARCHAR NOT NULL,
    support_score DOUBLE NOT NULL,
    login_recency DOUBLE, completion DOUBLE, downloads DOUBLE, test_results DOUBLE,
    material_use DOUBLE,
    computed_at TIMESTAMPTZ NOT NULL
)"""


@dataclass(frozen=True)
class ScoreConfig:
    """Weights (points), saturation caps and lookback of the support score."""

    weights: Mapping[str, float] = field(default_factory=lambda: dict(_DEFAULT_WEIGHTS))
    caps: Mapping[str, float] = field(default_factory=lambda: dict(_DEFAULT_CAPS))
    lookback_days: int = 90

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], where: str = "[score]") -> ScoreConfig:
        """Settings from a ``[score]`` mapping, every problem reported at once.

        ``where`` names the file (``supportlab.toml``) in messages.
        """
        from supportlab.config.loader import validate
        from supportlab.config.models import ScoreSection

        file = where.removesuffix("[score]").strip() or None
        return cls.from_section(validate(ScoreSection, dict(raw), source=file, prefix=("score",)))

    @classmethod
    def from_section(cls, sec: Any) -> ScoreConfig:
        """Settings from a validated :class:`~supportlab.config.models.ScoreSection`."""
        return cls(sec.weights.model_dump(), {**_DEFAULT_CAPS, **sec.caps.model_dump()},
                   sec.lookback_days)


def _metrics(lookback: int) -> list[Metric]:
    return [
        Metric("days_since_last_login", "days_since_last", where={"event_type": "login"}),
        Metric("completions", "count",
               where={"event_type": ["video_complete", "training_complete"]},
               lookback_days=lookback),
        Metric("downloads", "count", where={"event_type": "download"}, lookback_days=lookback),
        Metric("latest_test_score", "latest", column="value", where={"event_type": "test_submit"}),
        Metric("material_uses", "count", where={"event_type": "material_use"},
               lookback_days=lookback),
    ]


def score_components(metrics: pd.DataFrame, config: ScoreConfig | None = None) -> pd.DataFrame:
    """Map metric values to components in 0–1, for a pandas frame (see the module table).

    The engine computes the same mapping with :func:`component_columns`.

    Example:
        >>> m = pd.DataFrame({"days_since_last_login": [30.0], "completions": [3],
        ...                   "downloads": [1], "latest_test_score": [None], "material_uses": [8]})
        >>> score_components(m).iloc[0].tolist()
        [0.5, 0.5, 0.2, 0.0, 1.0]
    """
    c = config or ScoreConfig()
    out = pd.DataFrame(index=metrics.index)
    days = metrics["days_since_last_login"].astype("float64")
    out["login_recency"] = (1 - days / c.caps["login_recency"]).clip(0, 1).fillna(0.0)
    out["completion"] = (metrics["completions"] / c.caps["completion"]).clip(0, 1)
    out["downloads"] = (metrics["downloads"] / c.caps["downloads"]).clip(0, 1)
    out["test_results"] = (metrics["latest_test_score"] / 100).clip(0, 1).fillna(0.0)
    out["material_use"] = (metrics["material_uses"] / c.caps["material_use"]).clip(0, 1)
    return out.astype("float64")


def component_columns(t: ibis.Table, config: ScoreConfig | None = None, prefix: str = ""
                      ) -> dict[str, ibis.Expr]:
    """The components in 0–1 as engine expressions over the score's metric columns.

    The same mapping as :func:`score_components`, for a table holding the metrics of
    :func:`score_metrics` (named with ``prefix``).
    """
    c = config or ScoreConfig()
    days = t[prefix + "days_since_last_login"].cast("float64")
    return {
        "login_recency": (1 - days / c.caps["login_recency"]).clip(0, 1).fill_null(0.0),
        "completion": (t[prefix + "completions"] / c.caps["completion"]).clip(0, 1),
        "downloads": (t[prefix + "downloads"] / c.caps["downloads"]).clip(0, 1),
        "test_results": (t[prefix + "latest_test_score"] / 100).clip(0, 1).fill_null(0.0),
        "material_use": (t[prefix + "material_uses"] / c.caps["material_use"]).clip(0, 1),
    }


def point_columns(t: ibis.Table, config: ScoreConfig | None = None, prefix: str = ""
                  ) -> dict[str, ibis.Expr]:
    """``support_score`` and ``<component>_points`` as engine expressions (see the module)."""
    c = config or ScoreConfig()
    comp = component_columns(t, c, prefix)
    total = sum(c.weights.values())
    points = {k: 100 * c.weights[k] * comp[k].cast("float64") / total for k in COMPONENTS}
    score = points[COMPONENTS[0]]
    for k in COMPONENTS[1:]:
        score = score + points[k]
    return {"support_score": score.round(6),
            **{f"{k}_points": points[k].round(6) for k in COMPONENTS}}


def score_metrics(config: ScoreConfig | None = None) -> list[Metric]:
    """The metrics the score is computed from (with the score's lookback)."""
    return _metrics((config or ScoreConfig()).lookback_days)


def score_table(engine: Engine, as_of: dt.date | str, config: ScoreConfig | None = None,
                tz: str | None = None) -> ibis.Table:
    """The support score of every partner who had joined by ``as_of``, as one ibis table."""
    c = config or ScoreConfig()
    w = window_asof(as_of, tz or engine.timezone, c.lookback_days)
    raw = metrics_table(engine, score_metrics(c), [w])
    raw = raw.filter(joined_by(raw, as_of))
    names = [m.name for m in score_metrics(c)]
    return raw.select("partner_id", *names, **point_columns(raw, c))


def support_score(engine: Engine, as_of: dt.date | str, config: ScoreConfig | None = None,
                  tz: str | None = None) -> pd.DataFrame:
    """The support score of every partner as of a date, with each component's contribution.

    Computed in the engine in one query. Partners who had not joined by ``as_of`` are not scored
    (they were not partners yet); a date in the future or after the last data is refused.

    Returns:
        Indexed by ``partner_id``: ``support_score`` (0–100), the raw inputs, and
        ``<component>_points`` (contributions summing to the score).

    Raises:
        DataValidationError: The workspace has no partners, or ``as_of`` is after its last data.
        ConfigError: ``as_of`` is in the future.
    """
    check_as_of(engine, as_of, what="scores")
    out = engine.execute(score_table(engine, as_of, config, tz)).set_index("partner_id")
    if out.empty:
        raise DataValidationError("the workspace has no partners to score",
                                  fix="load partners first (supportlab ingest partners FILE)")
    return out.sort_index()


def save_snapshot(ws: Any, as_of: dt.date | str, scores: pd.DataFrame) -> int:
    """Keep a dated snapshot in the workspace (replacing one of the same date, atomically)."""
    day = pd.Timestamp(as_of).date()
    snap = pd.DataFrame({
        "as_of": pd.Timestamp(day), "partner_id": scores.index.astype(str),
        "support_score": scores["support_score"].to_numpy(),
        **{k: scores[f"{k}_points"].to_numpy() for k in COMPONENTS},
        "computed_at": pd.Timestamp.now(tz="UTC")})
    snap["as_of"] = snap["as_of"].dt.date
    with ws.transaction():
        ws.con.execute(SNAPSHOT_DDL)
        ws.con.execute("DELETE FROM score_snapshots WHERE as_of = ?", [day])
        ws.con.register("_snapshot", snap)
        try:
            ws.con.execute("INSERT INTO score_snapshots BY NAME SELECT * FROM _snapshot")
        finally:
            ws.con.unregister("_snapshot")
    return len(snap)


def score_movement(ws: Any, as_of: dt.date | str, scores: pd.DataFrame | None = None) -> pd.Series:
    """Change of each partner's score since the previous snapshot (NaN if none).

    Args:
        ws: the open workspace.
        as_of: the date of the current scores.
        scores: current scores (from :func:`support_score`) that were not saved as a snapshot;
            ``None`` compares the snapshot saved for ``as_of``.
    """
    if not ws.has_table("score_snapshots"):
        return pd.Series(dtype="float64")
    day = pd.Timestamp(as_of).date()
    if scores is not None:
        prev = ws.query("SELECT partner_id, arg_max(support_score, as_of) AS prev_score "
                        "FROM score_snapshots WHERE as_of < ? GROUP BY partner_id", [day])
        before = prev.set_index("partner_id")["prev_score"].reindex(scores.index)
        return (scores["support_score"] - before).rename("change")
    df = ws.query("""
        WITH cur AS (SELECT partner_id, support_score FROM score_snapshots WHERE as_of = ?),
             prev AS (SELECT partner_id, arg_max(support_score, as_of) AS prev_score
                      FROM score_snapshots WHERE as_of < ? GROUP BY partner_id)
        SELECT cur.partner_id, cur.support_score - prev.prev_score AS change
        FROM cur LEFT JOIN prev USING (partner_id)""", [day, day])
    return df.set_index("partner_id")["change"]


def export_scores(scores: pd.DataFrame, directory: str | Path, as_of: dt.date | str,
                  names: pd.Series | None = None) -> list[Path]:
    """Write ``support_score_<date>.csv`` (UTF-8 with BOM, for Excel) and ``.parquet``."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    day = pd.Timestamp(as_of).date().isoformat()
    df = scores.copy()
    if names is not None:
        df.insert(0, "name", names.reindex(df.index))
    df = df.reset_index()
    paths = []
    for suffix in ("csv", "parquet"):
        final = out / f"support_score_{day}.{suffix}"
        tmp = out / f".support_score_{day}.{suffix}.tmp"
        if suffix == "csv":
            df.to_csv(tmp, index=False, encoding="utf-8-sig", float_format="%.4f")
        else:
            df.to_parquet(tmp, index=False)
        tmp.replace(final)
        paths.append(final)
    return paths


def score_config(ws: Any) -> ScoreConfig:
    """The workspace's score settings (``[score]`` in supportlab.toml) or the defaults."""
    return ScoreConfig.from_section(ws.config.score)  # validated with supportlab.toml


