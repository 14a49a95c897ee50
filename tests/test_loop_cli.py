"""The whole loop from the command line, in the real order, on a simulated workspace.

history up to the start → plan → assign → tasks → PRM status export → simulated delivery and
outcomes → evaluate → record-decision → packages → credits; then the same answers from Python.
"""

from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner

import supportlab as sl
from helpers import EXPERIMENT_YAML, design_workspace, write_experiment
from supportlab.cli import cli


def run(root, *args: str) -> dict | str:
    r = CliRunner().invoke(cli, ["-C", str(root), *args], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout) if "json" in args else r.output


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    root = tmp_path_factory.mktemp("loop-cli")
    design_workspace(root, n_partners=800).close()
    exp = write_experiment(root)
    out = {"root": root, "exp": exp}
    out["plan"] = run(root, "plan", str(exp), "--format", "json")
    out["assign"] = run(root, "assign", str(exp), "--format", "json")
    out["again"] = run(root, "assign", str(exp))
    out["verify"] = run(root, "assign", str(exp), "--verify")
    out["tasks"] = run(root, "tasks", str(exp), "--format", "csv", "--out",
                       str(root / "tasks.csv"))
    with open(root / "tasks.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    export = root / "prm-export.csv"
    with open(export, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["task_id", "status"])
        for r in rows[:40]:
            w.writerow([r["task_id"], "Completed"])
    out["n_tasks"] = len(rows)
    out["status"] = run(root, "task-status", str(export), "--as-of", "2026-06-20",
                        "--format", "json")
    out["delivery"] = run(root, "simulate-delivery", str(exp), "--effect", "1.5",
                          "--format", "json")
    out["evaluate"] = run(root, "evaluate", str(exp), "--format", "json")
    out["decision"] = run(root, "record-decision", str(exp), "--format", "json")
    out["packages"] = run(root, "packages", "--format", "json")
    out["credits"] = run(root, "credits", "--format", "json")
    return out


def test_plan_and_assignment(loop):
    plan, assigned = loop["plan"], loop["assign"]
    assert plan["n_eligible"] == assigned["n_eligible"] > 300
    assert sum(assigned["n_per_arm"].values()) == assigned["n_assigned"]
    assert assigned["already"] is False and assigned["placebo"] is False
    assert "already assigned" in loop["again"] and "unchanged" in loop["again"]
    assert "equals the stored one" in loop["verify"]


def test_tasks_and_their_status_round_trip(loop):
    items = 3  # launch-kit@1 has three items
    assert loop["n_tasks"] == items * loop["assign"]["n_per_arm"]["treatment"]
    with sl.Workspace.open(loop["root"]) as ws:
        done = ws.query("SELECT count(*) AS n FROM tasks WHERE status = 'done'")["n"][0]
        kept = ws.query("SELECT count(*) AS n FROM task_history WHERE status = 'done'")["n"][0]
    assert done == kept == 40


def test_delivery_evaluation_and_decision(loop):
    ev, truth = loop["evaluate"], loop["delivery"]
    for key in ("experiment", "package", "decision", "reasons", "primary", "srm_p_value",
                "n_control", "n_treatment"):
        assert key in ev
    p = ev["primary"]
    assert p["ci_lower"] < truth["true_itt"] < p["ci_upper"]
    assert ev["decision"] == "promote"
    assert ev["n_control"] + ev["n_treatment"] == loop["assign"]["n_assigned"]
    rec = loop["decision"]
    assert rec["decision"] == rec["computed"] == "promote" and rec["override"] is False
    assert rec["effect"] == pytest.approx(p["effect"])


def test_registry_and_credits_follow_the_log(loop):
    (pkg,) = loop["packages"]["frame"]
    assert pkg["ref"] == "launch-kit@1" and pkg["status"] == "promoted"
    (owner,) = loop["credits"]["frame"]
    assert owner["owner"] == "tanaka" and owner["designed"] == 1 and owner["promoted"] == 1


def test_python_gives_the_same_answers(loop):
    exp = sl.load_experiment(loop["exp"])
    with sl.Workspace.open(loop["root"]) as ws:
        ev = sl.evaluate(ws, exp)
        spec, ledger = sl.read_ledger(ws, exp.id)
        assert ev.decision == loop["evaluate"]["decision"]
        assert ev.primary.effect == pytest.approx(loop["evaluate"]["primary"]["effect"])
        assert len(ledger) == loop["assign"]["n_assigned"] and spec.method == "stratified"
        assert sl.packages(ws, loop["root"] / "experiments" / "packages").frame["status"] \
            .tolist() == ["promoted"]


def test_a_promoted_template_rolls_out_to_who_needs_it_with_a_powered_holdout(loop):
    root = loop["root"]
    # a larger min_effect than the pilot's: the holdout that keeps 80% power is then small
    text = EXPERIMENT_YAML.format(id="kit-rollout", start="2026-07-31", design=", rollout: true")
    exp = write_experiment(root, id="kit-rollout", text=text.replace("min_effect: 0.2",
                                                                     "min_effect: 0.8"))
    treated = loop["assign"]["n_per_arm"]["treatment"]
    out = run(root, "targets", str(exp))
    assert f"roll-out: {treated:,} eligible partner(s) already treated by launch-kit" in out
    rolled = run(root, "assign", str(exp), "--format", "json")
    with sl.Workspace.open(root) as ws:
        _, first = sl.read_ledger(ws, "kit-2026q2")
        _, now = sl.read_ledger(ws, "kit-rollout")
    had_it = set(first.index[first["arm"] == "treatment"])
    assert not had_it & set(now.index)
    assert rolled["n_assigned"] == len(now) > 0
    share = rolled["n_per_arm"]["control"] / rolled["n_assigned"]
    assert 0.05 <= share < 0.5  # a holdout sized by power, not half and not a fixed 5%
