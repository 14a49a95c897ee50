"""The assignment ledger: eligible partners randomized once, stored immutably, re-derivable.

:func:`assign` is what ``supportlab assign`` runs:

1. **eligible partners**: the experiment's targets
   (:func:`~supportlab.features.targeting.select_targets`) as of the start date, or, when the
   start is after the data (a planned start), as of the day after the last data day (which one
   is recorded); their pre-period covariates (:func:`~supportlab.features.metrics.
   compute_metrics` over the ``pre_days`` before that day);
2. **exclusions**: partners in an experiment overlapping this one (its ``[start, end)`` meets
   this one's) of the same package (``exclude_running: same_package``) or of any package
   (``any_package``); for a roll-out (``design.rollout``), partners this package already treated
   in an earlier experiment, and the control share becomes a holdout sized by power
   (:func:`supportlab.design.plan.rollout_holdout`);
3. **randomization** (:func:`supportlab.design.randomize.randomize`) of the stored design
   (:class:`~supportlab.design.spec.DesignSpec`);
4. **the ledger**, in one transaction: the ``assignments`` rows, one ``designs`` row (the spec
   as JSON, ``design_hash``, ``eligible_hash`` = SHA-256 of the sorted eligible ids) and the
   randomization's inputs in ``assignment_units`` (every eligible partner, its strata values and
   covariates, assigned or excluded with the reason). Append-only: nothing is ever updated or
   deleted. The existence check runs inside the write transaction, so two processes at once
   write one assignment (DuckDB has one writer; the other waits, then finds it).

Running it again with the same design and eligibility returns the stored assignment and says
so; a changed design (hash), eligibility or package version is refused with what changed and
the way out (a new experiment id, or ``design.phase: N+1``). A start before the day after the
last data is refused (randomization happens before outcomes) unless ``design.placebo: true``,
an A/A run on history that every output labels.

:func:`verify` recomputes the ledger from the stored spec and inputs and compares it row by
row; :func:`read_ledger` is how the other modules read an assignment; and
:func:`running_experiments` lists the experiments running on a day.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from supportlab.config.experiment import Experiment
from supportlab.design.randomize import covariate_column, randomize
from supportlab.design.spec import DesignSpec, design_spec
from supportlab.errors import ConfigError, DataValidationError, WorkspaceError
from supportlab.results import ResultMixin
from supportlab.vocab import CONTROL_ARM

if TYPE_CHECKING:  # pragma: no cover
    import duckdb

    from supportlab.data.engine import Engine
    from supportlab.data.workspace import Workspace

__all__ = ["MAX_PLANNED_DAYS", "SMD_WARNING", "Assignment", "Verification", "already_treated", "assign",
           "eligible_hash", "read_ledger", "running_experiments", "verify"]

#: |SMD| above which the balance table warns
SMD_WARNING = 0.1
#: a planned start may lie at most this many days after the data (eligibility is measured at
#: the data's end: further ahead it would describe partners as they no longer are)
MAX_PLANNED_DAYS = 90

#: ``assignment_units.status`` of partners that went into the draw
_INPUT = ("assigned", "small_stratum")


def eligible_hash(ids: Sequence[str]) -> str:
    """SHA-256 of the sorted eligible partner ids (one per line).

    Example:
        >>> eligible_hash(["P2", "P1"]) == eligible_hash(["P1", "P2"])
        True
    """
    text = "\n".join(sorted(str(i) for i in ids))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assignment(ResultMixin):
    """An experiment phase's assignment: counts, balance, exclusions, the stored design.

    Attributes:
        experiment / package / phase / method: what was assigned.
        start / end: the delivery's first day and the horizon's end (exclusive).
        as_of: the day eligibility and the pre-period were measured at; ``as_of_source`` says
            why (``start``, ``day after the data`` for a planned start, or ``given``).
        placebo: an A/A run on history (nothing is delivered).
        already: the stored assignment was returned (nothing was written).
        dry_run: nothing was written because it was asked (``--dry-run``).
        assigned_at: when the ledger was written (``None`` for a dry run).
        n_eligible / n_assigned / n_excluded: partners eligible, randomized and left out.
        n_per_arm: partners per arm; ``arm_shares`` the design's probabilities.
        capacity: experiments of this size the eligible partners can host at once
            (partners the rule makes eligible, before ``max_partners`` and exclusions, //
            ``n_assigned``); ``capacity_segment`` and ``capacity_program`` the same for the
            package segment and for all partners.
        counts: partners per stratum and arm.
        balance: standardized mean differences of the pre-period covariates, each arm
            against control.
        excluded: the partners left out, with the reason.
        design: the stored design (:class:`~supportlab.design.spec.DesignSpec` as plain data;
            :attr:`spec` reads it back).
    """

    _title: ClassVar[str] = "Assignment"
    _title_ja: ClassVar[str] = "割付"
    _hidden: ClassVar[frozenset[str]] = frozenset({"design", "design_hash", "eligible_hash",
                                                   "arm_shares"})
    _labels: ClassVar[Mapping[str, Mapping[str, str]]] = {
        "en": {"as_of_source": "as of (why)", "already": "already assigned",
               "dry_run": "dry run", "assigned_at": "assigned at",
               "n_eligible": "eligible partners", "n_assigned": "assigned partners",
               "n_excluded": "excluded partners", "n_per_arm": "partners per arm",
               "capacity": "experiments of this size at once (eligible)",
               "capacity_segment": "experiments of this size at once (segment)",
               "capacity_program": "experiments of this size at once (program)",
               "counts": "partners by stratum and arm", "balance": "balance (pre-period)",
               "excluded": "excluded partners", "start": "start", "end": "end",
               "mean_arm": "mean (arm)"},
        "ja": {"experiment": "実験", "package": "支援パッケージ", "method": "割付の方法",
               "as_of": "基準日", "as_of_source": "基準日の根拠", "already": "割付済み",
               "dry_run": "試行（書き込みなし）", "assigned_at": "割付日時", "start": "開始日",
               "end": "終了日", "n_eligible": "対象パートナー数", "n_assigned": "割付数",
               "n_excluded": "除外数", "n_per_arm": "群ごとの数",
               "capacity": "同時に実施できる実験数（対象）",
               "capacity_segment": "同時に実施できる実験数（セグメント）",
               "capacity_program": "同時に実施できる実験数（全体）",
               "counts": "層と群ごとの数", "balance": "事前期間のバランス",
               "excluded": "除外したパートナー", "seed": "乱数シード", "mean_arm": "平均（群）"},
    }

    experiment: str
    package: str
    phase: int
    method: str
    start: dt.date
    end: dt.date
    as_of: dt.date
    as_of_source: str
    placebo: bool
    already: bool
    dry_run: bool
    assigned_at: str | None
    n_eligible: int
    n_assigned: int
    n_excluded: int
    n_per_arm: Mapping[str, int]
    arm_shares: Mapping[str, float]
    capacity: int
    capacity_segment: int
    capacity_program: int
    seed: int
    design_hash: str
    eligible_hash: str
    counts: pd.DataFrame = field(compare=False, repr=False)
    balance: pd.DataFrame = field(compare=False, repr=False)
    excluded: pd.DataFrame = field(compare=False, repr=False)
    design: Mapping[str, Any] = field(compare=False, repr=False)
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def spec(self) -> DesignSpec:
        """The stored design."""
        return DesignSpec.from_json(json.dumps(self.design))

    def _hidden_fields(self, lang: str) -> frozenset[str]:
        return self._hidden | ({"excluded"} if self.excluded.empty else set()) | (
            {"balance"} if self.balance.empty else set())

    def message(self) -> str:
        """One line: what was done (``assigned N partners``, ``already assigned on …``)."""
        tag = " (placebo A/A run on history)" if self.placebo else ""
        if self.already:
            day = (self.assigned_at or "")[:10]
            return f"already assigned on {day}: the stored assignment is unchanged{tag}"
        if self.dry_run:
            return f"dry run: would assign {self.n_assigned:,} partners; nothing written{tag}"
        return f"assigned {self.n_assigned:,} partners{tag}"

    def _headline(self, lang: str) -> str:
        if lang != "ja":
            return f"{self.experiment} phase {self.phase}: {self.message()}"
        tag = "（プラセボ：過去データでのA/A）" if self.placebo else ""
        if self.already:
            return f"{self.experiment}: {(self.assigned_at or '')[:10]} に割付済み（変更なし）{tag}"
        if self.dry_run:
            return f"{self.experiment}: 試行 {self.n_assigned:,} 社（書き込みなし）{tag}"
        return f"{self.experiment}: {self.n_assigned:,} 社を割付{tag}"


@dataclass(frozen=True)
class Verification(ResultMixin):
    """The ledger recomputed from the stored design and inputs, compared row by row.

    Attributes:
        equal: every row re-derived as stored (arm, stratum, block, probability).
        n_rows: ledger rows compared; ``n_differing`` those that differ.
        eligible_hash_ok: the stored inputs hash to the stored ``eligible_hash``.
        differences: the differing rows (partner, column, stored, recomputed).
    """

    _title: ClassVar[str] = "Assignment verification"
    _title_ja: ClassVar[str] = "割付の再現確認"

    experiment: str
    phase: int
    algorithm: str
    equal: bool
    eligible_hash_ok: bool
    n_rows: int
    n_differing: int
    differences: pd.DataFrame = field(compare=False, repr=False)
    notes: tuple[str, ...] = ()

    def _hidden_fields(self, lang: str) -> frozenset[str]:
        return self._hidden | ({"differences"} if self.differences.empty else set())

    def _headline(self, lang: str) -> str:
        if lang == "ja":
            return ("再計算した割付は保存された割付と一致" if self.equal
                    else f"{self.n_differing:,} 行が一致しない")
        return (f"the recomputed ledger equals the stored one ({self.n_rows:,} rows)"
                if self.equal else f"{self.n_differing:,} of {self.n_rows:,} rows differ")


# -- reading the ledger ---------------------------------------------------------------------------


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = "
                       "'main' AND table_catalog = current_database()").fetchall()
    return {r[0] for r in rows}


def _design_rows(con: duckdb.DuckDBPyConnection, experiment_id: str,
                 phase: int | None = None) -> pd.DataFrame:
    if "designs" not in _tables(con):
        return pd.DataFrame()
    sql = "SELECT * FROM designs WHERE experiment_id = ?"
    params: list[Any] = [experiment_id]
    if phase is not None:
        sql += " AND phase = ?"
        params.append(int(phase))
    return con.execute(sql + " ORDER BY phase", params).df()


def read_ledger(ws: Workspace, experiment_id: str, phase: int | None = None
                ) -> tuple[DesignSpec, pd.DataFrame]:
    """The stored design and ledger of an experiment phase (default: its latest phase).

    Returns:
        ``(spec, frame)``: the frame indexed by ``partner_id`` (sorted) with ``arm``,
        ``stratum``, ``block``, ``probability``, ``assigned_at``, ``seed`` and ``phase``.

    Raises:
        WorkspaceError: the experiment (phase) is not assigned.
    """
    with ws.connection() as con:
        rows = _design_rows(con, experiment_id, phase)
        if rows.empty:
            what = f"experiment {experiment_id}" + (f" phase {phase}" if phase else "")
            raise WorkspaceError(f"{what} is not assigned (no design in the workspace)",
                                 where=str(ws.path),
                                 fix="run supportlab assign EXPERIMENT.yaml")
        row = rows.iloc[-1]
        spec = DesignSpec.from_json(str(row["spec"]))
        frame = con.execute(
            "SELECT partner_id, arm, stratum, block, probability, assigned_at, seed, phase "
            "FROM assignments WHERE experiment_id = ? AND coalesce(phase, 1) = ? "
            "ORDER BY partner_id", [experiment_id, int(row["phase"])]).df()
    frame["partner_id"] = frame["partner_id"].astype(str)
    return spec, frame.set_index("partner_id")


def running_experiments(ws: Workspace, day: dt.date | str, *,
                        until: dt.date | str | None = None) -> pd.DataFrame:
    """Experiment phases running on ``day`` (``start_date <= day < end_date``), placebo runs
    left out; with ``until``, those overlapping ``[day, until)``.

    Returns:
        The ``designs`` rows (``experiment_id``, ``phase``, ``package_id``, ``version``,
        ``start_date``, ``end_date``, ``n_assigned``), empty when none.
    """
    lo = pd.Timestamp(day).date()
    hi = lo + dt.timedelta(days=1) if until is None else pd.Timestamp(until).date()
    cols = ["experiment_id", "phase", "package_id", "version", "start_date", "end_date",
            "n_assigned"]
    if not ws.exists or "designs" not in ws.tables():
        return pd.DataFrame(columns=cols)
    return ws.query(f"SELECT {', '.join(cols)} FROM designs WHERE NOT placebo AND "
                    "start_date < ? AND end_date > ? ORDER BY start_date, experiment_id, phase",
                    [hi, lo])


# -- eligibility and inputs -----------------------------------------------------------------------


@dataclass
class _Inputs:
    exp: Experiment
    spec: DesignSpec
    as_of: dt.date
    as_of_source: str
    last_day: dt.date
    eligible: list[str]
    units: pd.DataFrame               # randomization inputs of the kept partners
    inputs: pd.DataFrame              # every eligible partner's strata values and covariates
    excluded: dict[str, tuple[str, str]]  # partner -> (status, reason), before randomization
    n_partners: int
    n_in_segment: int
    n_rule_eligible: int
    covariates: list[str]             # the balance table's columns
    notes: list[str]


def _where(exp: Experiment) -> str:
    return str(exp.path) if exp.path else exp.id


def _catalogue(ws: Workspace) -> tuple[dict[str, Any], dict[str, Any]]:
    from supportlab.features.metrics import builtin_metrics, load_metrics
    from supportlab.features.segments import load_segments

    root = ws.config.experiments_path
    cat = load_metrics(root / "metrics.yaml") if (root / "metrics.yaml").exists() \
        else builtin_metrics()
    return dict(cat), load_segments(root / "segments.yaml")


def _check_dates(exp: Experiment, last: dt.date, as_of: dt.date | None
                 ) -> tuple[dt.date, str]:
    d = exp.design
    first_new = last + dt.timedelta(days=1)
    where = _where(exp)
    if d.start < first_new and not d.placebo:
        raise ConfigError(
            f"experiment {exp.id} starts on {d.start}, but the workspace already holds data up "
            f"to {last}: randomization happens before outcomes", where=f"{where}: design.start",
            fix=f"start on {first_new} or later, or set design.placebo: true for an A/A run "
                "on history (every output then says so)")
    if d.placebo and d.start >= first_new:
        raise ConfigError(
            f"experiment {exp.id} is a placebo (A/A) run on history, but it starts on "
            f"{d.start}, after the data (last day {last})", where=f"{where}: design.placebo",
            fix=f"start it on {last - dt.timedelta(days=d.horizon_days)} or earlier, or remove "
                "design.placebo")
    if (d.start - first_new).days > MAX_PLANNED_DAYS:
        raise DataValidationError(
            f"experiment {exp.id} starts on {d.start}, {(d.start - first_new).days:,} days "
            f"after the data (last day {last}): eligibility measured at the end of the data "
            f"would describe partners as they were long before the start", where=
            f"{where}: design.start", fix=f"ingest newer events, or start within "
                                          f"{MAX_PLANNED_DAYS} days of {first_new}")
    if as_of is not None:
        return as_of, "given"
    if d.start <= first_new:
        return d.start, "start"
    return first_new, "day after the data"


def _strata_frame(engine: Engine, exp: Experiment, day: dt.date, frame: pd.DataFrame,
                  catalogue: Mapping[str, Any], segments: Mapping[str, Any],
                  score: Any) -> pd.DataFrame:
    cols = list(exp.design.stratify_by)
    have = [c for c in cols if c in frame.columns]
    out = frame[have].copy()
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        from supportlab.features.targeting import features_table

        t = features_table(engine, day, package=exp.package, catalogue=catalogue,
                           score_config=score, segments=segments)
        unknown = [c for c in missing if c not in t.columns]
        if unknown:
            raise ConfigError(f"unknown strata column '{unknown[0]}'",
                              where=f"{_where(exp)}: design.stratify_by",
                              fix="use partner columns such as rank, region or tenure_band")
        t = t.filter(t.partner_id.isin(list(frame.index)))
        got = engine.execute(t.select("partner_id", *missing)).set_index("partner_id")
        out = out.join(got.reindex(frame.index))
    return out[cols]


def _design_covariates(exp: Experiment, spec: DesignSpec, catalogue: Mapping[str, Any]
                       ) -> list[str]:
    names = list(spec.covariates)
    if spec.block_on:
        names.append(spec.block_on)
    names += list((spec.rerandomize or {}).get("covariates") or [])
    names = list(dict.fromkeys(n.removesuffix("_pre") if n not in catalogue else n
                               for n in names))
    import difflib

    for n in names:
        if n not in catalogue:
            near = difflib.get_close_matches(n, list(catalogue), n=1)
            raise ConfigError(f"unknown pre-period metric '{n}'",
                              where=f"{_where(exp)}: design",
                              fix=(f"did you mean '{near[0]}'? " if near else "") +
                              "name metrics of experiments/metrics.yaml or the built-ins "
                              "(block_on, balance_on, rerandomize.covariates)")
    return names


def _pre_window(exp: Experiment, as_of: dt.date, tz: str) -> Any:
    from supportlab.features.metrics import Window, experiment_windows

    if as_of == exp.design.start:
        return experiment_windows(exp, tz)[0]
    end = pd.Timestamp(as_of).tz_localize(tz)
    return Window("pre", end, end - pd.Timedelta(days=exp.design.pre_days))


def _assigned_partners(ws: Workspace, designs: pd.DataFrame, *, treated_only: bool = False
                       ) -> pd.DataFrame:
    """partner_id, experiment_id of the ledgers of ``designs`` rows."""
    if designs.empty:
        return pd.DataFrame(columns=["partner_id", "experiment_id"])
    keys = [f"{e}\x00{p}" for e, p in zip(designs["experiment_id"], designs["phase"],
                                           strict=True)]
    sql = ("SELECT partner_id, experiment_id FROM assignments WHERE experiment_id || chr(0) || "
           "CAST(coalesce(phase, 1) AS VARCHAR) IN (SELECT unnest(?))")
    if treated_only:
        sql += f" AND arm <> '{CONTROL_ARM}'"
    return ws.query(sql + " ORDER BY partner_id", [keys])


def _exclusions(ws: Workspace, exp: Experiment, spec: DesignSpec, ids: list[str]
                ) -> tuple[dict[str, tuple[str, str]], list[str]]:
    out: dict[str, tuple[str, str]] = {}
    notes: list[str] = []
    d = exp.design
    if d.placebo:
        return out, notes
    others = running_experiments(ws, spec.start, until=spec.end)
    others = others[others["experiment_id"] != exp.id]
    if spec.exclude_running == "same_package":
        others = others[others["package_id"] == exp.package.id]
    wanted = set(ids)
    hit = _assigned_partners(ws, others)
    hit = hit[hit["partner_id"].isin(wanted)]
    policy = ("of the same package" if spec.exclude_running == "same_package"
              else "of any package")
    for pid, eid in zip(hit["partner_id"], hit["experiment_id"], strict=True):
        out.setdefault(str(pid), ("running", f"in running experiment {eid} ({policy})"))
    if len(others):
        notes.append(f"{len(others)} experiment(s) {policy} overlap [{spec.start}, {spec.end}): "
                     + ", ".join(sorted(set(others["experiment_id"]))))
    if d.rollout:
        treated = already_treated(ws, exp, spec.start)
        treated = treated[treated["partner_id"].isin(wanted)]
        for pid, eid in zip(treated["partner_id"], treated["experiment_id"], strict=True):
            out.setdefault(str(pid), ("treated", f"already treated by {exp.package.id} in "
                                                 f"experiment {eid} (roll-out)"))
    return out, notes


def already_treated(ws: Workspace, exp: Experiment, before: dt.date) -> pd.DataFrame:
    """Partners a non-control arm of an earlier experiment of ``exp``'s package treated
    (experiments starting before ``before``, placebo runs left out): ``partner_id`` and
    ``experiment_id``. A roll-out of a promoted template skips them: they have it already."""
    if ws.exists and "designs" in ws.tables():
        earlier = ws.query("SELECT experiment_id, phase FROM designs WHERE NOT placebo AND "
                           "package_id = ? AND start_date < ? AND experiment_id <> ?",
                           [exp.package.id, before, exp.id])
    else:
        earlier = pd.DataFrame(columns=["experiment_id", "phase"])
    return _assigned_partners(ws, earlier, treated_only=True)


def _inputs(ws: Workspace, exp: Experiment, as_of: dt.date | str | None,
            engine: Engine | None, *, stored_source: str | None = None) -> _Inputs:
    """Eligibility, covariates and exclusions; with ``stored_source`` (an assigned phase
    re-checked) eligibility is measured as of the stored day, whatever the data since."""
    from supportlab.data.engine import connect
    from supportlab.features.metrics import compute_metrics, last_data_day
    from supportlab.features.score import score_config
    from supportlab.features.targeting import select_targets

    eng = engine or connect(ws)
    last = last_data_day(eng)
    if last is None:
        raise DataValidationError("the workspace has no events: eligibility is measured on them",
                                  where="events",
                                  fix="ingest PRM events first (supportlab ingest events FILE)")
    if stored_source is None:
        day, source = _check_dates(exp, last, None if as_of is None
                                   else pd.Timestamp(as_of).date())
    else:
        day, source = pd.Timestamp(as_of or exp.design.start).date(), stored_source
    catalogue, segments = _catalogue(ws)
    score = score_config(ws)
    tl = select_targets(eng, exp, as_of=day, catalogue=catalogue, score_config=score,
                        segments=segments)
    if tl.frame.empty:
        counts = "; ".join(f"{c}: {n:,}" for c, n in tl.condition_counts)
        raise DataValidationError(
            f"no partner is eligible for {exp.id} as of {day}: {tl.n_in_segment:,} of "
            f"{tl.n_partners:,} partners are in the package segment of {exp.package.ref}"
            + (f"; partners meeting each condition: {counts}" if counts else ""),
            where=f"{_where(exp)}: eligibility",
            fix="loosen the eligibility rule or widen the package segment; nothing was written")
    spec = design_spec(exp)
    names = _design_covariates(exp, spec, catalogue)
    ids = [str(i) for i in tl.frame.index]
    strata = _strata_frame(eng, exp, day, tl.frame, catalogue, segments, score)
    pre = _pre_window(exp, day, eng.timezone)
    cov = compute_metrics(eng, names, [pre], package=exp.package, catalogue=catalogue,
                          partners=ids, suffix=True) if names else pd.DataFrame(index=ids)
    cov.index = cov.index.astype(str)
    cols = [covariate_column(n) for n in names]
    cov = cov.reindex(pd.Index(ids, name="partner_id"))[cols].astype(np.float64)
    inputs = strata.join(cov)
    inputs.index = pd.Index(ids, name="partner_id")
    excluded, notes = ({}, []) if stored_source is not None else _exclusions(ws, exp, spec, ids)
    units = inputs.drop(index=list(excluded))
    if units.empty:
        reasons = sorted({r for _, r in excluded.values()})
        raise DataValidationError(
            f"every one of the {len(ids):,} eligible partners of {exp.id} is excluded: "
            + "; ".join(reasons[:3]), where=f"{_where(exp)}: design",
            fix="start after the overlapping experiments end" + (
                ", or use design.exclude_running: same_package"
                if spec.exclude_running == "any_package" else "")
            + "; nothing was written")
    if source == "day after the data":
        notes.append(f"eligibility and the pre-period measured as of {day}, the day after the "
                     f"last data: the start {exp.design.start} is planned")
    elif source == "given":
        notes.append(f"eligibility and the pre-period measured as of {day} (given)")
    return _Inputs(exp, spec, day, source, last, ids, units, inputs, excluded, tl.n_partners,
                   tl.n_in_segment, tl.n_eligible, [covariate_column(n) for n in spec.covariates
                                     if n in catalogue], notes)


# -- the summary ----------------------------------------------------------------------------------


def _counts(frame: pd.DataFrame, arms: Sequence[str]) -> pd.DataFrame:
    t = pd.crosstab(frame["stratum"], frame["arm"]).reindex(columns=list(arms), fill_value=0)
    t["total"] = t.sum(axis=1)
    t = t.reset_index()
    t.columns.name = None
    return t


def _balance(frame: pd.DataFrame, covs: Sequence[str], arms: Sequence[str]
             ) -> tuple[pd.DataFrame, list[str], list[str]]:
    from supportlab.stats.checks import balance_check

    rows: list[dict[str, Any]] = []
    warns: list[str] = []
    notes: list[str] = []
    usable = [c for c in covs if c in frame.columns and frame[c].notna().all()]
    skipped = [c for c in covs if c not in usable]
    if skipped:
        notes.append("not in the balance table (missing values): " + ", ".join(skipped))
    control = arms[0]
    for arm in arms[1:]:
        sub = frame[frame["arm"].isin([control, arm])]
        if not usable or (sub["arm"] == arm).sum() < 2 or (sub["arm"] == control).sum() < 2:
            continue
        try:
            b = balance_check(sub, arm="arm", covariates=usable, control=control, treatment=arm)
        except (ConfigError, DataValidationError) as exc:
            notes.append(f"balance of {arm}: {exc}")
            continue
        for r in b.table.to_dict("records"):
            smd = float(r["smd"])
            rows.append({"arm": arm, "covariate": r["covariate"],
                         "mean_control": r["mean_control"], "mean_arm": r["mean_treatment"],
                         "smd": smd})
            if not math.isfinite(smd) or abs(smd) > SMD_WARNING:
                warns.append(f"poor balance: {r['covariate']} differs between {arm} and "
                             f"{control} by {smd:+.2f} standard deviations (|SMD| > "
                             f"{SMD_WARNING:g}); the analysis adjusts for it, but check the "
                             "eligible partners")
        if len(usable) > 1 and b.omnibus_p == b.omnibus_p:
            notes.append(f"omnibus balance test, {arm} vs {control}: p = {b.omnibus_p:.3g}")
    cols = ["arm", "covariate", "mean_control", "mean_arm", "smd"]
    return pd.DataFrame(rows, columns=cols), warns, notes


def _result(spec: DesignSpec, frame: pd.DataFrame, inputs: pd.DataFrame,
            excluded: Mapping[str, str], covs: Sequence[str], *, already: bool, dry_run: bool,
            assigned_at: str | None, design_hash: str, elig_hash: str,
            notes: Sequence[str] = ()) -> Assignment:
    o = spec.outcome
    arms = list(spec.arms)
    joined = frame.join(inputs.drop(columns=[c for c in inputs.columns if c in frame.columns]))
    balance, bwarns, bnotes = _balance(joined, covs, arms)
    n = len(frame)
    per_arm = {a: int((frame["arm"] == a).sum()) for a in arms}
    n_seg = int(o.get("n_in_segment", n))
    n_all = int(o.get("n_partners", n))
    ex = pd.DataFrame({"partner_id": list(excluded), "reason": list(excluded.values())},
                      columns=["partner_id", "reason"])
    all_notes = list(notes)
    if spec.placebo:
        all_notes.insert(0, "PLACEBO: an A/A run on history; nothing is delivered and every "
                            "later output says so")
    if "pooled_strata" in o:
        all_notes.append("small strata pooled into one: " + ", ".join(
            f"{s} ({k})" for s, k in o["pooled_strata"].items()))
    if "draws" in o:
        all_notes.append(f"rerandomization: draw {o['draws']:,} accepted (Mahalanobis distance "
                         f"{o['distance']:.4g} <= {o['threshold']:.4g})")
    if o.get("rollout_holdout") is not None:
        all_notes.append(f"roll-out: holdout of {o['rollout_holdout']:.1%} sized by power")
    n_rule = int(o.get("n_rule_eligible", o.get("n_eligible", n)))
    cap, cap_seg, cap_all = ((k // n if n else 0) for k in (n_rule, n_seg, n_all))
    all_notes.append(f"capacity: the {n_rule:,} eligible partners can host {cap:,} "
                     f"experiment(s) of {n:,} partners at once (the package segment's "
                     f"{n_seg:,}: {cap_seg:,}; the program's {n_all:,}: {cap_all:,})")
    all_notes += bnotes
    return Assignment(
        experiment=spec.experiment_id, package=f"{spec.package_id}@{spec.version}",
        phase=int(spec.phase), method=spec.method, start=spec.start, end=spec.end,
        as_of=dt.date.fromisoformat(str(o.get("as_of", spec.start))),
        as_of_source=str(o.get("as_of_source", "start")), placebo=bool(spec.placebo),
        already=already, dry_run=dry_run, assigned_at=assigned_at,
        n_eligible=int(o.get("n_eligible", n + len(excluded))), n_assigned=n,
        n_excluded=len(excluded), n_per_arm=per_arm, arm_shares=dict(spec.probabilities),
        capacity=cap, capacity_segment=cap_seg, capacity_program=cap_all, seed=int(spec.seed),
        design_hash=design_hash, eligible_hash=elig_hash, counts=_counts(frame, arms),
        balance=balance, excluded=ex, design=json.loads(spec.to_json()),
        warnings=(*o.get("rollout_warnings", ()), *bwarns),
        notes=tuple(all_notes))


# -- the stored assignment ------------------------------------------------------------------------


def _stored_units(con: duckdb.DuckDBPyConnection, experiment_id: str, phase: int
                  ) -> pd.DataFrame:
    if "assignment_units" not in _tables(con):
        return pd.DataFrame(columns=["partner_id", "status", "reason", "inputs"])
    return con.execute("SELECT partner_id, status, reason, inputs FROM assignment_units WHERE "
                       "experiment_id = ? AND phase = ? ORDER BY partner_id",
                       [experiment_id, int(phase)]).df()


def _inputs_frame(units: pd.DataFrame) -> pd.DataFrame:
    records = [json.loads(s) if isinstance(s, str) and s else {} for s in units["inputs"]]
    df = pd.DataFrame.from_records(records, index=pd.Index(units["partner_id"].astype(str),
                                                           name="partner_id"))
    return df


def _stored_result(ws: Workspace, con: duckdb.DuckDBPyConnection, row: pd.Series,
                   notes: Sequence[str] = ()) -> Assignment:
    spec = DesignSpec.from_json(str(row["spec"]))
    units = _stored_units(con, spec.experiment_id, int(row["phase"]))
    frame = con.execute("SELECT partner_id, arm, stratum, block, probability FROM assignments "
                        "WHERE experiment_id = ? AND coalesce(phase, 1) = ? ORDER BY partner_id",
                        [spec.experiment_id, int(row["phase"])]).df().set_index("partner_id")
    gone = units[~units["status"].isin(["assigned"])]
    inputs = _inputs_frame(units) if len(units) else pd.DataFrame(index=frame.index)
    covs = [covariate_column(c) for c in spec.covariates]
    at = _stamp(pd.Timestamp(row["assigned_at"]), ws.config.timezone)
    return _result(spec, frame, inputs, dict(zip(gone["partner_id"], gone["reason"],
                                                 strict=True)), covs,
                   already=True, dry_run=False, assigned_at=at,
                   design_hash=str(row["design_hash"]), elig_hash=str(row["eligible_hash"]),
                   notes=notes)


def _refusal(exp: Experiment, stored: DesignSpec, spec: DesignSpec, stored_hash: str,
             elig_now: str, eligible: Sequence[str], stored_ids: Sequence[str],
             row: pd.Series) -> ConfigError | None:
    changed = stored.differences(spec) if stored.design_hash != spec.design_hash else []
    if str(row["design_hash"]) != stored.design_hash and not changed:
        changed = ["the stored design's hash does not match its spec"]
    if elig_now != stored_hash:
        now, then = set(eligible), set(stored_ids)
        changed.append(f"eligibility: {len(then):,} partners at assignment, {len(now):,} now "
                       f"({len(now - then):,} new, {len(then - now):,} no longer eligible)")
    if not changed:
        return None
    day = str(row["assigned_at"])[:10]
    return ConfigError(
        f"experiment {exp.id} phase {spec.phase} was assigned on {day} and the ledger is "
        "immutable; since then: " + "; ".join(changed), where=f"{_where(exp)}: design",
        fix=f"restore the experiment as it was, or assign the change as a new experiment (a new "
            f"id) or a new phase (design.phase: {int(row['phase']) + 1})")


def _check_stored(ws: Workspace, con: duckdb.DuckDBPyConnection, inp: _Inputs,
                  spec: DesignSpec, row: pd.Series) -> Assignment:
    stored = DesignSpec.from_json(str(row["spec"]))
    if stored.outcome.get("rollout_holdout") is not None:
        spec = replace(spec, probabilities=dict(stored.probabilities))
    units = _stored_units(con, inp.exp.id, int(row["phase"]))
    err = _refusal(inp.exp, stored, spec, str(row["eligible_hash"]),
                   eligible_hash(inp.eligible), inp.eligible, list(units["partner_id"]), row)
    if err is not None:
        raise err
    return _stored_result(ws, con, row)


# -- assign ---------------------------------------------------------------------------------------


def _rows(spec: DesignSpec, frame: pd.DataFrame, at: pd.Timestamp) -> pd.DataFrame:
    return pd.DataFrame({
        "experiment_id": spec.experiment_id, "partner_id": frame.index.astype(str),
        "arm": frame["arm"].astype(str).to_numpy(), "stratum": frame["stratum"].to_numpy(),
        "assigned_at": at, "seed": int(spec.seed), "block": frame["block"].to_numpy(),
        "probability": frame["probability"].to_numpy(dtype=np.float64),
        "phase": int(spec.phase)})


def _unit_rows(spec: DesignSpec, inputs: pd.DataFrame,
               status: Mapping[str, tuple[str, str]]) -> pd.DataFrame:
    cols = list(inputs.columns)
    values = inputs.astype(object).where(inputs.notna(), None).to_numpy().tolist()
    texts = [json.dumps(dict(zip(cols, v, strict=True)), ensure_ascii=False, sort_keys=True)
             for v in values]
    ids = [str(i) for i in inputs.index]
    st = [status.get(i, ("assigned", None)) for i in ids]
    return pd.DataFrame({"experiment_id": spec.experiment_id, "phase": int(spec.phase),
                         "partner_id": ids, "status": [s for s, _ in st],
                         "reason": [r for _, r in st], "inputs": texts})


def _insert(con: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame) -> None:
    con.register("_ledger_rows", df)
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _ledger_rows")
    finally:
        con.unregister("_ledger_rows")


def _write(con: duckdb.DuckDBPyConnection, spec: DesignSpec, rows: pd.DataFrame,
           units: pd.DataFrame, elig_hash: str, at: pd.Timestamp) -> None:
    """The ledger's rows, inside the caller's transaction (all or nothing)."""
    _insert(con, "assignments", rows)
    _insert(con, "assignment_units", units)
    _insert(con, "designs", pd.DataFrame([{
        "experiment_id": spec.experiment_id, "phase": int(spec.phase),
        "package_id": spec.package_id, "version": int(spec.version), "method": spec.method,
        "design_hash": spec.design_hash, "eligible_hash": elig_hash, "spec": spec.to_json(),
        "placebo": bool(spec.placebo), "n_assigned": len(rows), "start_date": spec.start,
        "end_date": spec.end, "assigned_at": at}]))


def _stored(ws: Workspace, con: duckdb.DuckDBPyConnection, experiment_id: str, phase: int
            ) -> pd.Series | None:
    """The ``designs`` row of an assigned phase, ``None`` when it is not assigned.

    Raises:
        WorkspaceError: ``assignments`` holds rows of the phase without their design.
    """
    rows = _design_rows(con, experiment_id, phase)
    if not rows.empty:
        return rows.iloc[0]
    if "assignments" in _tables(con) and con.execute(
            "SELECT count(*) FROM assignments WHERE experiment_id = ? AND coalesce(phase, 1) = ?",
            [experiment_id, phase]).fetchall()[0][0]:
        raise WorkspaceError(f"assignments holds rows of {experiment_id} phase {phase} without "
                             "their design (designs table): the ledger was not written by "
                             "supportlab assign", where=str(ws.path),
                             fix=f"assign under a new experiment id or design.phase: {phase + 1}")
    return None


def assign(ws: Workspace, exp: Experiment, *, dry_run: bool = False,
           as_of: dt.date | str | None = None, engine: Engine | None = None) -> Assignment:
    """Randomize the eligible partners of ``exp`` and store the immutable ledger.

    See the module for the steps and guarantees.

    Args:
        ws: the workspace.
        exp: the experiment.
        dry_run: compute and show everything, write nothing.
        as_of: measure eligibility and the pre-period as of this day instead (default: the
            start, or the day after the data for a planned start).
        engine: where to compute eligibility (default: the workspace's engine).

    Returns:
        The :class:`Assignment`; ``already`` when the stored assignment was returned.

    Raises:
        ConfigError: a start before the data without ``design.placebo``, a changed design or
            eligibility after assignment, an unknown metric, no accepted rerandomization.
        DataValidationError: no eligible partner, a stratum too small under policy
            ``error``, a start too far after the data.
        WorkspaceError: ledger rows without their design.
    """
    with ws.connection() as con:
        stored = _stored(ws, con, exp.id, int(exp.design.phase))
    if stored is not None:
        # re-checked as of the day it was measured: data that arrived since change nothing
        was = DesignSpec.from_json(str(stored["spec"])).outcome
        inp = _inputs(ws, exp, was.get("as_of"), engine,
                      stored_source=str(was.get("as_of_source", "start")))
        with ws.connection() as con:
            return _check_stored(ws, con, inp, inp.spec, stored)
    inp = _inputs(ws, exp, as_of, engine)
    spec = inp.spec
    elig = eligible_hash(inp.eligible)
    found: dict[str, Any] = {"as_of": inp.as_of.isoformat(), "as_of_source": inp.as_of_source,
                             "last_data_day": inp.last_day.isoformat(),
                             "n_eligible": len(inp.eligible), "n_partners": inp.n_partners,
                             "n_in_segment": inp.n_in_segment,
                             "n_rule_eligible": inp.n_rule_eligible}
    if exp.design.rollout:
        from supportlab.design.plan import rollout_holdout

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            h = float(rollout_holdout(ws, exp, len(inp.units), partners=list(inp.units.index),
                                      engine=engine))
        found["rollout_holdout"] = h
        if caught:
            found["rollout_warnings"] = [str(w.message) for w in caught]
        rest = (1 - h) / (len(spec.arms) - 1)
        spec = replace(spec, probabilities={a: (h if a == spec.control else round(rest, 12))
                                            for a in spec.arms})
    frame, outcome = randomize(inp.units, spec)
    small = outcome.pop("excluded")
    status = dict(inp.excluded)
    for pid, reason in small.items():
        status[pid] = ("small_stratum", reason)
    spec = spec.with_outcome(**found, **outcome,
                             n_excluded=len(status),
                             excluded_by={k: sum(1 for s, _ in status.values() if s == k)
                                          for k in ("running", "treated", "small_stratum")})
    excluded = {p: r for p, (_, r) in sorted(status.items())}
    if dry_run:
        return _result(spec, frame, inp.inputs, excluded, inp.covariates, already=False,
                       dry_run=True, assigned_at=None, design_hash=spec.design_hash,
                       elig_hash=elig, notes=inp.notes)
    at = _now()
    rows = _rows(spec, frame, at)
    units = _unit_rows(spec, inp.inputs, status)
    with ws.transaction() as con:
        # the authoritative check: inside the one write transaction
        stored = _stored(ws, con, exp.id, int(spec.phase))
        if stored is not None:
            return _check_stored(ws, con, inp, design_spec(exp), stored)
        _write(con, spec, rows, units, elig, at)
    return _result(spec, frame, inp.inputs, excluded, inp.covariates, already=False,
                   dry_run=False, assigned_at=_stamp(at, ws.config.timezone),
                   design_hash=spec.design_hash, elig_hash=elig, notes=inp.notes)


def _stamp(at: pd.Timestamp, tz: str) -> str:
    return str(at.tz_convert(tz).floor("s").isoformat())


def _now() -> pd.Timestamp:
    from supportlab.data.workspace import now_tz

    return now_tz()


# -- verify ---------------------------------------------------------------------------------------


def verify(ws: Workspace, exp: Experiment | str, *, phase: int | None = None) -> Verification:
    """Recompute the ledger from the stored design and inputs and compare it row by row.

    Args:
        ws: the workspace.
        exp: the experiment (or its id).
        phase: the phase (default: the experiment's configured phase, else the latest).

    Raises:
        WorkspaceError: the experiment (phase) is not assigned.
    """
    eid = exp if isinstance(exp, str) else exp.id
    if phase is None and not isinstance(exp, str):
        phase = exp.design.phase
    spec, ledger = read_ledger(ws, eid, phase)
    with ws.connection() as con:
        row = _design_rows(con, eid, spec.phase).iloc[0]
        units = _stored_units(con, eid, spec.phase)
    notes: list[str] = []
    ok_hash = eligible_hash(list(units["partner_id"])) == str(row["eligible_hash"])
    if not ok_hash:
        notes.append("the stored inputs do not hash to the stored eligible_hash")
    inputs = _inputs_frame(units[units["status"].isin(_INPUT)])
    stored_units = units.set_index("partner_id")
    if units.empty:
        notes.append("no stored inputs (assignment_units): the ledger was not written by "
                     "supportlab assign, nothing to recompute from")
        diff = pd.DataFrame(columns=["partner_id", "column", "stored", "recomputed"])
        return Verification(eid, int(spec.phase), spec.algorithm, False, ok_hash, len(ledger),
                            len(ledger), diff, tuple(notes))
    again, outcome = randomize(inputs, spec)
    cols = ["arm", "stratum", "block", "probability"]
    ids = sorted(set(ledger.index) | set(again.index))
    a = ledger.reindex(ids)[cols]
    b = again.reindex(ids)[cols]
    diffs: list[dict[str, Any]] = []
    for c in cols:
        x, y = a[c].astype(object), b[c].astype(object)
        same = (x == y) | (x.isna() & y.isna())
        for pid in same.index[~same.to_numpy()]:
            diffs.append({"partner_id": pid, "column": c,
                          "stored": None if pd.isna(x[pid]) else x[pid],
                          "recomputed": None if pd.isna(y[pid]) else y[pid]})
    small = set(outcome.get("excluded", {}))
    stored_small = set(stored_units.index[stored_units["status"] == "small_stratum"])
    if small != stored_small:
        notes.append(f"{len(small ^ stored_small):,} partner(s) differ in the small-strata "
                     "exclusions")
    if "draws" in outcome and outcome["draws"] != spec.outcome.get("draws"):
        notes.append(f"rerandomization accepted draw {outcome['draws']} (stored "
                     f"{spec.outcome.get('draws')})")
    diff = pd.DataFrame(diffs, columns=["partner_id", "column", "stored", "recomputed"])
    n_diff = int(diff["partner_id"].nunique()) if len(diff) else 0
    equal = n_diff == 0 and small == stored_small and ok_hash
    return Verification(eid, int(spec.phase), spec.algorithm, equal, ok_hash, len(ids), n_diff,
                        diff, tuple(notes))
