"""The CONSORT-style flow of an experiment: eligible -> assigned -> tasks delivered -> opened ->
each step -> analysed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from supportlab.design.evaluate import Evaluation


@dataclass(frozen=True)
class ArmFlow:
    """One arm's flow.

    Attributes:
        arm: the arm.
        stages: stage names, ``assigned`` first, ``analysed`` last.
        counts: partners at each stage.
        loses_most: the stage reached by the fewest of the previous stage's partners
            (``None`` when nothing is lost).
        lost: partners lost before ``loses_most``.
    """

    arm: str
    stages: tuple[str, ...]
    counts: tuple[int, ...]
    loses_most: str | None
    lost: int


@dataclass(frozen=True)
class ConsortFlow:
    """Per arm flows of an evaluation (raw counts, from its uptake table).

    Attributes:
        arms: one :class:`ArmFlow` per arm, control first.
        eligible: partners the stored assignment considered (``None``: not stored).
        excluded: ``(status, reason, partners)`` for each kind of partner left out of the
            draw (running experiments, small strata...), from the stored assignment.
    """

    arms: tuple[ArmFlow, ...]
    eligible: int | None = None
    excluded: tuple[tuple[str, str, int], ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """One row per arm and stage: count and lost since the previous stage (for
        ``analysed``: since ``assigned``, as everyone assigned is analysed by intention to treat)."""
        rows = []
        for a in self.arms:
            prev: int | None = None
            for s, c in zip(a.stages, a.counts, strict=True):
                if s == "analysed":
                    prev = a.counts[0]
                rows.append({"arm": a.arm, "stage": s, "count": c,
                             "lost": None if prev is None else prev - c})
                prev = c
        return pd.DataFrame(rows, columns=["arm", "stage", "count", "lost"])

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe."""
        return {"eligible": self.eligible,
                "excluded": [{"status": st, "reason": r, "partners": n}
                             for st, r, n in self.excluded],
                "arms": [{"arm": a.arm, "stages": list(a.stages), "counts": list(a.counts),
                          "loses_most": a.loses_most, "lost": a.lost} for a in self.arms]}


#: the stage of partners whose package tasks were made for the PRM (before the horizon)
DELIVERED = "tasks delivered"


def consort_flow(ev: Evaluation, units: pd.DataFrame | None = None,
                 delivered: Mapping[str, int] | None = None) -> ConsortFlow:
    """Build the flow from ``ev.uptake`` (assigned, opened, each week done) and the analysed n.

    Args:
        ev: the evaluation.
        units: the stored assignment's partners (``partner_id``, ``status``, ``reason``:
            ``assignment_units``); every status but ``assigned`` counts as excluded.
        delivered: per arm, the assigned partners with at least one task of the package
            before the horizon (the ``tasks delivered`` stage, after ``assigned``); None when
            the experiment's tasks are not in the workspace. Control gets none by design, so
            its flow's largest loss is looked for after that stage.

    Returns:
        The flow.
    """
    up = ev.uptake
    analysed = {"control": ev.n_control}
    for a in ev.arms:
        analysed[a.arm] = a.n_treatment
    week_cols = [c for c in up.columns if c.startswith("n_") and c.endswith("_done")]
    arms = []
    for _, r in up.iterrows():
        arm = str(r["arm"])
        sent = {} if delivered is None else {DELIVERED: int(delivered.get(arm, 0))}
        stages = ["assigned", *sent, "opened"] + [c[2:-5].replace("week", "week ") + " done"
                                                   for c in week_cols] + ["analysed"]
        counts = [int(r["n_assigned"]), *sent.values(), int(r["n_opened"])] \
            + [int(r[c]) for c in week_cols]
        counts.append(int(analysed.get(arm, int(r["n_assigned"]))))
        # analysed comes from the assigned, not from the last step; control's missing tasks
        # are the design, not a loss
        first = 1 + (bool(sent) and arm == "control")
        drops = [(counts[i - 1] - counts[i], stages[i]) for i in range(first, len(counts) - 1)]
        drops.append((counts[0] - counts[-1], "analysed"))
        lost, stage = max(drops) if drops else (0, "")
        arms.append(ArmFlow(arm=arm, stages=tuple(stages), counts=tuple(counts),
                            loses_most=stage if lost > 0 else None, lost=max(lost, 0)))
    arms.sort(key=lambda a: a.arm != "control")
    if units is None or units.empty:
        return ConsortFlow(arms=tuple(arms))
    out = units[units["status"] != "assigned"].fillna({"reason": ""})
    groups = out.groupby(["status", "reason"]).size().sort_values(ascending=False)
    excluded = tuple((str(st), str(r), int(n)) for (st, r), n in groups.items())
    return ConsortFlow(arms=tuple(arms), eligible=len(units), excluded=excluded)
