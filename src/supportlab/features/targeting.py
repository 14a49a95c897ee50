"""Picking where a support package goes: features as of a date, a rule, a priority order.

The seed article's step 2 (支援ログを使って“展開先”を判定する): compute every partner's features
from the PRM logs as of the targeting date, keep the package's target segment, apply the
experiment's eligibility rule (``"completion_rate < 0.5 or days_since_last_login >= 30"``, see
:mod:`supportlab.features.rules`) and rank the eligible partners by a priority feature (the support score
by default, lowest first). Each target carries the feature values that made it eligible.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from supportlab.config.experiment import Experiment, Package
from supportlab.data.engine import Engine
from supportlab.errors import ConfigError, DataValidationError
from supportlab.features.metrics import Metric, builtin_metrics, compute_metrics, window_asof
from supportlab.features.rules import infer_feature_kinds, parse_rule
from supportlab.features.score import COMPONENTS, ScoreConfig, support_score
from supportlab.features.segments import assign_segments, in_segment, partner_attributes

#: history used for "as of" features unless a metric sets its own lookback
DEFAULT_LOOKBACK_DAYS = 365


def partner_features(engine: Engine, as_of: dt.date | str, *,
                     package: Package | None = None,
                     catalogue: Mapping[str, Metric] | None = None,
                     metrics: Sequence[str] | None = None,
                     score_config: ScoreConfig | None = None,
                     segments: Mapping[str, Mapping[str, object]] | None = None,
                     lookback_days: int = DEFAULT_LOOKBACK_DAYS) -> pd.DataFrame:
    """Every partner's attributes, segments, metrics and support score as of a date.

    Args:
        engine: where the logs live.
        as_of: features use history before this date (midnight, workspace zone).
        package: for ``completion_rate``/``package_completion`` of that package.
        catalogue: metric definitions (default: built-ins).
        metrics: which metrics (default: the whole catalogue that applies).
        score_config: support-score settings.
        segments: named segments, each added as a true/false feature.
        lookback_days: window of "as of" metrics without their own lookback.

    Returns:
        One row per partner (index ``partner_id``).
    """
    catalogue = dict(catalogue or builtin_metrics())
    names = list(metrics) if metrics is not None else [
        n for n, m in catalogue.items()
        if m.kind != "package_completion" or package is not None]
    attrs = partner_attributes(engine, as_of)
    if attrs.empty:
        raise DataValidationError("the workspace has no partners",
                                  fix="load partners first (supportlab ingest partners FILE)")
    # partners who join after the date were not partners yet: they have no features then
    attrs = attrs[~(attrs["tenure_days"] < 0).fillna(False).astype(bool)]
    w = window_asof(as_of, engine.timezone, lookback_days)
    feats = compute_metrics(engine, names, [w], package=package, catalogue=catalogue)
    score = support_score(engine, as_of, score_config)
    cols = ["support_score", *(f"{k}_points" for k in COMPONENTS)]
    out = attrs.join(feats, how="left").join(score[cols], how="left")
    out.index.name = "partner_id"
    return assign_segments(out, segments or {})


@dataclass(frozen=True)
class TargetList:
    """Eligible partners, ranked, with the values that made each eligible."""

    experiment_id: str
    as_of: dt.date
    rule: str | None
    priority: str
    frame: pd.DataFrame = field(repr=False)
    n_partners: int = 0
    n_in_segment: int = 0
    n_eligible: int = 0
    condition_counts: tuple[tuple[str, int], ...] = ()

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def write(self, path: str | Path) -> Path:
        """Write as CSV (UTF-8 with BOM, for Excel) or Parquet, by the file's suffix."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.tmp")
        if p.suffix.lower() == ".parquet":
            self.frame.reset_index().to_parquet(tmp, index=False)
        elif p.suffix.lower() == ".csv":
            self.frame.reset_index().to_csv(tmp, index=False, encoding="utf-8-sig")
        else:
            raise ConfigError(f"cannot write '{p.suffix}' files", where=str(p),
                              fix="use a .csv or .parquet file name")
        tmp.replace(p)
        return p

    def __str__(self) -> str:
        head = (f"{self.experiment_id}: {self.n_eligible:,} eligible of {self.n_in_segment:,} "
                f"partners in the package segment ({self.n_partners:,} in all), as of "
                f"{self.as_of}; rule: {self.rule or '(none)'}; priority: {self.priority}")
        if len(self.frame) < self.n_eligible:
            head += f"; keeping the first {len(self.frame):,}"
        if self.n_eligible == 0 and self.condition_counts:
            head += "\nno partner is eligible; partners in the segment meeting each condition: " \
                + ", ".join(f"{c}: {n:,}" for c, n in self.condition_counts)
        return head


def select_targets(engine: Engine, experiment: Experiment, *, as_of: dt.date | str | None = None,
                   catalogue: Mapping[str, Metric] | None = None,
                   score_config: ScoreConfig | None = None,
                   segments: Mapping[str, Mapping[str, object]] | None = None,
                   limit: int | None = None) -> TargetList:
    """The ranked eligible partners of an experiment.

    Args:
        engine: where the logs live.
        experiment: its package segment, eligibility rule and priority are used.
        as_of: the targeting date (default: the experiment's start).
        catalogue: metric definitions.
        score_config: support-score settings.
        segments: named segments, usable in the rule by name.
        limit: keep only the first N (default: ``design.max_partners`` or all).
    """
    day = pd.Timestamp(as_of or experiment.design.start).date()
    feats = partner_features(engine, day, package=experiment.package, catalogue=catalogue,
                             score_config=score_config, segments=segments)
    n_all = len(feats)
    seg = in_segment(feats, experiment.package.segment)
    pool = feats[seg]
    kinds = infer_feature_kinds(feats)
    rule = parse_rule(experiment.eligibility, kinds) if experiment.eligibility else None
    shown: list[str] = []
    counts: tuple[tuple[str, int], ...] = ()
    if rule is not None:
        mask = rule.evaluate(pool).fillna(False).astype(bool)
        explain = rule.explain(pool)
        atoms = [c for c in explain.columns if c not in rule.names and c != "selected"]
        counts = tuple((a, int((explain[a] == True).sum())) for a in atoms)  # noqa: E712
        eligible = pool[mask].copy()
        shown = [n for n in sorted(rule.names) if n in feats.columns]
        eligible["why"] = _why(explain[mask.to_numpy()], rule)
    else:
        eligible = pool.copy()
        eligible["why"] = "in the package segment"
    priority = experiment.priority or "support_score"
    if priority not in feats.columns:
        import difflib

        near = difflib.get_close_matches(priority, list(feats.columns), n=1)
        raise ConfigError(f"unknown priority feature '{priority}'",
                          where=experiment.path or experiment.id,
                          fix=(f"did you mean '{near[0]}'? " if near else "") +
                          "use a metric, an attribute or support_score")
    asc = experiment.priority_order != "desc"
    eligible = eligible.reset_index().sort_values(
        [priority, "partner_id"], ascending=[asc, True], na_position="last", kind="mergesort")
    eligible.insert(0, "priority_rank", range(1, len(eligible) + 1))
    eligible = eligible.set_index("partner_id")
    n_eligible = len(eligible)
    cap = limit or experiment.design.max_partners
    if cap:
        eligible = eligible.head(int(cap))
    keep = ["priority_rank", "name", "rank", "region", "manager", "tenure_band", "segment",
            "products", *shown, priority, "support_score", "why"]
    frame = eligible[list(dict.fromkeys(c for c in keep if c in eligible.columns))]
    order = f"{priority} {'asc' if asc else 'desc'}"
    return TargetList(experiment.id, day, experiment.eligibility, order,
                      frame, n_all, int(seg.sum()), n_eligible, counts)


def _why(explain: pd.DataFrame, rule: object) -> list[str]:
    """One readable line per partner: the conditions that hold, with the values behind them."""
    names = sorted(getattr(rule, "names", ()), key=len, reverse=True)
    atoms = [c for c in explain.columns if c not in names and c != "selected"]
    out = []
    for _, row in explain.iterrows():
        parts = []
        for atom in atoms:
            if row[atom] is True or (not pd.isna(row[atom]) and bool(row[atom])):
                used = [n for n in names if n in atom]
                vals = ", ".join(f"{n}={_fmt(row[n])}" for n in used[:3])
                parts.append(f"{atom} ({vals})" if vals else atom)
        if not parts:  # e.g. "not video_completed": show the values that made it hold
            parts = [", ".join(f"{n}={_fmt(row[n])}" for n in sorted(names))]
        out.append("; ".join(parts))
    return out


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return "null" if pd.isna(v) else f"{v:.4g}"
    return "null" if v is None or v is pd.NA else str(v)
