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
from dataclasses import dataclass, field, replace
from pathlib import Path

import ibis
import pandas as pd

from supportlab.config.experiment import Experiment, Package
from supportlab.data.engine import Engine
from supportlab.display import Bullets, Field, Section, Table, check_lang, label, render_html
from supportlab.errors import ConfigError, DataValidationError
from supportlab.features.metrics import (
    Metric,
    builtin_metrics,
    check_as_of,
    joined_by,
    metrics_table,
    window_asof,
)
from supportlab.features.rules import RuleError, condition_rule
from supportlab.features.rules.compile import selected
from supportlab.features.score import COMPONENTS, ScoreConfig, point_columns, score_metrics
from supportlab.features.segments import attributes_table, segment_rule
from supportlab.results import format_frame

#: history used for "as of" features unless a metric sets its own lookback
DEFAULT_LOOKBACK_DAYS = 365
#: prefix of the support score's own metrics inside the features query
SCORE_PREFIX = "score__"


def _where(obj: Package | Experiment, fallback: str) -> str:
    return str(obj.path) if getattr(obj, "path", None) else fallback


def features_table(engine: Engine, as_of: dt.date | str, *,
                   package: Package | None = None,
                   catalogue: Mapping[str, Metric] | None = None,
                   metrics: Sequence[str] | None = None,
                   score_config: ScoreConfig | None = None,
                   segments: Mapping[str, str | Mapping[str, object]] | None = None,
                   lookback_days: int = DEFAULT_LOOKBACK_DAYS) -> ibis.Table:
    """Every partner's attributes, metrics, support score and named segments, as one ibis table.

    Nothing is executed: the table is one engine query, to be filtered by a segment and a rule
    (:func:`select_targets`) or executed whole (:func:`partner_features`). Partners who had not
    joined by ``as_of`` are left out. Arguments as for :func:`partner_features`.
    """
    catalogue = dict(catalogue or builtin_metrics())
    names = list(metrics) if metrics is not None else [
        n for n, m in catalogue.items()
        if m.kind != "package_completion" or package is not None]
    cfg = score_config or ScoreConfig()
    score_ms = [replace(m, name=SCORE_PREFIX + m.name) for m in score_metrics(cfg)]
    w = window_asof(as_of, engine.timezone, lookback_days)
    feats = metrics_table(engine, [*names, *score_ms], [w], package=package,
                          catalogue=catalogue, suffix=False)
    feats = feats.mutate(**point_columns(feats, cfg, SCORE_PREFIX))
    attrs = attributes_table(engine, as_of)
    attrs = attrs.filter(joined_by(attrs, as_of))
    clash = [n for n in names if n in attrs.columns]
    if clash:
        raise ConfigError(f"metric '{clash[0]}' has the name of a partner attribute",
                          where="metrics.yaml", fix="rename the metric")
    feats = feats.rename(_pid="partner_id")
    score_cols = ["support_score", *(f"{k}_points" for k in COMPONENTS)]
    out = attrs.inner_join(feats, attrs.partner_id == feats._pid)
    out = out.select(*attrs.columns, *names, *score_cols)
    extra = {}
    for name, seg in (segments or {}).items():
        if name in out.columns:
            raise ConfigError(f"segment name '{name}' clashes with a partner feature",
                              where=f"segments.{name}", fix="rename the segment")
        rule = segment_rule(seg, f"segments.{name}")
        extra[name] = (selected(rule.to_ibis(out, tz=engine.timezone)) if rule is not None
                       else ibis.literal(True))
    return out.mutate(**extra) if extra else out


def partner_features(engine: Engine, as_of: dt.date | str, *,
                     package: Package | None = None,
                     catalogue: Mapping[str, Metric] | None = None,
                     metrics: Sequence[str] | None = None,
                     score_config: ScoreConfig | None = None,
                     segments: Mapping[str, str | Mapping[str, object]] | None = None,
                     lookback_days: int = DEFAULT_LOOKBACK_DAYS) -> pd.DataFrame:
    """Every partner's attributes, segments, metrics and support score as of a date.

    One engine query (:func:`features_table`); partners who had not joined by ``as_of`` are left
    out, and a date in the future or after the last data is refused.

    Args:
        engine: where the logs live.
        as_of: features use history before this date (midnight, workspace zone).
        package: for ``completion_rate``/``package_completion`` of that package.
        catalogue: metric definitions (default: built-ins).
        metrics: which metrics (default: the whole catalogue that applies).
        score_config: support-score settings.
        segments: named segments (rules or their mapping form), each a true/false feature.
        lookback_days: window of "as of" metrics without their own lookback.

    Returns:
        One row per partner (index ``partner_id``).

    Raises:
        DataValidationError: No partners, or ``as_of`` after the last data.
        ConfigError: ``as_of`` in the future, or a segment that does not compile.
    """
    check_as_of(engine, as_of, what="features")
    t = features_table(engine, as_of, package=package, catalogue=catalogue, metrics=metrics,
                       score_config=score_config, segments=segments,
                       lookback_days=lookback_days)
    out = engine.execute(t).set_index("partner_id").sort_index()
    if out.empty:
        _no_partners()
    out["tenure_days"] = out["tenure_days"].astype("Float64")
    out.index.name = "partner_id"
    return out


def _no_partners() -> None:
    raise DataValidationError("the workspace has no partners",
                              fix="load partners first (supportlab ingest partners FILE)")


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

    def to_section(self, lang: str = "en", *, rows: int = 10) -> Section:
        """The list as a :class:`~supportlab.display.Section`: counts, rule, priority and the
        first ``rows`` partners."""
        ja = check_lang(lang) == "ja"
        items: list[Field | Bullets | Table | Section] = [
            Field(label("as_of", lang), str(self.as_of)),
            Field(label("rule", lang), self.rule or "—"),
            Field(label("priority", lang), self.priority),
            Field(label("partners", lang), f"{self.n_partners:,}"),
            Field(label("in_segment", lang), f"{self.n_in_segment:,}"),
            Field(label("eligible", lang), f"{self.n_eligible:,}"),
            Field(label("kept", lang), f"{len(self.frame):,}"),
        ]
        if self.n_eligible == 0 and self.condition_counts:
            items.append(Table("条件ごとの該当数" if ja else "partners meeting each condition",
                               ("条件", "数") if ja else ("condition", "partners"),
                               tuple((c, f"{n:,}") for c, n in self.condition_counts),
                               ("left", "right")))
        if len(self.frame):
            frame = self.frame.head(rows)
            if frame.index.name is not None:
                frame = frame.reset_index()
            t = format_frame(frame, lang=lang, max_rows=None)
            # feature names as written in rules, not display labels
            headers = (tuple(str(c) for c in frame.columns) if len(t.headers) == frame.shape[1]
                       else t.headers)
            items.append(Table("先頭の行" if ja else "first rows", headers, t.rows, t.align,
                               max(0, len(self.frame) - rows)))
        return Section("対象リスト" if ja else "Target list", tuple(items), self.experiment_id)

    def _repr_html_(self) -> str:
        return render_html(self.to_section())

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
                   segments: Mapping[str, str | Mapping[str, object]] | None = None,
                   limit: int | None = None) -> TargetList:
    """The ranked eligible partners of an experiment, in one engine query.

    The package segment, the features, the support score and the eligibility rule are one
    query; only the selected partners come back, each with the conditions that made it eligible
    (``why``).

    Args:
        engine: where the logs live.
        experiment: its package segment, eligibility rule and priority are used.
        as_of: the targeting date (default: the experiment's start).
        catalogue: metric definitions.
        score_config: support-score settings.
        segments: named segments, usable in the rule by name.
        limit: keep only the first N (default: ``design.max_partners`` or all).

    Raises:
        RuleError: The segment or the eligibility rule does not parse or names an unknown
            feature; the message names the file and key (``x.yaml: eligibility``).
        DataValidationError: No partners, or ``as_of`` after the last data.
        ConfigError: ``as_of`` in the future, or an unknown priority feature.
    """
    day = check_as_of(engine, as_of or experiment.design.start, what="targets")
    package = experiment.package
    t = features_table(engine, day, package=package, catalogue=catalogue,
                       score_config=score_config, segments=segments)
    from supportlab.config.checks import check_experiment  # names the files use must exist

    ids = set(engine.execute(engine.table("contents").select("content_id"))["content_id"]
              ) if engine.has_table("contents") else set()
    check_experiment(experiment, metrics=catalogue or builtin_metrics(), columns=t.columns,
                     contents=ids or None)
    tz = engine.timezone
    seg_rule = segment_rule(package.segment, f"{_where(package, package.ref)}: segment")
    where = f"{_where(experiment, experiment.id)}: eligibility"
    rule = condition_rule(experiment.eligibility or None, where)
    try:
        in_seg = selected(seg_rule.to_ibis(t, tz=tz)) if seg_rule else ibis.literal(True)
        kinds = rule.check(t) if rule is not None else {}
        eligible = selected(rule.to_ibis(t, tz=tz)) if rule is not None else ibis.literal(True)
        atoms = rule.atom_columns(t, tz=tz) if rule is not None else {}
    except RuleError as exc:
        raise (exc if exc.where else exc.located(where)) from None
    priority = experiment.priority or "support_score"
    if priority not in t.columns:
        import difflib

        near = difflib.get_close_matches(priority, list(t.columns), n=1)
        raise ConfigError(f"unknown priority feature '{priority}'",
                          where=f"{_where(experiment, experiment.id)}: priority",
                          fix=(f"did you mean '{near[0]}'? " if near else "") +
                          "use a metric, an attribute or support_score")
    shown = [n for n in (rule.ordered_names if rule is not None else ()) if n in t.columns]
    keep = list(dict.fromkeys(c for c in [
        "partner_id", "name", "rank", "region", "manager", "tenure_band", "segment", "products",
        *shown, priority, "support_score"] if c in t.columns))
    labels = list(atoms)
    q = t.mutate(_in_segment=in_seg, _eligible=eligible,
                 **{f"_atom{i}": atoms[a] for i, a in enumerate(labels)})
    whole = ibis.window()
    q = q.mutate(_n_partners=q.partner_id.count().over(whole),
                 _n_in_segment=q._in_segment.cast("int64").sum().over(whole),
                 _n_eligible=(q._in_segment & q._eligible).cast("int64").sum().over(whole))
    asc = experiment.priority_order != "desc"
    order = ibis.asc(priority, nulls_first=False) if asc else ibis.desc(priority, nulls_first=False)
    chosen = q.filter(q._in_segment & q._eligible).order_by([order, "partner_id"])
    cap = limit or experiment.design.max_partners
    if cap:
        chosen = chosen.limit(int(cap))
    cols = [*keep, "_n_partners", "_n_in_segment", "_n_eligible",
            *(f"_atom{i}" for i in range(len(labels)))]
    got = engine.execute(chosen.select(*cols))
    counts: tuple[tuple[str, int], ...] = ()
    if got.empty:
        n_all, n_seg, n_eligible, counts = _counts(engine, q, labels)
    else:
        n_all, n_seg, n_eligible = (int(got[c].iloc[0]) for c in
                                    ("_n_partners", "_n_in_segment", "_n_eligible"))
    atom_values = got[[f"_atom{i}" for i in range(len(labels))]]
    atom_values.columns = labels
    if rule is not None:
        rows = got[shown].join(atom_values) if shown else atom_values
        why = ["; ".join(rule.reasons(row, kinds)) for row in rows.to_dict("records")]
    else:
        why = ["in the package segment"] * len(got)
    frame = got[keep].copy()
    frame.insert(1, "priority_rank", range(1, len(frame) + 1))
    frame["why"] = why
    frame = frame.set_index("partner_id")
    return TargetList(experiment.id, day, experiment.eligibility, f"{priority} "
                      f"{'asc' if asc else 'desc'}", frame, n_all, n_seg, n_eligible, counts)


def _counts(engine: Engine, q: ibis.Table, labels: Sequence[str]
            ) -> tuple[int, int, int, tuple[tuple[str, int], ...]]:
    """Partners, partners in the segment, and those in it meeting each condition (no one eligible)."""
    seg = q._in_segment
    aggs = {"n": q.count(), "seg": seg.cast("int64").sum(),
            **{f"a{i}": (seg & q[f"_atom{i}"].fill_null(False)).cast("int64").sum()
               for i in range(len(labels))}}
    row = engine.execute(q.aggregate(**aggs)).iloc[0]
    n_all = int(row["n"])
    if n_all == 0:
        _no_partners()
    n_seg = int(row["seg"] or 0)
    counts = tuple((a, int(row[f"a{i}"] or 0)) for i, a in enumerate(labels))
    return n_all, n_seg, 0, counts
