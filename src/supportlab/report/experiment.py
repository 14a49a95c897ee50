"""The experiment report: what a reader needs from an :class:`~supportlab.design.evaluate.Evaluation`.

Nothing here re-estimates: every number comes from the evaluation (and raw counts from the
ledger); the report adds the trust gate, the evidence rating, the flow and the plain sentence.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from supportlab.config.experiment import Experiment, load_experiment
from supportlab.data.workspace import Workspace
from supportlab.design.evaluate import PLACEBO, Evaluation, evaluate
from supportlab.design.inputs import EvaluationInputs
from supportlab.design.ledger import read_ledger
from supportlab.report.charts import (
    Chart,
    ForestRow,
    distribution_chart,
    effect_chart,
    forest_chart,
    funnel_chart,
)
from supportlab.report.evidence import BALANCE_P_THRESHOLD, EvidenceRating, rate_evidence
from supportlab.report.flow import ConsortFlow, consort_flow
from supportlab.report.provenance import provenance
from supportlab.report.sections import Section, escape
from supportlab.report.tails import HeavyTail, heavy_tail
from supportlab.report.text import (
    CHECK_WORDS,
    DECISION_ICONS,
    DECISION_WORDS,
    EXCLUSION_WORDS,
    GUARDRAIL_WORDS,
    arm_label,
    fmt_ci,
    fmt_date,
    fmt_num,
    fmt_p,
    fmt_pct,
    fmt_yen,
    metric_label,
    stage_label,
    translate,
    word,
)
from supportlab.stats.checks import GuardrailCheck

#: the decision's icon and word per language (kept here under their old names)
ICONS = DECISION_ICONS
WORDS = DECISION_WORDS

#: words of a metric name that make it money (its scaled effect is shown in yen)
_MONEY_WORDS = ("amount", "pipeline", "revenue", "yen")


@dataclass(frozen=True)
class TrustGate:
    """The checks a result must pass before its decision is shown.

    Attributes:
        passed: every check passed.
        failures: per failed check: ``check``, ``threshold``, ``value``.
    """

    passed: bool
    failures: tuple[dict[str, Any], ...]


def trust_gate(ev: Evaluation) -> TrustGate:
    """SRM (``p < srm.threshold``) and balance (omnibus ``p <`` :data:`BALANCE_P_THRESHOLD`)."""
    fails: list[dict[str, Any]] = []
    if ev.srm.mismatch:
        fails.append({"check": "sample-ratio", "threshold": ev.srm.threshold,
                      "value": ev.srm.p_value})
    if ev.balance is not None and ev.balance.omnibus_p < BALANCE_P_THRESHOLD:
        fails.append({"check": "balance", "threshold": BALANCE_P_THRESHOLD,
                      "value": ev.balance.omnibus_p})
    return TrustGate(passed=not fails, failures=tuple(fails))


def _sentence(ev: Evaluation, lang: str, title: str) -> str:
    p = ev.primary
    me = ev.decision_detail.evidence.get("min_effect", 0.0)
    eff = fmt_num(p.effect)
    ci = fmt_ci(p.ci_lower, p.ci_upper, 2, lang, level=p.confidence_level)
    metric = metric_label(ev.metric, lang)
    if lang == "ja":
        base = (f"{title}は{metric}をパートナーあたり{eff}変えました（{ci}）。"
                f"テンプレート化の基準は{me:g}です。")
        tail = {"promote": "テンプレート化します。", "revise": "改訂してください。",
                "continue": "まだ結論は出ません：継続します。", "stop": "中止します。"}
        return base + tail[ev.decision]
    verb = "raised" if p.effect >= 0 else "lowered"
    base = (f"{title} {verb} {metric} by {fmt_num(abs(p.effect))} per partner "
            f"({ci})")
    tail = {"promote": f", above the {me:g} that makes it worth a template: promote it.",
            "revise": f"; the {me:g} that makes it worth a template is not reached: revise it.",
            "continue": f"; too early to tell against the {me:g} needed: continue.",
            "stop": f"; it will not reach the {me:g} needed: stop it."}
    return base + tail[ev.decision]


def _table(head: list[str], rows: list[list[str]], muted: bool = False) -> str:
    """An ``sl-table``; cells are escaped here, numeric-looking ones right-aligned."""
    def cell(v: str) -> str:
        num = v[:1] in "+-–0123456789" and v != "–"
        return f'<td class="num">{escape(v)}</td>' if num else f"<td>{escape(v)}</td>"
    h = "".join(f"<th>{escape(x)}</th>" for x in head)
    body = "".join("<tr>" + "".join(cell(v) for v in r) + "</tr>" for r in rows)
    cls = "sl-table sl-muted" if muted else "sl-table"
    return f'<table class="{cls}"><tr>{h}</tr>{body}</table>'


def _block(title: str, inner: str) -> str:
    return f'<section class="sl-section"><h2>{escape(title)}</h2>{inner}</section>'


@dataclass(frozen=True)
class ExperimentReport:
    """A reader's report of one experiment.

    Attributes:
        evaluation: the evaluation everything comes from.
        evidence: the evidence rating.
        flow: the CONSORT flow.
        trust: the trust gate.
        lang: ``en`` or ``ja``.
        title: the package title shown.
        horizon_days: the experiment's horizon.
        n_base: partners assigned (the base the effect is scaled over).
        yaml_text: the experiment file as written (for the appendix).
        outcomes: per arm, the partners' primary outcomes (:func:`experiment_report` fills it
            from the evaluation's ``partner_outcomes``; ``None``: not available, the
            heavy-tail panel then shows the model's raw means only and no chart).
        exploratory: the segments of the evaluation that were not pre-declared in
            ``decision.segments`` (marked as exploratory wherever segments are shown).
        provenance: the data fingerprint, git revision and data quality
            (:func:`supportlab.report.provenance.provenance`; empty: not known).
    """

    evaluation: Evaluation
    evidence: EvidenceRating
    flow: ConsortFlow
    trust: TrustGate
    lang: str
    title: str
    horizon_days: int
    n_base: int
    yaml_text: str = ""
    outcomes: Mapping[str, Sequence[float]] | None = None
    exploratory: tuple[str, ...] = ()
    provenance: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def sentence(self) -> str:
        """The one plain sentence from the decision rule."""
        return _sentence(self.evaluation, self.lang, self.title)

    @property
    def in_yen(self) -> bool:
        """Whether the primary metric is money (a pipeline, amount or revenue metric, in yen)."""
        m = self.evaluation.metric.lower()
        return any(w in m for w in _MONEY_WORDS)

    def scaled(self) -> dict[str, Any]:
        """The effect per partner per quarter (× 90 / horizon) and over the assigned base;
        ``unit`` is ``yen`` for money metrics, else the metric's own unit."""
        per_q = self.evaluation.primary.effect * 90 / self.horizon_days
        return {"per_partner_per_quarter": per_q, "partners": float(self.n_base),
                "program_per_quarter": per_q * self.n_base,
                "unit": "yen" if self.in_yen else self.evaluation.metric}

    def caveats(self) -> list[str]:
        """2–3 caveats for the first screen (evaluation warnings, interim, rating)."""
        ev = self.evaluation
        out: list[str] = []
        if ev.placebo:
            out.append("placebo (A/A) run" if self.lang == "en" else "プラセボ（A/A）実行")
        if not ev.final:
            out.append(ev.timing)
        out.extend(self.evidence.texts(self.lang)[:2])
        out.extend(translate(w, self.lang) for w in ev.primary.warnings[:1])
        return out[:3]

    def tail(self) -> HeavyTail | None:
        """The heavy-tail description of the headline comparison (``None`` without
        :attr:`outcomes`)."""
        if not self.outcomes:
            return None
        p = self.evaluation.primary
        return heavy_tail(self.outcomes, p.control, p.treatment)

    # ---- charts ---------------------------------------------------------------------------
    def effect_figure(self) -> Chart:
        """The primary effect and its interval against zero, with the ``min_effect`` band."""
        ev = self.evaluation
        p = ev.primary
        me = ev.decision_detail.evidence.get("min_effect")
        unit = (self._t("yen", "円") if self.in_yen else "")
        title = self._t(f"Effect on {metric_label(ev.metric, 'en')} per partner",
                        f"パートナーあたりの効果：{metric_label(ev.metric, 'ja')}")
        return effect_chart(p.effect, p.ci_lower, p.ci_upper,
                            min_effect=float(me) if isinstance(me, (int, float)) else None,
                            lang=self.lang, title=title, unit=unit,
                            level=p.confidence_level, digits=0 if self.in_yen else 2)

    def funnel_figure(self) -> Chart:
        """Per arm, the share of the assigned partners reaching each step of the package."""
        steps: list[str] = []
        shares: dict[str, list[float]] = {}
        counts: dict[str, list[int]] = {}
        for a in self.flow.arms:
            pairs = [(s, c) for s, c in zip(a.stages, a.counts, strict=True) if s != "analysed"]
            if not steps:
                steps = [s for s, _ in pairs]
            if [s for s, _ in pairs] != steps:
                continue
            base = a.counts[0]
            name = arm_label(a.arm, self.lang)
            shares[name] = [c / base if base else float("nan") for _, c in pairs]
            counts[name] = [int(c) for _, c in pairs]
        return funnel_chart([stage_label(s, self.lang) for s in steps], shares, lang=self.lang,
                            counts=counts,
                            title=self._t("Share of assigned partners reaching each step",
                                          "各ステップに到達したパートナーの割合（割付に対して）"))

    def forest_figure(self) -> Chart | None:
        """Each segment level's effect with its adjusted interval, and the overall effect
        (``None`` when no segment was declared)."""
        ev = self.evaluation
        mark = self._t("exploratory", "探索的")
        rows = [ForestRow(label=f"{seg.segment}: {lab}", effect=e.effect, lower=e.ci_lower,
                          upper=e.ci_upper, n=e.n_control + e.n_treatment,
                          note=mark if seg.segment in self.exploratory else "")
                for seg in ev.segments for lab, e in zip(seg.labels, seg.estimates, strict=True)]
        if not rows:
            return None
        explored = any(seg.segment in self.exploratory for seg in ev.segments)
        p = ev.primary
        rows.append(ForestRow(label=self._t("all partners", "全体"), effect=p.effect,
                              lower=p.ci_lower, upper=p.ci_upper, n=p.n_control + p.n_treatment,
                              emphasis=True))
        me = ev.decision_detail.evidence.get("min_effect")
        title = (self._t("Effect by segment: pre-declared, and exploratory where marked "
                         "(adjusted intervals)",
                         "セグメント別の効果：事前に指定したもの（印のあるものは探索的、調整済み区間）")
                 if explored else
                 self._t("Effect by pre-declared segment (adjusted intervals)",
                         "事前に指定したセグメント別の効果（調整済み区間）"))
        return forest_chart(rows, lang=self.lang, title=title,
                            min_effect=float(me) if isinstance(me, (int, float)) else None,
                            xlabel=self._t("effect (segments: Holm-adjusted intervals)",
                                           "効果（セグメント：Holm法で調整した区間）"))

    def distribution_figure(self) -> Chart | None:
        """The analysed partners' primary outcomes with each arm's raw mean (``None`` when the
        report carries no per-partner outcomes)."""
        if not self.outcomes:
            return None
        values = [float(v) for vals in self.outcomes.values() for v in vals]
        markers = {self._t(f"{arm} mean", f"{arm_label(arm, 'ja')}の平均"):
                   sum(map(float, vals)) / len(vals)
                   for arm, vals in self.outcomes.items() if len(vals)}
        tail = self.tail()
        if tail is not None:
            markers[self._t(f"cap ({tail.quantile * 100:g}th pct.)",
                            f"上限（{tail.quantile * 100:g}パーセンタイル）")] = tail.cap
        metric = metric_label(self.evaluation.metric, self.lang)
        return distribution_chart(values, lang=self.lang,
                                  title=self._t(f"Distribution of {metric} per partner",
                                                f"パートナーごとの{metric}の分布"),
                                  xlabel=metric, markers=markers)

    # ---- sections -------------------------------------------------------------------------
    def first_screen(self) -> Section:
        """Badge (or trust gate), the sentence, key numbers, caveats."""
        ev, ja = self.evaluation, self.lang == "ja"
        parts = []
        if ev.placebo:
            parts.append('<p class="sl-warn">' + ("プラセボ実行" if ja else "Placebo run") + "</p>")
        muted = ""
        if self.trust.passed:
            d = ev.decision
            parts.append(f'<p class="sl-badge sl-{d}">{ICONS[d]} {escape(WORDS[self.lang][d])}</p>')
        else:
            muted = ' class="sl-muted"'
            rows = "".join(f"<li>{escape(word(CHECK_WORDS, f['check'], self.lang))}: "
                           f"{escape(fmt_num(f['value'], 4))} &lt; {escape(f['threshold'])}</li>"
                           for f in self.trust.failures)
            parts.append(f'<div class="sl-gate"><p class="sl-badge sl-untrusted">{ICONS["untrusted"]} '
                         f'{escape(WORDS[self.lang]["untrusted"])}</p><ul>{rows}</ul></div>')
        parts.append(f'<p class="sl-sentence"{muted}>{escape(self.sentence)}</p>')
        s = self.scaled()
        p = ev.primary
        kpis = [("effect" if not ja else "効果", fmt_num(p.effect)),
                ("95% CI" if not ja else "95%信頼区間",
                 f"{fmt_num(p.ci_lower)} – {fmt_num(p.ci_upper)}"),
                ("n control / treatment" if not ja else "n 対照 / 処置",
                 f"{ev.n_control:,} / {ev.n_treatment:,}"),
                ("per quarter over the base" if not ja else "四半期あたり（全体）",
                 fmt_yen(s["program_per_quarter"], self.lang) if self.in_yen
                 else fmt_num(s["program_per_quarter"], 1)),
                ("evidence" if not ja else "エビデンス",
                 f'<span class="sl-rating">{self.evidence.stars} {self.evidence.score}/5</span>')]
        parts.append(f'<div class="sl-kpis"{muted}>' + "".join(
            f'<div class="sl-kpi"><b>{v if "sl-rating" in v else escape(v)}</b>'
            f"<span>{escape(k)}</span></div>" for k, v in kpis) + "</div>")
        parts.append(f"<div{muted}>{self.effect_figure().html()}</div>")
        parts.append('<ul class="sl-caveats">' + "".join(
            f"<li>{escape(c)}</li>" for c in self.caveats()) + "</ul>")
        # the page's header carries the title and the id; in a notebook they are the meta line
        h = escape(self._t("Decision", "判定"))
        meta = escape(f"{self.title} — {ev.experiment_id}")
        return Section("first_screen", f'<section class="sl-section"><h2>{h}</h2>'
                       f'<p class="sl-meta sl-notebook-only">{meta}</p>'
                       + "".join(parts) + "</section>")

    def flow_section(self) -> Section:
        """The flow per arm as a table (each stage's count with its share of the assigned),
        with the stage that loses most."""
        ja = self.lang == "ja"
        rows = []
        for a in self.flow.arms:
            base = a.counts[0]
            cells = " → ".join(
                f"{escape(stage_label(s, self.lang))} <b>{c:,}</b>"
                + (f" ({escape(fmt_pct(c / base, 0))})" if i and base else "")
                for i, (s, c) in enumerate(zip(a.stages, a.counts, strict=True)))
            lm = escape(stage_label(a.loses_most, self.lang)) if a.loses_most else "–"
            rows.append(f"<tr><td>{escape(arm_label(a.arm, self.lang))}</td><td>{cells}</td>"
                        f'<td>{lm}</td><td class="num">{a.lost:,}</td></tr>')
        head = ("<tr><th>群</th><th>流れ（割付に対する割合）</th><th>最大の離脱</th><th>人数</th></tr>"
                if ja else "<tr><th>arm</th><th>flow (share of assigned)</th>"
                           "<th>loses most at</th><th>lost</th></tr>")
        title = "参加者の流れ" if ja else "Flow of partners"
        fl = self.flow
        if fl.eligible is not None:
            ex = "".join(f"<li>{escape(word(EXCLUSION_WORDS, st, self.lang))}"
                         f"{(': ' + escape(translate(r, self.lang))) if r else ''}: {n:,}</li>"
                         for st, r, n in fl.excluded)
            lead = (f"<p>{'対象' if ja else 'eligible'} <b>{fl.eligible:,}</b> → "
                    f"{'除外' if ja else 'excluded'} <b>{sum(n for *_, n in fl.excluded):,}</b></p>"
                    + (f"<ul>{ex}</ul>" if ex else ""))
            title_lead = lead
        else:
            title_lead = ""
        return Section("flow", f'<section class="sl-section"><h2>{title}</h2>{title_lead}'
                       f'<table class="sl-table">{head}{"".join(rows)}</table>'
                       f"{self.funnel_figure().html()}</section>")

    def _t(self, en: str, ja: str) -> str:
        return ja if self.lang == "ja" else en

    def _uptake_words(self) -> tuple[str, float | None]:
        """Who opened the package, per arm with counts, and the rise in the share opening
        (treatment minus control, ``None`` when an arm is missing)."""
        up = {str(r.arm): r for r in self.evaluation.uptake.itertuples()}
        p = self.evaluation.primary
        order = [a for a in (p.treatment, p.control) if a in up]
        order += [a for a in up if a not in order]
        parts = [self._t(f"{a} {int(up[a].n_opened):,} of {int(up[a].n_assigned):,} "
                         f"({fmt_pct(up[a].uptake_share, 0)})",
                         f"{arm_label(a, 'ja')} {int(up[a].n_assigned):,}社中"
                         f"{int(up[a].n_opened):,}社（{fmt_pct(up[a].uptake_share, 0)}）")
                 for a in order]
        rise = (float(up[p.treatment].uptake_share) - float(up[p.control].uptake_share)
                if p.treatment in up and p.control in up else None)
        text = self._t("Opened the package: " + "; ".join(parts),
                       "パッケージを開封：" + "、".join(parts))
        if rise is not None and math.isfinite(rise):
            pts = fmt_num(abs(100 * rise), 0)
            text += (self._t(f". Being offered it raised opening by {pts} percentage points.",
                             f"。提供によって開封は{pts}ポイント増えました。") if rise >= 0 else
                     self._t(f". Being offered it lowered opening by {pts} percentage points.",
                             f"。提供によって開封は{pts}ポイント減りました。"))
        else:
            text += self._t(".", "。")
        return text, rise

    def effects_section(self) -> Section:
        """The effect of the offer (intention to treat) beside the effect on partners who
        used the package (complier), with uptake, in plain words; disagreements said."""
        ev = self.evaluation
        p = ev.primary
        n = f"{p.n_control:,} / {p.n_treatment:,}"
        rows = [[self._t("effect of being offered the package (everyone assigned, whether "
                         "they used it or not)",
                         "パッケージを提供された効果（割付された全員、使ったかどうかを問わない）"),
                 fmt_num(p.effect), f"{fmt_num(p.ci_lower)} – {fmt_num(p.ci_upper)}", n]]
        uptake, rise = self._uptake_words()
        notes: list[str] = []
        warn: list[str] = []
        c = ev.complier
        if c is None:
            same = any(x.startswith(f"{p.treatment}: no complier effect") and "does not differ" in x
                       for x in ev.notes)
            notes.append(self._t("The effect on partners who used it is not identified here"
                                 + (": the offer did not change who opened the package." if same
                                    else "."),
                                 "実際に使ったパートナーへの効果はここでは推定できません"
                                 + ("：提供しても開封するパートナーが変わらなかったためです。" if same
                                    else "。")))
        else:
            bounded = math.isfinite(c.ci_lower) and math.isfinite(c.ci_upper)
            ci = (f"{fmt_num(c.ci_lower)} – {fmt_num(c.ci_upper)}" if bounded else
                  self._t("no finite interval", "有限の区間なし"))
            rows.append([self._t("effect on partners who actually used it (opened it because "
                                 "it was offered)",
                                 "実際に使ったパートナーへの効果（提供されたから開封した分）"),
                         fmt_num(c.effect), ci, n])
            if not bounded:
                f = fmt_num(c.first_stage_f, 1)
                pts = fmt_num(100 * rise, 0) if rise is not None else "–"
                notes.append(self._t(
                    f"No interval for the effect on partners who used it: being offered the "
                    f"package changed the share opening it by only {pts} percentage points "
                    f"(first-stage F = {f}, below 10), so the data cannot bound it. Its "
                    f"estimate {fmt_num(c.effect)} is the effect of the offer divided by that "
                    "small change and is not to be relied on; read the effect of the offer.",
                    f"実際に使ったパートナーへの効果には区間がありません：提供によって開封した割合は"
                    f"{pts}ポイントしか変わらず（第1段階のF = {f}、10未満）、データから範囲を絞れない"
                    f"ためです。推定値 {fmt_num(c.effect)} は提供の効果をこの小さな変化で割ったもので、"
                    "頼りになりません。提供の効果を読んでください。"))
            else:
                warn += [translate(w, self.lang) for w in c.warnings]
            signs = {e > 0 for e in (p.effect, c.effect) if e != 0}
            apart = ((bounded and ((c.ci_upper < 0 < p.ci_lower) or (c.ci_lower > 0 > p.ci_upper)))
                     or len(signs) > 1)
            if apart:
                warn.append(self._t(
                    "The two effects disagree in sign: the offer and its use point different "
                    "ways (for instance the offer lowered uptake). Read the effect of the offer, "
                    "and the effect on users with care.",
                    "2つの効果の符号が食い違います：提供の効果と、使った場合の効果が逆を向いています"
                    "（たとえば提供で利用が減った場合）。提供の効果を読み、使ったパートナーへの効果は"
                    "慎重に読んでください。"))
            elif bounded:
                notes.append(self._t(
                    "The two agree: the effect on partners who used it is the effect of the offer "
                    "spread over the partners the offer made open the package, so it is the "
                    "larger in size.",
                    "2つの効果は整合しています：使ったパートナーへの効果は、提供の効果を提供によって"
                    "開封したパートナーに割り当てたものなので、絶対値はこちらが大きくなります。"))
        head = [self._t("effect", "効果"), self._t("estimate", "推定値"),
                self._t("95% CI", "95%信頼区間"), self._t("n control / treatment", "n 対照 / 処置")]
        inner = (_table(head, rows, muted=not self.trust.passed)
                 + f"<p>{escape(uptake)}</p>"
                 + "".join(f"<p>{escape(x)}</p>" for x in notes)
                 + "".join(f'<p class="sl-warn">{escape(x)}</p>' for x in warn))
        return Section("effects", _block(self._t("Effects", "効果"), inner))

    def segments_section(self) -> Section:
        """Per segment: effects with Holm-adjusted intervals and p, each segment labelled
        pre-declared (``decision.segments``) or exploratory."""
        rows = []
        kinds = {False: self._t("pre-declared", "事前指定"), True: self._t("exploratory", "探索的")}
        for seg in self.evaluation.segments:
            kind = kinds[seg.segment in self.exploratory]
            for lab, e, pa in zip(seg.labels, seg.estimates, seg.p_adjusted, strict=True):
                rows.append([seg.segment, lab, kind, fmt_num(e.effect),
                             f"{fmt_num(e.ci_lower)} – {fmt_num(e.ci_upper)}", fmt_num(pa, 3),
                             f"{e.n_control:,} / {e.n_treatment:,}"])
        if not rows:
            none = self._t("No segments: none pre-declared (decision.segments), none explored.",
                           "セグメントはありません：事前の指定（decision.segments）も探索もありません。")
            inner = f"<p>{escape(none)}</p>"
        else:
            inner = _table([self._t("segment", "セグメント"), self._t("level", "水準"),
                            self._t("kind", "種類"), self._t("effect", "効果"),
                            self._t("adjusted CI (Holm)", "調整済み区間（Holm）"),
                            self._t("adjusted p", "調整済みp"),
                            self._t("n control / treatment", "n 対照 / 処置")], rows,
                           muted=not self.trust.passed)
            explored = [s.segment for s in self.evaluation.segments
                        if s.segment in self.exploratory]
            if explored:
                lead = self._t(
                    "Segments marked exploratory (" + ", ".join(explored) + ") were not "
                    "declared in the experiment file before the analysis: read them as ideas "
                    "to test in a new experiment, not as findings. The others were pre-declared "
                    "(decision.segments).",
                    "探索的と記したセグメント（" + "、".join(explored) + "）は分析前に実験ファイルで"
                    "指定していません。結論ではなく、新しい実験で確かめる仮説として読んでください。"
                    "ほかは分析前に実験ファイル（decision.segments）で指定したものです。")
            else:
                lead = self._t(
                    "Every segment here was pre-declared in the experiment file before the "
                    "analysis (decision.segments); none is exploratory.",
                    "ここのセグメントはすべて分析前に実験ファイル（decision.segments）で指定したもの"
                    "で、探索的なものはありません。")
            note = lead + self._t(
                " Each segment's intervals are widened (Holm) for the number of its levels. "
                "The diamond is the overall effect with its 95% interval.",
                "各セグメントの区間は水準の数に応じて広げています（Holm法）。ひし形は全体の効果と"
                "95%信頼区間です。")
            chart = self.forest_figure()
            inner += f'<p class="sl-muted">{escape(note)}</p>' + (chart.html() if chart else "")
        return Section("segments", _block(self._t("Segments", "セグメント"), inner))

    def guardrails_section(self) -> Section:
        """Each guardrail with its non-inferiority margin and status."""
        rel = self._t(" (rel.)", "（相対）")

        def change(g: GuardrailCheck, x: float) -> str:  # a relative change as a percentage
            if not g.relative:
                return fmt_num(x, 3)
            out = fmt_pct(x, 1)
            return out if out.startswith(("-", "–")) or x == 0 else "+" + out

        rows = [[metric_label(g.metric, self.lang),
                 (f"{fmt_pct(g.margin, 0)}{rel}" if g.relative else f"{g.margin:g}"),
                 f"{fmt_num(g.mean_control, 2)} (n={g.n_control:,})",
                 f"{fmt_num(g.mean_treatment, 2)} (n={g.n_treatment:,})",
                 change(g, g.effect), f"{change(g, g.lower)} – {change(g, g.upper)}",
                 word(GUARDRAIL_WORDS, g.status, self.lang)]
                for g in self.evaluation.guardrails]
        inner = (_table([self._t("guardrail", "ガードレール"), self._t("margin", "許容幅"),
                         self._t("control mean", "対照群の平均"),
                         self._t("treatment mean", "処置群の平均"),
                         self._t("effect", "効果"), self._t("interval", "区間"),
                         self._t("status", "状態")], rows) if rows else
                 f"<p>{escape(self._t('No guardrails.', 'ガードレールはありません。'))}</p>")
        return Section("guardrails", _block(self._t("Guardrails", "ガードレール"), inner))

    def looks_section(self) -> Section:
        """Look k of K and what this look may decide."""
        ev = self.evaluation
        may = (self._t("the final look: any decision", "最終評価：すべての判定が可能") if ev.final
               else self._t("an interim look: only an early stop (harm) or continue",
                            "中間評価：早期中止（有害）または継続のみ"))
        try:
            as_of = fmt_date(ev.as_of, self.lang)
        except ValueError:  # not an ISO date: shown as stored
            as_of = str(ev.as_of)
        text = self._t(f"Look {ev.look} of {ev.looks} (as of {as_of}): {may}.",
                       f"{ev.looks}回中{ev.look}回目の評価（{as_of}時点）：{may}。")
        return Section("looks", _block(self._t("Looks", "評価の回数"), f"<p>{escape(text)}</p>"))

    def diagnosis_section(self) -> Section:
        """Where the package breaks: the stage that loses most per arm, failed guardrails."""
        items = []
        for a in self.flow.arms:
            if not a.loses_most:
                continue
            i = a.stages.index(a.loses_most)
            before = a.counts[0] if a.loses_most == "analysed" else a.counts[i - 1]
            items.append(self._t(
                f"{a.arm}: most partners lost before '{a.loses_most}' ({a.lost:,} of "
                f"{before:,})",
                f"{arm_label(a.arm, 'ja')}：「{stage_label(a.loses_most, 'ja')}」の手前で最も多く"
                f"離脱（{before:,}社中{a.lost:,}社）"))
        items += [self._t(f"guardrail {g.metric}: {g.status}",
                          f"ガードレール {metric_label(g.metric, 'ja')}："
                          f"{word(GUARDRAIL_WORDS, g.status, 'ja')}")
                  for g in self.evaluation.guardrails if g.status != "ok"]
        inner = "<ul>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"
        return Section("diagnosis", _block(self._t("Where it breaks", "どこで崩れるか"), inner))

    def _top_words(self, t: HeavyTail) -> str:
        """The top partners' part of the raw difference, in words with counts."""
        pct = fmt_num(100 * t.top_fraction, 0)
        who = self._t(f"The top {pct}% (at most) of partners by outcome ({t.top:,}: {t.treatment.n_top:,} "
                      f"{t.treatment.arm}, {t.control.n_top:,} {t.control.arm})",
                      f"成果の上位{pct}%（以内）のパートナー（{t.top:,}社：{arm_label(t.treatment.arm, 'ja')}"
                      f"{t.treatment.n_top:,}社、{arm_label(t.control.arm, 'ja')}"
                      f"{t.control.n_top:,}社）")
        if not t.top:
            return self._t(f"No partner stands apart: the largest outcomes tie beyond the top "
                           f"{pct}%.", f"突出したパートナーはいません：上位{pct}%を超えて最大の成果が"
                           "同じ値で並んでいます。")
        if not math.isfinite(t.top_share):
            return who + self._t(": the two arms' sums do not differ, so there is no difference "
                                 "to share.", "：両群の合計に差がないため、占める割合はありません。")
        share = fmt_pct(t.top_share, 0)
        base = self._t(
            f"{who} account for {share} of the treatment-minus-control difference in sums "
            f"({fmt_num(t.difference_in_sums, 1)}, control scaled to the treatment arm's size)",
            f"{who}が、処置群と対照群の合計の差（{fmt_num(t.difference_in_sums, 1)}、対照群を処置群の"
            f"人数にそろえたもの）の{share}を占めます")
        without = fmt_num(t.difference_without_top, 3)
        if t.top_share > 1:
            tail = self._t(f": more than all of it; without them the raw difference in means "
                           f"would be {without}.",
                           f"。差のすべてを超えており、彼らを除くと平均の素の差は{without}になります。")
        elif t.top_share < 0:
            tail = self._t(f": they pull the other way; without them the raw difference in "
                           f"means would be {without}.",
                           f"。彼らは逆向きに効いており、除くと平均の素の差は{without}になります。")
        else:
            tail = self._t(f"; without them the raw difference in means would be {without}.",
                           f"。彼らを除くと平均の素の差は{without}になります。")
        return base + tail

    def heavy_tail_section(self) -> Section:
        """Per arm the mean beside the median and the pooled-cap winsorized mean (with n),
        the top partners' part of the difference, the randomization p beside the model's p,
        and the skew warnings."""
        ev = self.evaluation
        p = ev.primary
        det = p.details or {}
        rand_p = det.get("randomization_p_value")
        t = self.tail()
        if t is not None:
            cap = self._t(f"winsorized mean (cap {fmt_num(t.cap, 2)})",
                          f"ウィンソライズ平均（上限 {fmt_num(t.cap, 2)}）")
            head = ["", "n", self._t("mean", "平均"), self._t("median", "中央値"), cap,
                    self._t("values capped", "上限で置換")]
            rows = [[arm_label(a.arm, self.lang), f"{a.n:,}", fmt_num(a.mean, 3),
                     fmt_num(a.median, 3), fmt_num(a.winsorized_mean, 3), f"{a.n_capped:,}"]
                    for a in (t.control, t.treatment)]
            c, tr = t.control, t.treatment
            rows.append([self._t("difference (treatment − control)", "差（処置 − 対照）"),
                         f"{c.n + tr.n:,}", fmt_num(tr.mean - c.mean, 3),
                         fmt_num(tr.median - c.median, 3),
                         fmt_num(tr.winsorized_mean - c.winsorized_mean, 3),
                         f"{c.n_capped + tr.n_capped:,}"])
            table = _table(head, rows)
            q = f"{t.quantile * 100:g}"
            words = f"<p>{escape(self._top_words(t))}</p>" + '<p class="sl-muted">' + escape(
                self._t(f"Raw outcomes, not adjusted: the effect above is the model's. The "
                        f"winsorized mean sets every value above one cap shared by both arms, the "
                        f"{q}th percentile of the pooled outcomes (linear interpolation, "
                        f"Hyndman & Fan 1996 definition 7; the library's winsorize={t.quantile:g}), "
                        f"to the cap.",
                        f"調整前の素の成果です（上の効果はモデルによる値）。ウィンソライズ平均は、両群に"
                        f"共通の上限（両群をあわせた成果の{q}パーセンタイル。線形補間、Hyndman & Fan "
                        f"1996 の定義7。ライブラリの winsorize={t.quantile:g} と同じ）を超える値を"
                        f"上限に置き換えた平均です。")) + "</p>"
        else:
            rows = [[self._t("raw mean, control", "素の平均（対照）"),
                     fmt_num(p.raw_mean_control, 3), f"{p.n_control:,}"],
                    [self._t("raw mean, treatment", "素の平均（処置）"),
                     fmt_num(p.raw_mean_treatment, 3), f"{p.n_treatment:,}"]]
            table = _table(["", self._t("value", "値"), "n"], rows)
            words = "<p>" + escape(self._t(
                "Per-partner outcomes are not available: no median, winsorized mean or top "
                "partners' share.", "パートナーごとの成果がないため、中央値・ウィンソライズ平均・"
                "上位パートナーの割合は示せません。")) + "</p>"
        redraws = det.get("randomization_redraws", 0)
        ps = [[self._t("model p-value", "モデルのp値"), fmt_p(p.p_value), "–"],
              [self._t("randomization p-value", "無作為化検定のp値"),
               fmt_p(rand_p) if isinstance(rand_p, (int, float)) else "–",
               f"{redraws:,}" if isinstance(redraws, int) else "–"]]
        ptable = _table(["", self._t("value", "値"), self._t("redraws", "再割付の回数")], ps)
        warn = "".join(f'<p class="sl-warn">{escape(translate(w, self.lang))}</p>'
                       for w in p.warnings)
        chart = self.distribution_figure()
        inner = table + words + ptable + warn + (chart.html() if chart else "")
        return Section("heavy_tail", _block(self._t("Heavy tails", "裾の重い分布"), inner))

    def how_to_read(self) -> Section:
        """What an interval means; inconclusive is not "no effect"."""
        text = ("95%信頼区間は効果としてありうる値の範囲です。区間が0をまたぐのは「効果なし」ではなく"
                "「まだ分からない」という意味です。" if self.lang == "ja" else
                "The 95% interval is the range of effects the data allow. An interval that "
                "spans zero means \u201cnot yet known\u201d, not \u201cno effect\u201d.")
        return Section("how_to_read", f'<aside class="sl-callout">{escape(text)}</aside>')

    def appendix(self) -> Section:
        """Methods and reproducibility, collapsed (in the page's language; the experiment
        file as written)."""
        ev = self.evaluation
        import platform
        from importlib.metadata import PackageNotFoundError, version

        def ver(name: str) -> str:
            try:
                return version(name)
            except PackageNotFoundError:
                return "–"

        det = ev.primary.details or {}
        facts = [(self._t("estimator", "推定量"), ev.primary.method),
                 (self._t("covariates", "共変量"), ", ".join(ev.primary.covariates) or "–"),
                 (self._t("standard errors", "標準誤差"), "HC2"),
                 (self._t("randomization redraws", "無作為化検定の再割付の回数"),
                  str(det.get("randomization_redraws", "–"))),
                 (self._t("randomization seed", "無作為化検定の乱数シード"),
                  str(det.get("randomization_seed", "–"))),
                 ("python", platform.python_version())]
        facts += [(n, ver(n)) for n in ("supportlab", "duckdb", "pandas", "statsmodels")]
        facts += self._provenance_facts()
        said = {*ev.primary.warnings, PLACEBO["en"]}  # shown elsewhere on the page
        warns = "".join(f'<li class="sl-warn">{escape(translate(w, self.lang))}</li>'
                        for w in ev.warnings if w not in said)
        notes = "".join(f"<li>{escape(translate(n, self.lang))}</li>"
                        for n in dict.fromkeys((*ev.primary.notes, *ev.notes)))
        notes += "".join(f"<li>{escape(k)}: {escape(v)}</li>" for k, v in facts)
        summary = "方法と再現性" if self.lang == "ja" else "Methods and reproducibility"
        checks = (f"<p>{escape(self._t('Warnings of the evaluation', '評価の注意点'))}</p>"
                  f"<ul>{warns}</ul>" if warns else "")
        return Section("appendix", f'<details class="sl-appendix"><summary>{summary}</summary>'
                       f"<p>{escape(translate(ev.design, self.lang))}</p>{checks}<ul>{notes}</ul>"
                       f"<pre>{escape(self.yaml_text)}</pre></details>")

    def _provenance_facts(self) -> list[tuple[str, str]]:
        """The appendix's lines on the data and the code: fingerprint, git revision, quality."""
        pv = self.provenance
        if not pv:
            return []
        out = [(self._t("data fingerprint", "データのフィンガープリント"),
                str(pv.get("data_fingerprint") or "–")[:16])]
        git = pv.get("git")
        out.append((self._t("git revision", "gitリビジョン"),
                    "–" if not git else str(git["revision"])[:12]
                    + (self._t(" (with uncommitted changes)", "（未コミットの変更あり）")
                       if git.get("dirty") else "")))
        dq = pv.get("data_quality") or {}
        tables = dq.get("tables") or {}
        rows = ", ".join(f"{t} {n:,}" for t, n in tables.items()
                         if t in ("partners", "events", "deals", "tasks", "assignments"))
        source = {"simulated": self._t("simulated (supportlab simulate)", "シミュレーション"),
                  "ingested": self._t("ingested", "取り込み済み")}.get(
            str(dq.get("source")), self._t("unknown", "不明"))
        out.append((self._t("data", "データ"), f"{source}; {rows}" if rows else source))
        ing = dq.get("ingested")
        if ing:
            out.append((self._t("ingest", "取り込み"), self._t(
                f"{ing['files']:,} file(s): {ing['rows_read']:,} rows read, "
                f"{ing['rows_loaded']:,} loaded, {ing['rows_quarantined']:,} quarantined, "
                f"{ing['duplicates_skipped']:,} duplicates skipped; last {ing['last_loaded_at']}",
                f"{ing['files']:,}ファイル：読込{ing['rows_read']:,}行、格納{ing['rows_loaded']:,}行、"
                f"隔離{ing['rows_quarantined']:,}行、重複スキップ{ing['duplicates_skipped']:,}行；"
                f"最終 {ing['last_loaded_at']}")))
        out.append((self._t("rows in quarantine", "隔離中の行"), f"{int(dq.get('quarantined', 0)):,}"))
        return out

    def sections(self) -> list[Section]:
        """Every section in page order."""
        out = [self.first_screen(), self.flow_section(), self.effects_section(),
               self.segments_section(), self.guardrails_section(), self.looks_section(),
               self.heavy_tail_section()]
        if self.evaluation.decision == "revise":
            out.append(self.diagnosis_section())
        return [*out, self.how_to_read(), self.appendix()]

    # ---- outputs --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """``result.json``: DESIGN §6 fields first (the evaluation's), then the report's."""
        d = self.evaluation.to_dict()
        ev = self.evaluation
        d.update({"evidence": self.evidence.to_dict(), "flow": self.flow.to_dict(),
                  "trust": {"passed": self.trust.passed, "failures": list(self.trust.failures)},
                  "sentence": self.sentence, "scaled": self.scaled(),
                  "caveats": self.caveats(), "lang": self.lang,
                  "reasons_en": list(ev.reasons_in("en")), "reasons_ja": list(ev.reasons_in("ja")),
                  "exploratory_segments": list(self.exploratory),
                  "provenance": dict(self.provenance)})
        t = self.tail()
        d["heavy_tail"] = t.to_dict() if t is not None else None
        return d

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON (NaN -> null via the evaluation's JSON-safe values)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2, default=str)

    def tables(self) -> dict[str, pd.DataFrame]:
        """``estimates``, ``uptake``, ``flow``, ``balance`` (when computed), ``guardrails``,
        ``segments`` (with ``exploratory``)."""
        out = {"estimates": self.evaluation.to_frame(), "uptake": self.evaluation.uptake,
               "flow": self.flow.to_frame()}
        if self.evaluation.balance is not None:
            out["balance"] = self.evaluation.balance.table
        out["guardrails"] = pd.DataFrame(
            [{"metric": g.metric, "margin": g.margin, "relative": g.relative, "effect": g.effect,
              "lower": g.lower, "upper": g.upper, "p_value": g.p_value, "status": g.status}
             for g in self.evaluation.guardrails],
            columns=["metric", "margin", "relative", "effect", "lower", "upper", "p_value",
                     "status"])
        out["segments"] = pd.DataFrame(
            [{"segment": seg.segment, "level": lab, "exploratory": seg.segment in self.exploratory,
              "effect": e.effect, "ci_lower": e.ci_lower, "ci_upper": e.ci_upper,
              "p_adjusted": pa, "n_control": e.n_control, "n_treatment": e.n_treatment}
             for seg in self.evaluation.segments
             for lab, e, pa in zip(seg.labels, seg.estimates, seg.p_adjusted, strict=True)],
            columns=["segment", "level", "exploratory", "effect", "ci_lower", "ci_upper",
                     "p_adjusted", "n_control", "n_treatment"])
        return out

    def summary_markdown(self) -> str:
        """3–5 bullets, in the page's language."""
        ev = self.evaluation
        lines = [f"- {self.sentence}",
                 self._t(f"- evidence {self.evidence.score}/5",
                         f"- エビデンス {self.evidence.score}/5"),
                 self._t(f"- n = {ev.n_control:,} control / {ev.n_treatment:,} treatment",
                         f"- n = 対照群 {ev.n_control:,} / 処置群 {ev.n_treatment:,}")]
        if not self.trust.passed:
            lines.insert(0, "- " + WORDS[self.lang]["untrusted"])
        return "\n".join(lines) + "\n"

    def save(self, output_dir: str | Path) -> None:
        """Write ``result.json``, ``tables/<name>.csv`` and ``summary.md`` (nothing for ``""``)."""
        if str(output_dir) == "":
            return
        out = Path(output_dir)
        (out / "tables").mkdir(parents=True, exist_ok=True)
        (out / "result.json").write_text(self.to_json(), encoding="utf-8")
        for name, frame in self.tables().items():
            frame.to_csv(out / "tables" / f"{name}.csv", index=False)
        (out / "summary.md").write_text(self.summary_markdown(), encoding="utf-8")

    def _repr_html_(self) -> str:
        return "".join(s.html for s in self.sections())


def _assignment_units(ws: Workspace, experiment_id: str) -> pd.DataFrame:
    """The stored assignment's partners of the latest phase (empty when none are stored)."""
    with ws.connection() as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables")
                  .fetchall()}
        if "assignment_units" not in tables:
            return pd.DataFrame(columns=["partner_id", "status", "reason"])
        frame: pd.DataFrame = con.execute(
            "SELECT partner_id, status, reason FROM assignment_units WHERE experiment_id = ? "
            "AND phase = (SELECT max(phase) FROM assignment_units WHERE experiment_id = ?)",
            [experiment_id, experiment_id]).df()
    return frame


def _delivered(ws: Workspace, experiment_id: str, ledger: pd.DataFrame) -> dict[str, int] | None:
    """Per arm, the assigned partners with at least one of the experiment's tasks before the
    horizon (waitlist tasks come after it); None when the workspace holds none of its tasks."""
    with ws.connection() as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables")
                  .fetchall()}
        if "tasks" not in tables:
            return None
        ids = {str(r[0]) for r in con.execute(
            "SELECT DISTINCT partner_id FROM tasks WHERE experiment_id = ? "
            "AND coalesce(wave, 'treatment') <> 'waitlist'", [experiment_id]).fetchall()}
        if not ids:
            return None
    sent = ledger.index.astype(str).isin(list(ids))
    return {str(arm): int(n) for arm, n in ledger.loc[sent, "arm"].value_counts().items()}


def _outcomes(ev: Evaluation) -> dict[str, tuple[float, ...]] | None:
    """Per arm (control first), the partners' primary outcomes kept by the evaluation."""
    po = ev.partner_outcomes
    if po is None or po.empty:
        return None
    arms = [str(a) for a in ev.uptake["arm"]] if "arm" in ev.uptake else []
    arms += [a for a in po["arm"].astype(str).unique() if a not in arms]
    by = {a: tuple(float(v) for v in po.loc[po["arm"].astype(str) == a, "value"]) for a in arms}
    return {a: v for a, v in by.items() if v}


def _load_in_workspace(ws: Workspace, path: str | Path) -> Experiment:
    """An experiment file named relative to the current folder or, failing that, to the
    workspace's root (a notebook's kernel runs in ``notebooks/``), with the workspace's
    packages searched as well as those next to the file (as ``supportlab report`` does)."""
    p = Path(path)
    if not p.is_absolute() and not p.exists() and (ws.config.root / p).exists():
        p = ws.config.root / p
    return load_experiment(p, ws.config.experiments_path / "packages")


def experiment_report(workspace: Workspace | str | Path, experiment: Experiment | str | Path, *,
                      lang: str | None = None, as_of: str | dt.date | None = None,
                      permutations: int = 1000, explore: Sequence[str] | str = (),
                      inputs: EvaluationInputs | str | Path | None = None
                      ) -> ExperimentReport:
    """Evaluate and build the report of one experiment.

    Args:
        workspace: a workspace, or its path (opened read-only and closed after).
        experiment: an experiment, or its YAML path (relative to the current folder, else to
            the workspace's root).
        lang: ``en`` or ``ja`` (default: the experiment's ``report.lang``, else en).
        as_of: the evaluation date (default: the evaluation's).
        permutations: redraws of the randomization test.
        explore: segments (partner attributes or named segments) to look at besides the
            pre-declared ``decision.segments``; they are estimated the same way and marked
            exploratory on the page and in the tables (a string: comma-separated names, as
            the notebook's parameter gives them).
        inputs: what the evaluation reads from the logs, read ahead for a whole run (see
            :func:`supportlab.design.inputs.shared_inputs`; ``supportlab run`` passes them).

    Returns:
        An :class:`ExperimentReport`.
    """
    own = not isinstance(workspace, Workspace)
    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace,
                                                                          read_only=True)
    try:
        exp = experiment if isinstance(experiment, Experiment) else \
            _load_in_workspace(ws, experiment)
    except BaseException:
        if own:
            ws.close()
        raise
    lang = lang or exp.language or "en"
    if isinstance(explore, str):
        explore = [part.strip() for part in explore.split(",") if part.strip()]
    extra = tuple(dict.fromkeys(s for s in explore if s not in exp.segments))
    if extra:
        exp = dataclasses.replace(exp, segments=(*exp.segments, *extra))
    try:
        ev = evaluate(ws, exp, as_of=as_of or None, lang=lang, permutations=permutations,
                      inputs=inputs)
        _, frame = read_ledger(ws, exp.id)
        n_base = len(frame)
        units = _assignment_units(ws, exp.id)
        delivered = _delivered(ws, exp.id, frame)
        origin = provenance(ws)
    finally:
        if own:
            ws.close()
    yaml_text = Path(exp.path).read_text(encoding="utf-8") if exp.path else ""
    flow = consort_flow(ev, units, delivered)
    assigned = sum(flow.arms[i].counts[0] for i in range(len(flow.arms)))
    return ExperimentReport(evaluation=ev, evidence=rate_evidence(ev, n_assigned=assigned),
                            flow=flow, trust=trust_gate(ev), lang=lang,
                            title=exp.title or exp.package.title or exp.package.id,
                            horizon_days=exp.design.horizon_days, n_base=n_base,
                            yaml_text=yaml_text, outcomes=_outcomes(ev), exploratory=extra,
                            provenance=origin)
