"""Simulated delivery in the real order: history up to the start -> assignment rows -> delivery
and the world's continuation -> metrics of the post window in the engine -> the truth."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import supportlab as sl
from helpers import EXPERIMENT_YAML, PACKAGE_YAML, design_workspace, write_experiment
from supportlab.cli import cli
from supportlab.config.experiment import Experiment, load_experiment
from supportlab.data.engine import connect
from supportlab.design.simulated import (
    continue_simulated_world,
    simulate_experiment_delivery,
)
from supportlab.design.spec import design_spec
from supportlab.errors import ConfigError, WorkspaceError
from supportlab.features.metrics import compute_metrics, experiment_windows
from supportlab.features.targeting import select_targets
from supportlab.sim.delivery import EffectModel

TZ = "Asia/Tokyo"


def experiment(root, id: str, *, horizon: int = 60, design: str = "") -> Experiment:
    text = EXPERIMENT_YAML.format(id=id, start="2026-06-01", design=design) \
        .replace("horizon_days: 60", f"horizon_days: {horizon}")
    path = write_experiment(root, id=id, text=text)
    return load_experiment(path, root / "experiments" / "packages")


def assign_rows(ws, exp: Experiment, ids, seed: int = 1) -> pd.DataFrame:
    """Ledger rows as `assign` writes them: arms in their shares, within rank strata."""
    spec = design_spec(exp)
    rng = np.random.default_rng(seed)
    ids = np.sort(np.asarray(ids))
    arms = np.array(spec.arms)[np.arange(len(ids)) % len(spec.arms)]
    arms = arms[rng.permutation(len(ids))]
    now = pd.Timestamp("2026-06-01", tz="UTC")
    rows = pd.DataFrame({"experiment_id": exp.id, "partner_id": ids, "arm": arms,
                         "stratum": None, "assigned_at": now, "seed": spec.seed, "block": None,
                         "probability": [spec.probabilities[a] for a in arms], "phase": 1})
    ws.append("assignments", rows)
    ws.append("designs", pd.DataFrame([{
        "experiment_id": exp.id, "phase": 1, "package_id": exp.package.id,
        "version": exp.package.version, "method": spec.method, "design_hash": spec.design_hash,
        "eligible_hash": "-", "spec": spec.to_json(), "placebo": False, "n_assigned": len(ids),
        "start_date": spec.start, "end_date": spec.end, "assigned_at": now}]))
    return rows


def counts(ws) -> dict[str, int]:
    return {t: ws.count(t) if ws.has_table(t) else 0
            for t in ("events", "deals", "sim_truth", "sim_state")}


def world_end(ws) -> str:
    return ws.query("SELECT value FROM sim_state WHERE key = 'world_end'")["value"].iloc[0]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("delivery")
    ws = design_workspace(root)
    ws.ensure_tables()
    yield root, ws
    ws.close()


@pytest.fixture(scope="module")
def delivered(world):
    """kit-2026q2: the eligible partners as of the start, half of them treated, delivered with
    a strong package."""
    root, ws = world
    exp = experiment(root, "kit-2026q2")
    targets = select_targets(connect(ws), exp, as_of=exp.design.start)
    ledger = assign_rows(ws, exp, targets.frame.index)
    before = counts(ws)
    result = simulate_experiment_delivery(ws, exp, effect=EffectModel(base_effect=1.5))
    return exp, ledger, before, result


# -- the whole order ------------------------------------------------------------------------------


def test_the_loop_in_its_real_order_recovers_the_true_itt(world, delivered):
    _, ws = world
    exp, ledger, _, result = delivered
    assert world_end(ws) == result.world_end == "2026-07-31"
    assert result.world_continued_from == "2026-06-01" and result.n_world_events > 10_000
    pre, post = experiment_windows(exp, TZ)
    m = compute_metrics(connect(ws), ["deals_registered", "portal_logins"], [pre, post])
    df = ledger.set_index("partner_id")[["arm"]].join(m)
    est = sl.analyze(df, arm="arm", outcome="deals_registered_post",
                     covariates=["deals_registered_pre"])
    truth = ws.query("SELECT * FROM sim_truth WHERE experiment_id = ?", [exp.id])
    assert result.true_itt == pytest.approx(truth["tau"].mean())
    assert est.ci_lower < result.true_itt < est.ci_upper
    assert est.ci_lower > 0
    # the untreated world went on for everyone: control partners log in as before the start
    control = df[df["arm"] == "control"]
    assert control["portal_logins_post"].mean() == pytest.approx(
        control["portal_logins_pre"].mean() * 60 / 90, rel=0.25)
    assert np.corrcoef(control["portal_logins_pre"], control["portal_logins_post"])[0, 1] > 0.7


def test_the_truth_is_stored_per_assigned_partner(world, delivered):
    _, ws = world
    exp, ledger, before, result = delivered
    truth = ws.query("SELECT * FROM sim_truth WHERE experiment_id = ? ORDER BY partner_id",
                     [exp.id])
    assert len(truth) == len(ledger) == result.n_assigned
    assert (truth["arm"].to_numpy() == ledger.sort_values("partner_id")["arm"].to_numpy()).all()
    assert (truth.loc[~truth["opened"], "tau"] == 0).all()
    assert (truth.loc[truth["arm"] == "control", "extra_deals"] == 0).all()
    assert result.uptake_share == pytest.approx(truth["opened"].mean())
    assert result.true_effect_on_openers == pytest.approx(
        result.true_itt / result.uptake_share)
    package = ws.query("SELECT DISTINCT partner_id FROM events WHERE event_id LIKE ?",
                       [f"{exp.id}-E%"])["partner_id"]
    treated = set(ledger.loc[ledger["arm"] == "treatment", "partner_id"])
    assert len(package) and set(package) <= treated
    after = counts(ws)
    assert after["events"] - before["events"] == result.n_world_events + result.n_delivery_events
    assert after["deals"] - before["deals"] == result.n_world_deals + result.n_delivery_deals
    assert ws.validate().ok
    data = json.loads(result.to_json())
    assert data["true_itt"] == pytest.approx(result.true_itt) and data["arms"][0]["arm"] == "treatment"
    assert "true ITT" in str(result) and "真のITT効果" in result.to_string(lang="ja")


def test_delivering_again_adds_nothing_and_returns_the_stored_result(world, delivered):
    _, ws = world
    exp, _, _, result = delivered
    before = counts(ws)
    again = simulate_experiment_delivery(ws, exp, effect=EffectModel(base_effect=9.0), seed=3)
    assert counts(ws) == before
    assert again.already_delivered and not result.already_delivered
    assert again.true_itt == result.true_itt and again.n_world_events == result.n_world_events
    assert again.effects["treatment"]["base_effect"] == 1.5
    assert any("delivered before" in n for n in again.notes)


def test_a_second_experiment_continues_the_world_only_beyond_it(world, delivered):
    root, ws = world
    _, ledger1, _, _ = delivered
    untreated = ("SELECT count(*) AS n FROM events WHERE event_id LIKE 'E2026%' AND ts < "
                 "TIMESTAMPTZ '2026-07-31 00:00:00+09:00'")
    june_july = ws.query(untreated)["n"].iloc[0]
    exp = experiment(root, "kit-overlap", horizon=90)
    others = sorted(set(ws.table("sim_partners")["partner_id"]) - set(ledger1["partner_id"]))
    assign_rows(ws, exp, others, seed=2)
    result = simulate_experiment_delivery(ws, exp)
    assert result.world_continued_from == "2026-07-31" and result.world_end == "2026-08-30"
    assert ws.query(untreated)["n"].iloc[0] == june_july  # not doubled
    assert result.n_world_events > 0
    assert any("2026-07-31" in n for n in result.notes)
    ids = ws.query("SELECT event_id FROM events")["event_id"]
    assert ids.is_unique
    # a world already long enough is left as it is
    same = continue_simulated_world(ws, pd.Timestamp("2026-08-01").date())
    assert (same.n_events, same.world_end) == (0, "2026-08-30")


def test_each_arm_of_a_multi_arm_experiment_gets_its_own_effect(world, delivered):
    root, ws = world
    exp = experiment(root, "kit-arms", design=", arms: [control, video, training]")
    ids = ws.table("sim_partners")["partner_id"].iloc[::2]
    assign_rows(ws, exp, ids, seed=4)
    with pytest.raises(ConfigError, match="unknown arm"):
        simulate_experiment_delivery(ws, exp, effect={"video": EffectModel(), "vidoe": EffectModel()})
    with pytest.raises(ConfigError, match="no effect given for arm"):
        simulate_experiment_delivery(ws, exp, effect={"video": EffectModel()})
    assert ws.query("SELECT count(*) AS n FROM sim_truth WHERE experiment_id = 'kit-arms'")[
        "n"].iloc[0] == 0
    result = simulate_experiment_delivery(ws, exp, effect={
        "video": EffectModel(base_effect=2.0), "training": EffectModel(base_effect=0.0)})
    arms = result.arms.set_index("arm")
    assert list(arms.index) == ["video", "training"]
    assert arms.loc["training", "true_itt"] == 0 and arms.loc["video", "true_itt"] > 0.3
    assert result.true_itt == arms.loc["video", "true_itt"]
    truth = ws.query("SELECT * FROM sim_truth WHERE experiment_id = 'kit-arms'")
    control = truth[truth["arm"] == "control"]
    assert set(control["versus"]) == {"video", "training"}
    assert len(truth) == len(ids) + len(control) // 2
    prefixes = ws.query("SELECT DISTINCT split_part(event_id, '-E', 1) AS p FROM events "
                        "WHERE event_id LIKE 'kit-arms-%'")["p"]
    assert set(prefixes) == {"kit-arms-video", "kit-arms-training"}
    assert "arms" in str(result)


def test_a_failure_midway_leaves_nothing(world, delivered, monkeypatch):
    root, ws = world
    exp = experiment(root, "kit-fail", horizon=150)
    assign_rows(ws, exp, ws.table("sim_partners")["partner_id"].iloc[:40], seed=5)
    before, end = counts(ws), world_end(ws)

    def broken(*args, **kwargs):
        raise RuntimeError("the PRM went away")
        yield  # pragma: no cover

    monkeypatch.setattr("supportlab.sim.delivery.simulate_delivery", broken)
    with pytest.raises(RuntimeError, match="PRM went away"):
        simulate_experiment_delivery(ws, exp)
    assert counts(ws) == before and world_end(ws) == end


# -- refusals -------------------------------------------------------------------------------------


def test_an_unassigned_or_placebo_experiment_is_refused(world, delivered):
    root, ws = world
    before = counts(ws)
    with pytest.raises(WorkspaceError, match="kit-none is not assigned") as err:
        simulate_experiment_delivery(ws, experiment(root, "kit-none"))
    assert "supportlab assign" in str(err.value)
    with pytest.raises(ConfigError, match="placebo"):
        simulate_experiment_delivery(ws, experiment(root, "kit-aa", design=", placebo: true"))
    assert counts(ws) == before


def test_a_workspace_without_a_simulated_world_is_refused(ws):
    root = ws.config.root
    (root / "experiments" / "packages").mkdir(parents=True, exist_ok=True)
    (root / "experiments" / "packages" / "launch-kit.yaml").write_text(PACKAGE_YAML, "utf-8")
    exp = experiment(root, "kit-real")
    with pytest.raises(WorkspaceError, match="runs only on simulated workspaces"):
        simulate_experiment_delivery(ws, exp)
    assert ws.count("events") == 0 and not ws.has_table("sim_truth")


def test_a_world_without_its_state_is_refused(tmp_path):
    ws = design_workspace(tmp_path, n_partners=40, days=40)
    ws.drop("sim_state")
    exp = experiment(tmp_path, "kit-old")
    assign_rows(ws, exp, ws.table("partners")["partner_id"])
    with pytest.raises(WorkspaceError, match="no sim_state") as err:
        simulate_experiment_delivery(ws, exp)
    assert "simulate --replace" in str(err.value)
    ws.close()


# -- the command ----------------------------------------------------------------------------------


def test_the_command_delivers_and_says_so(world, delivered):
    root, ws = world
    exp = experiment(root, "kit-cli")
    assign_rows(ws, exp, ws.table("sim_partners")["partner_id"].iloc[1::3], seed=6)
    path = str(root / "experiments" / "kit-cli.yaml")
    run = CliRunner().invoke
    r = run(cli, ["-C", str(root), "simulate-delivery", path, "--effect", "0.5", "--uptake",
                  "0.7", "--dropoff", "0.9, 0.8", "--seed", "8", "--format", "json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["experiment_id"] == "kit-cli" and out["seed"] == 8
    assert out["effects"]["treatment"] == {"base_effect": 0.5, "uptake": 0.7,
                                           "step_dropoff": [0.9, 0.8], "pipeline_per_deal": None,
                                           "segment_multipliers": EffectModel().segment_multipliers}
    r = run(cli, ["-C", str(root), "simulate-delivery", path])
    assert r.exit_code == 0 and re.search(r"already delivered\s+yes", r.output)
    r = run(cli, ["-C", str(root), "simulate-delivery", path, "--dropoff", "0.9,1.5"])
    assert r.exit_code == 2 and "--dropoff" in r.output and "Fix:" in r.output
    none = write_experiment(root, id="kit-cli-none")
    r = run(cli, ["-C", str(root), "simulate-delivery", str(none)])
    assert r.exit_code == 5 and "is not assigned" in r.output and "Traceback" not in r.output


def test_two_processes_at_once_deliver_once(world, delivered):
    import subprocess
    import sys

    root, ws = world
    exp = experiment(root, "kit-twice")
    assign_rows(ws, exp, ws.table("sim_partners")["partner_id"].iloc[2::3], seed=7)
    path = str(root / "experiments" / "kit-twice.yaml")
    cmd = [sys.executable, "-m", "supportlab.cli", "-C", str(root), "simulate-delivery", path,
           "--format", "json"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    results = [json.loads(out) for out, _ in outs]
    assert sorted(r["already_delivered"] for r in results) == [False, True]
    assert results[0]["true_itt"] == results[1]["true_itt"]
    n = ws.query("SELECT count(*) AS n FROM sim_truth WHERE experiment_id = 'kit-twice'")["n"]
    assert n.iloc[0] == len(ws.table("sim_partners")["partner_id"].iloc[2::3])
    ids = ws.query("SELECT event_id FROM events WHERE event_id LIKE 'kit-twice-%'")["event_id"]
    assert len(ids) and ids.is_unique
