"""Views for sales and marketing: who gets a promoted package next, and the support score.

Nothing here re-computes what the library computes: :func:`targeting_view` reads the registry
(:func:`supportlab.design.registry.packages`: status and the shrunk pooled estimate), the
target list (:func:`supportlab.features.targeting.select_targets`), the partners a package has
already treated (:func:`supportlab.design.ledger.already_treated`) and the roll-out holdout
sized by power (:func:`supportlab.design.plan.rollout_holdout`); :func:`support_score_view`
reads :func:`supportlab.features.score.support_score` as of two dates. The views only arrange,
label (``en``/``ja``) and escape.

Example:
    >>> _band(37.5), _band(100.0)
    ('30–40', '90–100')
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from supportlab.config.experiment import Experiment, load_experiment
from supportlab.data.workspace import Workspace
from supportlab.errors import SupportlabError
from supportlab.report.charts import Chart, ForestRow, bar_chart, distribution_chart, forest_chart
from supportlab.report.sections import Section, escape
from supportlab.report.text import fmt_date, fmt_num

__all__ = ["RolloutTarget", "SupportScoreView", "TargetingView", "support_score_view",
           "targeting_view"]

#: statuses of a package version whose roll-out is planned
ROLLOUT_STATUSES = ("promoted", "piloting")
#: days between the score's two dates for the movers
MOVERS_DAYS = 28
_STATUS_JA = {"promoted": "昇格", "piloting": "試行中"}
_COMPONENT_JA = {"login_recency": "ログインの新しさ", "completion": "動画・研修の完了",
                 "downloads": "ダウンロード", "test_results": "テスト結果",
                 "material_use": "販促資料の利用"}


# -- small helpers ----------------------------------------------------------------------------------


def _num(x: Any, digits: int = 2) -> str:
    """A number for a cell (``–`` when missing or not finite)."""
    return fmt_num(_float(x), digits)


def _float(x: Any) -> float | None:
    """A finite float or ``None`` (for JSON)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _band(score: float) -> str:
    """The 10-point band of a score (100 falls in ``90–100``)."""
    lo = min(int(score // 10) * 10, 90)
    return f"{lo}–{lo + 10}"


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An ``sl-table``; every cell escaped here, numbers (int/float) right-aligned."""
    def cell(v: Any) -> str:
        if isinstance(v, tuple):  # (text, numeric)
            return f'<td class="num">{escape(v[0])}</td>'
        return f"<td>{escape(v)}</td>"
    h = "".join(f"<th>{escape(x)}</th>" for x in head)
    body = "".join("<tr>" + "".join(cell(v) for v in r) + "</tr>" for r in rows)
    return f'<table class="sl-table"><tr>{h}</tr>{body}</table>'


def _n(text: str) -> tuple[str, bool]:
    """Mark a formatted number for a right-aligned cell."""
    return (text, True)


def _block(title: str, inner: str) -> str:
    return f'<section class="sl-section"><h2>{escape(title)}</h2>{inner}</section>'


def _kpis(items: Sequence[tuple[str, str]]) -> str:
    return '<div class="sl-kpis">' + "".join(
        f'<div class="sl-kpi"><b>{escape(v)}</b><span>{escape(k)}</span></div>'
        for k, v in items) + "</div>"


def _p(text: str, cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f"<p{c}>{escape(text)}</p>"


def _chart(chart: Chart) -> str:
    """A chart's ``<figure class="sl-figure">`` (the charts module escapes its text)."""
    return chart._repr_html_()


def _jsonable(v: Any) -> Any:
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, (dt.date, pd.Timestamp)):
        return v.isoformat()
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):  # numpy scalars
        return _jsonable(v.item())
    if v is pd.NA or v is pd.NaT:
        return None
    return v


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    df = frame.reset_index() if frame.index.name is not None else frame
    out: list[dict[str, Any]] = _jsonable(df.astype(object).where(df.notna(), None)
                                          .to_dict("records"))
    return out


def _save(output_dir: str | Path, text: str, tables: dict[str, pd.DataFrame],
          summary: str) -> None:
    if str(output_dir) == "":
        return
    out = Path(output_dir)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    (out / "result.json").write_text(text, encoding="utf-8")
    for name, frame in tables.items():
        df = frame.reset_index() if frame.index.name is not None else frame
        df.to_csv(out / "tables" / f"{name}.csv", index=False)
    (out / "summary.md").write_text(summary, encoding="utf-8")


def _lang(lang: str | None, ws: Workspace) -> str:
    chosen = lang or getattr(ws.config, "language", None) or "en"
    if chosen not in ("en", "ja"):
        from supportlab.errors import ConfigError

        raise ConfigError(f"lang == {chosen!r}: must be 'en' or 'ja'", where="lang",
                          fix="give lang='en' or lang='ja'")
    return chosen


def _as_of(engine: Any, as_of: str | dt.date | None) -> dt.date:
    """The given date, else the day after the last event (capped at today)."""
    from supportlab.features.metrics import last_data_day

    if as_of:
        day: dt.date = pd.Timestamp(as_of).date()
        return day
    today = dt.date.today()
    last = last_data_day(engine)
    if last is None:
        return today
    return min(today, last + dt.timedelta(days=1))


def _open(workspace: Workspace | str | Path) -> tuple[Workspace, bool]:
    if isinstance(workspace, Workspace):
        return workspace, False
    return Workspace.open(workspace, read_only=True), True


# -- roll-out targeting -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RolloutTarget:
    """Who should get one promoted (or piloting) package version next.

    Attributes:
        ref / title / status: the package version (``launch-kit@1``), its title, registry status.
        source_experiment: the experiment whose segment, rule and priority the roll-out uses.
        metric: the metric of the pooled estimate.
        rule / priority: the eligibility rule and the ranking (from the target list).
        n_partners / n_in_segment / n_eligible: the target list's counts.
        n_treated: eligible partners the package already treated (left out: they have it).
        n_need: eligible partners who have not received it (the roll-out's candidates).
        strata: ``stratum`` (``design.stratify_by``, else rank) and ``n`` of those candidates.
        effect / ci_lower / ci_upper: the registry's shrunk pooled estimate per assigned partner
            (empirical Bayes on a random-effects pool), ``None`` before any estimate.
        pooled_effect / pooled_ci_lower / pooled_ci_upper: the raw pooled estimate.
        n_experiments: experiments pooled.
        min_effect: the source experiment's ``decision.min_effect`` (``None`` when 0).
        total / total_lower / total_upper: the shrunk estimate (and interval) times ``n_need``.
        holdout_share / holdout_n: the control share a roll-out would keep, sized by power
            (``rollout_holdout``), and about how many partners that is; ``None`` when not sized.
        holdout_note / holdout_note_ja: how the holdout was sized, or why it was not.
        top: the first candidates (rank, name, score, why) by the experiment's priority.
        warnings: what the library warned about.
    """

    ref: str
    title: str
    status: str
    source_experiment: str
    metric: str | None
    rule: str | None
    priority: str
    n_partners: int
    n_in_segment: int
    n_eligible: int
    n_treated: int
    n_need: int
    strata: pd.DataFrame = field(repr=False)
    effect: float | None
    ci_lower: float | None
    ci_upper: float | None
    pooled_effect: float | None
    pooled_ci_lower: float | None
    pooled_ci_upper: float | None
    n_experiments: int
    min_effect: float | None
    holdout_share: float | None
    holdout_n: int | None
    holdout_note: str
    holdout_note_ja: str
    top: pd.DataFrame = field(repr=False)
    warnings: tuple[str, ...] = ()

    @property
    def total(self) -> float | None:
        """Expected total uplift over the candidates (shrunk estimate × ``n_need``)."""
        return None if self.effect is None else self.effect * self.n_need

    @property
    def total_interval(self) -> tuple[float | None, float | None]:
        """The shrunk interval times ``n_need``."""
        if self.ci_lower is None or self.ci_upper is None:
            return None, None
        return self.ci_lower * self.n_need, self.ci_upper * self.n_need

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (tables as records)."""
        lo, hi = self.total_interval
        d: dict[str, Any] = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                             if f.name not in ("strata", "top")}
        d.update(total=self.total, total_lower=lo, total_upper=hi,
                 strata=_records(self.strata), top=_records(self.top))
        out: dict[str, Any] = _jsonable(d)
        return out


def _experiment_files(ws: Workspace, packages: Path) -> tuple[list[Experiment], list[str]]:
    """Every experiment file of the workspace that loads (problems as warnings)."""
    found: list[Experiment] = []
    problems: list[str] = []
    folder = ws.config.experiments_path
    if not folder.is_dir():
        return found, problems
    for f in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        if f.stem in ("metrics", "segments"):
            continue
        try:
            found.append(load_experiment(f, packages))
        except (SupportlabError, OSError, ValueError) as exc:
            problems.append(f"{f.name}: not read ({str(exc).splitlines()[0]})")
    return found, problems


def _source(exps: Sequence[Experiment], ref: str, promoted_in: str | None) -> Experiment | None:
    """The experiment a roll-out copies: a roll-out file, else the promoting one, else the last."""
    mine = [e for e in exps if e.package.ref == ref and not e.design.placebo]
    if not mine:
        return None
    for pick in ([e for e in mine if e.design.rollout],
                 [e for e in mine if e.id == promoted_in], mine):
        if pick:
            return max(pick, key=lambda e: (e.design.start, e.id))
    return None


def _strata(frame: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    cols = [c for c in by if c in frame.columns] or [c for c in ("rank",) if c in frame.columns]
    if not cols or frame.empty:
        return pd.DataFrame({"stratum": ["(all)"], "n": [len(frame)]})
    key = frame[cols].astype(str).agg(" / ".join, axis=1)
    counts = key.value_counts().sort_index()
    return pd.DataFrame({"stratum": counts.index.astype(str), "n": counts.to_numpy()})


def _holdout(ws: Workspace, exp: Experiment, ids: list[str], engine: Any
             ) -> tuple[float | None, int | None, str, str, list[str]]:
    """The roll-out holdout by power, or why not (en, ja), with the library's warnings."""
    from supportlab.design.plan import HOLDOUT_MAX, HOLDOUT_MIN, rollout_holdout

    if len(ids) < 4:
        return (None, None, f"not sized: {len(ids)} partner(s) cannot hold a control group",
                f"未算定：{len(ids)} 社では対照群を置けません", [])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            h = float(rollout_holdout(ws, exp, len(ids), partners=ids, engine=engine))
        except SupportlabError as exc:
            msg = str(exc).splitlines()[0]
            return None, None, f"not sized: {msg}", f"未算定：{msg}", []
    warns = [str(w.message) for w in caught if not issubclass(w.category, DeprecationWarning)
             and "deprecated" not in str(w.message)]
    en = (f"sized by power (design.plan.rollout_holdout): the smallest control share in "
          f"[{HOLDOUT_MIN:.0%}, {HOLDOUT_MAX:.0%}] that keeps {exp.power:.0%} power at "
          f"min_effect {exp.min_effect:g} on {exp.metrics.primary}")
    ja = (f"検出力で算定（design.plan.rollout_holdout）：{exp.metrics.primary} の min_effect "
          f"{exp.min_effect:g} を検出力 {exp.power:.0%} で測れる最小の対照割合"
          f"（{HOLDOUT_MIN:.0%}〜{HOLDOUT_MAX:.0%}）")
    return h, round(h * len(ids)), en, ja, warns


def _rollout(ws: Workspace, engine: Any, row: dict[str, Any], src: Experiment, day: dt.date,
             top: int) -> RolloutTarget:
    """One package version's roll-out: targets as of ``day`` less those already treated."""
    from supportlab.design.ledger import already_treated
    from supportlab.features.metrics import load_metrics
    from supportlab.features.score import score_config
    from supportlab.features.segments import load_segments
    from supportlab.features.targeting import select_targets

    # the next roll-out of this version: every earlier experiment of its package counts
    nxt = dataclasses.replace(
        src, id=f"{row['ref']}-next-rollout",
        design=dataclasses.replace(src.design, rollout=True, start=day, max_partners=None))
    folder = ws.config.experiments_path
    tl = select_targets(engine, nxt, as_of=day, catalogue=load_metrics(folder / "metrics.yaml"),
                        score_config=score_config(ws), limit=10 ** 9,
                        segments=load_segments(folder / "segments.yaml"))
    treated = set(already_treated(ws, nxt, day)["partner_id"].astype(str))
    frame = tl.frame[~tl.frame.index.astype(str).isin(list(treated))].copy()
    frame["priority_rank"] = range(1, len(frame) + 1)
    ids = [str(i) for i in frame.index]
    h, hn, note, note_ja, warns = _holdout(ws, nxt, ids, engine)
    shown = [c for c in ("priority_rank", "name", "rank", "region", "manager", "support_score",
                         "why") if c in frame.columns]
    return RolloutTarget(
        ref=str(row["ref"]), title=str(row.get("title") or row["ref"]), status=str(row["status"]),
        source_experiment=src.id, metric=row.get("metric") or src.metrics.primary,
        rule=tl.rule, priority=tl.priority, n_partners=tl.n_partners,
        n_in_segment=tl.n_in_segment, n_eligible=tl.n_eligible,
        n_treated=tl.n_eligible - len(frame), n_need=len(frame),
        strata=_strata(frame, src.design.stratify_by),
        effect=_float(row.get("shrunk_effect")), ci_lower=_float(row.get("shrunk_ci_lower")),
        ci_upper=_float(row.get("shrunk_ci_upper")),
        pooled_effect=_float(row.get("pooled_effect")),
        pooled_ci_lower=_float(row.get("pooled_ci_lower")),
        pooled_ci_upper=_float(row.get("pooled_ci_upper")),
        n_experiments=int(row.get("n_experiments") or 0),
        min_effect=src.min_effect if src.min_effect > 0 else None, holdout_share=h, holdout_n=hn,
        holdout_note=note, holdout_note_ja=note_ja, top=frame[shown].head(top),
        warnings=tuple(warns))


@dataclass(frozen=True)
class TargetingView:
    """Roll-out planning: for every promoted or piloting package version, who gets it next.

    Attributes:
        lang: ``en`` or ``ja``.
        as_of: the targeting date.
        rollouts: one :class:`RolloutTarget` per package version planned.
        skipped: package versions that could not be planned: ``(ref, status, reason)``.
        warnings: what the registry and the experiment files warned about.
        top: rows of the top-partners tables.
    """

    lang: str
    as_of: dt.date
    rollouts: tuple[RolloutTarget, ...]
    skipped: tuple[tuple[str, str, str], ...] = ()
    warnings: tuple[str, ...] = ()
    top: int = 20

    def _t(self, en: str, ja: str) -> str:
        return ja if self.lang == "ja" else en

    def _status(self, s: str) -> str:
        return _STATUS_JA.get(s, s) if self.lang == "ja" else s

    # ---- sections -------------------------------------------------------------------------
    def overview_section(self) -> Section:
        """Key numbers: versions to roll out, partners who need them, the expected total."""
        need = sum(r.n_need for r in self.rollouts)
        known = [r.total for r in self.rollouts if r.total is not None]
        kpis = [(self._t("package versions to roll out", "展開するパッケージの版"),
                 f"{len(self.rollouts):,}"),
                (self._t("partners who need one now", "いま必要なパートナー（延べ）"), f"{need:,}"),
                (self._t("already have it", "受講済み（除外）"),
                 f"{sum(r.n_treated for r in self.rollouts):,}"),
                (self._t("as of", "基準日"), fmt_date(self.as_of, self.lang))]
        inner = _kpis(kpis)
        if self.rollouts:
            labels = [r.ref for r in self.rollouts]
            values = [float(r.n_need) for r in self.rollouts]
            inner += _chart(bar_chart(
                labels, values, lang=self.lang, digits=0,
                title=self._t("Partners who need each package now", "いま必要なパートナー数"),
                xlabel=self._t("partners", "パートナー数")))
        else:
            inner += _p(self._t("No promoted or piloting package version to roll out.",
                                "展開する昇格済み・試行中のパッケージはありません。"), "sl-muted")
        if known:
            inner += _p(self._t(
                f"Expected total over these partners (shrunk pooled estimate × partners): "
                f"{_num(sum(known), 1)}, where an estimate exists.",
                f"対象パートナー全体で見込まれる効果の合計（縮小した統合推定 × 社数）："
                f"{_num(sum(known), 1)}（推定のあるものについて）。"))
        if self.skipped:
            items = "".join(f"<li>{escape(ref)} ({escape(self._status(st))}): {escape(why)}</li>"
                            for ref, st, why in self.skipped)
            inner += (f'<div class="sl-warn">{escape(self._t("Not planned", "計画できなかった版"))}'
                      f"<ul>{items}</ul></div>")
        return Section("overview", _block(self._t("Roll-out targeting", "展開先の判定"), inner))

    def packages_section(self) -> Section:
        """Per version: status, source experiment, rule, counts and candidates."""
        rows = [[r.ref, r.title, self._status(r.status), r.source_experiment, r.rule or "—",
                 r.priority, _n(f"{r.n_in_segment:,}"), _n(f"{r.n_eligible:,}"),
                 _n(f"{r.n_treated:,}"), _n(f"{r.n_need:,}")] for r in self.rollouts]
        head = [self._t("package", "パッケージ"), self._t("title", "名称"),
                self._t("status", "状態"), self._t("experiment", "元の実験"),
                self._t("rule", "条件"), self._t("priority", "優先順"),
                self._t("in segment", "セグメント内"), self._t("eligible", "条件に合う"),
                self._t("already have it", "受講済み"), self._t("need it now", "いま必要")]
        inner = _table(head, rows) if rows else _p(self._t("None.", "ありません。"), "sl-muted")
        return Section("packages", _block(self._t("Who needs each package", "パッケージごとの対象"),
                                          inner))

    def uplift_section(self) -> Section:
        """The expected uplift per partner (shrunk pooled, labelled) and the total."""
        rows = []
        for r in self.rollouts:
            lo, hi = r.total_interval
            rows.append([r.ref, r.metric or "–", _n(_num(r.effect)),
                         _n(f"{_num(r.ci_lower)} – {_num(r.ci_upper)}"),
                         _n(_num(r.pooled_effect)),
                         _n(f"{_num(r.pooled_ci_lower)} – {_num(r.pooled_ci_upper)}"),
                         _n(f"{r.n_experiments:,}"), _n(f"{r.n_need:,}"), _n(_num(r.total, 1)),
                         _n(f"{_num(lo, 1)} – {_num(hi, 1)}")])
        head = [self._t("package", "パッケージ"), self._t("metric", "指標"),
                self._t("expected uplift per partner (shrunk)", "パートナーあたりの見込み効果（縮小）"),
                self._t("95% interval", "95%区間"), self._t("pooled (raw)", "統合推定（縮小前）"),
                self._t("95% interval", "95%区間"), self._t("experiments", "実験数"),
                self._t("partners", "社数"), self._t("expected total", "見込み合計"),
                self._t("95% interval", "95%区間")]
        note = self._t(
            "Per assigned partner over the experiment's horizon: the registry's pooled estimate "
            "across the version's experiments (DerSimonian–Laird random effects), shrunk towards "
            "the registry mean on its metric (empirical Bayes), so that one lucky experiment does "
            "not look like a star. The total multiplies it by the partners who need it; a piloting "
            "version has no final estimate yet.",
            "割り付けたパートナー 1 社あたり、実験期間での効果です。その版の実験を統合した推定"
            "（DerSimonian–Laird のランダム効果）を、同じ指標の台帳全体の平均へ縮小（経験ベイズ）"
            "しています。たまたま大きく出た 1 回の実験を過大評価しないためです。合計はこれに"
            "対象社数を掛けた値です。試行中の版にはまだ最終的な推定がありません。")
        inner = (_table(head, rows) if rows else "") + self._forest()
        inner += f'<aside class="sl-callout">{escape(note)}</aside>'
        return Section("uplift", _block(self._t("Expected uplift", "見込まれる効果"), inner))

    def _forest(self) -> str:
        """The pooled and shrunk estimates with intervals (a chart; empty without estimates)."""
        rows = []
        for r in self.rollouts:
            if r.effect is None or r.ci_lower is None or r.ci_upper is None:
                continue
            if r.pooled_effect is not None and r.pooled_ci_lower is not None \
                    and r.pooled_ci_upper is not None:
                rows.append(ForestRow(f"{r.ref} " + self._t("pooled", "統合"), r.pooled_effect,
                                      r.pooled_ci_lower, r.pooled_ci_upper))
            rows.append(ForestRow(f"{r.ref} " + self._t("shrunk", "縮小"), r.effect, r.ci_lower,
                                  r.ci_upper, n=r.n_experiments, emphasis=True))
        if not rows:
            return ""
        bars = {r.min_effect for r in self.rollouts if r.effect is not None}
        return _chart(forest_chart(
            rows, lang=self.lang, min_effect=bars.pop() if len(bars) == 1 else None,
            title=self._t("Expected uplift per partner (95% interval)",
                          "パートナーあたりの見込み効果（95%区間）")))

    def strata_section(self) -> Section:
        """Candidates per stratum (the design's ``stratify_by``, else rank)."""
        parts = []
        for r in self.rollouts:
            rows = [[s, _n(f"{int(n):,}")] for s, n in zip(r.strata["stratum"], r.strata["n"],
                                                           strict=True)]
            parts.append(f"<h3>{escape(r.ref)}</h3>" + _table(
                [self._t("stratum", "層"), self._t("partners who need it", "必要な社数")], rows))
        inner = "".join(parts) or _p(self._t("None.", "ありません。"), "sl-muted")
        return Section("strata", _block(self._t("By stratum", "層ごとの内訳"), inner))

    def holdout_section(self) -> Section:
        """The holdout a roll-out would keep, and how it was sized."""
        rows = [[r.ref, _n(f"{r.n_need:,}"),
                 _n("–" if r.holdout_share is None else f"{r.holdout_share:.1%}"),
                 _n("–" if r.holdout_n is None else f"≈ {r.holdout_n:,}"),
                 self._t(r.holdout_note, r.holdout_note_ja)] for r in self.rollouts]
        head = [self._t("package", "パッケージ"), self._t("partners", "社数"),
                self._t("holdout share", "対照の割合"), self._t("holdout partners", "対照の社数"),
                self._t("how", "算定方法")]
        warns = "".join(_p(f"{r.ref}: {w}", "sl-warn") for r in self.rollouts for w in r.warnings)
        note = self._t("The holdout keeps measuring the package while it is rolled out; the "
                       "exact count follows at assignment (strata are rounded).",
                       "対照群を残すことで、展開中も効果を測り続けられます。正確な社数は割付時に"
                       "決まります（層ごとに丸めます）。")
        inner = (_table(head, rows) if rows else "") + warns + _p(note, "sl-muted")
        return Section("holdout", _block(self._t("Holdout", "対照群（ホールドアウト）"), inner))

    def top_partners_section(self) -> Section:
        """The first partners of each version by its priority, with the reasons."""
        parts = []
        for r in self.rollouts:
            cols = list(r.top.columns)
            head = [self._t(c, {"priority_rank": "順位", "name": "名前", "rank": "ランク",
                                "region": "地域", "manager": "担当", "support_score": "支援スコア",
                                "why": "理由"}.get(c, c)) for c in ["partner_id", *cols]]
            rows = []
            for pid, rec in zip(r.top.index, r.top.to_dict("records"), strict=True):
                cells: list[Any] = [pid]
                for c in cols:
                    v = rec[c]
                    if c == "priority_rank":
                        cells.append(_n(f"{int(v):,}"))
                    elif c == "support_score":
                        cells.append(_n(_num(v, 1)))
                    else:
                        cells.append("–" if v is None or (isinstance(v, float) and math.isnan(v))
                                     else v)
                rows.append(cells)
            more = r.n_need - len(r.top)
            tail = _p(self._t(f"… and {more:,} more", f"…ほか {more:,} 社"), "sl-muted") if more > 0 else ""
            parts.append(f"<h3>{escape(r.ref)} — {escape(r.priority)}</h3>"
                         + (_table(head, rows) if rows else _p(self._t("No partner.", "該当なし。"),
                                                               "sl-muted")) + tail)
        inner = "".join(parts) or _p(self._t("None.", "ありません。"), "sl-muted")
        return Section("top_partners", _block(self._t("Who to start with", "優先して届ける相手"),
                                              inner))

    def notes_section(self) -> Section:
        """Warnings and how the view was made."""
        items = [self._t(
            "Candidates: the source experiment's segment and eligibility rule as of the date, "
            "less the partners a treatment arm of the package already reached (ledger."
            "already_treated); ranked by the experiment's priority.",
            "対象：元の実験のセグメントと条件を基準日時点で適用し、そのパッケージの処置群で"
            "すでに受けたパートナー（ledger.already_treated）を除き、実験の優先順で並べています。")]
        items += list(self.warnings)
        inner = '<ul class="sl-caveats">' + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"
        return Section("notes", _block(self._t("Notes", "注記"), inner))

    def sections(self) -> list[Section]:
        """Every section in page order."""
        return [self.overview_section(), self.packages_section(), self.uplift_section(),
                self.strata_section(), self.holdout_section(), self.top_partners_section(),
                self.notes_section()]

    # ---- outputs --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """``result.json``: the date, language, every roll-out, what was skipped, warnings."""
        out: dict[str, Any] = _jsonable({
            "view": "targeting", "as_of": self.as_of, "lang": self.lang,
            "n_rollouts": len(self.rollouts),
            "n_need": sum(r.n_need for r in self.rollouts),
            "rollouts": [r.to_dict() for r in self.rollouts],
            "skipped": [{"ref": a, "status": b, "reason": c} for a, b, c in self.skipped],
            "warnings": list(self.warnings)})
        return out

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2, default=str)

    def tables(self) -> dict[str, pd.DataFrame]:
        """``rollouts`` (one row per version), ``strata`` and ``top_partners``."""
        cols = ["ref", "title", "status", "source_experiment", "metric", "rule", "priority",
                "n_in_segment", "n_eligible", "n_treated", "n_need", "effect", "ci_lower",
                "ci_upper", "pooled_effect", "pooled_ci_lower", "pooled_ci_upper",
                "n_experiments", "total", "total_lower", "total_upper", "holdout_share",
                "holdout_n"]
        rows = []
        for r in self.rollouts:
            lo, hi = r.total_interval
            d = {c: getattr(r, c) for c in cols if c not in ("total", "total_lower",
                                                            "total_upper")}
            rows.append({**d, "total": r.total, "total_lower": lo, "total_upper": hi})
        strata = [pd.DataFrame({"ref": r.ref, "stratum": r.strata["stratum"], "n": r.strata["n"]})
                  for r in self.rollouts]
        top = [r.top.reset_index().assign(ref=r.ref) for r in self.rollouts]
        return {"rollouts": pd.DataFrame(rows, columns=cols),
                "strata": (pd.concat(strata, ignore_index=True) if strata
                           else pd.DataFrame(columns=["ref", "stratum", "n"])),
                "top_partners": (pd.concat(top, ignore_index=True) if top
                                 else pd.DataFrame(columns=["ref", "partner_id"]))}

    def summary_markdown(self) -> str:
        """3–5 bullets."""
        lines = [f"- roll-out targeting as of {self.as_of}: {len(self.rollouts)} package "
                 f"version(s), {sum(r.n_need for r in self.rollouts):,} partner(s) who need one"]
        for r in self.rollouts[:3]:
            eff = ("no estimate yet" if r.effect is None else
                   f"expected {_num(r.effect)} per partner (shrunk, 95% {_num(r.ci_lower)} to "
                   f"{_num(r.ci_upper)}), total {_num(r.total, 1)}")
            hold = ("holdout not sized" if r.holdout_share is None
                    else f"holdout {r.holdout_share:.1%}")
            lines.append(f"- {r.ref} ({r.status}): {r.n_need:,} partners; {eff}; {hold}")
        if self.skipped:
            lines.append(f"- not planned: {', '.join(s[0] for s in self.skipped)}")
        return "\n".join(lines[:5]) + "\n"

    def save(self, output_dir: str | Path) -> None:
        """Write ``result.json``, ``tables/<name>.csv`` and ``summary.md`` (nothing for ``""``)."""
        _save(output_dir, self.to_json(), self.tables(), self.summary_markdown())

    def _repr_html_(self) -> str:
        return "".join(s.html for s in self.sections())


def _packages_path(ws: Workspace, packages_dir: str | Path) -> Path:
    p = Path(packages_dir)
    if p.is_absolute():
        return p
    for base in (ws.config.experiments_path, ws.config.root):
        if (base / p).is_dir():
            return base / p
    return p


def targeting_view(workspace: Workspace | str | Path, packages_dir: str | Path = "packages", *,
                   lang: str | None = None, as_of: str | dt.date | None = None,
                   top: int = 20) -> TargetingView:
    """Roll-out planning for every promoted or piloting package version.

    For each version the registry (:func:`supportlab.design.registry.packages`) lists as
    promoted or piloting, the experiment it comes from gives the segment, the eligibility rule
    and the priority (a ``design.rollout`` file of that version first, else the experiment it
    was promoted in, else its latest); the partners eligible as of ``as_of`` that the package
    has not treated yet are its candidates, with the registry's shrunk pooled estimate and the
    roll-out holdout by power.

    Args:
        workspace: a workspace, or its path (opened read-only and closed after).
        packages_dir: the package files (relative: under the experiments folder, then the root).
        lang: ``en`` or ``ja`` (default: the workspace's language).
        as_of: the targeting date (default: the day after the last event, at most today).
        top: rows of each top-partners table.

    Returns:
        A :class:`TargetingView`.
    """
    from supportlab.data.engine import connect
    from supportlab.design.registry import packages

    ws, own = _open(workspace)
    try:
        chosen = _lang(lang, ws)
        engine = connect(ws)
        day = _as_of(engine, as_of)
        folder = _packages_path(ws, packages_dir)
        reg = packages(ws, folder)
        exps, problems = _experiment_files(ws, folder)
        rollouts: list[RolloutTarget] = []
        skipped: list[tuple[str, str, str]] = []
        for row in reg.frame.to_dict("records"):
            if row["status"] not in ROLLOUT_STATUSES:
                continue
            src = _source(exps, str(row["ref"]), row.get("promoted_in"))
            if src is None:
                skipped.append((str(row["ref"]), str(row["status"]),
                                "no experiment file of this version to take the rule from"))
                continue
            try:
                rollouts.append(_rollout(ws, engine, row, src, day, top))
            except SupportlabError as exc:
                skipped.append((str(row["ref"]), str(row["status"]), str(exc).splitlines()[0]))
    finally:
        if own:
            ws.close()
    return TargetingView(lang=chosen, as_of=day, rollouts=tuple(rollouts),
                         skipped=tuple(skipped), warnings=(*reg.warnings, *problems), top=top)


# -- the support score ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SupportScoreView:
    """The support score for sales and marketing: distribution, components, movers, top partners.

    Attributes:
        lang: ``en`` or ``ja``.
        as_of: the score's date.
        previous: the earlier date of the movers (``as_of`` − 28 days), ``None`` when the score
            could not be computed then.
        scores: per partner (index ``partner_id``): ``name``, ``rank``, ``support_score``,
            ``<component>_points``, ``previous_score`` and ``change``.
        weights: each component's weight (points at most).
        lookback_days: the score's lookback.
        top: rows of the top-partners and movers tables.
        notes: caveats (en, ja).
    """

    lang: str
    as_of: dt.date
    previous: dt.date | None
    scores: pd.DataFrame = field(repr=False)
    weights: dict[str, float] = field(default_factory=dict)
    lookback_days: int = 90
    top: int = 20
    notes: tuple[tuple[str, str], ...] = ()

    def _t(self, en: str, ja: str) -> str:
        return ja if self.lang == "ja" else en

    def _component(self, c: str) -> str:
        return _COMPONENT_JA.get(c, c) if self.lang == "ja" else c.replace("_", " ")

    def _partner_rows(self, frame: pd.DataFrame, with_change: bool) -> list[list[Any]]:
        rows: list[list[Any]] = []
        for pid, rec in zip(frame.index, frame.to_dict("records"), strict=True):
            name = rec.get("name")
            cells: list[Any] = [pid, "–" if name is None or name != name else name,
                                rec.get("rank") if rec.get("rank") == rec.get("rank") else "–",
                                _n(_num(rec["support_score"], 1))]
            if with_change:
                cells += [_n(_num(rec.get("previous_score"), 1)), _n(_num(rec.get("change"), 1))]
            rows.append(cells)
        return rows

    def _partner_head(self, with_change: bool) -> list[str]:
        head = [self._t("partner", "パートナー"), self._t("name", "名前"), self._t("rank", "ランク"),
                self._t("score", "スコア")]
        if with_change:
            head += [self._t(f"score on {fmt_date(self.previous)}",
                             f"{fmt_date(self.previous, 'ja')}のスコア"),
                     self._t("change", "変化")]
        return head

    # ---- sections -------------------------------------------------------------------------
    def overview_section(self) -> Section:
        """Partners scored, mean and median, the share below 40 and the date."""
        s = self.scores["support_score"]
        kpis = [(self._t("partners scored", "スコア対象"), f"{len(s):,}"),
                (self._t("mean score", "平均スコア"), _num(s.mean(), 1)),
                (self._t("median", "中央値"), _num(s.median(), 1)),
                (self._t("below 40", "40 未満"), f"{(s < 40).mean():.0%}" if len(s) else "–"),
                (self._t("as of", "基準日"), fmt_date(self.as_of, self.lang))]
        text = self._t(f"The support score (0–100) sums five components of the last "
                       f"{self.lookback_days} days; a low score marks a partner who needs support.",
                       f"支援スコア（0〜100）は直近 {self.lookback_days} 日の 5 つの要素の合計です。"
                       "低いパートナーほど支援が必要です。")
        return Section("overview", _block(self._t("Support score", "支援スコア"),
                                          _kpis(kpis) + _p(text)))

    def distribution_section(self) -> Section:
        """A histogram of the score (a chart when available) and the count per 10-point band."""
        d = self.distribution()
        med = float(self.scores["support_score"].median()) if len(self.scores) else None
        chart = _chart(distribution_chart(
            list(self.scores["support_score"].astype(float)), lang=self.lang, digits=1, log=False,
            title=self._t("Support score of every partner", "全パートナーの支援スコア"),
            xlabel=self._t("support score", "支援スコア"),
            markers=None if med is None else {self._t("median", "中央値"): med}))
        rows = [[b, _n(f"{int(n):,}"), _n(f"{sh:.0%}")]
                for b, n, sh in zip(d["band"], d["partners"], d["share"], strict=True)]
        inner = chart + _table([self._t("score band", "スコア帯"), self._t("partners", "社数"),
                                self._t("share", "割合")], rows)
        return Section("distribution", _block(self._t("Distribution", "分布"), inner))

    def components_section(self) -> Section:
        """Each component: weight, mean points, share of its maximum."""
        c = self.components()
        rows = [[self._component(k), _n(_num(w, 0)), _n(_num(m, 1)), _n(f"{sh:.0%}")]
                for k, w, m, sh in zip(c["component"], c["weight"], c["mean_points"],
                                       c["share_of_max"], strict=True)]
        inner = _table([self._t("component", "要素"), self._t("weight (max points)", "配点"),
                        self._t("mean points", "平均点"), self._t("of the maximum", "満点比")],
                       rows)
        inner = _chart(bar_chart(
            [self._component(str(k)) for k in c["component"]],
            [100 * float(x) for x in c["share_of_max"]], lang=self.lang, digits=0,
            title=self._t("Mean points as a share of each component's maximum",
                          "要素ごとの平均点（満点に対する割合）"),
            xlabel=self._t("% of the maximum", "満点比（%）"))) + inner
        weakest = c.sort_values("share_of_max").iloc[0]["component"] if len(c) else None
        if weakest is not None:
            inner += _p(self._t(f"Weakest on average: {self._component(str(weakest))}.",
                                f"平均で最も弱い要素：{self._component(str(weakest))}。"))
        return Section("components", _block(self._t("Components", "スコアの内訳"), inner))

    def movers_section(self) -> Section:
        """Largest rises and falls since the previous date."""
        title = self._t("Movers", "変化の大きいパートナー")
        if self.previous is None:
            return Section("movers", _block(title, _p(self._t(
                "The score could not be computed for an earlier date: no movers.",
                "以前の日付のスコアを計算できないため、変化は示せません。"), "sl-muted")))
        rise, fall = self.movers()
        inner = _p(self._t(f"Change from {fmt_date(self.previous)} to {fmt_date(self.as_of)}.",
                           f"{fmt_date(self.previous, 'ja')}から{fmt_date(self.as_of, 'ja')}への変化。"))
        for label, frame in ((self._t("Largest rises", "上昇が大きい"), rise),
                             (self._t("Largest falls", "低下が大きい"), fall)):
            inner += f"<h3>{escape(label)}</h3>" + (
                _table(self._partner_head(True), self._partner_rows(frame, True)) if len(frame)
                else _p(self._t("None.", "ありません。"), "sl-muted"))
        return Section("movers", _block(title, inner))

    def top_partners_section(self) -> Section:
        """The highest scores (engaged partners) and the lowest (who needs support)."""
        s = self.scores.sort_values(["support_score"], ascending=False, kind="stable")
        low = self.scores.sort_values(["support_score"], ascending=True, kind="stable")
        inner = ""
        for label, frame in ((self._t("Highest scores", "スコアが高い"), s.head(self.top)),
                             (self._t("Lowest scores: who needs support", "スコアが低い：支援が必要"),
                              low.head(self.top))):
            inner += f"<h3>{escape(label)}</h3>" + _table(
                self._partner_head(self.previous is not None),
                self._partner_rows(frame, self.previous is not None))
        return Section("top_partners", _block(self._t("Partners", "パートナー"), inner))

    def notes_section(self) -> Section:
        """Caveats."""
        items = [self._t(en, ja) for en, ja in self.notes]
        items.append(self._t("Computed by supportlab.features.score.support_score (one engine "
                             "query per date); partners who had not joined are not scored.",
                             "supportlab.features.score.support_score で算出（日付ごとに 1 回の"
                             "クエリ）。その日までに参加していないパートナーは対象外です。"))
        inner = '<ul class="sl-caveats">' + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"
        return Section("notes", _block(self._t("Notes", "注記"), inner))

    def sections(self) -> list[Section]:
        """Every section in page order."""
        return [self.overview_section(), self.distribution_section(), self.components_section(),
                self.movers_section(), self.top_partners_section(), self.notes_section()]

    # ---- data -----------------------------------------------------------------------------
    def distribution(self) -> pd.DataFrame:
        """Partners per 10-point band: ``band``, ``partners``, ``share``."""
        s = self.scores["support_score"].astype(float)
        bands = [f"{lo}–{lo + 10}" for lo in range(0, 100, 10)]
        counts = s.map(_band).value_counts().reindex(bands, fill_value=0)
        total = max(len(s), 1)
        return pd.DataFrame({"band": bands, "partners": counts.to_numpy().astype(int),
                             "share": counts.to_numpy() / total})

    def components(self) -> pd.DataFrame:
        """Per component: ``weight``, ``max_points``, ``mean_points``, ``share_of_max``."""
        total = sum(self.weights.values()) or 1.0
        rows = []
        for k, w in self.weights.items():
            col = f"{k}_points"
            mean = float(self.scores[col].mean()) if col in self.scores and len(self.scores) else math.nan
            mx = 100 * w / total
            rows.append({"component": k, "weight": float(w), "max_points": mx,
                         "mean_points": mean, "share_of_max": mean / mx if mx > 0 else math.nan})
        return pd.DataFrame(rows, columns=["component", "weight", "max_points", "mean_points",
                                           "share_of_max"])

    def movers(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The ``top`` largest rises and falls (partners scored on both dates)."""
        both = self.scores.dropna(subset=["change"])
        rise = both[both["change"] > 0].sort_values("change", ascending=False, kind="stable")
        fall = both[both["change"] < 0].sort_values("change", ascending=True, kind="stable")
        return rise.head(self.top), fall.head(self.top)

    # ---- outputs --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """``result.json``: dates, summary statistics, components, distribution, movers, top."""
        s = self.scores["support_score"]
        rise, fall = self.movers() if self.previous is not None else (self.scores.head(0),) * 2
        top = self.scores.sort_values("support_score", ascending=False, kind="stable")
        out: dict[str, Any] = _jsonable({
            "view": "support_score", "as_of": self.as_of, "previous": self.previous,
            "lang": self.lang, "lookback_days": self.lookback_days,
            "n_partners": len(s), "mean": float(s.mean()) if len(s) else None,
            "median": float(s.median()) if len(s) else None, "weights": dict(self.weights),
            "components": _records(self.components()),
            "distribution": _records(self.distribution()),
            "rises": _records(rise), "falls": _records(fall),
            "top": _records(top.head(self.top)),
            "notes": [en for en, _ in self.notes]})
        return out

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2, default=str)

    def tables(self) -> dict[str, pd.DataFrame]:
        """``scores`` (every partner), ``components``, ``distribution``, ``movers``."""
        rise, fall = self.movers()
        movers = pd.concat([rise.assign(direction="rise"), fall.assign(direction="fall")])
        movers.index.name = "partner_id"
        return {"scores": self.scores, "components": self.components(),
                "distribution": self.distribution(), "movers": movers}

    def summary_markdown(self) -> str:
        """3–5 bullets."""
        s = self.scores["support_score"]
        c = self.components()
        lines = [f"- support score as of {self.as_of}: {len(s):,} partners, mean "
                 f"{_num(s.mean(), 1)}, median {_num(s.median(), 1)}",
                 f"- {(s < 40).mean():.0%} of partners score below 40" if len(s) else "- no partner"]
        if len(c):
            w = c.sort_values("share_of_max").iloc[0]
            lines.append(f"- weakest component: {w['component']} ({w['share_of_max']:.0%} of its "
                         "maximum on average)")
        if self.previous is not None:
            lines.append(f"- since {self.previous}: {int((self.scores['change'] > 0).sum()):,} "
                         f"rose, {int((self.scores['change'] < 0).sum()):,} fell")
        return "\n".join(lines[:5]) + "\n"

    def save(self, output_dir: str | Path) -> None:
        """Write ``result.json``, ``tables/<name>.csv`` and ``summary.md`` (nothing for ``""``)."""
        _save(output_dir, self.to_json(), self.tables(), self.summary_markdown())

    def _repr_html_(self) -> str:
        return "".join(s.html for s in self.sections())


def support_score_view(workspace: Workspace | str | Path, *, lang: str | None = None,
                       as_of: str | dt.date | None = None, top: int = 20) -> SupportScoreView:
    """The support score as of a date, with the movers since 28 days earlier.

    Args:
        workspace: a workspace, or its path (opened read-only and closed after).
        lang: ``en`` or ``ja`` (default: the workspace's language).
        as_of: the score's date (default: the day after the last event, at most today).
        top: rows of the top-partners and movers tables.

    Returns:
        A :class:`SupportScoreView`.
    """
    from supportlab.data.engine import connect
    from supportlab.features.score import COMPONENTS, score_config, support_score
    from supportlab.features.segments import partner_attributes

    ws, own = _open(workspace)
    notes: list[tuple[str, str]] = []
    try:
        chosen = _lang(lang, ws)
        engine = connect(ws)
        day = _as_of(engine, as_of)
        cfg = score_config(ws)
        cur = support_score(engine, day, cfg)
        earlier = day - dt.timedelta(days=MOVERS_DAYS)
        prev_day: dt.date | None = earlier
        try:
            prev = support_score(engine, earlier, cfg)["support_score"]
        except SupportlabError as exc:
            notes.append((f"no movers: the score as of {prev_day} could not be computed "
                          f"({str(exc).splitlines()[0]})",
                          f"{prev_day} 時点のスコアを計算できないため変化は示せません"))
            prev_day, prev = None, pd.Series(dtype="float64")
        attrs = partner_attributes(engine, day)
    finally:
        if own:
            ws.close()
    frame = pd.DataFrame(index=cur.index)
    for c in ("name", "rank"):
        frame[c] = attrs[c].reindex(cur.index) if c in attrs else None
    frame["support_score"] = cur["support_score"].astype(float)
    for k in COMPONENTS:
        frame[f"{k}_points"] = cur[f"{k}_points"].astype(float)
    frame["previous_score"] = prev.reindex(cur.index).astype(float)
    frame["change"] = frame["support_score"] - frame["previous_score"]
    frame.index.name = "partner_id"
    new = int(frame["previous_score"].isna().sum()) if prev_day is not None else 0
    if new:
        notes.append((f"{new:,} partner(s) were not yet scored on {prev_day} (joined since)",
                      f"{new:,} 社は {prev_day} にはまだ参加していません（変化の対象外）"))
    return SupportScoreView(lang=chosen, as_of=day, previous=prev_day, scores=frame,
                            weights={k: float(v) for k, v in cfg.weights.items()},
                            lookback_days=int(cfg.lookback_days), top=top, notes=tuple(notes))
