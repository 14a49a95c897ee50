"""The promote / revise / continue / stop decision, with reasons in Japanese and English.

Rules of :func:`decide`, in this order:

1. **Stop** for harm: at the horizon, the primary interval lies entirely below zero or a
   guardrail is breached (confidently beyond its margin); at an interim look, only an
   always-valid sequence (:mod:`supportlab.stats.sequential`) may show harm, since fixed-horizon
   intervals checked every week would stop good packages by chance.
2. A **sample-ratio mismatch** blocks any promotion and any revision (the outcome becomes
   ``continue`` until the cause is found: the comparison itself is in doubt).
3. Before the horizon, everything else is **continue**: promotion waits for the planned horizon.
4. At the horizon, **promote** when the primary interval lies above zero, the point estimate is
   at least ``min_effect`` and every guardrail shows non-inferiority.
5. At the horizon, **revise** when the effect is confidently below ``min_effect`` (the upper end
   of the interval is below it), or when no effect was found by an experiment with adequate
   power (at least ``target_power``) to detect ``min_effect``.
6. Otherwise **continue**: the data cannot tell yet.

For revisions, :func:`step_funnel` says which step of the package loses partners, and
:func:`effect_by_consumption` shows outcomes by consumption level (descriptive only: who consumes
is not randomized).

Example:
    >>> import numpy as np, pandas as pd
    >>> from supportlab.stats.estimation import analyze
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"arm": np.tile(["control", "treatment"], 500)})
    >>> df["deals"] = rng.poisson(2.0, 1000) + (df["arm"] == "treatment") * 1
    >>> d = decide(analyze(df, arm="arm", outcome="deals"), min_effect=0.3)
    >>> d.outcome
    'promote'
    >>> d.reasons("ja")[0][:6]
    '主要指標の効'
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from supportlab.errors import ConfigError, DataValidationError
from supportlab.results import ResultMixin, fmt, fmt_p
from supportlab.stats.checks import GuardrailCheck, SRMCheck
from supportlab.stats.estimation import Estimate
from supportlab.stats.inputs import numeric_column, prepare
from supportlab.stats.power import power_from_se
from supportlab.stats.sequential import SequentialResult

__all__ = ["OUTCOMES", "ConsumptionProfile", "Decision", "Funnel", "decide",
           "effect_by_consumption", "step_funnel"]

#: possible decisions
OUTCOMES = ("promote", "revise", "continue", "stop")

Lang = Literal["en", "ja"]

_OUTCOMES_JA = {"promote": "昇格", "revise": "改訂", "continue": "継続", "stop": "中止"}


# -- diagnostics --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Funnel(ResultMixin):
    """Step funnel of a package: assigned → opened → each step completed.

    Attributes:
        stages: stage names, ``assigned`` first.
        counts: units that reached each stage.
        share_of_assigned: ``counts / counts[0]``.
        share_of_previous: share of the previous stage that reached this one.
        biggest_loss_stage: the stage that the most units failed to reach from the previous one.
        biggest_loss_from: the stage before it.
        biggest_loss: how many units were lost there.
    """

    _title: ClassVar[str] = "Step funnel"
    _title_ja: ClassVar[str] = "ステップごとの到達"
    _hidden: ClassVar[frozenset[str]] = frozenset(
        {"stages", "counts", "share_of_assigned", "share_of_previous", "biggest_loss_stage",
         "biggest_loss_from"})

    stages: tuple[str, ...]
    counts: tuple[int, ...]
    share_of_assigned: tuple[float, ...]
    share_of_previous: tuple[float, ...]
    biggest_loss_stage: str
    biggest_loss_from: str
    biggest_loss: int

    def to_frame(self) -> pd.DataFrame:
        """One row per stage."""
        prev = (None, *self.counts[:-1])
        return pd.DataFrame({
            "stage": self.stages, "count": self.counts,
            "share_of_assigned": self.share_of_assigned,
            "share_of_previous": self.share_of_previous,
            "lost": [None if p is None else p - c for p, c in zip(prev, self.counts,
                                                                   strict=True)],
        })

    def _headline(self, lang: str) -> str:
        if lang == "ja":
            return (f"最大の離脱: '{self.biggest_loss_from}' から '{self.biggest_loss_stage}' で "
                    f"{self.biggest_loss:,}")
        return (f"biggest loss: {self.biggest_loss:,} between '{self.biggest_loss_from}' and "
                f"'{self.biggest_loss_stage}'")

    def _tables(self, lang: str) -> list[tuple[str, pd.DataFrame]]:
        return [("段階" if lang == "ja" else "stages", self.to_frame())]


def step_funnel(df: pd.DataFrame, stages: Sequence[str], *, arm: str | None = None,
                treatment: Any = None, labels: Sequence[str] | None = None) -> Funnel:
    """Count the units reaching each stage of a package and find where most are lost.

    Args:
        df: one row per assigned unit.
        stages: columns in order (e.g. ``opened``, ``step1_done``, ``step2_done``); a unit
            reached a stage when the value is true or positive. Build them from a count with e.g.
            ``df.assign(step1=df.steps_completed >= 1)``.
        arm: arm column; with ``treatment``, only that arm's units are counted.
        treatment: the treatment label.
        labels: display names of the stages (default: the column names).

    Returns:
        A :class:`Funnel` whose first stage is ``assigned`` (all units counted).

    Example:
        >>> df = pd.DataFrame({"opened": [1, 1, 1, 0], "s1": [1, 1, 0, 0], "s2": [1, 0, 0, 0]})
        >>> f = step_funnel(df, ["opened", "s1", "s2"])
        >>> f.counts, f.biggest_loss_stage
        ((4, 3, 2, 1), 'opened')
    """
    where = "step_funnel"
    stages = list(stages)
    if not stages:
        raise ConfigError("no stages given", where=where, fix="pass e.g. ['opened', 'step1']")
    cols = [*stages, *([arm] if arm else [])]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataValidationError(f"columns {missing} not found", where=where,
                                  fix=f"use columns of the frame: {list(df.columns)[:20]}")
    sub = df
    if arm is not None:
        if treatment is None:
            raise ConfigError("arm given without treatment", where=where,
                              fix="pass treatment= to count only the treatment arm")
        mask = df[arm].astype(str) == str(treatment)
        if not mask.any():
            raise DataValidationError(f"no unit has {arm} == {treatment!r}", where=where)
        sub = df.loc[mask]
    names = list(labels) if labels is not None else stages
    if len(names) != len(stages):
        raise ConfigError("labels and stages differ in length", where=where)
    counts = [len(sub)]
    for c in stages:
        v = numeric_column(sub[c], c, "stage", where)
        counts.append(int(np.count_nonzero(v > 0)))
    all_names = ["assigned", *names]
    n0 = counts[0] or 1
    share_a = tuple(c / n0 for c in counts)
    share_p = (1.0, *(c / p if p else math.nan for p, c in itertools.pairwise(counts)))
    losses = [p - c for p, c in itertools.pairwise(counts)]
    k = int(np.argmax(losses))
    return Funnel(stages=tuple(all_names), counts=tuple(counts), share_of_assigned=share_a,
                  share_of_previous=share_p, biggest_loss_stage=all_names[k + 1],
                  biggest_loss_from=all_names[k], biggest_loss=int(losses[k]))


@dataclass(frozen=True)
class ConsumptionProfile(ResultMixin):
    """Outcomes of treated units by how much of the package they consumed (descriptive).

    Who consumes more is not randomized: partners who finish the package differ from those who
    do not in ways that also drive the outcome. Use it to see *where* a package might break,
    never as its effect; the causal answer is the complier effect.

    Attributes:
        label: the caveat, in English and Japanese.
        table: per consumption level: units, mean outcome, difference to the control mean.
        control_mean: mean outcome of the whole control arm.
    """

    _title: ClassVar[str] = "Outcome by consumption level (descriptive, not randomized)"
    _title_ja: ClassVar[str] = "消化度別の成果（記述統計・無作為化されていない）"
    _hidden: ClassVar[frozenset[str]] = frozenset({"label"})

    label: str
    table: pd.DataFrame
    control_mean: float

    def to_frame(self) -> pd.DataFrame:
        """The per-level table."""
        return self.table.copy()

    def _headline(self, lang: str) -> str:
        return self.label


CONSUMPTION_LABEL = ("descriptive, not randomized: consumption is chosen by partners / "
                     "記述統計・無作為化されていない比較（消化度はパートナー自身が選んだ結果）")


def effect_by_consumption(df: pd.DataFrame, *, arm: str, outcome: str, consumption: str,
                          control: Any = None, treatment: Any = None,
                          bins: int | Sequence[float] = 4) -> ConsumptionProfile:
    """Mean outcome of treated units per consumption level beside the control mean.

    Args:
        df: one row per unit.
        arm: arm column.
        outcome: outcome column.
        consumption: consumption column (share of items done, steps completed, 0/1).
        control: control label.
        treatment: treatment label.
        bins: with more distinct levels than ``bins`` (an int), treated units are grouped into
            that many quantile bins; a sequence gives the bin edges.

    Returns:
        A :class:`ConsumptionProfile`, labelled as descriptive and not randomized.

    Example:
        >>> df = pd.DataFrame({"arm": ["c"] * 3 + ["t"] * 4, "y": [1, 2, 3, 2, 2, 5, 5],
        ...                    "done": [0, 0, 0, 0, 0, 1, 1]})
        >>> p = effect_by_consumption(df, arm="arm", outcome="y", consumption="done",
        ...                           control="c", treatment="t")
        >>> p.table["diff_vs_control"].tolist()
        [0.0, 3.0]
    """
    where = "effect_by_consumption"
    d, ext = prepare(df, arm=arm, outcome=outcome, control=control, treatment=treatment,
                      where=where, extra=[consumption])
    u = ext[consumption][d.t]
    y = d.y_t
    levels = np.unique(u)
    if isinstance(bins, int) and len(levels) <= bins:
        groups = pd.Series(u).map(lambda v: fmt(v))
        order = [fmt(v) for v in levels]
    else:
        if isinstance(bins, int):
            cut = pd.qcut(pd.Series(u), q=bins, duplicates="drop")
        else:
            cut = pd.cut(pd.Series(u), bins=list(bins), include_lowest=True)
        groups = cut.astype(str)
        order = [str(c) for c in cut.cat.categories]
    mc = float(d.y_c.mean())
    frame = pd.DataFrame({"level": groups.to_numpy(), "y": y})
    agg = frame.groupby("level", sort=False)["y"].agg(["size", "mean"])
    rows = []
    for lev in order:
        if lev in agg.index:
            n, m = int(agg.loc[lev, "size"]), float(agg.loc[lev, "mean"])
            rows.append({"level": lev, "n": n, "mean_outcome": m, "diff_vs_control": m - mc})
    table = pd.DataFrame(rows, columns=["level", "n", "mean_outcome", "diff_vs_control"])
    return ConsumptionProfile(label=CONSUMPTION_LABEL, table=table, control_mean=mc)


# -- the decision -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision(ResultMixin):
    """A decision on a package with its reasons (English and Japanese) and the evidence.

    Attributes:
        outcome: ``promote``, ``revise``, ``continue`` or ``stop``.
        reasons_en: reasons in English, most important first.
        reasons_ja: the same reasons in Japanese.
        evidence: the numbers behind the decision (JSON-safe).
    """

    _title: ClassVar[str] = "Decision"
    _title_ja: ClassVar[str] = "判定"
    _bullets: ClassVar[frozenset[str]] = frozenset({"reasons_en", "reasons_ja"})

    outcome: Literal["promote", "revise", "continue", "stop"]
    reasons_en: tuple[str, ...]
    reasons_ja: tuple[str, ...]
    evidence: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def reasons(self, lang: Lang = "en") -> tuple[str, ...]:
        """The reasons in ``en`` or ``ja``."""
        if lang not in ("en", "ja"):
            raise ConfigError(f"lang == {lang!r}", fix="use 'en' or 'ja'")
        return self.reasons_ja if lang == "ja" else self.reasons_en

    def _headline(self, lang: str) -> str:
        if lang == "ja":
            return f"{_OUTCOMES_JA.get(self.outcome, self.outcome)}（{self.outcome}）"
        return self.outcome

    def _hidden_fields(self, lang: str) -> frozenset[str]:
        other = "reasons_en" if lang == "ja" else "reasons_ja"
        return frozenset({"outcome", "evidence", other})


class _Reasons:
    def __init__(self) -> None:
        self.en: list[str] = []
        self.ja: list[str] = []

    def add(self, en: str, ja: str) -> None:
        self.en.append(en)
        self.ja.append(ja)


def _num(x: float, relative: bool, signed: bool = True) -> str:
    return fmt(x, pct=True, signed=signed) if relative else fmt(x, signed=signed)


def decide(primary: Estimate, *, min_effect: float, alpha: float = 0.05, relative: bool = False,
           srm: SRMCheck | float | None = None, srm_threshold: float = 0.001,
           guardrails: Sequence[GuardrailCheck] = (), at_horizon: bool = True,
           sequential: SequentialResult | None = None,
           sequential_guardrails: Mapping[str, SequentialResult] | None = None,
           power: float | None = None, target_power: float = 0.8,
           funnel: Funnel | None = None, consumption: ConsumptionProfile | None = None
           ) -> Decision:
    """Decide on a package from its primary estimate, checks and diagnostics.

    Args:
        primary: the primary metric's :class:`Estimate` (intention to treat), with
            ``confidence_level == 1 − alpha``.
        min_effect: the smallest effect worth a template (absolute, or relative with
            ``relative=True``: 0.1 = +10%).
        alpha: error rate of the decision's intervals.
        relative: read ``min_effect`` (and the comparisons) on the relative scale.
        srm: the :class:`~supportlab.stats.checks.SRMCheck` or its p-value; a mismatch blocks
            promotion.
        srm_threshold: p-value below which a plain p-value counts as a mismatch.
        guardrails: :class:`~supportlab.stats.checks.GuardrailCheck` results; a breach stops, and
            promotion needs every guardrail ``ok``.
        at_horizon: whether the planned horizon has been reached. Before it, only harm shown by
            an always-valid sequence can end the experiment.
        sequential: the primary metric's :class:`~supportlab.stats.sequential.SequentialResult`.
        sequential_guardrails: guardrail name → its sequential result (interim harm checks).
        power: power of the experiment at ``min_effect``; default: computed from the primary
            standard error.
        target_power: power needed to read "no effect" as "does not work".
        funnel: the package's :class:`Funnel`, for the diagnostics of a revision.
        consumption: the :class:`ConsumptionProfile`, for the diagnostics of a revision.

    Returns:
        A :class:`Decision`.
    """
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha == {alpha!r}, must be in (0, 1)", where="decide")
    if abs(primary.confidence_level - (1 - alpha)) > 1e-9:
        raise ConfigError(
            f"the primary estimate has confidence_level {primary.confidence_level:g} but "
            f"alpha is {alpha:g}", where="decide",
            fix=f"re-run the analysis with confidence_level={1 - alpha:g}")
    if not math.isfinite(min_effect) or min_effect < 0:
        raise ConfigError(f"min_effect == {min_effect!r}, must be >= 0", where="decide",
                          fix="give the smallest effect worth a template, e.g. 0.3 (deals)")
    if not 0 < target_power < 1:
        raise ConfigError(f"target_power == {target_power!r}, must be in (0, 1)",
                          where="decide")
    r = _Reasons()
    lvl = f"{(1 - alpha) * 100:g}%"
    if relative:
        eff, lo, hi, se = (primary.rel_effect, primary.rel_ci_lower, primary.rel_ci_upper,
                           primary.rel_se)
    else:
        eff, lo, hi, se = primary.effect, primary.ci_lower, primary.ci_upper, primary.se
    metric = primary.outcome
    est_en = (f"{metric}: {_num(eff, relative)} ({lvl} interval {_num(lo, relative)} to "
              f"{_num(hi, relative)})")
    est_ja = (f"{metric}: {_num(eff, relative)}（{lvl}信頼区間 {_num(lo, relative)}〜"
              f"{_num(hi, relative)}）")
    me = _num(min_effect, relative, signed=False)
    if power is None:
        power = power_from_se(min_effect, se, alpha=alpha) if se > 0 else math.nan
    evidence: dict[str, Any] = {
        "primary": primary.to_dict(), "min_effect": min_effect,
        "scale": "relative" if relative else "absolute", "alpha": alpha,
        "at_horizon": at_horizon, "power_at_min_effect": power, "target_power": target_power,
    }

    # sample ratio
    srm_p: float | None
    if isinstance(srm, SRMCheck):
        srm_p, mismatch = srm.p_value, srm.mismatch
        evidence["srm"] = srm.to_dict()
    elif srm is not None:
        srm_p = float(srm)
        mismatch = srm_p < srm_threshold
        evidence["srm"] = {"p_value": srm_p, "threshold": srm_threshold, "mismatch": mismatch}
    else:
        srm_p, mismatch = None, False
        evidence["srm"] = None
    evidence["srm_p_value"] = srm_p

    evidence["guardrails"] = [g.to_dict() for g in guardrails]
    seq_g = dict(sequential_guardrails or {})
    evidence["sequential"] = sequential.to_dict() if sequential is not None else None
    evidence["sequential_guardrails"] = {k: v.to_dict() for k, v in seq_g.items()}
    evidence["funnel"] = funnel.to_dict() if funnel is not None else None
    evidence["consumption"] = (_consumption_evidence(consumption)
                               if consumption is not None else None)

    # 1. harm
    harm = False
    if at_horizon and primary.ci_upper < 0:
        harm = True
        r.add(f"The primary metric got worse: {est_en}; the whole interval is below zero.",
              f"主要指標が悪化しています: {est_ja}。区間全体がゼロを下回っています。")
    if sequential is not None and sequential.stop_for_harm:
        harm = True
        lk = sequential.looks[sequential.harm_look - 1]  # type: ignore[operator]
        r.add(f"The always-valid interval of {metric} showed harm at look {lk.look} "
              f"([{fmt(lk.cs_lower, signed=True)}, {fmt(lk.cs_upper, signed=True)}]).",
              f"{metric} の常時有効な信頼区間が第{lk.look}回の確認で悪化を示しました"
              f"（{fmt(lk.cs_lower, signed=True)}〜{fmt(lk.cs_upper, signed=True)}）。")
    for name, sr in seq_g.items():
        if sr.stop_for_harm:
            harm = True
            r.add(f"Guardrail '{name}' showed harm in its always-valid interval at look "
                  f"{sr.harm_look}.",
                  f"ガードレール指標「{name}」が常時有効な信頼区間で第{sr.harm_look}回の確認時に"
                  "悪化を示しました。")
    for g in guardrails:
        if g.status == "breached":
            if at_horizon:
                harm = True
                r.add(f"Guardrail '{g.metric}' is confidently worse than its allowed "
                      f"{'drop' if g.better == 'higher' else 'rise'} of "
                      f"{_num(g.margin, g.relative, signed=False)} "
                      f"(change {_num(g.effect, g.relative)}).",
                      f"ガードレール指標「{g.metric}」が許容幅 {_num(g.margin, g.relative, False)}"
                      f" を超えて悪化しています（変化 {_num(g.effect, g.relative)}）。")
            else:
                r.add(f"Guardrail '{g.metric}' looks worse than its margin, but a fixed-horizon "
                      "check at an interim look cannot stop the experiment; watch it.",
                      f"ガードレール指標「{g.metric}」が許容幅を超えて悪化しているように見えますが、"
                      "中間時点の固定期間の検定では停止できません。注視してください。")
    if harm:
        r.add("Stop the delivery: early stopping is for harm.",
              "配信を停止してください（早期停止は害がある場合のみ行います）。")
        return Decision("stop", tuple(r.en), tuple(r.ja), evidence)

    if mismatch:
        shown = fmt_p(srm_p if srm_p is not None else math.nan)
        r.add(f"Sample-ratio mismatch (p={shown}): the arm sizes do not "
              "fit the configured split, so assignment or data collection is broken; no "
              "promotion until the cause is found.",
              f"サンプル比率の不一致（SRM、p={shown}）: 群の大きさが設定した"
              "比率と合いません。割り付けかデータ取得に問題があるため、原因が分かるまで昇格できません。")

    # 3. interim
    if not at_horizon:
        look = f" (look {sequential.last.look})" if sequential is not None else ""
        look_ja = f"（第{sequential.last.look}回の確認）" if sequential is not None else ""
        r.add(f"Interim look{look}: promotion and revision wait for the planned horizon; the "
              "experiment stops early only for harm.",
              f"中間時点{look_ja}です。昇格・改訂の判断は予定の期間終了時に行い、早期停止は害が"
              "ある場合のみです。")
        if sequential is not None:
            lk = sequential.last
            r.add(f"Current always-valid interval of {metric}: [{fmt(lk.cs_lower, signed=True)},"
                  f" {fmt(lk.cs_upper, signed=True)}].",
                  f"現在の {metric} の常時有効な信頼区間: {fmt(lk.cs_lower, signed=True)}〜"
                  f"{fmt(lk.cs_upper, signed=True)}。")
        else:
            r.add(f"Current estimate (fixed-horizon, for information only): {est_en}.",
                  f"現在の推定値（固定期間の区間、参考値）: {est_ja}。")
        return Decision("continue", tuple(r.en), tuple(r.ja), evidence)

    # 4. promote
    not_ok = [g for g in guardrails if g.status != "ok"]
    if lo > 0 and eff >= min_effect:
        if mismatch:
            return Decision("continue", tuple(r.en), tuple(r.ja), evidence)
        if not_ok:
            r.add(f"The primary metric improved ({est_en}), but promotion needs every guardrail "
                  "shown non-inferior.",
                  f"主要指標は改善しました（{est_ja}）が、昇格にはすべてのガードレール指標の"
                  "非劣性が必要です。")
            for g in not_ok:
                r.add(f"Guardrail '{g.metric}' is not yet shown within its margin "
                      f"{_num(g.margin, g.relative, False)} (change "
                      f"{_num(g.effect, g.relative)}, p={fmt_p(g.p_value)}).",
                      f"ガードレール指標「{g.metric}」が許容幅 "
                      f"{_num(g.margin, g.relative, False)} 以内であることがまだ示されて"
                      f"いません（変化 {_num(g.effect, g.relative)}）。")
            return Decision("continue", tuple(r.en), tuple(r.ja), evidence)
        r.add(f"The primary metric improved: {est_en}; the whole interval is above zero and the "
              f"estimate reaches the minimum effect {me}"
              + (", and every guardrail held." if guardrails else "."),
              f"主要指標の効果 {est_ja} は区間全体がゼロを上回り、最小効果 {me} 以上です"
              + ("。ガードレール指標も保たれています。" if guardrails else "。"))
        r.add("Promote the package to a template.", "このパッケージをテンプレートに昇格します。")
        return Decision("promote", tuple(r.en), tuple(r.ja), evidence)

    # 5. with a sample-ratio mismatch the comparison itself is in doubt: neither promote nor
    #    revise on it; find the cause first
    if mismatch:
        r.add(f"The primary estimate ({est_en}) cannot be trusted until the mismatch is "
              "explained.",
              f"不一致の原因が分かるまで、主要指標の推定値（{est_ja}）は信頼できません。")
        r.add("Continue: find and fix the cause of the mismatch before deciding.",
              "継続: 判断の前に不一致の原因を特定して修正してください。")
        return Decision("continue", tuple(r.en), tuple(r.ja), evidence)

    # 6. revise
    revise = False
    if hi < min_effect:
        revise = True
        r.add(f"The effect is confidently below the minimum effect {me}: {est_en}.",
              f"効果は最小効果 {me} に届かないと言えます: {est_ja}。")
    elif lo <= 0 <= hi and math.isfinite(power) and power >= target_power:
        revise = True
        r.add(f"No effect found ({est_en}) although the experiment had "
              f"{power * 100:.0f}% power to detect {me}.",
              f"効果は確認できませんでした（{est_ja}）。この実験は最小効果 {me} を検出力 "
              f"{power * 100:.0f}% で検出できる規模でした。")
    if revise:
        r.add("Revise the package.", "パッケージを改訂してください。")
        _diagnostics(r, funnel, consumption)
        return Decision("revise", tuple(r.en), tuple(r.ja), evidence)

    # 7. continue
    pw = f"{power * 100:.0f}%" if math.isfinite(power) else "unknown"
    r.add(f"Not enough evidence yet: {est_en}; power to detect {me} is {pw} "
          f"(target {target_power * 100:.0f}%).",
          f"結論を出すにはデータが不足しています: {est_ja}。最小効果 {me} に対する検出力は "
          f"{pw}（目標 {target_power * 100:.0f}%）です。")
    r.add("Continue: extend the experiment or add partners before deciding.",
          "継続: 判断の前に期間を延ばすか対象パートナーを増やしてください。")
    return Decision("continue", tuple(r.en), tuple(r.ja), evidence)


def _consumption_evidence(c: ConsumptionProfile) -> dict[str, Any]:
    return {"label": c.label, "control_mean": c.control_mean,
            "table": c.table.to_dict(orient="records")}


def _diagnostics(r: _Reasons, funnel: Funnel | None,
                 consumption: ConsumptionProfile | None) -> None:
    if funnel is not None and funnel.counts[0] > 0:
        i = funnel.stages.index(funnel.biggest_loss_stage)
        prev = funnel.counts[i - 1]
        share = funnel.biggest_loss / prev if prev else math.nan
        r.add(f"Where it breaks: most partners are lost between '{funnel.biggest_loss_from}' "
              f"and '{funnel.biggest_loss_stage}' ({funnel.biggest_loss:,} of {prev:,}, "
              f"{share * 100:.0f}%); {funnel.counts[-1]:,} of {funnel.counts[0]:,} assigned "
              f"reached '{funnel.stages[-1]}'.",
              f"改善箇所: 「{funnel.biggest_loss_from}」から「{funnel.biggest_loss_stage}」の間で"
              f"最も多くのパートナーが離脱しています（{prev:,}社中{funnel.biggest_loss:,}社、"
              f"{share * 100:.0f}%）。「{funnel.stages[-1]}」まで到達したのは割り付け"
              f"{funnel.counts[0]:,}社中{funnel.counts[-1]:,}社です。")
    if consumption is not None and len(consumption.table):
        parts_en = ", ".join(f"{row.level}: {fmt(row.diff_vs_control, signed=True)}"
                             for row in consumption.table.itertuples())
        r.add(f"Outcome vs control by consumption level (descriptive, not randomized): "
              f"{parts_en}.",
              f"消化度別の対照群との差（記述統計・無作為化されていない比較）: {parts_en}。")
