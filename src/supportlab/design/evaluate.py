"""The evaluation of an experiment: every estimate, check and the decision, from the ledger and
the logs.

:func:`evaluate` reads the stored design and the assigned partners (the ledger), computes each
assigned partner's metrics in the engine (the pre window of ``pre_days`` before the start and
the post window ``[start, min(as_of, end))``, plus the window of every earlier planned look,
all in one query) and the package's progress (opened, each item's ``done_when`` event, each
week done) from the same query, then asks :mod:`supportlab.stats` for:

* the primary, secondary and guardrail estimates with the design-aware estimator
  (:func:`supportlab.stats.designs.analyze_design`: strata or blocks, the rerandomization
  covariates, the pre-period value of each metric as covariate; the primary also gets the
  randomization test that follows the design), each non-control arm against control;
* the sample-ratio check against the design's probabilities, the balance of the pre-period
  metrics, each guardrail's non-inferiority test (its ``max_drop``);
* uptake and the step funnel per arm (assigned -> opened -> each week done), the complier
  effect (assignment as instrument, ``opened`` as uptake) and the outcome by consumption;
* the pre-declared segments (partner attributes as of the start, Holm-adjusted);
* with ``decision.looks`` > 1, the always-valid sequence over the planned looks so far (a look
  before the horizon stops early only for harm and says "look k of K");
* the :func:`~supportlab.stats.decision.decide` outcome with its reasons in English and
  Japanese.

The result is one :class:`Evaluation` (text, HTML, Markdown, ``to_json()``: the object the
reports render). A placebo (A/A) run is labelled in every output; an evaluation before any
post-period data is refused with a message saying when there will be some.

Example:
    >>> Evaluation.__name__, sorted(REQUIRED_JSON)[:3]
    ('Evaluation', ['decision', 'experiment', 'n_control'])
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from supportlab.config.experiment import Experiment, segment_text
from supportlab.config.problems import did_you_mean
from supportlab.design.inputs import (
    EvaluationInputs,
    Timing,
    assemble,
    load_inputs,
    read_inputs,
    resolve_timing,
)
from supportlab.design.spec import DesignSpec, design_spec
from supportlab.display import check_lang
from supportlab.errors import ConfigError, DataValidationError, SupportlabError, WorkspaceError
from supportlab.results import ResultMixin, fmt, json_safe
from supportlab.stats.checks import (
    BalanceCheck,
    GuardrailCheck,
    SRMCheck,
    balance_check,
    guardrail_check,
    srm_check,
)
from supportlab.stats.complier import ComplierEstimate, complier_effect
from supportlab.stats.decision import (
    ConsumptionProfile,
    Decision,
    Funnel,
    decide,
    effect_by_consumption,
    step_funnel,
)
from supportlab.stats.designs import DesignInfo, analyze_design
from supportlab.stats.estimation import Estimate
from supportlab.stats.power import mde_from_se
from supportlab.stats.segments import SegmentEffects, segment_effects
from supportlab.stats.sequential import SequentialResult, sequential_looks

if TYPE_CHECKING:  # pragma: no cover
    from supportlab.data.engine import Engine
    from supportlab.data.workspace import Workspace

#: the note of an evaluation that used inputs read ahead for a whole run
SHARED_NOTE = ("the logs were read ahead, once for the whole run's experiments (one engine "
               "session, one scan); the numbers are those of a read for this one alone")

__all__ = ["PLACEBO", "REQUIRED_JSON", "SHARED_NOTE", "ArmEvaluation", "Evaluation", "evaluate",
           "read_assignments"]

#: the top-level fields of ``result.json`` (DESIGN §6) that :meth:`Evaluation.to_dict` carries
REQUIRED_JSON = frozenset({"experiment", "package", "decision", "reasons", "primary",
                           "srm_p_value", "n_control", "n_treatment"})

_ARM = "arm"


# -- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArmEvaluation(ResultMixin):
    """One non-control arm against control: its estimates, checks and decision.

    The scalar fields summarise the primary comparison (shown as one row per arm); the nested
    results are in :meth:`to_dict` and by attribute.

    Attributes:
        arm: the arm compared with control.
        decision: ``promote``, ``revise``, ``continue`` or ``stop`` for this arm.
        n_control / n_treatment: partners analysed (control, this arm).
        effect ... rel_ci_upper: the primary estimate.
        srm_p_value: the sample-ratio check of this arm against control.
        uptake_share: share of this arm's partners who opened the package.
        primary / secondary / guardrails / srm / funnel / complier / consumption /
            sequential / decision_detail: the full results.
    """

    _title: ClassVar[str] = "Arm against control"
    _title_ja: ClassVar[str] = "対照群との比較（群ごと）"
    _hidden: ClassVar[frozenset[str]] = frozenset(
        {"primary", "secondary", "guardrails", "srm", "funnel", "complier", "consumption",
         "sequential", "sequential_guardrails", "decision_detail"})

    arm: str
    decision: str
    n_control: int
    n_treatment: int
    effect: float
    ci_lower: float
    ci_upper: float
    p_value: float
    rel_effect: float
    rel_ci_lower: float
    rel_ci_upper: float
    srm_p_value: float
    uptake_share: float
    primary: Estimate
    secondary: tuple[Estimate, ...]
    guardrails: tuple[GuardrailCheck, ...]
    srm: SRMCheck
    funnel: Funnel | None
    complier: ComplierEstimate | None
    consumption: ConsumptionProfile | None
    sequential: SequentialResult | None
    sequential_guardrails: Mapping[str, SequentialResult]
    decision_detail: Decision

    def _headline(self, lang: str) -> str:
        return f"{self.arm}: {self.decision}"


_LABELS_EN = {
    "experiment_id": "experiment", "package_id": "package", "version": "version",
    "owner": "owner", "placebo": "placebo (A/A) run", "metric": "primary metric",
    "cohort": "cohort", "start": "start", "end": "end of horizon", "as_of": "as of",
    "final": "at the horizon", "timing": "timing", "design": "design", "decision": "decision",
    "reasons": "reasons", "primary": "primary metric (ITT)", "srm": "sample ratio",
    "srm_p_value": "SRM p-value", "secondary": "secondary metrics", "guardrails": "guardrails",
    "balance": "balance of the pre-period", "uptake": "uptake and steps by arm",
    "funnel": "step funnel (treatment)", "complier": "complier effect",
    "consumption": "outcome by consumption (descriptive)", "segments": "segments",
    "sequential": "sequential looks", "arms": "arms", "look": "look", "looks": "planned looks",
    "n_assigned": "partners assigned", "n_opened": "opened", "mean_completion":
    "mean completion", "uptake_share": "uptake",
}
_LABELS_JA = {
    "experiment_id": "実験", "package_id": "パッケージ", "version": "版", "owner": "担当者",
    "placebo": "プラセボ（A/A）実験", "metric": "主要指標", "cohort": "対象（コホート）",
    "start": "開始日", "end": "期間の終了", "as_of": "評価日", "final": "期間終了済み",
    "timing": "時点", "design": "割付デザイン", "decision": "判定", "reasons": "理由",
    "primary": "主要指標（ITT）", "srm": "サンプル比率", "srm_p_value": "SRMのp値",
    "secondary": "副次指標", "guardrails": "ガードレール指標", "balance": "事前期間のバランス",
    "uptake": "群ごとの利用とステップ", "funnel": "ステップごとの到達（介入群）",
    "complier": "消化したパートナーへの効果", "consumption": "消化度別の成果（記述統計）",
    "segments": "セグメント別", "sequential": "逐次の確認", "arms": "群ごとの結果",
    "look": "確認回", "looks": "予定の確認回数", "n_assigned": "割付数", "n_opened": "開封数",
    "mean_completion": "平均消化率", "uptake_share": "利用率",
}


@dataclass(frozen=True, eq=False)
class Evaluation(ResultMixin):
    """An experiment's evaluation: every estimate, check and the decision.

    ``to_json()`` carries the DESIGN §6 fields at the top level (``experiment``, ``package``,
    ``decision``, ``reasons``, ``primary``, ``srm_p_value``, ``n_control``, ``n_treatment``)
    and everything else below them.

    Attributes:
        experiment_id / package_id / version / owner: what was evaluated.
        placebo: an A/A run on history (labelled in every output; its decision says nothing
            about the package).
        decision: ``promote``, ``revise``, ``continue`` or ``stop``.
        reasons: the reasons in :attr:`lang`, most important first.
        timing: the evaluation's time in words (final, or "look k of K").
        metric: the primary metric's name.
        cohort: one line: the package segment, the eligibility rule and the dates.
        start / end: the first day and the end of the horizon (exclusive), ISO dates.
        as_of: the evaluation's date (exclusive end of the post window), ISO date.
        final: whether the horizon has been reached.
        look / looks: this look's number and the planned looks (``decision.looks``).
        design: the stored design in words; the estimators follow it.
        primary: the primary :class:`~supportlab.stats.estimation.Estimate` (by assignment)
            of the headline arm (``treatment``, or the first non-control arm).
        srm_p_value / n_control / n_treatment: of that comparison.
        srm: its sample-ratio check against the design's probabilities.
        secondary / guardrails: secondary estimates, guardrail non-inferiority checks.
        balance: standardized differences of the pre-period metrics (``None``: not computable).
        uptake: per arm: assigned, opened, uptake share, mean completion, each week done.
        funnel: the headline arm's step funnel (assigned -> opened -> each week done).
        complier: the effect on partners who opened the package (``None``: not identified).
        consumption: outcome by consumption level (descriptive, not randomized).
        segments: per pre-declared segment, effects with Holm-adjusted intervals.
        sequential: the always-valid sequence over the looks so far (``looks`` > 1).
        arms: every non-control arm against control (one for a two-arm experiment).
        decision_detail: the :class:`~supportlab.stats.decision.Decision` (both languages,
            the evidence).
        lang: the language of ``reasons`` and of the display.
        warnings / notes: what to be careful about, and how it was computed.
        partner_outcomes: one row per partner with a primary outcome (index ``partner_id``;
            ``arm`` and ``value``, the primary metric over the post window), every arm: what
            the heavy-tail panel and the distribution chart of a report read (``None``: not
            kept). Neither displayed nor in :meth:`to_dict`.
    """

    _title: ClassVar[str] = "Experiment evaluation"
    _title_ja: ClassVar[str] = "実験の評価"
    _hidden: ClassVar[frozenset[str]] = frozenset(
        {"decision_detail", "lang", "package_id", "version", "experiment_id", "decision",
         "n_control", "n_treatment", "srm_p_value", "look", "looks", "partner_outcomes"})
    _bullets: ClassVar[frozenset[str]] = frozenset({"reasons"})
    _labels: ClassVar[Mapping[str, Mapping[str, str]]] = {"en": _LABELS_EN, "ja": _LABELS_JA}

    experiment_id: str
    package_id: str
    version: int
    owner: str | None
    placebo: bool
    decision: str
    reasons: tuple[str, ...]
    timing: str
    metric: str
    cohort: str
    start: str
    end: str
    as_of: str
    final: bool
    look: int
    looks: int
    design: str
    primary: Estimate
    srm_p_value: float
    n_control: int
    n_treatment: int
    srm: SRMCheck
    secondary: tuple[Estimate, ...]
    guardrails: tuple[GuardrailCheck, ...]
    balance: BalanceCheck | None
    uptake: pd.DataFrame
    funnel: Funnel | None
    complier: ComplierEstimate | None
    consumption: ConsumptionProfile | None
    segments: tuple[SegmentEffects, ...]
    sequential: SequentialResult | None
    arms: tuple[ArmEvaluation, ...]
    decision_detail: Decision
    lang: str = "en"
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)
    partner_outcomes: pd.DataFrame | None = None

    @property
    def experiment(self) -> str:
        """The experiment id (``experiment`` of ``result.json``)."""
        return self.experiment_id

    @property
    def package(self) -> str:
        """``id@version`` of the package delivered (``package`` of ``result.json``)."""
        return f"{self.package_id}@{self.version}"

    def reasons_in(self, lang: str) -> tuple[str, ...]:
        """The reasons in ``en`` or ``ja`` (with the placebo and timing lines)."""
        check_lang(lang)
        return _reasons(self.decision_detail, lang, self.placebo, self._timing_line(lang))

    def _timing_line(self, lang: str) -> str | None:
        if self.final:
            return None
        return _timing(self.look, self.looks, self.as_of, self.end, lang)

    def to_dict(self) -> dict[str, Any]:
        """Every field as JSON-safe values, with ``experiment`` and ``package`` first
        (``partner_outcomes`` stays out: one row per partner is not a result)."""
        d = super().to_dict()
        d.pop("partner_outcomes", None)
        return {"experiment": self.experiment_id, "package": self.package,
                "decision": self.decision, "reasons": list(self.reasons),
                "primary": d.pop("primary"), "srm_p_value": json_safe(self.srm_p_value),
                "n_control": self.n_control, "n_treatment": self.n_treatment, **d}

    def to_frame(self) -> pd.DataFrame:
        """Every estimate: one row per arm and metric (primary, secondary, guardrail)."""
        rows = []
        for a in self.arms:
            roles = [("primary", a.primary)] + [("secondary", e) for e in a.secondary]
            for role, e in roles:
                rows.append(_estimate_row(a.arm, role, e))
            for g in a.guardrails:
                rows.append({"arm": a.arm, "metric": g.metric, "role": "guardrail",
                             "status": g.status, "effect": g.effect, "lower": g.lower,
                             "upper": g.upper, "p_value": g.p_value})
        out = pd.DataFrame(rows)
        for c in ("n_control", "n_treatment"):
            if c in out.columns:
                out[c] = out[c].astype("Int64")
        return out

    def _headline(self, lang: str) -> str:
        ja = lang == "ja"
        pl = ("【プラセボ（A/A）実験】" if ja else "PLACEBO (A/A) run on history — ") \
            if self.placebo else ""
        word = {"promote": "昇格", "revise": "改訂", "continue": "継続", "stop": "中止"}
        dec = f"{word.get(self.decision, self.decision)}（{self.decision}）" if ja \
            else self.decision
        when = _timing_text(self.final, self.look, self.looks, self.as_of, self.end, lang)
        return f"{pl}{self.experiment_id} ({self.package}): {dec}; {when}"

    def _hidden_fields(self, lang: str) -> frozenset[str]:
        hide = set(self._hidden) | {"secondary"}
        if len(self.arms) <= 1:
            hide.add("arms")
        if self.looks <= 1 and self.sequential is None:
            hide.add("sequential")
        return frozenset(hide)

    def _tables(self, lang: str) -> list[tuple[str, pd.DataFrame]]:
        frame = self.to_frame()
        if frame.empty:
            return []
        est = frame[frame["role"] != "guardrail"]
        cols = ["arm", "metric", "role", "n_control", "n_treatment", "mean_control",
                "mean_treatment", "effect", "ci_lower", "ci_upper", "p_value", "rel_effect",
                "rel_ci_lower", "rel_ci_upper"]
        if len(self.arms) <= 1:
            cols.remove("arm")
        return [("推定値（割付による効果）" if lang == "ja" else "estimates (by assignment)",
                 est[cols].reset_index(drop=True))]

    def __str__(self) -> str:
        return self.to_string(self.lang)

    def _repr_html_(self) -> str:
        return self.to_html(self.lang)


def _estimate_row(arm: str, role: str, e: Estimate) -> dict[str, Any]:
    return {"arm": arm, "metric": e.outcome.removesuffix("_post"), "role": role,
            "method": e.method, "n_control": e.n_control, "n_treatment": e.n_treatment,
            "mean_control": e.mean_control, "mean_treatment": e.mean_treatment,
            "effect": e.effect, "ci_lower": e.ci_lower, "ci_upper": e.ci_upper,
            "p_value": e.p_value, "rel_effect": e.rel_effect, "rel_ci_lower": e.rel_ci_lower,
            "rel_ci_upper": e.rel_ci_upper}


# -- the ledger ---------------------------------------------------------------------------------


def read_assignments(ws: Workspace, exp: Experiment) -> tuple[DesignSpec, pd.DataFrame]:
    """The stored design and the ledger of ``exp`` (its latest phase): one row per assigned
    partner (index ``partner_id``; ``arm``, ``stratum``, ``block``, ``probability``, ...),
    read by :func:`supportlab.design.ledger.read_ledger` and checked against its design.

    Raises:
        WorkspaceError: the experiment has no assignment in this workspace.
        DataValidationError: a partner appears twice, or the ledger names arms the design
            does not.
    """
    from supportlab.design.ledger import read_ledger

    if not ws.has_table("designs") or not ws.has_table("assignments"):
        raise WorkspaceError(f"experiment {exp.id} is not assigned (no ledger in the workspace)",
                             where=str(ws.path),
                             fix=f"assign it first: supportlab assign {exp.path or 'EXPERIMENT.yaml'}")
    spec, frame = read_ledger(ws, exp.id)
    if frame.empty:
        raise WorkspaceError(f"experiment {exp.id} is not assigned (no rows in assignments)",
                             where="assignments",
                             fix=f"assign it first: supportlab assign {exp.path or 'EXPERIMENT.yaml'}")
    frame = frame.copy()
    frame.index = frame.index.astype(str)
    frame.index.name = "partner_id"
    dup = frame.index[frame.index.duplicated()]
    if len(dup):
        raise DataValidationError(
            f"the ledger of {exp.id} lists {len(dup):,} partner(s) twice "
            f"(e.g. {', '.join(map(str, dup[:3]))})", where="assignments",
            fix="an assignment is one row per partner and phase; re-assign under a new id")
    frame[_ARM] = frame[_ARM].astype(str)
    unknown = sorted(set(frame[_ARM]) - set(spec.arms))
    if unknown:
        raise DataValidationError(
            f"the ledger of {exp.id} names arms the design does not ({', '.join(unknown)}; "
            f"the design's: {', '.join(spec.arms)})", where="assignments",
            fix="the ledger and its design must agree; re-assign under a new experiment id")
    return spec, frame.sort_index()


def _stored_inputs(ws: Workspace, spec: DesignSpec) -> pd.DataFrame:
    """The randomization's inputs (strata values, covariates) that ``assign`` kept in
    ``assignment_units``, by partner (empty when the ledger was written otherwise)."""
    import json

    if not ws.has_table("assignment_units"):
        return pd.DataFrame()
    rows = ws.query("SELECT partner_id, inputs FROM assignment_units WHERE experiment_id = ? "
                    "AND phase = ? AND status = 'assigned'", [spec.experiment_id, spec.phase])
    records = [json.loads(x) if isinstance(x, str) and x else {} for x in rows["inputs"]]
    return pd.DataFrame.from_records(records, index=pd.Index(rows["partner_id"].astype(str),
                                                             name="partner_id"))


def _design_redraw(ws: Workspace, spec: DesignSpec, df: pd.DataFrame,
                   notes: list[str]) -> Any:
    """The design's own redraws over the ledger's rows (:func:`supportlab.design.randomize.
    redraw`: the groups and arm counts of the ledger, a rerandomized design's acceptance
    criterion on the covariates it was drawn with), or ``None`` when they cannot be made."""
    from supportlab.design.randomize import covariate_column, redraw

    units = df[["stratum", "block"]].copy()
    if spec.method == "rerandomized":
        stored = _stored_inputs(ws, spec)
        for metric in (spec.rerandomize or {}).get("covariates", []):
            col = covariate_column(metric)
            have = stored[col].reindex(units.index) if col in stored.columns else None
            if have is not None and have.notna().all():
                units[col] = have.astype(float)
            elif col in df.columns:
                units[col] = df[col].astype(float)
    try:
        return redraw(units, spec)
    except SupportlabError as exc:
        notes.append(f"the design's redraws could not be made ({exc.what}): the randomization "
                     "test permutes within the strata or blocks")
        return None


# -- timing -------------------------------------------------------------------------------------


def _timing_text(final: bool, look: int, looks: int, as_of: str, end: str, lang: str) -> str:
    """The evaluation's time in words: final, or the look before the horizon."""
    if final:
        if lang == "ja":
            return f"最終（期間終了時、{end} まで）" + (f"、全{looks}回の確認" if looks > 1 else "")
        return f"final: at the horizon ({end})" + (f", look {looks} of {looks}"
                                                   if looks > 1 else "")
    return _timing(look, looks, as_of, end, lang)


def _timing(look: int, looks: int, as_of: str, end: str, lang: str) -> str:
    if lang == "ja":
        k = f"第{look}回（全{looks}回中）の確認" if looks > 1 else "中間時点"
        return f"{k}、{as_of} 時点（期間の終了は {end}）"
    k = f"look {look} of {looks}" if looks > 1 else "interim"
    return f"{k}, as of {as_of} (the horizon ends {end})"


def _fill_pre(df: pd.DataFrame, metrics: Sequence[str], notes: list[str]) -> list[str]:
    """Numeric pre-period covariates, missing values set to the pooled mean (disclosed)."""
    covs = []
    for name in metrics:
        col = f"{name}_pre"
        s = pd.to_numeric(df[col], errors="coerce").astype(float)
        if s.notna().sum() < 2 or float(s.std(skipna=True) or 0) == 0:
            df[col] = s.fillna(0.0)
            continue
        if s.isna().any():
            notes.append(f"{col}: {int(s.isna().sum()):,} partner(s) without a pre-period value "
                         "(a ratio or mean with no rows) take the pooled mean as covariate")
            s = s.fillna(float(s.mean()))
        df[col] = s
        covs.append(col)
    return covs


# -- estimation -----------------------------------------------------------------------------------


def _design_info(spec: DesignSpec, df: pd.DataFrame, exp: Experiment) -> DesignInfo:
    info = DesignInfo.from_spec(spec)
    for col in (info.strata, info.blocks):
        if col is not None and df[col].isna().any():
            bad = df.index[df[col].isna().to_numpy()]
            raise DataValidationError(
                f"the ledger of {exp.id} has no '{col}' for {len(bad):,} partner(s) (e.g. "
                f"{', '.join(map(str, bad[:3]))}), but its design is {info.describe()}",
                where=f"assignments.{col}",
                fix="the analysis follows the stored design: every partner needs the stratum "
                    "or block it was randomized in; re-assign under a new experiment id")
    if info.method == "rerandomized":
        covs = tuple(f"{c}_pre" for c in info.covariates)
        missing = [c for c in covs if c not in df.columns]
        if missing:
            raise ConfigError(f"the rerandomization covariates {', '.join(info.covariates)} "
                              "are not metrics of the experiment", where=exp.path or exp.id,
                              fix="list them under metrics so their pre-period values are "
                                  "computed")
        info = dataclasses.replace(info, covariates=covs)
    return info


def _clean_outcome(df: pd.DataFrame, col: str, warnings: list[str]) -> pd.DataFrame:
    s = pd.to_numeric(df[col], errors="coerce")
    if s.isna().any():
        warnings.append(f"{col.removesuffix('_post')}: {int(s.isna().sum()):,} partner(s) have "
                        "no value in the post window (a ratio or mean without rows) and are "
                        "left out of this metric")
        return df.loc[s.notna()]
    return df


def _estimate(df: pd.DataFrame, outcome: str, info: DesignInfo, arm: str, covs: list[str],
              level: float, warnings: list[str], *, permutations: int = 0,
              seed: int | None = None, redraw: Any = None) -> Estimate:
    sub = _clean_outcome(df, outcome, warnings)
    own = f"{outcome.rsplit('_', 1)[0]}_pre"
    extra = [c for c in covs if c == own and c not in info.covariates]
    if len(sub) != len(df):
        redraw = None  # the redraws are of every ledger row
    if info.method == "rerandomized" and redraw is None:
        permutations = 0  # a free permutation would draw assignments the rule rejected
    return analyze_design(sub, arm=_ARM, outcome=outcome, design=info, control=info.control,
                          treatment=arm, covariates=extra, permutations=permutations,
                          redraw=redraw, seed=seed, confidence_level=level)


def _guardrail(est: Estimate, metric: str, margin: float, alpha: float,
               warnings: list[str]) -> GuardrailCheck:
    try:
        return guardrail_check(est, margin=margin, relative=True, alpha=alpha, metric=metric)
    except ConfigError:
        warnings.append(f"guardrail {metric}: no partner in control has any, so a relative "
                        "drop cannot be measured yet (inconclusive)")
        return GuardrailCheck(metric=metric, margin=float(margin), relative=True,
                              better="higher", alpha=alpha, effect=math.nan, lower=math.nan,
                              upper=math.nan, p_value=math.nan, status="inconclusive",
                              n_control=int(est.n_control), n_treatment=int(est.n_treatment),
                              mean_control=float(est.raw_mean_control),
                              mean_treatment=float(est.raw_mean_treatment))


def _sequence(df: pd.DataFrame, metric: str, info: DesignInfo, arm: str, covs: list[str],
              level: float, timing: Timing, mixture_sd: float | None, harm: float,
              alpha: float, power: float, notes: list[str]) -> SequentialResult | None:
    """The always-valid sequence of ``metric`` over the looks so far (None: not computable)."""
    cols = [f"{metric}_look{j}" for j in range(1, len(timing.look_ends) + 1)] + [f"{metric}_post"]
    ests = []
    scratch: list[str] = []
    for c in cols:
        try:
            e = _estimate(df, c, info, arm, covs, level, scratch)
        except SupportlabError:
            continue
        if e.se > 0 and math.isfinite(e.effect):
            ests.append(e)
    if not ests:
        notes.append(f"{metric}: no look has a standard error yet, so no sequential interval")
        return None
    rho = mixture_sd if mixture_sd and mixture_sd > 0 else mde_from_se(ests[0].se, alpha=alpha,
                                                                       power=power)
    return sequential_looks(ests, mixture_sd=rho, alpha=alpha, harm_threshold=harm)


def _arm(df: pd.DataFrame, exp: Experiment, info: DesignInfo, arm: str, covs: list[str],
         stages: list[str], labels: list[str], timing: Timing, seed: int, permutations: int,
         redraw: Any, warnings: list[str], notes: list[str]) -> ArmEvaluation:
    level = 1 - exp.alpha
    primary_col = f"{exp.metrics.primary}_post"
    scratch: list[str] = []
    primary = _estimate(df, primary_col, info, arm, covs, level, warnings,
                        permutations=permutations, seed=seed, redraw=redraw)
    secondary = tuple(_estimate(df, f"{m}_post", info, arm, covs, level, warnings)
                      for m in exp.metrics.secondary if m != exp.metrics.primary)
    guard_est = {g.metric: _estimate(df, f"{g.metric}_post", info, arm, covs, level, scratch)
                 for g in exp.metrics.guardrails}
    guardrails = tuple(_guardrail(guard_est[g.metric], g.metric, g.max_drop, exp.alpha,
                                  warnings) for g in exp.metrics.guardrails)
    p_c, p_t = info.probabilities[info.control], info.probabilities[arm]
    n_c = int((df[_ARM] == info.control).sum())
    n_t = int((df[_ARM] == arm).sum())
    srm = srm_check(n_c, n_t, control_share=p_c / (p_c + p_t))
    pair = df[df[_ARM].isin([info.control, arm])]
    funnel = step_funnel(pair, stages, arm=_ARM, treatment=arm, labels=labels) if n_t else None
    complier = None
    strata = info.strata if info.method != "blocked" else None
    own = [c for c in covs if c == f"{exp.metrics.primary}_pre"]
    try:
        complier = complier_effect(pair, arm=_ARM, outcome=primary_col, uptake="opened",
                                   control=info.control, treatment=arm, covariates=own,
                                   strata=strata, confidence_level=level)
    except SupportlabError as exc:
        notes.append(f"{arm}: no complier effect ({exc.what})")
    consumption = None
    try:
        consumption = effect_by_consumption(pair, arm=_ARM, outcome=primary_col,
                                            consumption="completion", control=info.control,
                                            treatment=arm)
    except SupportlabError:
        pass
    seq = None
    seq_g: dict[str, SequentialResult] = {}
    if timing.looks > 1:
        seq = _sequence(df, exp.metrics.primary, info, arm, covs, level, timing,
                        exp.min_effect, 0.0, exp.alpha, exp.power, notes)
        for g in exp.metrics.guardrails:
            mc = guard_est[g.metric].mean_control
            if mc > 0:
                s = _sequence(df, g.metric, info, arm, covs, level, timing, g.max_drop * mc,
                              -g.max_drop * mc, exp.alpha, exp.power, notes)
                if s is not None:
                    seq_g[g.metric] = s
    detail = decide(primary, min_effect=exp.min_effect, alpha=exp.alpha, srm=srm,
                    guardrails=guardrails, at_horizon=timing.final, sequential=seq,
                    sequential_guardrails=seq_g or None, target_power=exp.power,
                    funnel=funnel, consumption=consumption)
    uptake = float(df.loc[df[_ARM] == arm, "opened"].mean()) if n_t else math.nan
    return ArmEvaluation(
        arm=arm, decision=detail.outcome, n_control=primary.n_control,
        n_treatment=primary.n_treatment, effect=primary.effect, ci_lower=primary.ci_lower,
        ci_upper=primary.ci_upper, p_value=primary.p_value, rel_effect=primary.rel_effect,
        rel_ci_lower=primary.rel_ci_lower, rel_ci_upper=primary.rel_ci_upper,
        srm_p_value=srm.p_value, uptake_share=uptake, primary=primary, secondary=secondary,
        guardrails=guardrails, srm=srm, funnel=funnel, complier=complier,
        consumption=consumption, sequential=seq, sequential_guardrails=seq_g,
        decision_detail=detail)


def _partner_outcomes(df: pd.DataFrame, col: str) -> pd.DataFrame:
    """The primary outcome of every partner that has one (``arm``, ``value``; by partner)."""
    value = pd.to_numeric(df[col], errors="coerce").astype(float)
    out = pd.DataFrame({_ARM: df[_ARM].astype(str), "value": value}, index=df.index)
    return out.loc[value.notna()]


def _uptake_table(df: pd.DataFrame, arms: Sequence[str], stages: list[str]) -> pd.DataFrame:
    rows = []
    for a in arms:
        s = df[df[_ARM] == a]
        row: dict[str, Any] = {"arm": a, "n_assigned": len(s), "n_opened": int(s["opened"].sum()),
                               "uptake_share": float(s["opened"].mean()) if len(s) else math.nan,
                               "mean_completion": float(s["completion"].mean()) if len(s)
                               else math.nan}
        for st in stages[1:]:
            row[f"n_{st}"] = int(s[st].sum())
        rows.append(row)
    return pd.DataFrame(rows)


def _segments(attributes: pd.DataFrame, ws: Workspace, exp: Experiment,
              df: pd.DataFrame, info: DesignInfo, arm: str, cov: list[str],
              warnings: list[str]) -> tuple[SegmentEffects, ...]:
    if not exp.segments:
        return ()
    from supportlab.features.segments import in_segment, load_segments

    attrs = attributes.reindex(df.index)
    named = load_segments(ws.config.experiments_path / "segments.yaml")
    known = [c for c in attrs.columns if c not in ("name", "joined_at")]
    out = []
    for name in exp.segments:
        if name in attrs.columns and name not in ("name", "joined_at"):
            col = attrs[name].astype("object").where(attrs[name].notna(), "unknown").astype(str)
        elif name in named:
            col = in_segment(attrs, named[name]).map({True: "in", False: "out"})
        else:
            raise ConfigError(f"segment '{name}' is neither a partner attribute nor a named "
                              "segment", where=f"{exp.path or exp.id}: decision.segments",
                              fix=did_you_mean(name, known + sorted(named),
                                               label="partner attributes and segments"))
        seg_col = f"segment__{name}"
        frame = df.assign(**{seg_col: col.to_numpy()})
        outcome = f"{exp.metrics.primary}_post"
        frame = _clean_outcome(frame, outcome, [])
        try:
            res = segment_effects(frame, arm=_ARM, outcome=outcome, segment=seg_col,
                                  control=info.control, treatment=arm, covariates=cov or None,
                                  strata=info.strata if info.method != "blocked" else None,
                                  adjust="holm", confidence_level=1 - exp.alpha)
        except SupportlabError as exc:
            warnings.append(f"segments by {name}: not estimated ({exc.what})")
            continue
        out.append(dataclasses.replace(res, segment=name))
    return tuple(out)


# -- the decision's words -----------------------------------------------------------------------


#: the placebo line, in each language, first among the reasons and the warnings
PLACEBO = {
    "en": "PLACEBO (A/A) run on history: nothing was delivered, so this checks the method and "
          "says nothing about the package.",
    "ja": "プラセボ（A/A）実験（過去データ上の検証）です。何も配信していないため、手法の確認であり、"
          "パッケージの効果については何も言えません。",
}


def _reasons(detail: Decision, lang: str, placebo: bool, timing: str | None) -> tuple[str, ...]:
    head = [PLACEBO[lang]] if placebo else []
    if timing is not None:
        head.append((timing[0].upper() + timing[1:] + ".") if lang == "en" else timing + "。")
    return (*head, *detail.reasons(lang))  # type: ignore[arg-type,unused-ignore]


def _cohort(exp: Experiment, spec: DesignSpec, n: int) -> str:
    seg = segment_text(exp.package.segment) or "every partner"
    rule = exp.eligibility or "no eligibility rule"
    phase = f", phase {spec.phase}" if spec.phase != 1 else ""
    return f"{seg}; {rule}; {n:,} partners from {spec.start} to {spec.end}{phase}"


def _headline_arm(arms: Sequence[ArmEvaluation]) -> ArmEvaluation:
    """The arm the headline follows: a harmful arm stops the whole delivery; else
    ``treatment``, or the first non-control arm."""
    for a in arms:
        if a.decision == "stop":
            return a
    for a in arms:
        if a.arm == "treatment":
            return a
    return arms[0]


# -- the evaluation -----------------------------------------------------------------------------


def evaluate(ws: Workspace, exp: Experiment, *, as_of: dt.date | str | None = None,
             lang: str | None = None, engine: Engine | None = None,
             permutations: int = 1000,
             inputs: EvaluationInputs | str | Path | None = None) -> Evaluation:
    """Evaluate an experiment from its ledger and the logs: estimates, checks and the decision.

    Args:
        ws: the workspace holding the ledger (``assignments``, ``designs``) and the logs.
        exp: the experiment (its metrics, decision settings, package and segments).
        as_of: the evaluation date: the post window is ``[start, min(as_of, end))``. Default:
            today, capped at the end of the horizon and at the day after the last event.
        lang: language of the reasons and the display (default: ``report.lang``, else en).
        engine: where the metrics are computed (default: the workspace's DuckDB).
        permutations: redraws of the primary metric's randomization test (0: none).
        inputs: what the evaluation reads from the engine, read ahead
            (:func:`~supportlab.design.inputs.shared_inputs`, or the folder it was saved to):
            used when they are this evaluation's and of the workspace's current data, else the
            logs are read again (with a note saying why). The result is the same either way.

    Returns:
        An :class:`Evaluation`.

    Raises:
        WorkspaceError: the experiment is not assigned in ``ws``.
        DataValidationError: no post-period data yet, an ``as_of`` after the last data, or a
            ledger that does not fit its design (missing strata, unknown arms, repeats).
        ConfigError: ``as_of`` in the future, an unknown segment.
    """
    from supportlab.data.workspace import data_fingerprint

    language = check_lang(lang or exp.language or "en")
    spec, ledger = read_assignments(ws, exp)
    stale = None
    if isinstance(inputs, (str, Path)):
        inputs = load_inputs(inputs, exp.id)
    if inputs is not None:
        stale = inputs.matches(exp, spec, as_of, data_fingerprint(ws))
        if stale is None and exp.segments and inputs.attributes is None:
            stale = "they hold no partner attributes, which segments need"
    ahead = inputs is not None and stale is None
    if inputs is None or stale is not None:
        inputs = read_inputs(ws, exp, as_of=as_of, engine=engine)
    timing = resolve_timing(spec, exp, inputs.last_data_day, as_of)
    warnings: list[str] = [*timing.warnings]
    notes: list[str] = [*timing.notes]
    if stale is not None:
        notes.append(f"the logs were read again: the shared inputs did not fit ({stale})")
    elif ahead:
        notes.append(SHARED_NOTE)
    declared = design_spec(exp)
    diff = spec.differences(declared) if spec.design_hash != declared.design_hash else []
    if diff:
        warnings.append("the experiment file's design differs from the stored one ("
                        + "; ".join(diff[:4]) + "): the evaluation follows the stored design")
    placebo = bool(spec.placebo or exp.design.placebo)
    if placebo:
        warnings.insert(0, PLACEBO["en"])
    df, stages, labels = assemble(ledger, inputs.columns, exp)
    covs = _fill_pre(df, exp.metrics.names, notes)
    info = _design_info(spec, df, exp)
    notes.append(f"design: {info.describe()}; every estimate follows it (by assignment, the "
                 "pre-period value of each metric as covariate)")
    arms = [a for a in spec.arms if a != info.control]
    present = [a for a in arms if (df[_ARM] == a).any()]
    if not present or not (df[_ARM] == info.control).any():
        raise DataValidationError(
            f"the ledger of {exp.id} has no partner in "
            + ("the control arm" if present else "any treatment arm"), where="assignments",
            fix="an evaluation compares arms: re-assign under a new experiment id")
    redraw = _design_redraw(ws, spec, df, notes) if permutations > 0 else None
    results = tuple(_arm(df, exp, info, a, covs, stages, labels, timing, spec.seed,
                         permutations, redraw, warnings, notes) for a in present)
    head = _headline_arm(results)
    if len(results) > 1:
        notes.append(f"each of the {len(results)} arms is compared with control on its own; "
                     f"the headline follows '{head.arm}'")
    balance = None
    if covs:
        try:
            balance = balance_check(df, arm=_ARM, covariates=covs, control=info.control,
                                    treatment=head.arm)
        except SupportlabError as exc:
            notes.append(f"no balance table ({exc.what})")
    if balance is not None and balance.imbalanced:
        warnings.append(f"pre-period imbalance in {', '.join(balance.imbalanced)} (|SMD| > "
                        f"{balance.smd_threshold:g}); the regression adjustment corrects for it")
    if head.srm.mismatch:
        warnings.append(f"sample-ratio mismatch: {head.srm.n_control:,} control and "
                        f"{head.srm.n_treatment:,} '{head.arm}' partners against the design's "
                        f"{head.srm.expected_control_share:.0%} control (p={fmt(head.srm.p_value)})"
                        "; the ledger or the data lost partners")
    segs = _segments(inputs.attributes, ws, exp, df, info, head.arm,
                     [c for c in covs if c == f"{exp.metrics.primary}_pre"], warnings)
    for e in (head.primary, *head.secondary):
        warnings.extend(w for w in e.warnings if w not in warnings)
    end = spec.end.isoformat()
    as_of_s = timing.as_of.isoformat()
    timing_text = _timing_text(timing.final, timing.look, timing.looks, as_of_s, end, language)
    reasons = _reasons(head.decision_detail, language, placebo,
                       None if timing.final else _timing(timing.look, timing.looks, as_of_s,
                                                         end, language))
    return Evaluation(
        experiment_id=exp.id, package_id=spec.package_id, version=int(spec.version),
        owner=exp.package.owner, placebo=placebo, decision=head.decision, reasons=reasons,
        timing=timing_text, metric=exp.metrics.primary, cohort=_cohort(exp, spec, len(df)),
        start=spec.start.isoformat(), end=end, as_of=as_of_s, final=timing.final,
        look=timing.look, looks=timing.looks, design=info.describe(), primary=head.primary,
        srm_p_value=head.srm.p_value, n_control=head.primary.n_control,
        n_treatment=head.primary.n_treatment, srm=head.srm, secondary=head.secondary,
        guardrails=head.guardrails, balance=balance,
        uptake=_uptake_table(df, [info.control, *present], stages), funnel=head.funnel,
        complier=head.complier, consumption=head.consumption, segments=segs,
        sequential=head.sequential, arms=results, decision_detail=head.decision_detail,
        lang=language, warnings=tuple(dict.fromkeys(warnings)),
        notes=tuple(dict.fromkeys(notes)),
        partner_outcomes=_partner_outcomes(df, f"{exp.metrics.primary}_post"))
