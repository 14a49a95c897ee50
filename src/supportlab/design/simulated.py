"""Delivering an assigned experiment in a simulated workspace, in the real order of the loop.

In a simulated workspace the history ends where experiments start. After ``plan`` and
``assign``, :func:`simulate_experiment_delivery` plays what the PRM and the partners would do:

1. it continues the simulated world through the experiment's horizon
   (:func:`continue_simulated_world`: everyone's untreated behaviour from the stored latent
   state, :func:`supportlab.sim.continuation.continue_world`), only beyond what was simulated
   already (``world_end`` in ``sim_state``), so two experiments running at once never double
   the untreated world;
2. it delivers the package to every non-control arm of the ledger
   (:func:`supportlab.sim.delivery.simulate_delivery`: uptake, step completion, extra deals
   with a true effect; each arm may have its own :class:`~supportlab.sim.delivery.EffectModel`);
3. it stores the ground truth in ``sim_truth`` (one row per assigned partner and compared arm)
   and the delivery's record in ``sim_state``,

all in one transaction. A second call for a delivered experiment adds nothing and returns the
stored result (``already_delivered`` says so). Then ``evaluate`` measures the outcomes from the
logs, as it would in a real programme, and the truth says whether it got them right.

This module is the orchestration (:mod:`supportlab.sim` may not read workspaces); the draws
live in :mod:`supportlab.sim`.

Example:
    >>> DeliveryResult.__name__, WorldContinuation.__name__
    ('DeliveryResult', 'WorldContinuation')
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd
import pyarrow as pa

from supportlab.config.experiment import Experiment
from supportlab.design.spec import DesignSpec, design_spec
from supportlab.errors import ConfigError, WorkspaceError
from supportlab.results import ResultMixin

if TYPE_CHECKING:  # pragma: no cover
    import duckdb

    from supportlab.data.workspace import Workspace
    from supportlab.sim.delivery import EffectModel, PackageStep
    from supportlab.sim.world import SimulationConfig

__all__ = ["DeliveryResult", "WorldContinuation", "continue_simulated_world",
           "simulate_experiment_delivery"]

_ONLY_SIMULATED = "simulate-delivery runs only on simulated workspaces"
_RESIMULATE = "simulate the world again with this version: supportlab simulate --replace"


@dataclass(frozen=True)
class WorldContinuation(ResultMixin):
    """How far the simulated world was continued.

    Attributes:
        world_end_before: the exclusive end of the simulated world before (ISO date).
        world_end: the exclusive end after.
        n_events / n_deals: untreated rows added (0 when the world already went that far).
    """

    _title: ClassVar[str] = "World continued"
    _title_ja: ClassVar[str] = "シミュレーション世界の継続"
    _labels: ClassVar[Mapping[str, Mapping[str, str]]] = {
        "en": {"world_end_before": "simulated until (before)", "world_end": "simulated until",
               "n_events": "events added", "n_deals": "deals added"},
        "ja": {"world_end_before": "継続前の終端", "world_end": "シミュレーション済みの終端",
               "n_events": "追加したイベント", "n_deals": "追加した商談"}}

    world_end_before: str
    world_end: str
    n_events: int
    n_deals: int


@dataclass(frozen=True, eq=False)
class DeliveryResult(ResultMixin):
    """A simulated delivery of an assigned experiment, with its ground truth.

    Attributes:
        experiment_id / package / phase: what was delivered.
        start / end: the experiment's first day and the end of its horizon (exclusive).
        n_assigned: partners in the ledger.
        world_continued_from / world_end: the simulated world went on from the first to the
            second date (equal when it already reached the horizon).
        n_world_events / n_world_deals: untreated rows the continuation added.
        n_delivery_events / n_delivery_deals: package events and extra deals the delivery added.
        true_itt: the true effect of assignment on deals registered over the horizon (the
            treatment arm's, or the first non-control arm's): the mean individual effect of the
            partners compared (that arm and control).
        true_effect_on_openers: the true effect on partners who open the package (the
            complier effect): ``true_itt / uptake_share``.
        uptake_share: the share of the compared partners who would open the package.
        arms: one row per non-control arm: ``arm, n_arm, n_control, true_itt,
            true_effect_on_openers, uptake_share, opened_in_arm, extra_deals``.
        seed: the seed of the delivery's draws.
        effects: the effect model of each arm (as given).
        already_delivered: the experiment had been delivered before; nothing was added and
            this is the stored result.
        notes: what to know.
    """

    _title: ClassVar[str] = "Simulated delivery"
    _title_ja: ClassVar[str] = "シミュレーションによる配信"
    _hidden: ClassVar[frozenset[str]] = frozenset({"arms", "effects"})
    _bullets: ClassVar[frozenset[str]] = frozenset()
    _labels: ClassVar[Mapping[str, Mapping[str, str]]] = {
        "en": {"true_itt": "true ITT effect (deals)", "true_effect_on_openers":
               "true effect on openers", "uptake_share": "true uptake",
               "world_continued_from": "world continued from", "world_end": "world simulated until",
               "n_world_events": "untreated events added", "n_world_deals": "untreated deals added",
               "n_delivery_events": "package events added",
               "n_delivery_deals": "extra deals added", "already_delivered": "already delivered"},
        "ja": {"true_itt": "真のITT効果（商談数）", "true_effect_on_openers": "開封者への真の効果",
               "uptake_share": "真の開封率", "world_continued_from": "世界の継続開始",
               "world_end": "シミュレーション済みの終端", "n_world_events": "追加した通常イベント",
               "n_world_deals": "追加した通常商談", "n_delivery_events": "追加した配信イベント",
               "n_delivery_deals": "追加した効果商談", "already_delivered": "配信済み",
               "n_assigned": "割付数", "start": "開始日", "end": "終了日"}}

    experiment_id: str
    package: str
    phase: int
    start: str
    end: str
    n_assigned: int
    world_continued_from: str
    world_end: str
    n_world_events: int
    n_world_deals: int
    n_delivery_events: int
    n_delivery_deals: int
    true_itt: float
    true_effect_on_openers: float
    uptake_share: float
    arms: pd.DataFrame
    seed: int
    effects: dict[str, dict[str, Any]] = field(default_factory=dict)
    already_delivered: bool = False
    notes: tuple[str, ...] = ()

    def _headline(self, lang: str) -> str | None:
        if lang == "ja":
            return (f"{self.experiment_id}: 真のITT効果 {self.true_itt:+.3f} 件、"
                    f"開封率 {self.uptake_share:.0%}")
        return (f"{self.experiment_id}: true ITT {self.true_itt:+.3f} deals, "
                f"uptake {self.uptake_share:.0%}")

    def _tables(self, lang: str) -> list[tuple[str, pd.DataFrame]]:
        if len(self.arms) > 1:
            return [("arms" if lang == "en" else "群ごとの真値", self.arms)]
        return []

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DeliveryResult:
        """Read a result written by :meth:`to_dict` (the stored record of a delivery)."""
        values = dict(d)
        values["arms"] = pd.DataFrame(values.get("arms") or [])
        values["notes"] = tuple(values.get("notes") or ())
        for k in ("true_itt", "true_effect_on_openers", "uptake_share"):
            values[k] = math.nan if values.get(k) is None else float(values[k])
        return cls(**values)


# -- the simulated world in the workspace ------------------------------------------------------


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("SELECT table_name FROM information_schema.tables "
                       "WHERE table_schema = 'main' AND table_catalog = current_database()"
                       ).fetchall()
    return {r[0] for r in rows}


def _world(con: duckdb.DuckDBPyConnection, where: str
           ) -> tuple[SimulationConfig, dict[str, str], pd.DataFrame]:
    """The world's config, ``sim_state`` and ``sim_partners``; refuses a workspace without."""
    from supportlab.sim.world import config_from_json

    present = _tables(con)
    if "sim_partners" not in present or not con.execute(
            "SELECT count(*) FROM sim_partners").fetchall()[0][0]:
        raise WorkspaceError(f"{_ONLY_SIMULATED}: this one holds no simulated world "
                             "(no sim_partners)", where=where,
                             fix="run it in a workspace made by 'supportlab simulate' or "
                                 "'supportlab demo'")
    if "sim_state" not in present:
        raise WorkspaceError("the simulated world records neither its configuration nor how "
                             "far it has been simulated (no sim_state)", where=where,
                             fix=_RESIMULATE)
    state = dict(con.execute("SELECT key, value FROM sim_state").fetchall())
    if "config" not in state:
        raise WorkspaceError("sim_state has no 'config'", where=where, fix=_RESIMULATE)
    config = config_from_json(state["config"])
    truth = con.execute("SELECT * FROM sim_partners").df()
    return config, state, truth


def _set_state(con: duckdb.DuckDBPyConnection, key: str, value: str) -> None:
    con.execute("DELETE FROM sim_state WHERE key = ?", [key])
    con.execute("INSERT INTO sim_state (key, value) VALUES (?, ?)", [key, value])


def _append(ws: Workspace, con: duckdb.DuckDBPyConnection, table: str, data: pa.Table) -> int:
    """Append by column name, adding columns an older ``sim_*`` table lacks."""
    if data.num_rows == 0:
        return 0
    if table.startswith("sim_") and table in _tables(con):
        have = {r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
            "AND table_schema = 'main' AND table_catalog = current_database()",
            [table]).fetchall()}
        con.register("_new_columns", data.slice(0, 0))
        try:
            types = dict(con.execute("SELECT column_name, column_type FROM "
                                     "(DESCRIBE _new_columns)").fetchall())
        finally:
            con.unregister("_new_columns")
        for name in data.column_names:
            if name not in have:
                con.execute(f'ALTER TABLE {table} ADD COLUMN "{name}" {types[name]}')
    return ws.append(table, data)


def _continue(ws: Workspace, con: duckdb.DuckDBPyConnection, through: dt.date
              ) -> WorldContinuation:
    """Continue the world through ``through`` inside the caller's transaction."""
    from supportlab.sim.continuation import continue_world

    config, state, truth = _world(con, str(ws.path))
    end = dt.date.fromisoformat(state.get("world_end", config.end.isoformat()))
    if through <= end:
        return WorldContinuation(end.isoformat(), end.isoformat(), 0, 0)
    added = {"events": 0, "deals": 0}
    for name, table in continue_world(truth, config, start=end, through=through):
        added[name] += _append(ws, con, name, table)
    _set_state(con, "world_end", through.isoformat())
    return WorldContinuation(end.isoformat(), through.isoformat(), added["events"],
                             added["deals"])


def continue_simulated_world(ws: Workspace, through: dt.date) -> WorldContinuation:
    """Continue a simulated workspace's world through ``through`` (exclusive), in one
    transaction; a world that already reaches it is left as it is.

    Raises:
        WorkspaceError: the workspace holds no simulated world, or one without ``sim_state``.
    """
    with ws.transaction() as con:
        return _continue(ws, con, through)


# -- the ledger ---------------------------------------------------------------------------------


def _ledger(ws: Workspace, con: duckdb.DuckDBPyConnection, exp: Experiment
            ) -> tuple[DesignSpec, pd.DataFrame]:
    """The stored design and the assigned partners (``partner_id``, ``arm``) of ``exp``.

    Reads :func:`supportlab.design.ledger.read_ledger`; ledger rows written without ``assign``
    (no ``designs`` row, e.g. assignments made elsewhere and ingested) are read directly, the
    declared design standing in for the stored one.

    Raises:
        WorkspaceError: the experiment has no assignment.
    """
    present = _tables(con)
    n = 0
    if "assignments" in present:
        n = con.execute("SELECT count(*) FROM assignments WHERE experiment_id = ?",
                        [exp.id]).fetchall()[0][0]
    if not n:
        raise WorkspaceError(f"experiment {exp.id} is not assigned (no rows in assignments)",
                             where=exp.path or exp.id,
                             fix=f"assign it first: supportlab assign {exp.path or 'EXPERIMENT.yaml'}")
    from supportlab.design.ledger import read_ledger

    stored = "designs" in present and con.execute(
        "SELECT count(*) FROM designs WHERE experiment_id = ?", [exp.id]).fetchall()[0][0]
    if stored:
        spec, frame = read_ledger(ws, exp.id)
        frame = frame.reset_index() if "partner_id" not in frame.columns else frame
        return spec, frame[["partner_id", "arm"]].astype(str)
    frame = con.execute("SELECT partner_id, arm FROM assignments WHERE experiment_id = ? "
                        "ORDER BY partner_id", [exp.id]).df().astype(str)
    spec = design_spec(exp)
    if "designs" in present:
        rows = con.execute("SELECT spec FROM designs WHERE experiment_id = ? ORDER BY phase DESC",
                           [exp.id]).fetchall()
        if rows:
            spec = DesignSpec.from_json(rows[0][0])
    return spec, frame


# -- the delivery -------------------------------------------------------------------------------


def _effects(effect: EffectModel | Mapping[str, EffectModel], arms: tuple[str, ...],
             where: str) -> dict[str, EffectModel]:
    from supportlab.sim.delivery import EffectModel

    if isinstance(effect, EffectModel):
        return dict.fromkeys(arms, effect)
    unknown = [a for a in effect if a not in arms]
    if unknown:
        raise ConfigError(f"effect given for unknown arm(s) {', '.join(map(repr, unknown))}",
                          where=where, fix=f"name the delivered arms: {', '.join(arms)}")
    missing = [a for a in arms if a not in effect]
    if missing:
        raise ConfigError(f"no effect given for arm(s) {', '.join(map(repr, missing))}",
                          where=where, fix="give an EffectModel for every non-control arm")
    for a, e in effect.items():
        if not isinstance(e, EffectModel):
            raise ConfigError(f"the effect of arm {a!r} is a {type(e).__name__}",
                              where=where, fix="give a supportlab.sim.delivery.EffectModel")
    return {a: effect[a] for a in arms}


def _steps(exp: Experiment) -> list[PackageStep]:
    from supportlab.sim.delivery import PackageStep

    return [PackageStep(s.week, tuple((i.content, i.done_when) for i in s.items))
            for s in exp.package.steps]


def _product(exp: Experiment) -> str | None:
    seg = exp.package.segment
    if isinstance(seg, Mapping) and isinstance(seg.get("product"), str):
        return str(seg["product"])
    return None


def _effect_dict(e: EffectModel) -> dict[str, Any]:
    return {"base_effect": e.base_effect, "uptake": e.uptake,
            "segment_multipliers": dict(e.segment_multipliers),
            "step_dropoff": list(e.step_dropoff) if e.step_dropoff is not None else None,
            "pipeline_per_deal": e.pipeline_per_deal}


def _summary(truth: pd.DataFrame, arm: str) -> dict[str, Any]:
    rows = truth[truth["versus"] == arm]
    opened = rows["opened"].astype(bool)
    itt = float(rows["tau"].mean()) if len(rows) else math.nan
    up = float(opened.mean()) if len(rows) else math.nan
    on_openers = float(rows.loc[opened, "tau"].mean()) if opened.any() else math.nan
    mine = rows["arm"] == arm
    return {"arm": arm, "n_arm": int(mine.sum()), "n_control": int((~mine).sum()),
            "true_itt": itt, "true_effect_on_openers": on_openers, "uptake_share": up,
            "opened_in_arm": int((opened & mine).sum()),
            "extra_deals": int(rows.loc[mine, "extra_deals"].sum())}


def _record_key(exp_id: str, phase: int) -> str:
    return f"delivery:{exp_id}:{phase}"


def simulate_experiment_delivery(ws: Workspace, exp: Experiment, *,
                                 effect: EffectModel | Mapping[str, EffectModel] | None = None,
                                 seed: int | None = None) -> DeliveryResult:
    """Deliver an assigned experiment in a simulated workspace through its horizon.

    Continues the world through the horizon (never twice over the same days), delivers the
    package to every non-control arm of the ledger and stores the ground truth in
    ``sim_truth``, in one transaction (see the module's description).

    Args:
        ws: a simulated workspace (``sim_partners`` and ``sim_state``).
        exp: an experiment already assigned in it.
        effect: the true effect (default ``EffectModel()``), or one per non-control arm
            (a mapping arm -> :class:`~supportlab.sim.delivery.EffectModel`).
        seed: the seed of the delivery's draws (default: the design's seed).

    Returns:
        The :class:`DeliveryResult`; for an experiment delivered before, the stored one
        (``already_delivered``), and nothing is added.

    Raises:
        WorkspaceError: not a simulated workspace, the experiment is not assigned, or
            ``sim_truth`` already holds it from a delivery made outside this function.
        ConfigError: a placebo (A/A) experiment, or effects that do not match the arms.
    """
    from supportlab.sim.columns import to_arrow
    from supportlab.sim.delivery import EffectModel, simulate_delivery

    where = exp.path or exp.id
    if exp.design.placebo:
        raise ConfigError(f"experiment {exp.id} is a placebo (A/A) run on history: nothing is "
                          "delivered", where=f"{where}: design.placebo",
                          fix="evaluate it directly; deliver only real experiments")
    steps = _steps(exp)
    with ws.transaction() as con:
        _, _, truth_table = _world(con, str(ws.path))  # refuses a non-simulated workspace
        spec, ledger = _ledger(ws, con, exp)
        phase = int(spec.phase)
        key = _record_key(exp.id, phase)
        stored = con.execute("SELECT value FROM sim_state WHERE key = ?", [key]).fetchall()
        if stored:
            old = DeliveryResult.from_dict(json.loads(stored[0][0]))
            return replace(old, already_delivered=True, notes=(
                *old.notes, f"{exp.id} was delivered before: this is the stored result and "
                "nothing was added (the effect and seed given now are not used)"))
        if "sim_truth" in _tables(con) and con.execute(
                "SELECT count(*) FROM sim_truth WHERE experiment_id = ?", [exp.id]
        ).fetchall()[0][0]:
            raise WorkspaceError(f"sim_truth already holds experiment {exp.id}, delivered "
                                 "without a record of it; nothing was added", where=where,
                                 fix="use a new experiment id, or simulate the world again")
        # the experiment's arm order (control first): a stored spec's mapping may be re-ordered
        arms = [a for a in exp.design.arms if a in spec.probabilities]
        arms += [a for a in spec.probabilities if a not in arms]
        control_arm, treated = arms[0], tuple(arms[1:])
        models = _effects(EffectModel() if effect is None else effect, treated,
                          f"{where}: effect")
        seed = int(spec.seed if seed is None else seed)
        horizon = (spec.end - spec.start).days
        last_week = max(s.week for s in steps)
        through = max(spec.end, spec.start + dt.timedelta(days=7 * last_week))
        control = ledger[ledger["arm"] == control_arm]
        unknown = sorted(set(ledger["arm"]) - set(arms))
        if unknown:
            raise WorkspaceError(f"the ledger of {exp.id} names arms the design does not "
                                 f"({', '.join(unknown)})", where="assignments",
                                 fix="re-assign under a new experiment id")
        cont = _continue(ws, con, through)
        truths: list[pd.DataFrame] = []
        added = {"events": 0, "deals": 0}
        for arm in treated:
            mine = ledger[ledger["arm"] == arm]
            assigned = pd.concat([mine.assign(arm="treatment"), control.assign(arm="control")])
            prefix = exp.id if phase == 1 else f"{exp.id}-p{phase}"
            prefix = prefix if arm == "treatment" or len(treated) == 1 else f"{prefix}-{arm}"
            for name, table in simulate_delivery(
                    truth_table, assigned, steps, experiment_id=prefix, start=spec.start,
                    horizon_days=horizon, effect=models[arm], seed=seed, product=_product(exp),
                    timezone=ws.config.timezone):
                if name == "sim_truth":
                    t = table.to_pandas()
                    t["experiment_id"] = exp.id
                    t["arm"] = t["arm"].map({"treatment": arm, "control": control_arm})
                    t["versus"] = arm
                    t["phase"] = phase
                    truths.append(t)
                else:
                    added[name] += _append(ws, con, name, table)
        truth = pd.concat(truths, ignore_index=True)
        _append(ws, con, "sim_truth", to_arrow(truth))
        arms = pd.DataFrame([_summary(truth, a) for a in treated])
        head = arms.iloc[0] if "treatment" not in treated else \
            arms[arms["arm"] == "treatment"].iloc[0]
        notes: list[str] = []
        if cont.n_events == 0 and cont.n_deals == 0:
            notes.append(f"the world already reached {cont.world_end}: no untreated rows added")
        if spec.start < dt.date.fromisoformat(cont.world_end_before):
            notes.append(f"the days from {spec.start} to {cont.world_end_before} had been "
                         "simulated before this delivery (history, or another experiment's "
                         "continuation)")
        result = DeliveryResult(
            experiment_id=exp.id, package=exp.package.ref, phase=phase,
            start=spec.start.isoformat(), end=spec.end.isoformat(), n_assigned=len(ledger),
            world_continued_from=cont.world_end_before, world_end=cont.world_end,
            n_world_events=cont.n_events, n_world_deals=cont.n_deals,
            n_delivery_events=added["events"], n_delivery_deals=added["deals"],
            true_itt=float(head["true_itt"]),
            true_effect_on_openers=float(head["true_effect_on_openers"]),
            uptake_share=float(head["uptake_share"]), arms=arms, seed=seed,
            effects={a: _effect_dict(m) for a, m in models.items()}, notes=tuple(notes))
        _set_state(con, key, result.to_json())
    return result
