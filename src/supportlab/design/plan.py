"""Can this experiment succeed? The plan: eligible partners, the MDE and what would help.

:func:`plan` answers before anything is assigned, from the history in the workspace:

* **eligible partners now**: the experiment's targets (:func:`~supportlab.features.targeting.
  select_targets`) as of the start, or as of the day after the last data when the start lies
  later; by stratum (``design.stratify_by``) and per arm at the configured shares;
* **the outcome's spread**: the primary metric over a window of ``horizon_days`` just before
  that day, per eligible partner (its standard deviation ``sd`` and mean);
* **the variance reduction, measured**: the same metric in that window regressed (OLS) on the
  metric in the window of the same length before it, plus stratum dummies. The adjusted R² is
  the share of variance the analysis' covariate and strata will remove (regression adjustment
  shrinks the outcome's spread to ``sd·sqrt(1 − R²)``); blocked and rerandomized designs are
  credited with the same R² (their own gain is not larger than what adjustment removes, so this
  is conservative);
* **the expected uptake**: the share of treatment partners of earlier, finished experiments of
  the same package id with any event on the package's contents in their post window; else
  ``design.expected_uptake``; else 100%, with a warning. ``decision.min_effect`` is read as
  :func:`~supportlab.stats.decision.decide` reads it: the effect per *assigned* partner (the
  intention-to-treat effect the decision compares with it). Partners who never open the package
  dilute that effect, so the plan also states what the package must do for the partners who
  take it up: the assigned-partner MDE divided by the uptake;
* **the MDE** of each non-control arm against control at ``decision.power`` and
  ``decision.alpha`` (a two-sample *t* test with unequal allocation,
  :func:`supportlab.stats.power.mde`), and **the sample needed** for ``min_effect``;
* **one verdict** in English and Japanese and, whatever it is, the alternatives with their
  own MDE: a longer horizon (the metric's spread and mean over twice the window; the effect is
  assumed to grow with the metric's mean), two cohorts pooled (twice the partners), fewer arms
  (with more than two), and a wider eligibility rule (the package segment without the rule).

:func:`rollout_holdout` sizes the holdout of a roll-out by power (see :func:`holdout_share`
for the formula).

Example:
    >>> holdout_share(1000, effect=0.5, sd=2.0), holdout_share(6000, effect=0.5, sd=2.0)
    (0.148, 0.05)
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from supportlab.config.experiment import Experiment, find_package, segment_text
from supportlab.data.engine import Engine, connect
from supportlab.errors import ConfigError, DataValidationError
from supportlab.features.metrics import (
    Metric,
    Window,
    builtin_metrics,
    compute_metrics,
    last_data_day,
    load_metrics,
)
from supportlab.features.score import ScoreConfig, score_config
from supportlab.features.segments import load_segments
from supportlab.features.targeting import TargetList, features_table, select_targets
from supportlab.results import ResultMixin, fmt
from supportlab.stats.power import mde as power_mde
from supportlab.stats.power import power_at, sample_size
from supportlab.vocab import CONTROL_ARM

if TYPE_CHECKING:  # pragma: no cover
    from supportlab.data.workspace import Workspace

__all__ = ["HOLDOUT_MAX", "HOLDOUT_MIN", "MAX_R2", "Plan", "PlanOption", "holdout_share",
           "past_uptake", "plan", "rollout_holdout"]

#: the smallest and largest holdout (control share) of a roll-out
HOLDOUT_MIN, HOLDOUT_MAX = 0.05, 0.5
#: the measured R² is capped here: a plan never promises that covariates explain everything
MAX_R2 = 0.95

_OPTIONS_JA = {"longer_horizon": "期間を2倍にする", "pool_cohorts": "2つのコホートを合わせる",
               "fewer_arms": "群を2つにする", "wider_eligibility": "対象条件を外す"}
_OPTIONS_EN = {"longer_horizon": "a longer horizon", "pool_cohorts": "pooling two cohorts",
               "fewer_arms": "fewer arms", "wider_eligibility": "a wider eligibility rule"}


# -- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanOption(ResultMixin):
    """One alternative of a plan, with its own MDE.

    Attributes:
        option: ``longer_horizon``, ``pool_cohorts``, ``fewer_arms`` or ``wider_eligibility``.
        n_eligible: partners the alternative would randomize.
        horizon_days: its horizon.
        n_arms: its number of arms.
        sd: the outcome's standard deviation it would see (``None``: not measurable).
        r2: the variance reduction it is credited with.
        mde: the smallest effect on assigned partners it detects.
        mde_users: the same for partners who take the package up (``mde / uptake``).
        target_effect: ``min_effect`` in the alternative's units (scaled with the metric's
            mean for a longer horizon).
        reaches: whether ``mde <= target_effect`` (both per assigned partner).
        note_en / note_ja: what the alternative is, or why it cannot be measured.
    """

    _title: ClassVar[str] = "Alternative"
    _title_ja: ClassVar[str] = "改善案"

    option: str
    n_eligible: int
    horizon_days: int
    n_arms: int
    sd: float | None
    r2: float | None
    mde: float | None
    mde_users: float | None
    target_effect: float | None
    reaches: bool | None
    note_en: str = ""
    note_ja: str = ""

    def sentence(self, lang: str = "en") -> str:
        """The alternative in one clause, e.g. ``a longer horizon (120 days): MDE 0.31 ...``."""
        ja = lang == "ja"
        name = (_OPTIONS_JA if ja else _OPTIONS_EN)[self.option]
        what = self.note_ja if ja else self.note_en
        if self.mde is None or self.target_effect is None:
            return f"{name}（{what}）" if ja else f"{name} ({what})"
        if ja:
            verdict = "届く" if self.reaches else "届かない"
            return (f"{name}（{what}）: 最小検出効果 {fmt(self.mde)}、"
                    f"目標 {fmt(self.target_effect)} に{verdict}")
        verdict = "reaches it" if self.reaches else "does not reach it"
        return (f"{name} ({what}): MDE {fmt(self.mde)} against a min_effect of "
                f"{fmt(self.target_effect)}: {verdict}")


@dataclass(frozen=True)
class Plan(ResultMixin):
    """Whether an experiment can detect its ``min_effect``, and what would help.

    Attributes:
        experiment / package / primary / method: what is planned.
        as_of: the day eligibility and history are measured at (the start, or the day after
            the last data when the start is later).
        n_partners / n_in_segment / n_eligible: partners in all, in the package segment, and
            eligible (after ``max_partners``).
        n_per_arm: expected partners per arm at the configured shares.
        arm_shares: the configured shares.
        mean / sd: the primary metric over ``horizon_days`` before ``as_of``.
        r2 / r2_adjusted: measured on the two previous periods (see the module);
            ``r2_used`` is the adjusted R² in ``[0, MAX_R2]``, what the MDE is computed with.
        uptake: share of assigned partners expected to take the package up;
            ``uptake_source`` is ``history``, ``configured`` or ``assumed``;
            ``n_uptake_history`` the treatment partners of earlier experiments counted.
        mde: the smallest effect on *assigned* partners detected with ``power`` at ``alpha``
            (per non-control arm against control).
        mde_users: ``mde / uptake``: the same for partners who take the package up, the scale
            of ``min_effect``.
        rel_mde: ``mde / mean``.
        n_needed: eligible partners needed (all arms) to detect ``min_effect``.
        can_detect: ``mde <= min_effect`` (``None`` when ``min_effect`` is not set).
        verdict_en / verdict_ja: the verdict in plain words and what would help.
        by_stratum: eligible partners per stratum and expected per arm.
        options: the alternatives (:class:`PlanOption`).
    """

    _title: ClassVar[str] = "Plan"
    _title_ja: ClassVar[str] = "実験計画"
    _bullets: ClassVar[frozenset[str]] = frozenset({"verdict_en", "verdict_ja"})
    _order: ClassVar[tuple[str, ...]] = ("verdict_en", "verdict_ja")
    _labels: ClassVar[Mapping[str, Mapping[str, str]]] = {
        "en": {"verdict_en": "verdict", "verdict_ja": "verdict", "n_eligible": "eligible partners",
               "n_per_arm": "partners per arm", "mean": "mean (pre-period)",
               "sd": "standard deviation (pre-period)", "r2": "R² (measured)",
               "r2_adjusted": "R² (adjusted)", "r2_used": "variance reduction used",
               "uptake": "expected uptake", "uptake_source": "uptake from",
               "n_uptake_history": "n (earlier treatment partners)",
               "mde": "MDE (all assigned partners)", "mde_users": "MDE (partners taking it up)",
               "rel_mde": "MDE relative to the mean", "n_needed": "partners needed",
               "can_detect": "can detect min_effect", "n_partners": "partners",
               "n_in_segment": "in the package segment", "as_of": "as of"},
        "ja": {"verdict_en": "結論", "verdict_ja": "結論", "experiment": "実験",
               "package": "支援パッケージ", "primary": "主要指標", "method": "割付の方法",
               "as_of": "基準日", "start": "開始日", "horizon_days": "期間（日）",
               "n_partners": "パートナー数", "n_in_segment": "セグメント内",
               "n_eligible": "対象パートナー数", "n_per_arm": "群ごとの数",
               "mean": "平均（事前期間）", "sd": "標準偏差（事前期間）", "r2": "R²（実測）",
               "r2_adjusted": "R²（自由度調整）", "r2_used": "使った分散の削減",
               "uptake": "想定利用率", "uptake_source": "利用率の根拠",
               "n_uptake_history": "過去の介入群の数", "alpha": "有意水準", "power": "検出力",
               "min_effect": "最小効果", "mde": "最小検出効果（割付全体）",
               "mde_users": "最小検出効果（利用したパートナー）", "rel_mde": "平均に対する最小検出効果",
               "n_needed": "必要なパートナー数", "can_detect": "最小効果を検出できるか"},
    }

    experiment: str
    package: str
    primary: str
    method: str
    as_of: dt.date
    start: dt.date
    horizon_days: int
    n_partners: int
    n_in_segment: int
    n_eligible: int
    n_per_arm: Mapping[str, int]
    arm_shares: Mapping[str, float]
    mean: float
    sd: float
    r2: float | None
    r2_adjusted: float | None
    r2_used: float
    uptake: float
    uptake_source: str
    n_uptake_history: int
    alpha: float
    power: float
    min_effect: float
    mde: float
    mde_users: float
    rel_mde: float | None
    n_needed: int | None
    can_detect: bool | None
    verdict_en: tuple[str, ...]
    verdict_ja: tuple[str, ...]
    by_stratum: pd.DataFrame = field(compare=False, repr=False)
    options: tuple[PlanOption, ...] = ()
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def verdict(self, lang: str = "en") -> str:
        """The verdict and what would help, as one paragraph in ``en`` or ``ja``."""
        if lang not in ("en", "ja"):
            raise ConfigError(f"lang == {lang!r}", fix="use 'en' or 'ja'")
        return ("" if lang == "ja" else " ").join(self.verdict_ja if lang == "ja"
                                                   else self.verdict_en)

    def _headline(self, lang: str) -> str:
        ja = lang == "ja"
        if self.can_detect is None:
            return "最小効果が未設定" if ja else "min_effect is not set"
        if self.can_detect:
            return "最小効果を検出できる" if ja else "can detect min_effect"
        return "最小効果を検出できない" if ja else "cannot detect min_effect"

    def _hidden_fields(self, lang: str) -> frozenset[str]:
        other = "verdict_en" if lang == "ja" else "verdict_ja"
        return frozenset({other, "by_stratum", "options", "arm_shares"})

    def _is_percent(self, name: str) -> bool:
        return name in ("uptake", "r2", "r2_adjusted", "r2_used", "power") or super()._is_percent(name)

    def _tables(self, lang: str) -> list[tuple[str, pd.DataFrame]]:
        ja = lang == "ja"
        strata = self.by_stratum.copy()
        strata.columns = [("層" if ja else "stratum") if c == "stratum"
                          else ("対象" if ja else "eligible") if c == "n_eligible" else c
                          for c in strata.columns]
        rows = [{("改善案" if ja else "alternative"): (_OPTIONS_JA if ja else _OPTIONS_EN)[o.option],
                 ("対象" if ja else "partners"): f"{o.n_eligible:,}",
                 ("期間（日）" if ja else "horizon days"): f"{o.horizon_days:,}",
                 ("群" if ja else "arms"): str(o.n_arms),
                 ("最小検出効果" if ja else "MDE (users)"): fmt(o.mde_users),
                 ("目標" if ja else "min_effect there"): fmt(o.target_effect),
                 ("届くか" if ja else "reaches"): ("—" if o.reaches is None else
                                                  ("はい" if o.reaches else "いいえ") if ja
                                                  else ("yes" if o.reaches else "no"))}
                for o in self.options]
        out = [("層ごとの対象パートナー" if ja else "eligible partners by stratum", strata)]
        if rows:
            out.append(("改善案" if ja else "alternatives", pd.DataFrame(rows)))
        return out


# -- the measurement --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spread:
    """The primary metric's spread over one window and the R² the previous window gives."""

    n: int
    mean: float
    sd: float
    r2: float | None = None
    r2_adjusted: float | None = None

    @property
    def r2_used(self) -> float:
        return 0.0 if self.r2_adjusted is None else min(max(self.r2_adjusted, 0.0), MAX_R2)


@dataclass
class _Context:
    engine: Engine
    catalogue: dict[str, Metric]
    segments: dict[str, Any]
    score: ScoreConfig | None
    as_of: dt.date
    history_days: int
    first_day: dt.date
    packages_dir: Path | None


def r_squared(y: np.ndarray, x: np.ndarray | None, strata: Sequence[Any] | None
              ) -> tuple[float, float]:
    """R² and adjusted R² of the OLS of ``y`` on an intercept, ``x`` and stratum dummies.

    Regressors that add nothing (a constant ``x``, a single stratum) are dropped by the rank,
    as statsmodels does (``df_model = rank − 1``).

    Example:
        >>> y = np.array([1.0, 2.0, 3.0, 5.0]); x = np.array([1.0, 2.0, 3.0, 4.0])
        >>> [round(v, 4) for v in r_squared(y, x, None)]
        [0.9657, 0.9486]
    """
    cols = [np.ones(len(y))]
    if x is not None:
        cols.append(np.asarray(x, dtype=float))
    if strata is not None:
        codes = pd.Series(list(strata)).astype(str)
        dummies = pd.get_dummies(codes, drop_first=True, dtype=float)
        cols += [dummies[c].to_numpy() for c in dummies.columns]
    X = np.column_stack(cols)
    n = len(y)
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    tss = float(((y - y.mean()) ** 2).sum())
    if tss <= 0:
        return 0.0, 0.0
    r2 = 1.0 - float(resid @ resid) / tss
    k = int(np.linalg.matrix_rank(X)) - 1
    adj = 1.0 - (1.0 - r2) * (n - 1) / (n - k - 1) if n - k - 1 > 0 else math.nan
    return r2, adj


def _numeric(s: pd.Series) -> np.ndarray:
    values: np.ndarray = pd.to_numeric(s.astype("object").where(s.notna(), np.nan),
                                       errors="coerce").to_numpy(dtype=float)
    return values


def _spread(y: np.ndarray, x: np.ndarray | None, strata: Sequence[Any] | None) -> _Spread:
    ok = np.isfinite(y) & (np.isfinite(x) if x is not None else True)
    yy = y[np.isfinite(y)]
    n = len(yy)
    mean = float(yy.mean()) if n else math.nan
    sd = float(yy.std(ddof=1)) if n > 1 else math.nan
    if x is None or ok.sum() < 3:
        return _Spread(n, mean, sd)
    s = None if strata is None else [v for v, k in zip(strata, ok, strict=True) if k]
    r2, adj = r_squared(y[ok], x[ok], s)
    return _Spread(n, mean, sd, r2, None if math.isnan(adj) else adj)


def _first_day(engine: Engine, metric: Metric, catalogue: Mapping[str, Metric]) -> dt.date | None:
    """The first day of the records the metric counts (workspace zone)."""
    m = metric
    if m.kind == "ratio" and m.numerator is not None and m.numerator in catalogue:
        m = catalogue[m.numerator]
    if not engine.has_table(m.table):
        return None
    first = engine.execute(engine.table(m.table)[m.time_column].min())
    if first is None or pd.isna(first):
        return None
    ts = pd.Timestamp(first)
    if ts.tzinfo is not None:
        ts = ts.tz_convert(engine.timezone)
    day: dt.date = ts.date()
    return day


def _context(ws: Workspace, exp: Experiment, engine: Engine | None) -> _Context:
    eng = engine or connect(ws)
    root = ws.config.experiments_path
    catalogue = load_metrics(root / "metrics.yaml") if (root / "metrics.yaml").exists() \
        else builtin_metrics()
    segments = load_segments(root / "segments.yaml")
    last = last_data_day(eng)
    if last is None:
        raise DataValidationError(
            "the workspace has no events: a plan measures the primary metric's history",
            where="events", fix="ingest PRM events first (supportlab ingest events FILE)")
    start = exp.design.start
    as_of = min(start, last + dt.timedelta(days=1))
    primary = exp.metrics.primary
    if primary not in catalogue:
        raise ConfigError(f"unknown metric '{primary}'", where=f"{_where(exp)}: metrics.primary",
                          fix="define it in experiments/metrics.yaml or use a built-in: "
                              + ", ".join(sorted(catalogue)))
    first = _first_day(eng, catalogue[primary], catalogue) or last
    days = (as_of - first).days
    horizon = exp.design.horizon_days
    if days < horizon:
        raise DataValidationError(
            f"not enough history before {as_of} to plan {exp.id}: the primary metric "
            f"'{primary}' over {horizon:,} days (the horizon) needs {horizon:,} days of history "
            f"before the start, {2 * horizon:,} to measure the variance reduction; the "
            f"workspace has {max(days, 0):,} (records from {first})",
            where=f"{_where(exp)}: design.horizon_days",
            fix=f"ingest history from {as_of - dt.timedelta(days=2 * horizon)} on, or plan a "
                "shorter horizon")
    pkg_dir = Path(exp.package.path).parent if exp.package.path else root / "packages"
    return _Context(eng, catalogue, segments, score_config(ws), as_of, days, first, pkg_dir)


def _where(exp: Experiment) -> str:
    return str(exp.path) if exp.path else exp.id


def _targets(ctx: _Context, exp: Experiment) -> TargetList:
    return select_targets(ctx.engine, exp, as_of=ctx.as_of, catalogue=ctx.catalogue,
                          score_config=ctx.score, segments=ctx.segments)


def _no_one_eligible(exp: Experiment, tl: TargetList) -> DataValidationError:
    seg = segment_text(exp.package.segment) or "every partner"
    if tl.n_in_segment == 0:
        return DataValidationError(
            f"no partner is eligible for {exp.id} as of {tl.as_of}: the package segment "
            f"({seg}) of {exp.package.ref} holds none of the {tl.n_partners:,} partners",
            where=f"{exp.package.path or exp.package.ref}: segment",
            fix="widen the package segment, or check the partners' products and ranks")
    counts = "; ".join(f"{c}: {n:,}" for c, n in tl.condition_counts)
    return DataValidationError(
        f"no partner is eligible for {exp.id} as of {tl.as_of}: the rule "
        f"'{exp.eligibility}' keeps none of the {tl.n_in_segment:,} partners in the package "
        f"segment ({seg})" + (f"; partners meeting each condition: {counts}" if counts else ""),
        where=f"{_where(exp)}: eligibility",
        fix="loosen the eligibility rule (the counts show which condition excludes everyone)")


def _strata(ctx: _Context, exp: Experiment, frames: Sequence[pd.DataFrame]) -> pd.Series:
    """Each partner's stratum label (``"—"`` without ``stratify_by``)."""
    cols = list(exp.design.stratify_by)
    ids = pd.Index(sorted({i for f in frames for i in f.index}), name="partner_id")
    if not cols:
        return pd.Series("—", index=ids)
    have = pd.concat([f for f in frames], axis=0)
    have = have[~have.index.duplicated()]
    if not all(c in have.columns for c in cols):
        t = features_table(ctx.engine, ctx.as_of, package=exp.package, catalogue=ctx.catalogue,
                           score_config=ctx.score, segments=ctx.segments)
        missing = [c for c in cols if c not in t.columns]
        if missing:
            raise ConfigError(f"unknown strata column '{missing[0]}'",
                              where=f"{_where(exp)}: design.stratify_by",
                              fix="use partner columns such as rank, region or tenure_band")
        t = t.filter(t.partner_id.isin(list(ids)))
        have = ctx.engine.execute(t.select("partner_id", *cols)).set_index("partner_id")
    vals = have.reindex(ids)[cols].astype("object").where(have.reindex(ids)[cols].notna(), "(none)")
    return vals.astype(str).agg(" / ".join, axis=1)


def _windows(as_of: dt.date, tz: str, horizon: int, history: int) -> list[Window]:
    end = pd.Timestamp(as_of).tz_localize(tz)
    h = pd.Timedelta(days=horizon)
    spans = {"a": (1, 0), "b": (2, 1), "a2": (2, 0), "b2": (4, 2)}
    return [Window(name, end - lo * h, end - hi * h) for name, (hi, lo) in spans.items()
            if hi * horizon <= history]


def _history(ctx: _Context, exp: Experiment, ids: Sequence[str]) -> dict[str, pd.Series]:
    """The primary metric per partner over the windows the history covers (one query)."""
    wins = _windows(ctx.as_of, ctx.engine.timezone, exp.design.horizon_days, ctx.history_days)
    m = exp.metrics.primary
    df = compute_metrics(ctx.engine, [m], wins, package=exp.package, catalogue=ctx.catalogue,
                         partners=list(ids), suffix=True).reindex(list(ids))
    return {w.name: df[f"{m}_{w.name}"] for w in wins}


def _measure(history: Mapping[str, pd.Series], ids: Sequence[str], strata: pd.Series
             ) -> tuple[_Spread, _Spread | None]:
    """The spread and R² at the horizon, and over twice the horizon (None: too little history)."""
    col = {k: _numeric(v.reindex(list(ids))) for k, v in history.items()}
    s = strata.reindex(list(ids)).tolist()
    base = _spread(col["a"], col.get("b"), s)
    longer = _spread(col["a2"], col.get("b2"), s) if "a2" in col else None
    return base, longer


def _zero_variance(exp: Experiment, ctx: _Context, sp: _Spread) -> DataValidationError:
    lo = ctx.as_of - dt.timedelta(days=exp.design.horizon_days)
    value = "no value" if math.isnan(sp.mean) else f"the value {fmt(sp.mean)}"
    return DataValidationError(
        f"the primary metric '{exp.metrics.primary}' does not vary among the {sp.n:,} eligible "
        f"partners over [{lo}, {ctx.as_of}): every one has {value}, so no effect on it can be "
        "measured against chance", where=f"{_where(exp)}: metrics.primary",
        fix="choose a primary metric that differs between partners (e.g. deals_registered, "
            "logins), or check that its events were ingested")


def past_uptake(ws: Workspace, exp: Experiment, before: dt.date, *,
                packages_dir: Path | None = None) -> tuple[float | None, int]:
    """The package's past uptake: treatment partners of earlier experiments of its id.

    Earlier experiments are the ``designs`` rows of the same package id (other experiments, no
    placebo runs) whose horizon ended by ``before``; a treatment partner took the package up
    when it has any event on the package's contents (this version's and, when its file is
    found, the earlier version's) in the experiment's post window.

    Returns:
        ``(share, treatment partners counted)``; ``(None, 0)`` without an earlier delivery.
    """
    if not {"designs", "assignments", "events"} <= set(ws.tables()):
        return None, 0
    rows = ws.query("SELECT experiment_id, phase, version, spec, start_date, end_date "
                    "FROM designs WHERE package_id = ? AND experiment_id <> ? AND NOT placebo "
                    "AND end_date <= ? ORDER BY start_date",
                    [exp.package.id, exp.id, before])
    if rows.empty:
        return None, 0
    from supportlab.design.spec import DesignSpec

    tz = ws.config.timezone
    n = used = 0
    for r in rows.itertuples(index=False):
        try:
            control = DesignSpec.from_json(r.spec).control
        except (ValueError, TypeError, KeyError):
            control = CONTROL_ARM
        contents = {i.content for i in exp.package.items}
        if int(r.version) != exp.package.version and packages_dir is not None:
            try:
                old = find_package(f"{exp.package.id}@{int(r.version)}", packages_dir)
                contents |= {i.content for i in old.items}
            except ConfigError:
                pass
        lo = pd.Timestamp(r.start_date).tz_localize(tz)
        hi = pd.Timestamp(r.end_date).tz_localize(tz)
        got = ws.query(
            "SELECT COUNT(*) AS n, COUNT(*) FILTER (WHERE partner_id IN ("
            "  SELECT partner_id FROM events WHERE content_id IN (SELECT unnest(?::VARCHAR[]))"
            "  AND ts >= ? AND ts < ?)) AS used "
            "FROM assignments WHERE experiment_id = ? AND phase = ? AND arm <> ?",
            [sorted(contents), lo.to_pydatetime(), hi.to_pydatetime(), r.experiment_id,
             int(r.phase), control])
        n += int(got["n"].iloc[0])
        used += int(got["used"].iloc[0])
    return (used / n if n else None), n


def _uptake(ws: Workspace, exp: Experiment, ctx: _Context) -> tuple[float, str, int]:
    share, n = past_uptake(ws, exp, ctx.as_of, packages_dir=ctx.packages_dir)
    if share is not None:
        return share, "history", n
    if exp.design.expected_uptake is not None:
        return float(exp.design.expected_uptake), "configured", 0
    return 1.0, "assumed", 0


# -- the arithmetic ---------------------------------------------------------------------------------


def _pair(shares: Mapping[str, float]) -> tuple[float, float]:
    """Control's share and the smallest other arm's."""
    arms = list(shares)
    return shares[arms[0]], min(shares[a] for a in arms[1:])


def _arm_sizes(n: int, shares: Mapping[str, float]) -> dict[str, int]:
    """Partners per arm at the shares, summing to ``n`` (largest remainders get the rest).

    Example:
        >>> _arm_sizes(415, {"control": 0.5, "treatment": 0.5})
        {'control': 208, 'treatment': 207}
    """
    raw = {a: n * s for a, s in shares.items()}
    out = {a: math.floor(v + 1e-9) for a, v in raw.items()}
    for a in sorted(raw, key=lambda k: out[k] - raw[k])[: n - sum(out.values())]:
        out[a] += 1
    return out


def _mde(n: int, shares: Mapping[str, float], sd: float, r2: float, alpha: float,
         power: float) -> float:
    sizes = _arm_sizes(n, shares)
    arms = list(shares)
    n_c, n_t = sizes[arms[0]], min(sizes[a] for a in arms[1:])
    if n_c < 2 or n_t < 2 or not sd > 0:
        return math.inf
    return power_mde(n_c, n_t, sd=sd, alpha=alpha, power=power, r2=r2)


def _needed(effect: float, shares: Mapping[str, float], sd: float, r2: float, alpha: float,
            power: float) -> int | None:
    if not (effect > 0 and sd > 0):
        return None
    c, t = _pair(shares)
    s = sample_size(effect, sd=sd, control_share=c / (c + t), alpha=alpha, power=power, r2=r2)
    return math.ceil(max(s.n_control / c, s.n_treatment / t) - 1e-9)


def _users(mde: float, uptake: float) -> float:
    return mde / uptake if uptake > 0 else math.inf


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def holdout_share(n_eligible: int, *, effect: float, sd: float, r2: float = 0.0,
                  alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest holdout (control share) in ``[0.05, 0.5]`` that keeps ``power`` at ``effect``.

    With ``n`` partners, a holdout share ``h`` and an outcome spread ``σ`` that adjustment
    shrinks by ``R²``, the standard error of the difference is ``σ·sqrt((1 − R²) / (n·h·(1 − h)))``,
    so the power is reached when ``h·(1 − h) >= c`` with
    ``c = σ²·(1 − R²)·(z_{1−α/2} + z_power)² / (n·δ²)``, that is from
    ``h* = (1 − sqrt(1 − 4c)) / 2``. That normal-theory value is then refined with the two-sample
    *t* test (:func:`supportlab.stats.power.power_at`) by bisection and rounded up to 0.001.
    It is clipped to ``[0.05, 0.5]``: a holdout below 5% says nothing after a few drop-outs, and
    at 0.5 (``c > 1/4``) even an even split cannot reach the power, which is warned about.

    Example:
        >>> holdout_share(1000, effect=0.5, sd=2.0), holdout_share(2000, effect=0.5, sd=2.0)
        (0.148, 0.068)
    """
    if not effect > 0:
        raise ConfigError(f"effect == {effect!r}: a holdout sized by power needs the effect to "
                          "keep measuring", where="decision.min_effect",
                          fix="set decision.min_effect (the smallest effect worth promoting)")
    if n_eligible < 4:  # not two partners in each arm even at an even split
        raise ConfigError(f"{n_eligible} eligible partners cannot hold a control group",
                          fix="a roll-out needs at least a few partners per arm")

    def ok(h: float) -> bool:
        n_c, n_t = n_eligible * h, n_eligible * (1 - h)
        if n_c < 2 or n_t < 2:
            return False
        return power_at(effect, n_c, n_t, sd=sd, alpha=alpha, r2=r2) >= power

    if ok(HOLDOUT_MIN):
        return HOLDOUT_MIN
    if not ok(HOLDOUT_MAX):
        z = stats.norm.isf(alpha / 2) + stats.norm.ppf(power)
        c = sd ** 2 * (1 - r2) * z ** 2 / (n_eligible * effect ** 2)
        warnings.warn(f"a holdout of {HOLDOUT_MAX:.0%} of {n_eligible:,} partners cannot keep "
                      f"{power:.0%} power at an effect of {fmt(effect)} (h·(1−h) would need "
                      f"{c:.3f} > 0.25): the roll-out's measurement will be underpowered",
                      stacklevel=2)
        return HOLDOUT_MAX
    lo, hi = HOLDOUT_MIN, HOLDOUT_MAX
    while hi - lo > 1e-5:
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    h = math.ceil(hi * 1000 - 1e-9) / 1000
    return float(min(max(h, HOLDOUT_MIN), HOLDOUT_MAX))


def rollout_holdout(ws: Workspace, exp: Experiment, n_eligible: int, *,
                    partners: Sequence[str] | None = None, engine: Engine | None = None) -> float:
    """The holdout (control share) of a roll-out of a promoted template, sized by power.

    The smallest control share in ``[0.05, 0.5]`` that keeps ``decision.power`` at
    ``min_effect`` (per assigned partner, as the decision reads it) on ``n_eligible``
    partners, with the spread and R² measured as :func:`plan` measures them (on ``partners``,
    default: the experiment's eligible partners). Formula: :func:`holdout_share`.

    Raises:
        ConfigError: ``decision.min_effect`` is not set.
        DataValidationError: no history, no eligible partner, or a metric without variance.
    """
    if not exp.min_effect > 0:
        raise ConfigError("a roll-out's holdout is sized by power at min_effect, which is 0",
                          where=f"{_where(exp)}: decision.min_effect",
                          fix="set decision.min_effect (the smallest effect worth keeping)")
    ctx = _context(ws, exp, engine)
    if partners is None:
        tl = _targets(ctx, exp)
        if tl.frame.empty:
            raise _no_one_eligible(exp, tl)
        frame = tl.frame
    else:
        frame = pd.DataFrame(index=pd.Index(list(partners), name="partner_id"))
    strata = _strata(ctx, exp, [frame])
    ids = list(frame.index)
    base, _ = _measure(_history(ctx, exp, ids), ids, strata)
    if not base.sd > 0:
        raise _zero_variance(exp, ctx, base)
    return holdout_share(n_eligible, effect=exp.min_effect, sd=base.sd, r2=base.r2_used,
                         alpha=exp.alpha, power=exp.power)


# -- the plan ---------------------------------------------------------------------------------------


def _option(option: str, n: int, horizon: int, shares: Mapping[str, float], sp: _Spread | None,
            r2: float | None, target: float | None, uptake: float, exp: Experiment,
            note_en: str, note_ja: str) -> PlanOption:
    if sp is None or r2 is None or not sp.sd > 0:
        return PlanOption(option, n, horizon, len(shares), None, None, None, None, target, None,
                          note_en, note_ja)
    m = _mde(n, shares, sp.sd, r2, exp.alpha, exp.power)
    mu = _users(m, uptake)
    reaches = None if target is None else bool(m <= target * (1 + 1e-12))
    return PlanOption(option, n, horizon, len(shares), sp.sd, r2, _finite(m), _finite(mu),
                      target, reaches, note_en, note_ja)


def plan(ws: Workspace, exp: Experiment, *, engine: Engine | None = None) -> Plan:
    """Whether ``exp`` can detect its ``min_effect``: eligible partners, MDE, what would help.

    See the module for what is measured and how. One call runs the targeting query (twice with
    an eligibility rule, for the wider alternative) and one metrics query.

    Args:
        ws: the workspace (its history, metrics.yaml, segments.yaml, earlier designs).
        exp: the experiment.
        engine: where to compute (default: the workspace's engine).

    Returns:
        A :class:`Plan` (``to_json()``, text and HTML in ``en`` or ``ja``).

    Raises:
        DataValidationError: no partner is eligible (naming the rule or the segment), the
            primary metric does not vary, or history before the start is too short (saying
            how many days are needed).
    """
    ctx = _context(ws, exp, engine)
    d = exp.design
    shares = d.arm_shares
    horizon = d.horizon_days
    warn: list[str] = []
    notes: list[str] = []
    tl = _targets(ctx, exp)
    if tl.frame.empty:
        raise _no_one_eligible(exp, tl)
    wide: TargetList | None = None
    if exp.eligibility:
        wide = _targets(ctx, replace(exp, eligibility=None))
    frames = [tl.frame] + ([wide.frame] if wide is not None and len(wide.frame) else [])
    strata = _strata(ctx, exp, frames)
    ids = list(tl.frame.index)
    wide_ids = list(wide.frame.index) if wide is not None else []
    history = _history(ctx, exp, list(dict.fromkeys([*ids, *wide_ids])))
    base, longer = _measure(history, ids, strata)
    if not base.sd > 0:
        raise _zero_variance(exp, ctx, base)
    uptake, source, n_hist = _uptake(ws, exp, ctx)
    n = len(ids)
    r2 = base.r2_used
    alpha, power, me = exp.alpha, exp.power, exp.min_effect
    m = _mde(n, shares, base.sd, r2, alpha, power)
    mu = _users(m, uptake)
    target = me if me > 0 else None
    can = None if target is None else bool(m <= target * (1 + 1e-12))
    n_needed = _needed(me, shares, base.sd, r2, alpha, power) if target else None

    # what was measured, in words
    if base.r2 is None:
        warn.append(f"the variance reduction was not measured: it needs {2 * horizon:,} days of "
                    f"history before {ctx.as_of} (two periods of {horizon:,} days), the "
                    f"workspace has {ctx.history_days:,}; the plan assumes none")
    if source == "assumed":
        warn.append(f"the plan assumes 100% uptake: {exp.package.id} has no finished earlier "
                    "delivery and design.expected_uptake is not set; partners who never open "
                    "the package dilute the effect, so set expected_uptake to plan for them")
    elif source == "history":
        notes.append(f"uptake {uptake:.0%}: {n_hist:,} treatment partners of earlier "
                     f"experiments of {exp.package.id}, those with any event on its contents "
                     "in their post window")
    if uptake <= 0:
        warn.append(f"no treatment partner of earlier experiments of {exp.package.id} took it "
                    "up: no effect on assigned partners can be expected")
    if d.method in ("blocked", "rerandomized"):
        notes.append(f"the {d.method} design is credited with the measured R² of the covariate "
                     "and strata only (conservative)")
    if len(shares) > 2:
        notes.append(f"each of the {len(shares) - 1} arms is compared with control at alpha "
                     f"{alpha:g}")
    if ctx.as_of != d.start:
        notes.append(f"the start {d.start} is after the data: eligibility and history are "
                     f"measured as of {ctx.as_of}")
    if base.r2 is not None:
        notes.append(f"R² measured: {exp.metrics.primary} over [{ctx.as_of - dt.timedelta(2 * horizon)}, "
                     f"{ctx.as_of - dt.timedelta(horizon)}) and the strata explain "
                     f"{base.r2:.0%} of its variance over the {horizon:,} days before "
                     f"{ctx.as_of} (adjusted {max(base.r2_adjusted or 0.0, 0.0):.0%})")
        if (base.r2_adjusted or 0.0) > MAX_R2:
            warn.append(f"the measured R² was capped at {MAX_R2:.0%}")

    # strata
    counts = strata.reindex(ids).value_counts().sort_index()
    rows = []
    for label_, k in counts.items():
        rows.append({"stratum": str(label_), "n_eligible": int(k), **_arm_sizes(int(k), shares)})
        if k < 2 * len(shares):
            warn.append(f"stratum '{label_}' has {int(k)} eligible partner(s): too few to split "
                        f"into {len(shares)} arms (small_strata: {d.small_strata})")
    by_stratum = pd.DataFrame(rows)

    # alternatives
    opts: list[PlanOption] = []
    if longer is None:
        opts.append(PlanOption("longer_horizon", n, 2 * horizon, len(shares), None, None, None,
                               None, None, None,
                               f"{2 * horizon:,} days: needs {2 * horizon:,} days of history, "
                               f"has {ctx.history_days:,}",
                               f"{2 * horizon:,}日: 履歴が {2 * horizon:,} 日必要"
                               f"（{ctx.history_days:,} 日分のみ）"))
    else:
        r2_long = longer.r2_used if longer.r2 is not None else r2
        scale = longer.mean / base.mean if base.mean > 0 and longer.mean > 0 else 2.0
        en = f"{2 * horizon:,} days"
        ja = f"{2 * horizon:,}日"
        if longer.r2 is None:
            en += ", R² of the configured horizon"
            ja += "、R²は現在の期間のもの"
            notes.append(f"the longer horizon reuses the R² of {horizon:,} days: measuring it "
                         f"needs {4 * horizon:,} days of history")
        opts.append(_option("longer_horizon", n, 2 * horizon, shares, longer, r2_long,
                            None if target is None else target * scale, uptake, exp, en, ja))
        notes.append(f"over {2 * horizon:,} days the metric's mean is {fmt(longer.mean)} "
                     f"({scale:.2f}× that of {horizon:,} days); the longer horizon's min_effect "
                     "is scaled by it (a constant relative effect)")
    opts.append(_option("pool_cohorts", 2 * n, horizon, shares, base, r2, target, uptake, exp,
                        f"{2 * n:,} partners", f"{2 * n:,}社"))
    if len(shares) > 2:
        two = {a: s for a, s in zip(d.arms[:2], (d.control_share, 1 - d.control_share),
                                    strict=True)}
        opts.append(_option("fewer_arms", n, horizon, two, base, r2, target, uptake, exp,
                            f"control and one arm, {d.control_share:.0%} control",
                            f"対照群と1群、対照群 {d.control_share:.0%}"))
    if wide is not None:
        nw = len(wide.frame)
        if nw > n:
            sw, _ = _measure(history, wide_ids, strata)
            opts.append(_option("wider_eligibility", nw, horizon, shares, sw, sw.r2_used, target,
                                uptake, exp, f"the package segment without the rule: {nw:,} "
                                             "partners",
                                f"パッケージのセグメント全体: {nw:,}社"))
        else:
            opts.append(PlanOption("wider_eligibility", nw, horizon, len(shares), None, None,
                                   None, None, target, None,
                                   "the rule excludes no partner of the segment"
                                   + (" (max_partners caps it)" if d.max_partners else ""),
                                   "条件を外しても対象は増えない"))

    v_en, v_ja = _verdict(exp, n, shares, uptake, m, mu, n_needed, can, opts)
    rel = m / base.mean if base.mean and math.isfinite(m) and base.mean > 0 else None
    return Plan(
        experiment=exp.id, package=exp.package.ref, primary=exp.metrics.primary, method=d.method,
        as_of=ctx.as_of, start=d.start, horizon_days=horizon, n_partners=tl.n_partners,
        n_in_segment=tl.n_in_segment, n_eligible=n, n_per_arm=_arm_sizes(n, shares),
        arm_shares=dict(shares), mean=base.mean, sd=base.sd, r2=base.r2,
        r2_adjusted=base.r2_adjusted, r2_used=r2, uptake=uptake, uptake_source=source,
        n_uptake_history=n_hist, alpha=alpha, power=power, min_effect=me, mde=m, mde_users=mu,
        rel_mde=rel, n_needed=n_needed, can_detect=can, verdict_en=v_en, verdict_ja=v_ja,
        by_stratum=by_stratum, options=tuple(opts), warnings=tuple(warn), notes=tuple(notes))


def _verdict(exp: Experiment, n: int, shares: Mapping[str, float], uptake: float, m: float,
             mu: float, n_needed: int | None, can: bool | None, opts: Sequence[PlanOption]
             ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    metric, me = exp.metrics.primary, exp.min_effect
    pw, a = f"{exp.power:.0%}", f"{exp.alpha:g}"
    arms_en = " vs ".join(f"{s:.0%} {k}" for k, s in shares.items())
    arms_ja = "・".join(f"{k} {s:.0%}" for k, s in shares.items())
    users_en = (f"{fmt(m)} per assigned partner ({fmt(mu)} on the partners who take the "
                f"package up, at {uptake:.0%} uptake)") if math.isfinite(mu) \
        else f"{fmt(m)} per assigned partner (no uptake expected)"
    users_ja = (f"割付したパートナー1社あたり {fmt(m)}（想定利用率 {uptake:.0%} で、利用した"
                f"パートナーでは {fmt(mu)}）" if math.isfinite(mu)
                else f"割付したパートナー1社あたり {fmt(m)}（利用の見込みなし）")
    if can is None:
        return ((f"min_effect is not set (decision.min_effect is 0): with {n:,} eligible "
                 f"partners ({arms_en}) the experiment detects effects on {metric} of "
                 f"{users_en} or larger, with {pw} power at alpha {a}.",),
                (f"最小効果が設定されていません（decision.min_effect が 0）: 対象パートナー {n:,} 社"
                 f"（{arms_ja}）で検出できる {metric} の効果は {users_ja} 以上です"
                 f"（検出力 {pw}、有意水準 {a}）。",))
    need_en = f" It needs {n_needed:,} eligible partners and has {n:,}." if n_needed else ""
    need_ja = f"必要な対象パートナーは {n_needed:,} 社、現在は {n:,} 社です。" if n_needed else ""
    if can:
        return ((f"Yes: with {n:,} eligible partners ({arms_en}) the experiment can detect the "
                 f"min_effect of {fmt(me)} on {metric}: the smallest effect it detects with "
                 f"{pw} power at alpha {a} is {users_en}.{need_en}",),
                (f"検出できます: 対象パートナー {n:,} 社（{arms_ja}）で {metric} の最小効果 "
                 f"{fmt(me)} を検出できます。検出力 {pw}・有意水準 {a} で検出できる最小の効果は"
                 f"{users_ja} です。{need_ja}",))
    en = [f"No: with {n:,} eligible partners ({arms_en}) the experiment cannot detect the "
          f"min_effect of {fmt(me)} on {metric}: the smallest effect it detects with {pw} power "
          f"at alpha {a} is {users_en}.{need_en}"]
    ja = [f"検出できません: 対象パートナー {n:,} 社（{arms_ja}）では {metric} の最小効果 "
          f"{fmt(me)} を検出できません。検出力 {pw}・有意水準 {a} で検出できる最小の効果は"
          f"{users_ja} です。{need_ja}"]
    good = [o for o in opts if o.reaches]
    if good:
        en.append("What would: " + "; ".join(o.sentence("en") for o in good) + ".")
        ja.append("検出できる改善案: " + "。".join(o.sentence("ja") for o in good) + "。")
    rest = [o for o in opts if not o.reaches]
    if rest:
        en.append(("Not enough alone: " if good else "None of these alone is enough: ")
                  + "; ".join(o.sentence("en") for o in rest)
                  + ("." if good else "; combine them, or accept a larger min_effect."))
        ja.append(("単独では足りない案: " if good else "どの案も単独では足りません: ")
                  + "。".join(o.sentence("ja") for o in rest)
                  + ("。" if good else "。組み合わせるか、最小効果を見直してください。"))
    return tuple(en), tuple(ja)
