"""The leadership portfolio: every package version and experiment on one page.

Nothing here re-computes statistics: the page renders the registry
(:func:`supportlab.design.registry.packages`), the credits
(:func:`supportlab.design.registry.credits`), the frozen experiment reports under the reports
folder (their ``result.json``: evidence rating and sentence) and the runner's log
(``reports/runs.jsonl``). The page itself is written to ``reports/index.html``, so links to
the experiment reports are relative (``<experiment-id>/index.html``) and only made when the
report exists.

Example:
    >>> report = portfolio_report(".", lang="en")  # doctest: +SKIP
    >>> report.cards()  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import math
import re
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd

from supportlab.data.workspace import Workspace
from supportlab.design.registry import DEFAULT_REPRODUCTION, Credits, Registry, credits, packages
from supportlab.report.sections import Section, escape
from supportlab.report.text import (
    DECISION_ICONS,
    DECISION_WORDS,
    fmt_ci,
    fmt_date,
    fmt_datetime,
    fmt_num,
    metric_label,
)

__all__ = ["PackageCard", "PortfolioReport", "ReportInfo", "RunRecord", "portfolio_report",
           "read_runs"]

#: lines of ``runs.jsonl`` read (its tail) and shown in the runs section
RUNS_READ = 500
RUNS_SHOWN = 20
#: experiment ids that may become a path under the reports folder
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
#: a package version's status -> the decision whose badge class it wears
_STATUS_DECISION = {"promoted": "promote", "revise": "revise", "stopped": "stop",
                    "retired": "stop", "piloting": "continue", "draft": "continue"}
_STATUS_WORDS = {"en": {"piloting": "piloting", "draft": "draft", "retired": "retired"},
                 "ja": {"piloting": "試行中", "draft": "下書き", "retired": "廃止"}}
_STATUS_ICONS = {"draft": "○", "retired": "■"}
#: a table cell right-aligned as a number
_NUMBER = re.compile(r"[+\-]?[\d,]+(\.\d+)?%?")


ICONS: Mapping[str, str] = DECISION_ICONS
WORDS: Mapping[str, Mapping[str, str]] = DECISION_WORDS


def _charts() -> Any | None:
    """The chart module (``None``: the sections fall back to HTML tables, as without
    matplotlib)."""
    try:
        return importlib.import_module("supportlab.report.charts")
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        return None


# -- small value helpers ----------------------------------------------------------------------


def _clean(v: Any) -> Any:
    """A JSON-safe Python value (missing -> ``None``, timestamps and dates -> ISO text)."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (pd.Timestamp, dt.datetime, dt.date)):
        return v.isoformat()
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        try:
            return _clean(v.item())
        except (TypeError, ValueError):
            return str(v)
    return v


def _float(v: Any) -> float | None:
    v = _clean(v)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def _str(v: Any) -> str | None:
    v = _clean(v)
    return None if v is None or v == "" else str(v)


def _date(v: Any) -> dt.date | None:
    v = _clean(v)
    if v is None:
        return None
    try:
        day: dt.date = pd.Timestamp(v).date()
        return day
    except (TypeError, ValueError):
        return None


def _num(x: float | None, digits: int = 2) -> str:
    return fmt_num(x, digits)


def _ci(lo: float | None, hi: float | None) -> str:
    return "–" if lo is None or hi is None else f"{_num(lo)} – {_num(hi)}"


def _block(title: str, inner: str) -> str:
    return f'<section class="sl-section"><h2>{escape(title)}</h2>{inner}</section>'


def _table(head: Sequence[str], rows: Sequence[Sequence[str]],
           row_class: Sequence[str] | None = None, raw: frozenset[int] = frozenset()) -> str:
    """An ``sl-table``; cells are escaped (except the columns in ``raw``, already HTML),
    numeric-looking ones right-aligned; ``row_class`` gives each row's class."""
    def cell(i: int, v: str) -> str:
        if i in raw:
            return f"<td>{v}</td>"
        num = _NUMBER.fullmatch(v) is not None
        return f'<td class="num">{escape(v)}</td>' if num else f"<td>{escape(v)}</td>"
    h = "".join(f"<th>{escape(x)}</th>" for x in head)
    body = ""
    for k, r in enumerate(rows):
        cls = row_class[k] if row_class else ""
        attr = f' class="{escape(cls)}"' if cls else ""
        body += f"<tr{attr}>" + "".join(cell(i, v) for i, v in enumerate(r)) + "</tr>"
    return f'<table class="sl-table"><tr>{h}</tr>{body}</table>'


# -- what the page reads besides the registry -------------------------------------------------


@dataclass(frozen=True)
class RunRecord:
    """One line of the runner's log (``reports/runs.jsonl``).

    Attributes:
        kind: ``report`` or ``portfolio``.
        id: the experiment id (or ``portfolio``).
        lang: the report's language.
        status: ``ok`` or ``failed``.
        started / finished: ISO times as written.
        seconds: the run's duration.
        error: the error of a failed run.
        path: the page written.
    """

    kind: str
    id: str
    lang: str | None
    status: str
    started: str | None
    finished: str | None
    seconds: float | None
    error: str | None
    path: str | None

    @property
    def failed(self) -> bool:
        """Whether the run failed (any status but ``ok``)."""
        return self.status != "ok"

    @property
    def time(self) -> str | None:
        """When it finished (else started)."""
        return self.finished or self.started


def read_runs(path: str | Path, *, limit: int = RUNS_READ) -> tuple[tuple[RunRecord, ...], int]:
    """The last ``limit`` lines of a ``runs.jsonl`` file, oldest first, and how many lines
    could not be read (not JSON, not an object). A missing file has no runs."""
    p = Path(path)
    if not p.is_file():
        return (), 0
    with p.open(encoding="utf-8", errors="replace") as f:
        lines = deque((ln for ln in f if ln.strip()), maxlen=limit)
    out: list[RunRecord] = []
    bad = 0
    for ln in lines:
        try:
            d = json.loads(ln)
        except json.JSONDecodeError:
            bad += 1
            continue
        if not isinstance(d, dict):
            bad += 1
            continue
        out.append(RunRecord(kind=_str(d.get("kind")) or "report", id=_str(d.get("id")) or "–",
                             lang=_str(d.get("lang")), status=_str(d.get("status")) or "failed",
                             started=_str(d.get("started")), finished=_str(d.get("finished")),
                             seconds=_float(d.get("seconds")), error=_str(d.get("error")),
                             path=_str(d.get("path"))))
    return tuple(out), bad


@dataclass(frozen=True)
class ReportInfo:
    """What the portfolio takes from one frozen experiment report.

    Attributes:
        experiment_id: the experiment.
        link: the relative link ``<experiment-id>/index.html`` (``None``: no page).
        evidence: the evidence score 1–5 from ``result.json`` (``None``: no result).
        sentence: the report's plain sentence.
        lang: the report's language.
    """

    experiment_id: str
    link: str | None = None
    evidence: int | None = None
    sentence: str | None = None
    lang: str | None = None


def _report_info(reports: Path, eid: str) -> ReportInfo | None:
    if not _SAFE_ID.match(eid):
        return None
    d = reports / eid
    link = f"{quote(eid)}/index.html" if (d / "index.html").is_file() else None
    evidence = sentence = lang = None
    res = d / "result.json"
    if res.is_file():
        try:
            data = json.loads(res.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            data = {}
        if isinstance(data, dict):
            ev = data.get("evidence")
            score = ev.get("score") if isinstance(ev, dict) else None
            evidence = int(score) if isinstance(score, (int, float)) and not isinstance(
                score, bool) else None
            sentence, lang = _str(data.get("sentence")), _str(data.get("lang"))
    if link is None and evidence is None and sentence is None:
        return None
    return ReportInfo(eid, link, evidence, sentence, lang)


@dataclass(frozen=True)
class PackageCard:
    """One package version as its card shows it.

    Attributes:
        ref: ``package@version``; title, owner, status (the registry's), lineage.
        decision: the latest decision on it; experiment_id: its latest experiment.
        metric / effect / ci_lower / ci_upper: that experiment's primary estimate.
        pooled_effect / pooled_ci_lower / pooled_ci_upper: across its experiments (two or more).
        evidence: the latest experiment's evidence score (from its ``result.json``).
        start / end / decided_at: the latest experiment's dates and its latest decision's.
        reproduced: ``(n, m)`` when it was promoted.
        takeaway: one line.
        links: ``(experiment_id, relative link)`` of every frozen report of its experiments.
    """

    ref: str
    title: str
    owner: str | None
    status: str
    lineage: str
    decision: str | None
    experiment_id: str | None
    n_experiments: int
    metric: str | None
    effect: float | None
    ci_lower: float | None
    ci_upper: float | None
    pooled_effect: float | None
    pooled_ci_lower: float | None
    pooled_ci_upper: float | None
    evidence: int | None
    start: str | None
    end: str | None
    decided_at: str | None
    reproduced: tuple[int, int] | None
    takeaway: str
    links: tuple[tuple[str, str], ...] = ()

    @property
    def link(self) -> str | None:
        """The latest experiment's report link (else the last one found)."""
        for eid, ln in self.links:
            if eid == self.experiment_id:
                return ln
        return self.links[-1][1] if self.links else None


# -- the report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PortfolioReport:
    """Leadership's page: every package version and experiment, lineage, credits and runs.

    Attributes:
        registry: the package registry.
        credits: the credits per person.
        run_log: the tail of ``runs.jsonl``, oldest first.
        reports: per experiment, what its frozen report says (only those found).
        lang: ``en`` or ``ja``.
        as_of: the date the page is as of.
        timezone: the workspace's timezone (dates are shown in it).
        runs_unreadable: lines of ``runs.jsonl`` that could not be read.
        warnings: the registry's warnings (package files unread, versions without a file).
    """

    registry: Registry
    credits: Credits
    run_log: tuple[RunRecord, ...]
    reports: Mapping[str, ReportInfo]
    lang: str
    as_of: dt.date
    timezone: str = "Asia/Tokyo"
    runs_unreadable: int = 0
    warnings: tuple[str, ...] = field(default=())

    def _t(self, en: str, ja: str) -> str:
        return ja if self.lang == "ja" else en

    def _muted(self, en: str, ja: str) -> str:
        return f'<p class="sl-muted">{escape(self._t(en, ja))}</p>'

    def _when(self, v: Any) -> str | None:
        """A time as a date in the workspace's timezone."""
        v = _clean(v)
        if v is None:
            return None
        try:
            ts = pd.Timestamp(v)
        except (TypeError, ValueError):
            return str(v)
        if ts.tzinfo is not None:
            ts = ts.tz_convert(self.timezone)
        return str(ts.date().isoformat())

    def _word(self, decision: str | None) -> str:
        if decision is None:
            return self._t("no decision yet", "判定なし")
        if decision == "retire":
            return _STATUS_WORDS[self.lang]["retired"]
        return str(WORDS[self.lang].get(decision, decision))

    def _badge(self, decision: str | None) -> str:
        """A decision badge (``None``: not decided yet, the continue colour)."""
        d = decision if decision in ("promote", "revise", "continue", "stop") else (
            "stop" if decision == "retire" else "continue")
        icon = ICONS.get(d, "") if decision is not None else "…"
        return f'<span class="sl-badge sl-{d}">{escape(icon)} {escape(self._word(decision))}</span>'

    def _status_badge(self, status: str) -> str:
        d = _STATUS_DECISION.get(status, "continue")
        word = (_STATUS_WORDS[self.lang].get(status) or str(WORDS[self.lang].get(d, status)))
        icon = _STATUS_ICONS.get(status, ICONS.get(d, ""))
        return f'<span class="sl-badge sl-{d}">{escape(icon)} {escape(word)}</span>'

    def _criterion(self, text: str) -> str:
        """A reproduction criterion; the default one in the page's language."""
        if text == DEFAULT_REPRODUCTION and self.lang == "ja":
            return ("同じパッケージの後の実験が別の対象で同じ向きの効果を示し、その95%信頼区間が"
                    "0を含まないこと")
        return text

    def _reproduced_text(self, n: int, m: int) -> str:
        return self._t(f"reproduced in {n} of {m}", f"{m}件中{n}件で再現")

    # ---- the data each section shows ----------------------------------------------------------
    def _experiments(self) -> list[dict[str, Any]]:
        """The registry's experiments (placebo runs included, flagged), as clean dicts."""
        return [{k: _clean(v) for k, v in r.items()}
                for r in self.registry.experiments.to_dict(orient="records")]

    def _packages(self) -> list[dict[str, Any]]:
        return [{k: _clean(v) for k, v in r.items()}
                for r in self.registry.frame.to_dict(orient="records")]

    def kpis(self) -> dict[str, Any]:
        """Headline numbers: package versions, experiments (placebo runs aside), promoted,
        revised, promotions reproduced, the last run's time and the failed latest runs."""
        f = self.registry.frame
        exps = [e for e in self._experiments() if not e["placebo"]]
        times = [r.time for r in self.run_log if r.time]
        last = max(times, key=lambda t: pd.Timestamp(t)) if times else None
        return {"packages": self.registry.n_packages, "experiments": len(exps),
                "promoted": self.registry.n_promoted,
                "revised": int((f["status"] == "revise").sum()),
                "reproduced": self.registry.n_reproduced, "last_run": last,
                "failed_runs": len(self.failed_runs())}

    def failed_runs(self) -> list[RunRecord]:
        """The runs whose latest attempt (per kind, id and language) failed."""
        latest: dict[tuple[str, str, str | None], RunRecord] = {}
        for r in self.run_log:
            latest[(r.kind, r.id, r.lang)] = r
        return [r for r in latest.values() if r.failed]

    def package_cards(self) -> list[PackageCard]:
        """One card per package version, in the registry's order."""
        by_ref: dict[str, list[dict[str, Any]]] = {}
        for e in self._experiments():
            if not e["placebo"]:
                by_ref.setdefault(str(e["ref"]), []).append(e)
        out = []
        for p in self._packages():
            ref = str(p["ref"])
            mine = by_ref.get(ref, [])
            decided = sorted((e for e in mine if e["decided_at"]),
                             key=lambda e: pd.Timestamp(e["decided_at"]))
            latest = decided[-1] if decided else (mine[-1] if mine else None)
            eid = None if latest is None else str(latest["experiment_id"])
            info = self.reports.get(eid) if eid else None
            links = tuple((str(e["experiment_id"]), ln) for e in mine
                          if (ln := getattr(self.reports.get(str(e["experiment_id"])), "link",
                                            None)))
            rep = (int(p["n_reproduced"] or 0), int(p["n_reproduction_tries"] or 0)) \
                if p["promoted_in"] else None
            multi = len([e for e in mine if e["effect"] is not None]) > 1
            card = PackageCard(
                ref=ref, title=_str(p["title"]) or ref, owner=_str(p["owner"]),
                status=str(p["status"]), lineage=str(p["lineage"] or ref),
                decision=_str(latest["decision"]) if latest else None, experiment_id=eid,
                n_experiments=len(mine), metric=_str(latest["metric"]) if latest else None,
                effect=_float(latest["effect"]) if latest else None,
                ci_lower=_float(latest["ci_lower"]) if latest else None,
                ci_upper=_float(latest["ci_upper"]) if latest else None,
                pooled_effect=_float(p["pooled_effect"]) if multi else None,
                pooled_ci_lower=_float(p["pooled_ci_lower"]) if multi else None,
                pooled_ci_upper=_float(p["pooled_ci_upper"]) if multi else None,
                evidence=info.evidence if info else None,
                start=self._when(latest["start_date"]) if latest else None,
                end=self._when(latest["end_date"]) if latest else None,
                decided_at=self._when(latest["decided_at"]) if latest else None,
                reproduced=rep, takeaway="", links=links)
            out.append(_with_takeaway(card, p, info, self))
        return out

    def timeline_items(self) -> list[dict[str, Any]]:
        """Every experiment with its start, end, latest decision and state on :attr:`as_of`
        (``planned``, ``running``, ``ended``)."""
        out = []
        for e in self._experiments():
            start, end = _date(e["start_date"]), _date(e["end_date"])
            state = None
            if start is not None:
                state = ("planned" if start > self.as_of else
                         "running" if end is None or end >= self.as_of else "ended")
            out.append({"experiment_id": e["experiment_id"], "ref": e["ref"],
                        "placebo": bool(e["placebo"]), "start": start, "end": end,
                        "decision": _str(e["decision"]), "state": state})
        return out

    def chains(self) -> list[list[dict[str, Any]]]:
        """Lineage chains of two or more versions (``v1 -> v2``), each link with its status."""
        rows = {str(p["ref"]): p for p in self._packages()}
        out = []
        for p in rows.values():
            if p["revised_by"] or not p["revises"]:
                continue  # only the newest version of a chain starts one
            out.append([{"ref": ref, "status": rows[ref]["status"] if ref in rows else None,
                         "title": _str(rows[ref]["title"]) if ref in rows else None}
                        for ref in str(p["lineage"]).split(" → ")])
        return out

    def forests(self) -> list[dict[str, Any]]:
        """Per promoted version (or one with two or more estimates): its experiments' estimates
        and the pooled one, with "reproduced in N of M"."""
        exps = [e for e in self._experiments() if not e["placebo"] and e["effect"] is not None
                and e["ci_lower"] is not None and e["ci_upper"] is not None]
        out = []
        for p in self._packages():
            mine = [e for e in exps if e["ref"] == p["ref"]]
            if not mine or not (p["promoted_in"] or len(mine) > 1):
                continue
            rows = [{"experiment_id": e["experiment_id"], "cohort": e["cohort"],
                     "effect": e["effect"], "ci_lower": e["ci_lower"], "ci_upper": e["ci_upper"],
                     "n": e["n_assigned"], "decision": e["decision"],
                     "promotion": e["experiment_id"] == p["promoted_in"],
                     "confirmed": bool(e["confirmed"])} for e in mine]
            out.append({"ref": p["ref"], "title": _str(p["title"]) or p["ref"],
                        "metric": p["metric"], "promoted_in": p["promoted_in"],
                        "n_reproduced": int(p["n_reproduced"] or 0),
                        "n_reproduction_tries": int(p["n_reproduction_tries"] or 0),
                        "criterion": p["reproduction"], "experiments": rows,
                        "pooled_effect": p["pooled_effect"],
                        "pooled_ci_lower": p["pooled_ci_lower"],
                        "pooled_ci_upper": p["pooled_ci_upper"],
                        "shrunk_effect": p["shrunk_effect"]})
        return out

    # ---- sections -----------------------------------------------------------------------------
    def overview(self) -> Section:
        """Headline KPIs and the failed runs (``sl-fail``)."""
        k = self.kpis()
        items = [(self._t("package versions", "パッケージの版"), f"{k['packages']:,}"),
                 (self._t("experiments", "実験"), f"{k['experiments']:,}"),
                 (self._t("promoted", "テンプレート化"), f"{k['promoted']:,}"),
                 (self._t("to revise", "改訂"), f"{k['revised']:,}"),
                 (self._t("promotions reproduced", "再現されたテンプレート"), f"{k['reproduced']:,}"),
                 (self._t("last run", "最終実行"), self._run_time(k["last_run"]))]
        kpis = '<div class="sl-kpis">' + "".join(
            f'<div class="sl-kpi"><b>{escape(v)}</b><span>{escape(n)}</span></div>'
            for n, v in items) + "</div>"
        failed = self.failed_runs()
        if failed:
            lis = "".join(f"<li>{escape(r.kind)} {escape(r.id)}"
                          f"{' (' + escape(r.lang) + ')' if r.lang else ''}: "
                          f"{escape(r.error or self._t('no error recorded', 'エラーの記録なし'))}"
                          f" — {escape(self._run_time(r.time))}</li>" for r in failed)
            head = self._t(f"{len(failed)} failed run(s): their pages are not up to date",
                           f"失敗した実行が{len(failed)}件あります：そのページは最新ではありません")
            runs = f'<div class="sl-fail"><p><b>{escape(head)}</b></p><ul>{lis}</ul></div>'
        elif self.run_log:
            ok = self._t("Every latest run succeeded.", "直近の実行はすべて成功しました。")
            runs = f'<p class="sl-ok">{escape(ok)}</p>'
        else:
            runs = ""
        day = fmt_date(self.as_of, self.lang)
        note = self._t(f"As of {day}.", f"{day}時点。")
        warn = "".join(f'<p class="sl-warn">{escape(w)}</p>' for w in self.warnings)
        title = self._t("Support package portfolio", "支援パッケージのポートフォリオ")
        return Section("overview", _block(title, f'<p class="sl-muted">{escape(note)}</p>'
                                          + kpis + runs + warn))

    def _run_time(self, t: str | None) -> str:
        if not t:
            return "–"
        try:
            ts = pd.Timestamp(t)
        except (TypeError, ValueError):
            return t
        if ts.tzinfo is not None:
            ts = ts.tz_convert(self.timezone)
        return fmt_datetime(ts.to_pydatetime(), self.lang)

    def cards(self) -> Section:
        """One card per package version: badge, latest decision, effect, evidence, owner,
        dates, takeaway, and the link to its frozen report when that exists."""
        arts = []
        for c in self.package_cards():
            rows: list[tuple[str, str]] = []
            rows.append((self._t("latest decision", "最新の判定"),
                         self._word(c.decision) + (f" ({c.experiment_id})" if c.experiment_id
                                                   else "")))
            if c.effect is not None:
                m = metric_label(c.metric, self.lang) if c.metric else ""
                rows.append((self._t(f"effect on {m}" if m else "effect",
                                     f"効果（{m}）" if m else "効果"),
                             f"{_num(c.effect)} ({fmt_ci(c.ci_lower, c.ci_upper, 2, self.lang)})"))
            if c.pooled_effect is not None:
                rows.append((self._t("pooled", "統合推定"),
                             f"{_num(c.pooled_effect)} "
                             f"({fmt_ci(c.pooled_ci_lower, c.pooled_ci_upper, 2, self.lang)})"))
            if c.reproduced is not None:
                rows.append((self._t("reproduction", "再現"), self._reproduced_text(*c.reproduced)))
            rows.append((self._t("owner", "担当"), c.owner or "—"))
            if c.start:
                end = fmt_date(c.end, self.lang) if c.end else "…"
                rows.append((self._t("dates", "期間"), f"{fmt_date(c.start, self.lang)} – {end}"))
            if c.decided_at:
                rows.append((self._t("decided", "判定日"), fmt_date(c.decided_at, self.lang)))
            if c.lineage != c.ref:
                rows.append((self._t("lineage", "系譜"), c.lineage))
            facts = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
            if c.evidence is not None:
                stars = "★" * c.evidence + "☆" * (5 - c.evidence)
                facts += (f"<tr><th>{escape(self._t('evidence', 'エビデンス'))}</th>"
                          f'<td><span class="sl-rating">{stars} {c.evidence}/5</span></td></tr>')
            links = ""
            if c.links:
                label = self._t("report", "レポート")
                links = "<p>" + " · ".join(
                    f'<a href="{escape(ln)}">{escape(label)}: {escape(eid)}</a>'
                    for eid, ln in c.links) + "</p>"
            arts.append(f'<article class="sl-card"><h3>{escape(c.title)}</h3>'
                        f'<p class="sl-muted">{escape(c.ref)}</p>'
                        f"<p>{self._status_badge(c.status)}</p><p>{escape(c.takeaway)}</p>"
                        f'<table class="sl-table">{facts}</table>{links}</article>')
        inner = ('<div class="sl-cards">' + "".join(arts) + "</div>" if arts else
                 self._muted("No package files yet.", "パッケージのファイルはまだありません。"))
        return Section("cards", _block(self._t("Packages", "支援パッケージ"), inner))

    def timeline(self) -> Section:
        """Experiments over time, coloured by their latest decision."""
        items = self.timeline_items()
        title = self._t("Experiments over time", "実験の時系列")
        if not items:
            return Section("timeline", _block(
                title, self._muted("No experiments yet.", "実験はまだありません。")))
        charts = _charts()
        dated = [i for i in items if i["start"] is not None]
        figure = ""
        if charts is not None and dated:
            objs = [charts.TimelineItem(
                label=f"{i['experiment_id']}{' (A/A)' if i['placebo'] else ''} · {i['ref']}",
                start=i["start"], end=i["end"] or max(i["start"], self.as_of),
                decision=("stop" if i["decision"] == "retire" else i["decision"]))
                for i in dated]
            chart = charts.timeline_chart(objs, lang=self.lang, title=self._t(
                "each experiment by its latest decision", "実験ごとの最新の判定"))
            figure = str(chart._repr_html_())  # a <figure class="sl-figure">
        states = {"planned": self._t("planned", "開始前"), "running": self._t("running", "実施中"),
                  "ended": self._t("ended", "終了")}
        rows = [[f"{i['experiment_id']}{' (A/A)' if i['placebo'] else ''}", i["ref"],
                 fmt_date(i["start"], self.lang), fmt_date(i["end"], self.lang),
                 states.get(i["state"] or "", "–"), self._badge(i["decision"])] for i in items]
        head = [self._t("experiment", "実験"), self._t("package", "パッケージ"),
                self._t("start", "開始"), self._t("end", "終了"), self._t("state", "状態"),
                self._t("decision", "判定")]
        table = _table(head, rows, raw=frozenset({5}))
        if figure:
            table = (f"<details><summary>{escape(self._t('as a table', '表で見る'))}</summary>"
                     f"{table}</details>")
        return Section("timeline", _block(title, figure + table))

    def lineage(self) -> Section:
        """Revision chains (v1 revised -> v2 promoted) and reproduction with a forest plot of
        each template's experiments beside the pooled estimate."""
        parts = []
        chains = self.chains()
        if chains:
            lis = "".join("<li>" + " → ".join(
                f"<b>{escape(x['ref'])}</b> "
                + (self._status_badge(str(x["status"])) if x["status"] else "") for x in ch)
                + "</li>" for ch in chains)
            parts.append(f"<h3>{escape(self._t('Revisions', '改訂の系譜'))}</h3><ul>{lis}</ul>")
        charts = _charts()
        for fo in self.forests():
            rep = self._reproduced_text(fo["n_reproduced"], fo["n_reproduction_tries"])
            head = f"{fo['title']} ({fo['ref']})"
            if fo["promoted_in"]:
                sub = self._t(f"promoted in {fo['promoted_in']}; {rep}",
                              f"{fo['promoted_in']}でテンプレート化。{rep}")
            else:
                sub = self._t("not promoted", "テンプレート化されていません")
            crit = (f'<p class="sl-muted">{escape(self._t("criterion", "再現の基準"))}: '
                    f"{escape(self._criterion(fo['criterion']))}</p>" if fo["criterion"] else "")
            pooled_label = self._t("pooled (random effects)", "統合推定（ランダム効果）")
            promo, confirms = self._t("promotion", "テンプレート化"), self._t("confirms", "再現")

            def note(e: Mapping[str, Any], promo: str = promo, confirms: str = confirms) -> str:
                return promo if e["promotion"] else confirms if e["confirmed"] else ""
            body = ""
            if charts is not None:
                # the experiment as the row's label; its cohort (who, when) in a list under
                # the chart, where a long description has room
                rows = [charts.ForestRow(
                    label=str(e["experiment_id"]), effect=e["effect"],
                    lower=e["ci_lower"], upper=e["ci_upper"],
                    n=None if e["n"] is None else int(e["n"]),
                    note=note(e))
                    for e in fo["experiments"]]
                if fo["pooled_effect"] is not None and len(fo["experiments"]) > 1:
                    rows.append(charts.ForestRow(
                        label=pooled_label, effect=fo["pooled_effect"],
                        lower=fo["pooled_ci_lower"], upper=fo["pooled_ci_upper"],
                        emphasis=True))
                metric = metric_label(str(fo["metric"] or ""), self.lang)
                chart = charts.forest_chart(rows, lang=self.lang, title=self._t(
                    f"effect on {metric} per experiment, and pooled",
                    f"実験ごとの効果（{metric}）と統合推定"),
                    xlabel=self._t("effect (95% interval)", "効果（95%信頼区間）"))
                cohorts = "".join(
                    f"<li><b>{escape(str(e['experiment_id']))}</b>: {escape(str(e['cohort']))}</li>"
                    for e in fo["experiments"] if e.get("cohort"))
                body = str(chart._repr_html_()) + (
                    f'<ul class="sl-muted sl-cohorts">{cohorts}</ul>' if cohorts else "")
            else:
                trs = [[f"{e['experiment_id']} · {e['cohort']}", _num(e["effect"]),
                        _ci(e["ci_lower"], e["ci_upper"]),
                        "–" if e["n"] is None else f"{int(e['n']):,}",
                        note(e)]
                       for e in fo["experiments"]]
                cls = [""] * len(trs)
                if fo["pooled_effect"] is not None and len(fo["experiments"]) > 1:
                    trs.append([pooled_label, _num(fo["pooled_effect"]),
                                _ci(fo["pooled_ci_lower"], fo["pooled_ci_upper"]), "–", ""])
                    cls.append("sl-emphasis")
                body = _table([self._t("experiment", "実験"), self._t("effect", "効果"),
                               self._t("95% CI", "95%信頼区間"), "n", ""], trs, row_class=cls)
            parts.append(f"<h3>{escape(head)}</h3><p>{escape(sub)}</p>{crit}{body}")
        if not parts:
            parts.append(self._muted("No revisions or promotions yet.", "改訂や昇格はまだありません。"))
        return Section("lineage", _block(self._t("Lineage and reproduction", "系譜と再現"),
                                         "".join(parts)))

    def credits_section(self) -> Section:
        """Per owner: designed, promoted, reproduced (by others' deliveries), spread."""
        f = self.credits.frame
        title = self._t("Credits", "設計と再現の実績")
        if f.empty:
            return Section("credits", _block(title, self._muted("No owners yet.", "担当者はまだいません。")))
        rows = [[str(r["owner"]), f"{int(r['designed']):,}", f"{int(r['promoted']):,}",
                 f"{int(r['reproduced']):,}", f"{int(r['spread']):,}", str(r["packages"])]
                for r in f.to_dict(orient="records")]
        head = [self._t("owner", "担当者"), self._t("designed", "設計"),
                self._t("promoted", "テンプレート化"), self._t("reproduced", "再現"),
                self._t("spread (others' packages delivered)", "展開（他者のパッケージ）"),
                self._t("package versions", "パッケージの版")]
        notes = self.credits.notes_ja if self.lang == "ja" else self.credits.notes
        note = "".join(f'<p class="sl-muted">{escape(n)}</p>' for n in notes)
        return Section("credits", _block(title, _table(head, rows) + note))

    def overrides(self) -> Section:
        """Decisions people took against the computed one, with their written reasons."""
        o = self.credits.overrides
        title = self._t("Overrides", "人による判定の変更")
        if o.empty:
            return Section("overrides", _block(title, self._muted(
                "No decision was taken against the computed one.",
                "計算された判定と異なる判断はありません。")))
        rows = [[str(r["experiment_id"]), str(r["package"]), self._word(_str(r["computed"])),
                 self._word(_str(r["decision"])), _str(r["override_reason"]) or "—",
                 _str(r["decided_by"]) or "—", fmt_date(self._when(r["decided_at"]), self.lang)]
                for r in o.to_dict(orient="records")]
        head = [self._t("experiment", "実験"), self._t("package", "パッケージ"),
                self._t("computed", "計算された判定"), self._t("decided", "決定"),
                self._t("reason", "理由"), self._t("by", "判断者"), self._t("when", "日付")]
        return Section("overrides", _block(title, _table(head, rows)))

    def runs(self) -> Section:
        """The last runs of the runner, failed ones highlighted (``sl-fail``)."""
        title = self._t("Runs", "実行履歴")
        if not self.run_log:
            return Section("runs", _block(
                title, self._muted("No runs recorded yet.", "実行の記録はまだありません。")))
        shown = list(reversed(self.run_log[-RUNS_SHOWN:]))
        status = {"ok": self._t("ok", "成功"), "failed": self._t("failed", "失敗")}
        rows = [[r.kind, r.id, r.lang or "–", status.get(r.status, r.status),
                 self._run_time(r.time), _num(r.seconds, 1), r.error or ""] for r in shown]
        head = [self._t("kind", "種類"), "id", self._t("language", "言語"),
                self._t("status", "状態"), self._t("finished", "終了"), self._t("seconds", "秒"),
                self._t("error", "エラー")]
        cls = ["sl-fail" if r.failed else "" for r in shown]
        extra = ""
        if self.runs_unreadable:
            n = self.runs_unreadable
            bad = self._t(f"{n} line(s) of runs.jsonl could not be read.",
                          f"runs.jsonl の{n}行を読めませんでした。")
            extra = f'<p class="sl-warn">{escape(bad)}</p>'
        return Section("runs", _block(title, _table(head, rows, row_class=cls) + extra))

    def sections(self) -> list[Section]:
        """Every section in page order."""
        return [self.overview(), self.cards(), self.timeline(), self.lineage(),
                self.credits_section(), self.overrides(), self.runs()]

    # ---- outputs ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """``result.json``: everything the page shows, JSON-safe."""
        def clean(x: Any) -> Any:
            if isinstance(x, dict):
                return {str(k): clean(v) for k, v in x.items()}
            if isinstance(x, (list, tuple)):
                return [clean(v) for v in x]
            return _clean(x)

        out: dict[str, Any] = clean({
            "kind": "portfolio", "lang": self.lang, "as_of": self.as_of.isoformat(),
            "kpis": self.kpis(), "failed_runs": [asdict(r) for r in self.failed_runs()],
            "cards": [{**asdict(c), "link": c.link,
                       "links": [{"experiment_id": e, "link": ln} for e, ln in c.links]}
                      for c in self.package_cards()],
            "timeline": self.timeline_items(), "lineage": self.chains(),
            "reproduction": self.forests(),
            "credits": self.credits.frame.to_dict(orient="records"),
            "overrides": self.credits.overrides.to_dict(orient="records"),
            "runs": [asdict(r) for r in self.run_log[-RUNS_SHOWN:]],
            "runs_unreadable": self.runs_unreadable,
            "warnings": list(self.warnings),
            "notes": list(self.registry.notes_ja if self.lang == "ja" else self.registry.notes)})
        return out

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2, default=str)

    def tables(self) -> dict[str, pd.DataFrame]:
        """``packages``, ``experiments``, ``credits``, ``overrides``, ``runs``."""
        cols = [f.name for f in RunRecord.__dataclass_fields__.values()]
        return {"packages": self.registry.frame, "experiments": self.registry.experiments,
                "credits": self.credits.frame, "overrides": self.credits.overrides,
                "runs": pd.DataFrame([asdict(r) for r in self.run_log], columns=cols)}

    def summary_markdown(self) -> str:
        """3–5 bullets (data values HTML-escaped: Markdown renderers pass raw HTML through)."""
        k = self.kpis()
        cards = self.package_cards()
        promoted = [c for c in cards if c.status == "promoted"]
        revise = [c for c in cards if c.status == "revise"]
        lines = [self._t(
            f"- {k['packages']} package versions, {k['experiments']} experiments: "
            f"{k['promoted']} promoted, {k['revised']} to revise, {k['reproduced']} promotions "
            "reproduced",
            f"- パッケージ {k['packages']}版、実験 {k['experiments']}件：テンプレート化 "
            f"{k['promoted']}、改訂 {k['revised']}、再現されたテンプレート {k['reproduced']}")]
        if promoted:
            items = ", ".join(f"{escape(c.title)} ({escape(c.ref)}"
                              + (f", {self._reproduced_text(*c.reproduced)}" if c.reproduced
                                 else "") + ")" for c in promoted[:3])
            lines.append(self._t(f"- promoted: {items}", f"- テンプレート化：{items}"))
        if revise:
            items = ", ".join(f"{escape(c.title)} ({escape(c.ref)})" for c in revise[:3])
            lines.append(self._t(f"- to revise: {items}", f"- 改訂：{items}"))
        n_over = len(self.credits.overrides)
        if n_over:
            lines.append(self._t(f"- {n_over} decision(s) taken against the computed one",
                                 f"- 計算と異なる判断 {n_over}件"))
        failed = self.failed_runs()
        if failed:
            ids = ", ".join(escape(r.id) for r in failed[:5])
            lines.append(self._t(f"- {len(failed)} failed run(s): {ids}",
                                 f"- 失敗した実行 {len(failed)}件：{ids}"))
        elif k["last_run"]:
            lines.append(self._t(f"- last run {self._run_time(k['last_run'])}",
                                 f"- 最終実行 {self._run_time(k['last_run'])}"))
        return "\n".join(lines[:5]) + "\n"

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


def _with_takeaway(card: PackageCard, p: Mapping[str, Any], info: ReportInfo | None,
                   rep: PortfolioReport) -> PackageCard:
    """The card with its one-line takeaway: the frozen report's sentence when it is in the
    page's language, else a line from the registry."""
    from dataclasses import replace

    t = rep._t
    if info is not None and info.sentence and info.lang == rep.lang and card.status != "draft":
        line = info.sentence
    elif card.status == "promoted":
        r = rep._reproduced_text(*card.reproduced) if card.reproduced else ""
        line = t(f"Promoted in {p['promoted_in']}; {r}.",
                 f"{p['promoted_in']}でテンプレート化。{r}。")
    elif card.status == "revise":
        line = t(f"Needs revision: {card.experiment_id} did not reach the bar for a template.",
                 f"改訂が必要です：{card.experiment_id}ではテンプレート化の基準に届きませんでした。")
    elif card.status == "stopped":
        line = t(f"Stopped after {card.experiment_id}.", f"{card.experiment_id}の結果で中止しました。")
    elif card.status == "retired":
        line = t("Retired: no longer in use.", "廃止：現在は使われていません。")
    elif card.status == "piloting":
        line = t(f"Piloting in {card.n_experiments} experiment(s): no final decision yet.",
                 f"{card.n_experiments}件の実験で試行中：まだ最終判定は出ていません。")
    else:
        line = t("Draft: not tested in an experiment yet.", "下書き：まだ実験で試していません。")
    if p.get("revised_by"):
        line += t(f" Revised as {p['revised_by']}.", f"改訂版：{p['revised_by']}。")
    return replace(card, takeaway=line)


def _resolve_packages_dir(ws: Workspace, packages_dir: str | Path) -> Path:
    """An absolute folder as given; a relative one under the workspace root, else under its
    experiments folder (``packages`` -> ``experiments/packages``), else from the cwd."""
    p = Path(packages_dir)
    if p.is_absolute():
        return p
    for base in (ws.config.root, ws.config.experiments_path):
        if (base / p).is_dir():
            return base / p
    return p


def portfolio_report(workspace: Workspace | str | Path, packages_dir: str | Path = "packages", *,
                     reports_dir: str | Path = "reports", lang: str | None = None,
                     as_of: str | dt.date | None = None) -> PortfolioReport:
    """Build the leadership portfolio of a workspace.

    Args:
        workspace: a workspace, or its path (opened read-only and closed after).
        packages_dir: the folder of package files; a relative one is looked up under the
            workspace root, then under its experiments folder (the default ``packages`` is
            ``experiments/packages``).
        reports_dir: the reports folder (relative: under the workspace root), where the frozen
            experiment reports (``<experiment-id>/``) and ``runs.jsonl`` are.
        lang: ``en`` or ``ja`` (default: the workspace's language).
        as_of: the date the page is as of (default: today in the workspace's timezone); it
            dates the page and tells running experiments from planned and ended ones.

    Returns:
        A :class:`PortfolioReport`.

    Raises:
        ConfigError: the package folder does not exist.
        ValueError: ``lang`` is not ``en`` or ``ja``, or ``as_of`` is not a date.
    """
    own = not isinstance(workspace, Workspace)
    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace,
                                                                          read_only=True)
    try:
        lang = lang or ws.config.language or "en"
        if lang not in ("en", "ja"):
            raise ValueError(f"lang == {lang!r}, must be 'en' or 'ja'.")
        tz = ws.config.timezone
        if as_of is None:
            day = pd.Timestamp.now(tz=tz).date()
        elif isinstance(as_of, dt.date):
            day = as_of
        else:
            try:
                day = dt.date.fromisoformat(str(as_of))
            except ValueError:
                raise ValueError(f"as_of == {as_of!r}, must be a date (YYYY-MM-DD).") from None
        pdir = _resolve_packages_dir(ws, packages_dir)
        reg = packages(ws, pdir)
        cred = credits(ws, pdir)
        root = ws.config.root
    finally:
        if own:
            ws.close()
    rdir = Path(reports_dir)
    if not rdir.is_absolute():
        rdir = root / rdir
    runs, bad = read_runs(rdir / "runs.jsonl")
    eids = [str(e) for e in reg.experiments["experiment_id"].tolist()]
    infos = {eid: info for eid in eids if (info := _report_info(rdir, eid)) is not None}
    return PortfolioReport(registry=reg, credits=cred, run_log=runs, reports=infos, lang=lang,
                           as_of=day, timezone=tz, runs_unreadable=bad,
                           warnings=tuple(reg.warnings))
