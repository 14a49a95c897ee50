"""The CONSORT flow: raw counts from the evaluation's uptake, the stage that loses most."""

from __future__ import annotations

import pytest

import supportlab as sl
from helpers import delivered_workspace
from supportlab.config.experiment import load_experiment
from supportlab.report.flow import consort_flow


@pytest.fixture(scope="module")
def ev(tmp_path_factory: pytest.TempPathFactory) -> sl.Evaluation:
    root = tmp_path_factory.mktemp("flow")
    path = delivered_workspace(root, n_partners=300)
    ws = sl.Workspace.open(root, read_only=True)
    try:
        return sl.evaluate(ws, load_experiment(path), permutations=0)
    finally:
        ws.close()


def test_flow_counts_match_uptake(ev: sl.Evaluation) -> None:
    flow = consort_flow(ev)
    assert next(a.arm for a in flow.arms) == "control"
    up = ev.uptake.set_index("arm")
    for a in flow.arms:
        assert a.stages[0] == "assigned" and a.stages[1] == "opened" and a.stages[-1] == "analysed"
        assert a.counts[0] == up.loc[a.arm, "n_assigned"]
        assert a.counts[1] == up.loc[a.arm, "n_opened"]
        steps = list(a.counts[1:-1])
        assert steps == sorted(steps, reverse=True)


def test_loses_most_is_the_largest_drop(ev: sl.Evaluation) -> None:
    for a in consort_flow(ev).arms:
        drops = {a.stages[i]: a.counts[i - 1] - a.counts[i] for i in range(1, len(a.counts) - 1)}
        drops["analysed"] = a.counts[0] - a.counts[-1]
        assert a.lost == max(drops.values())
        assert drops[a.loses_most or ""] == a.lost


def test_treatment_funnel_agrees_with_evaluation(ev: sl.Evaluation) -> None:
    assert ev.funnel is not None
    tr = next(a for a in consort_flow(ev).arms if a.arm != "control")
    assert list(tr.counts[:-1]) == list(ev.funnel.counts)


def test_frame_lost_column(ev: sl.Evaluation) -> None:
    frame = consort_flow(ev).to_frame()
    assert list(frame.columns) == ["arm", "stage", "count", "lost"]
    analysed = frame[frame.stage == "analysed"]
    assert (analysed["lost"] >= 0).all()


def test_exclusions_from_stored_units(ev: sl.Evaluation) -> None:
    import pandas as pd

    units = pd.DataFrame({"partner_id": ["a", "b", "c", "d"],
                          "status": ["assigned", "excluded", "excluded", "small_stratum"],
                          "reason": [None, "running experiment x", "running experiment x", None]})
    flow = consort_flow(ev, units)
    assert flow.eligible == 4
    assert flow.excluded[0] == ("excluded", "running experiment x", 2)
    assert ("small_stratum", "", 1) in flow.excluded
    assert flow.to_dict()["excluded"][0]["partners"] == 2
    assert consort_flow(ev).eligible is None


def test_tasks_delivered_between_assigned_and_opened(ev: sl.Evaluation) -> None:
    """Treatment partners got their tasks; control none, by design, which is not its loss."""
    from supportlab.report.flow import DELIVERED

    up = ev.uptake.set_index("arm")
    tr_arm = next(a for a in up.index if a != "control")
    n_tr = int(up.loc[tr_arm, "n_assigned"])
    flow = consort_flow(ev, delivered={tr_arm: n_tr - 3})
    for a in flow.arms:
        assert a.stages[:3] == ("assigned", DELIVERED, "opened")
        assert a.counts[1] == (0 if a.arm == "control" else n_tr - 3)
        if a.arm == "control":
            assert a.loses_most != DELIVERED
    assert "stage" in flow.to_frame() and DELIVERED in set(flow.to_frame()["stage"])
    # without the experiment's tasks in the workspace the stage is left out
    assert DELIVERED not in consort_flow(ev).arms[0].stages
