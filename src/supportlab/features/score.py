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

import pandas as pd

from supportlab.data.engine import Engine
from supportlab.errors import ConfigError, DataValidationError
from supportlab.features.metrics import Metric, compute_metrics, window_asof

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
        allowed = ("weights", "caps", "lookback_days")
        for k in raw:
            if k not in allowed:
                raise ConfigError(f"unknown key '{k}'", where=where,
                                  fix=f"allowed keys: {', '.join(allowed)}")
        weights = dict(_DEFAULT_WEIGHTS)
        caps = dict(_DEFAULT_CAPS)
        for name, target in (("weights", weights), ("caps", caps)):
            for k, v in dict(raw.get(name, {})).items():
                if k not in COMPONENTS:
                    raise ConfigError(f"unknown score component '{k}'", where=f"{where} {name}",
                                      fix=f"components: {', '.join(COMPONENTS)}")
                if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
                    raise ConfigError(f"{name}.{k} == {v!r}, must be a number >= 0",
                                      where=f"{where} {name}")
                target[k] = float(v)
        if sum(weights.values()) <= 0:
            raise ConfigError("the score weights sum to 0", where=f"{where} weights",
                              fix="give at least one component a positive weight")
        for k, v in caps.items():
            if v <= 0:
                raise ConfigError(f"caps.{k} must be > 0", where=f"{where} caps")
        lb = raw.get("lookback_days", 90)
        if not isinstance(lb, int) or lb < 1:
            raise ConfigError(f"lookback_days == {lb!r}, must be a whole number >= 1",
                              where=f"{where} lookback_days")
        return cls(weights, caps, lb)


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
    """Map metric values to components in 0–1 (pure pandas; see the module table)."""
    c = config or ScoreConfig()
    out = pd.DataFrame(index=metrics.index)
    days = metrics["days_since_last_login"].astype("float64")
    out["login_recency"] = (1 - days / c.caps["login_recency"]).clip(0, 1).fillna(0.0)
    out["completion"] = (metrics["completions"] / c.caps["completion"]).clip(0, 1)
    out["downloads"] = (metrics["downloads"] / c.caps["downloads"]).clip(0, 1)
    out["test_results"] = (metrics["latest_test_score"] / 100).clip(0, 1).fillna(0.0)
    out["material_use"] = (metrics["material_uses"] / c.caps["material_use"]).clip(0, 1)
    return out.astype("float64")


def support_score(engine: Engine, as_of: dt.date | str, config: ScoreConfig | None = None,
                  tz: str | None = None) -> pd.DataFrame:
    """The support score of every partner as of a date, with each component's contribution.

    Returns:
        Indexed by ``partner_id``: ``support_score`` (0–100), the raw inputs, and
        ``<component>_points`` (contributions summing to the score).
    """
    c = config or ScoreConfig()
    w = window_asof(as_of, tz or engine.timezone, c.lookback_days)
    raw = compute_metrics(engine, _metrics(c.lookback_days), [w])
    if raw.empty:
        raise DataValidationError("the workspace has no partners to score",
                                  fix="load partners first (supportlab ingest partners FILE)")
    # partners who had not joined by then are not scored (they were not partners yet)
    joined = engine.execute(engine.table("partners").select("partner_id", "joined_at"))
    late = joined.loc[pd.to_datetime(joined["joined_at"]) > pd.Timestamp(as_of), "partner_id"]
    raw = raw.drop(index=[p for p in late if p in raw.index])
    comp = score_components(raw, c)
    total = sum(c.weights.values())
    out = raw.copy()
    points = pd.DataFrame({k: 100 * c.weights[k] * comp[k] / total for k in COMPONENTS})
    out["support_score"] = points.sum(axis=1).round(6)
    for k in COMPONENTS:
        out[f"{k}_points"] = points[k].round(6)
    return out


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
    raw = ws.config.extra.get("score", {})
    return ScoreConfig.from_mapping(raw, where=f"{ws.config.root / 'supportlab.toml'} [score]")


