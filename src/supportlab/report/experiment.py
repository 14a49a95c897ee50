"""The experiment report: what a reader needs from an :class:`~supportlab.design.evaluate.Evaluation`.

Nothing here re-estimates: every number comes from the evaluation (and raw counts from the
ledger); the report adds the trust gate, the evidence rating, the flow and the plain sentence.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from supportlab.config.experiment import Experiment, load_experiment
from supportlab.data.workspace import Workspace
from supportlab.design.evaluate import Evaluation, evaluate
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
from supportlab.report.sections import Section, escape
from supportlab.report.text import (
    CHECK_WORDS,
    DECISION_ICONS,
    DECISION_WORDS,
    GUARDRAIL_WORDS,
    fmt_ci,
    fmt_date,
    fmt_num,
    fmt_pct,
    fmt_yen,
    stage_label,
    word,
)

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
    metric = ev.metric.replace("_", " ")
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
        outcomes: per arm, the analysed partners' primary outcomes (``None``: not available;
            the heavy-tail panel then has no distribution chart).
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
        out.extend(t for _, t in self.evidence.reasons[:2])
        out.extend(ev.primary.warnings[:1])
        return out[:3]

    # ---- charts ---------------------------------------------------------------------------
    def effect_figure(self) -> Chart:
        """The primary effect and its interval against zero, with the ``min_effect`` band."""
        ev = self.evaluation
        p = ev.primary
        me = ev.decision_detail.evidence.get("min_effect")
        unit = (self._t("yen", "円") if self.in_yen else "")
        title = self._t(f"Effect on {ev.metric.replace('_', ' ')} per partner",
                        f"パートナーあたりの効果：{ev.metric.replace('_', ' ')}")
        return effect_chart(p.effect, p.ci_lower, p.ci_upper,
                            min_effect=float(me) if isinstance(me, (int, float)) else None,
                            lang=self.lang, title=title, unit=unit,
                            level=p.confidence_level, digits=0 if self.in_yen else 2)

    def funnel_figure(self) -> Chart:
        """Per arm, the share of the assigned partners reaching each step of the package."""
        steps: list[str] = []
        shares: dict[str, list[float]] = {}
        for a in self.flow.arms:
            pairs = [(s, c) for s, c in zip(a.stages, a.counts, strict=True) if s != "analysed"]
            if not steps:
                steps = [s for s, _ in pairs]
            if [s for s, _ in pairs] != steps:
                continue
            base = a.counts[0]
            shares[a.arm] = [c / base if base else float("nan") for _, c in pairs]
        return funnel_chart([stage_label(s, self.lang) for s in steps], shares, lang=self.lang,
                            title=self._t("Share of assigned partners reaching each step",
                                          "各ステップに到達したパートナーの割合（割付に対して）"))

    def forest_figure(self) -> Chart | None:
        """Each segment level's effect with its adjusted interval, and the overall effect
        (``None`` when no segment was declared)."""
        ev = self.evaluation
        rows = [ForestRow(label=f"{seg.segment}: {lab}", effect=e.effect, lower=e.ci_lower,
                          upper=e.ci_upper, n=e.n_control + e.n_treatment)
                for seg in ev.segments for lab, e in zip(seg.labels, seg.estimates, strict=True)]
        if not rows:
            return None
        p = ev.primary
        rows.append(ForestRow(label=self._t("all partners", "全体"), effect=p.effect,
                              lower=p.ci_lower, upper=p.ci_upper, n=p.n_control + p.n_treatment,
                              emphasis=True))
        me = ev.decision_detail.evidence.get("min_effect")
        return forest_chart(rows, lang=self.lang,
                            title=self._t("Effect by segment (adjusted intervals)",
                                          "セグメント別の効果（調整済み区間）"),
                            min_effect=float(me) if isinstance(me, (int, float)) else None,
                            xlabel=self._t("effect (segments: Holm-adjusted intervals)",
                                           "効果（セグメント：Holm法で調整した区間）"))

    def distribution_figure(self) -> Chart | None:
        """The analysed partners' primary outcomes with each arm's raw mean (``None`` when the
        report carries no per-partner outcomes)."""
        if not self.outcomes:
            return None
        values = [float(v) for vals in self.outcomes.values() for v in vals]
        markers = {self._t(f"{arm} mean", f"{arm}の平均"): sum(map(float, vals)) / len(vals)
                   for arm, vals in self.outcomes.items() if len(vals)}
        metric = self.evaluation.metric.replace("_", " ")
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
        h = escape(f"{self.title} — {ev.experiment_id}")
        return Section("first_screen", f'<section class="sl-section"><h2>{h}</h2>'
                       + "".join(parts) + "</section>")

    def flow_section(self) -> Section:
        """The flow per arm as a table, with the stage that loses most."""
        ja = self.lang == "ja"
        rows = []
        for a in self.flow.arms:
            cells = " → ".join(f"{escape(stage_label(s, self.lang))} <b>{c:,}</b>"
                               for s, c in zip(a.stages, a.counts, strict=True))
            lm = escape(stage_label(a.loses_most, self.lang)) if a.loses_most else "–"
            rows.append(f"<tr><td>{escape(a.arm)}</td><td>{cells}</td><td>{lm}</td>"
                        f'<td class="num">{a.lost:,}</td></tr>')
        head = ("<tr><th>群</th><th>流れ</th><th>最大の離脱</th><th>人数</th></tr>" if ja else
                "<tr><th>arm</th><th>flow</th><th>loses most at</th><th>lost</th></tr>")
        title = "参加者の流れ" if ja else "Flow of partners"
        fl = self.flow
        if fl.eligible is not None:
            ex = "".join(f"<li>{escape(st)}{(': ' + escape(r)) if r else ''}: {n:,}</li>"
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

    def effects_section(self) -> Section:
        """ITT beside the complier effect, with uptake, in plain words."""
        ev = self.evaluation
        p = ev.primary
        rows = [[self._t("effect of being offered the package (everyone assigned)",
                         "パッケージを提供された効果（割付された全員）"),
                 fmt_num(p.effect), f"{fmt_num(p.ci_lower)} – {fmt_num(p.ci_upper)}",
                 f"{ev.n_control:,} / {ev.n_treatment:,}"]]
        note = ""
        c = ev.complier
        if c is None:
            note = self._t("The effect on partners who used it is not identified here.",
                           "実際に使ったパートナーへの効果はここでは推定できません。")
        else:
            rows.append([self._t("effect on partners who actually used it",
                                 "実際に使ったパートナーへの効果"),
                         fmt_num(c.effect), f"{fmt_num(c.ci_lower)} – {fmt_num(c.ci_upper)}", "–"])
            if (c.ci_upper < 0 < p.effect) or (c.ci_lower > 0 > p.effect):
                note = self._t("The two effects disagree in sign: read the complier effect with care.",
                               "2つの効果の符号が食い違います。慎重に読んでください。")
        up = ev.uptake
        uptake = "; ".join(f"{r.arm}: {int(r.n_opened):,}/{int(r.n_assigned):,} "
                           f"({fmt_pct(r.uptake_share, 0)})" for r in up.itertuples())
        head = [self._t("effect", "効果"), self._t("estimate", "推定値"),
                self._t("95% CI", "95%信頼区間"), "n"]
        inner = (_table(head, rows, muted=not self.trust.passed)
                 + f"<p>{escape(self._t('Opened', '開封'))}: {escape(uptake)}</p>"
                 + (f'<p class="sl-warn">{escape(note)}</p>' if note else ""))
        return Section("effects", _block(self._t("Effects", "効果"), inner))

    def segments_section(self) -> Section:
        """Per pre-declared segment: effects with Holm-adjusted intervals and p."""
        rows = []
        for seg in self.evaluation.segments:
            for lab, e, pa in zip(seg.labels, seg.estimates, seg.p_adjusted, strict=True):
                rows.append([seg.segment, lab, fmt_num(e.effect),
                             f"{fmt_num(e.ci_lower)} – {fmt_num(e.ci_upper)}", fmt_num(pa, 3),
                             f"{e.n_control:,} / {e.n_treatment:,}"])
        if not rows:
            inner = f"<p>{escape(self._t('No segments declared.', 'セグメントの指定はありません。'))}</p>"
        else:
            inner = _table([self._t("segment", "セグメント"), self._t("level", "水準"),
                            self._t("effect", "効果"),
                            self._t("adjusted CI (Holm)", "調整済み区間（Holm）"),
                            self._t("adjusted p", "調整済みp"), "n"], rows,
                           muted=not self.trust.passed)
            note = self._t(
                "Segments declared in the experiment file before the analysis (decision.segments); "
                "each segment's intervals are widened (Holm) for the number of its levels. The "
                "diamond is the overall effect with its 95% interval.",
                "セグメントは分析前に実験ファイル（decision.segments）で指定したものです。各セグメントの"
                "区間は水準の数に応じて広げています（Holm法）。ひし形は全体の効果と95%信頼区間です。")
            chart = self.forest_figure()
            inner += f'<p class="sl-muted">{escape(note)}</p>' + (chart.html() if chart else "")
        return Section("segments", _block(self._t("Segments", "セグメント"), inner))

    def guardrails_section(self) -> Section:
        """Each guardrail with its non-inferiority margin and status."""
        rel = self._t(" (rel.)", "（相対）")
        rows = [[g.metric, f"{g.margin:g}{rel if g.relative else ''}", fmt_num(g.effect, 3),
                 f"{fmt_num(g.lower, 3)} – {fmt_num(g.upper, 3)}",
                 word(GUARDRAIL_WORDS, g.status, self.lang)]
                for g in self.evaluation.guardrails]
        inner = (_table([self._t("guardrail", "ガードレール"), self._t("margin", "許容幅"),
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
        items = [self._t(f"{a.arm}: most partners lost before '{a.loses_most}' ({a.lost:,})",
                         f"{a.arm}：「{stage_label(a.loses_most, 'ja')}」の手前で最も多く離脱"
                         f"（{a.lost:,}）")
                 for a in self.flow.arms if a.loses_most]
        items += [self._t(f"guardrail {g.metric}: {g.status}",
                          f"ガードレール {g.metric}：{word(GUARDRAIL_WORDS, g.status, 'ja')}")
                  for g in self.evaluation.guardrails if g.status != "ok"]
        inner = "<ul>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"
        return Section("diagnosis", _block(self._t("Where it breaks", "どこで崩れるか"), inner))

    def heavy_tail_section(self) -> Section:
        """Raw means, the randomization p beside the model's p, and skew warnings."""
        p = self.evaluation.primary
        det = p.details or {}
        rand_p = det.get("randomization_p_value")
        rows = [[self._t("raw mean, control", "素の平均（対照）"), fmt_num(p.raw_mean_control, 3),
                 f"{p.n_control:,}"],
                [self._t("raw mean, treatment", "素の平均（処置）"), fmt_num(p.raw_mean_treatment, 3),
                 f"{p.n_treatment:,}"],
                [self._t("model p-value", "モデルのp値"), fmt_num(p.p_value, 4), "–"],
                [self._t("randomization p-value", "無作為化検定のp値"),
                 fmt_num(rand_p, 4) if isinstance(rand_p, (int, float)) else "–",
                 f"{det.get('randomization_redraws', 0):,}"]]
        warn = "".join(f'<p class="sl-warn">{escape(w)}</p>' for w in p.warnings)
        chart = self.distribution_figure()
        inner = (_table(["", self._t("value", "値"), "n"], rows) + warn
                 + (chart.html() if chart else ""))
        return Section("heavy_tail", _block(self._t("Heavy tails", "裾の重い分布"), inner))

    def how_to_read(self) -> Section:
        """What an interval means; inconclusive is not "no effect"."""
        text = ("95%信頼区間は効果としてありうる値の範囲です。区間が0をまたぐのは「効果なし」ではなく"
                "「まだ分からない」という意味です。" if self.lang == "ja" else
                "The 95% interval is the range of effects the data allow. An interval that "
                "spans zero means \u201cnot yet known\u201d, not \u201cno effect\u201d.")
        return Section("how_to_read", f'<aside class="sl-callout">{escape(text)}</aside>')

    def appendix(self) -> Section:
        """Methods and reproducibility, collapsed."""
        ev = self.evaluation
        import platform
        from importlib.metadata import PackageNotFoundError, version

        def ver(name: str) -> str:
            try:
                return version(name)
            except PackageNotFoundError:
                return "–"

        det = ev.primary.details or {}
        facts = [("estimator", ev.primary.method), ("covariates", ", ".join(ev.primary.covariates)),
                 ("standard errors", "HC2"),
                 ("randomization redraws", str(det.get("randomization_redraws", "–"))),
                 ("randomization seed", str(det.get("randomization_seed", "–"))),
                 ("python", platform.python_version())]
        facts += [(n, ver(n)) for n in ("supportlab", "duckdb", "pandas", "statsmodels")]
        notes = "".join(f"<li>{escape(n)}</li>" for n in ev.primary.notes)
        notes += "".join(f"<li>{escape(k)}: {escape(v)}</li>" for k, v in facts)
        summary = "方法と再現性" if self.lang == "ja" else "Methods and reproducibility"
        return Section("appendix", f'<details class="sl-appendix"><summary>{summary}</summary>'
                       f"<p>{escape(ev.design)}</p><ul>{notes}</ul>"
                       f"<pre>{escape(self.yaml_text)}</pre></details>")

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
                  "reasons_en": list(ev.reasons_in("en")), "reasons_ja": list(ev.reasons_in("ja"))})
        return d

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON (NaN -> null via the evaluation's JSON-safe values)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2, default=str)

    def tables(self) -> dict[str, pd.DataFrame]:
        """``estimates``, ``uptake``, ``flow``, ``balance`` (when computed), ``guardrails``,
        ``segments``."""
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
            [{"segment": seg.segment, "level": lab, "effect": e.effect, "ci_lower": e.ci_lower,
              "ci_upper": e.ci_upper, "p_adjusted": pa, "n_control": e.n_control,
              "n_treatment": e.n_treatment}
             for seg in self.evaluation.segments
             for lab, e, pa in zip(seg.labels, seg.estimates, seg.p_adjusted, strict=True)],
            columns=["segment", "level", "effect", "ci_lower", "ci_upper", "p_adjusted",
                     "n_control", "n_treatment"])
        return out

    def summary_markdown(self) -> str:
        """3–5 bullets."""
        ev = self.evaluation
        lines = [f"- {self.sentence}", f"- evidence {self.evidence.score}/5",
                 f"- n = {ev.n_control:,} control / {ev.n_treatment:,} treatment"]
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


def experiment_report(workspace: Workspace | str | Path, experiment: Experiment | str | Path, *,
                      lang: str | None = None, as_of: str | dt.date | None = None,
                      permutations: int = 1000) -> ExperimentReport:
    """Evaluate and build the report of one experiment.

    Args:
        workspace: a workspace, or its path (opened read-only and closed after).
        experiment: an experiment, or its YAML path.
        lang: ``en`` or ``ja`` (default: the experiment's ``report.lang``, else en).
        as_of: the evaluation date (default: the evaluation's).
        permutations: redraws of the randomization test.

    Returns:
        An :class:`ExperimentReport`.
    """
    exp = experiment if isinstance(experiment, Experiment) else load_experiment(experiment)
    lang = lang or exp.language or "en"
    own = not isinstance(workspace, Workspace)
    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace,
                                                                          read_only=True)
    try:
        ev = evaluate(ws, exp, as_of=as_of or None, lang=lang, permutations=permutations)
        _, frame = read_ledger(ws, exp.id)
        n_base = len(frame)
        units = _assignment_units(ws, exp.id)
    finally:
        if own:
            ws.close()
    yaml_text = Path(exp.path).read_text(encoding="utf-8") if exp.path else ""
    flow = consort_flow(ev, units)
    assigned = sum(flow.arms[i].counts[0] for i in range(len(flow.arms)))
    return ExperimentReport(evaluation=ev, evidence=rate_evidence(ev, n_assigned=assigned),
                            flow=flow, trust=trust_gate(ev), lang=lang,
                            title=exp.title or exp.package.title or exp.package.id,
                            horizon_days=exp.design.horizon_days, n_base=n_base,
                            yaml_text=yaml_text)
