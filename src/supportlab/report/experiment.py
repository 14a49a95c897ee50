"""The experiment report: what a reader needs from an :class:`~supportlab.design.evaluate.Evaluation`.

Nothing here re-estimates: every number comes from the evaluation (and raw counts from the
ledger); the report adds the trust gate, the evidence rating, the flow and the plain sentence.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from supportlab.config.experiment import Experiment, load_experiment
from supportlab.data.workspace import Workspace
from supportlab.design.evaluate import Evaluation, evaluate
from supportlab.design.ledger import read_ledger
from supportlab.report.evidence import BALANCE_P_THRESHOLD, EvidenceRating, rate_evidence
from supportlab.report.flow import ConsortFlow, consort_flow
from supportlab.report.sections import Section, escape

ICONS = {"promote": "▲", "revise": "✎", "continue": "⏸", "stop": "■", "untrusted": "⚠"}
WORDS = {"en": {"promote": "promote", "revise": "revise", "continue": "continue",
                "stop": "stop", "untrusted": "results not trustworthy: investigate"},
         "ja": {"promote": "テンプレート化", "revise": "改訂", "continue": "継続",
                "stop": "中止", "untrusted": "結果は信頼できません：要調査"}}


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


def _num(x: float, digits: int = 2) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:,.{digits}f}"


def _sentence(ev: Evaluation, lang: str, title: str) -> str:
    p = ev.primary
    me = ev.decision_detail.evidence.get("min_effect", 0.0)
    eff, lo, hi = _num(p.effect), _num(p.ci_lower), _num(p.ci_upper)
    metric = ev.metric.replace("_", " ")
    if lang == "ja":
        base = (f"{title}は{metric}をパートナーあたり{eff}変えました（95%信頼区間 {lo}〜{hi}）。"
                f"テンプレート化の基準は{me:g}です。")
        tail = {"promote": "テンプレート化します。", "revise": "改訂してください。",
                "continue": "まだ結論は出ません：継続します。", "stop": "中止します。"}
        return base + tail[ev.decision]
    verb = "raised" if p.effect >= 0 else "lowered"
    base = (f"{title} {verb} {metric} by {_num(abs(p.effect))} per partner "
            f"(95% CI {lo} to {hi})")
    tail = {"promote": f", above the {me:g} that makes it worth a template: promote it.",
            "revise": f"; the {me:g} that makes it worth a template is not reached: revise it.",
            "continue": f"; too early to tell against the {me:g} needed: continue.",
            "stop": f"; it will not reach the {me:g} needed: stop it."}
    return base + tail[ev.decision]


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

    @property
    def sentence(self) -> str:
        """The one plain sentence from the decision rule."""
        return _sentence(self.evaluation, self.lang, self.title)

    def scaled(self) -> dict[str, float]:
        """The effect per partner per quarter (× 90 / horizon) and over the assigned base."""
        per_q = self.evaluation.primary.effect * 90 / self.horizon_days
        return {"per_partner_per_quarter": per_q, "partners": float(self.n_base),
                "program_per_quarter": per_q * self.n_base}

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
            rows = "".join(f"<li>{escape(f['check'])}: {escape(_num(f['value'], 4))} "
                           f"&lt; {escape(f['threshold'])}</li>" for f in self.trust.failures)
            parts.append(f'<div class="sl-gate"><p class="sl-badge sl-untrusted">{ICONS["untrusted"]} '
                         f'{escape(WORDS[self.lang]["untrusted"])}</p><ul>{rows}</ul></div>')
        parts.append(f'<p class="sl-sentence"{muted}>{escape(self.sentence)}</p>')
        s = self.scaled()
        p = ev.primary
        kpis = [("effect" if not ja else "効果", _num(p.effect)),
                ("95% CI" if not ja else "95%信頼区間", f"{_num(p.ci_lower)} – {_num(p.ci_upper)}"),
                ("n control / treatment" if not ja else "n 対照 / 処置",
                 f"{ev.n_control:,} / {ev.n_treatment:,}"),
                ("per quarter over the base" if not ja else "四半期あたり（全体）",
                 _num(s["program_per_quarter"], 1)),
                ("evidence" if not ja else "エビデンス",
                 f'<span class="sl-rating">{self.evidence.stars} {self.evidence.score}/5</span>')]
        parts.append(f'<div class="sl-kpis"{muted}>' + "".join(
            f'<div class="sl-kpi"><b>{v if "sl-rating" in v else escape(v)}</b>'
            f"<span>{escape(k)}</span></div>" for k, v in kpis) + "</div>")
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
            cells = " → ".join(f"{escape(s)} <b>{c:,}</b>" for s, c in zip(a.stages, a.counts,
                                                                          strict=True))
            lm = escape(a.loses_most) if a.loses_most else "–"
            rows.append(f"<tr><td>{escape(a.arm)}</td><td>{cells}</td><td>{lm}</td>"
                        f'<td class="num">{a.lost:,}</td></tr>')
        head = ("<tr><th>群</th><th>流れ</th><th>最大の離脱</th><th>人数</th></tr>" if ja else
                "<tr><th>arm</th><th>flow</th><th>loses most at</th><th>lost</th></tr>")
        title = "参加者の流れ" if ja else "Flow of partners"
        return Section("flow", f'<section class="sl-section"><h2>{title}</h2>'
                       f'<table class="sl-table">{head}{"".join(rows)}</table></section>')

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
        notes = "".join(f"<li>{escape(n)}</li>" for n in ev.primary.notes)
        summary = "方法と再現性" if self.lang == "ja" else "Methods and reproducibility"
        return Section("appendix", f'<details class="sl-appendix"><summary>{summary}</summary>'
                       f"<p>{escape(ev.design)}</p><ul>{notes}</ul>"
                       f"<pre>{escape(self.yaml_text)}</pre></details>")

    def sections(self) -> list[Section]:
        """Every section in page order."""
        return [self.first_screen(), self.flow_section(), self.how_to_read(), self.appendix()]

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
        """``estimates``, ``uptake`` and ``flow`` (and ``balance`` when computed)."""
        out = {"estimates": self.evaluation.to_frame(), "uptake": self.evaluation.uptake,
               "flow": self.flow.to_frame()}
        if self.evaluation.balance is not None:
            out["balance"] = self.evaluation.balance.table
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
    finally:
        if own:
            ws.close()
    yaml_text = Path(exp.path).read_text(encoding="utf-8") if exp.path else ""
    flow = consort_flow(ev)
    assigned = sum(flow.arms[i].counts[0] for i in range(len(flow.arms)))
    return ExperimentReport(evaluation=ev, evidence=rate_evidence(ev, n_assigned=assigned),
                            flow=flow, trust=trust_gate(ev), lang=lang,
                            title=exp.title or exp.package.title or exp.package.id,
                            horizon_days=exp.design.horizon_days, n_base=n_base,
                            yaml_text=yaml_text)
