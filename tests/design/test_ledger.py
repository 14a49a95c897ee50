"""The assignment ledger: eligible partners as targets computes them, one transaction,
append-only and immutable, re-derivable (verify), refusals that say what changed, randomization
before outcomes, contamination, roll-outs, and bad input that writes nothing."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pandas as pd
import pytest

import supportlab as sl
from helpers import (
    EXPERIMENT_YAML,
    PACKAGE_YAML,
    assert_unchanged,
    design_workspace,
    snapshot,
    write_experiment,
)
from supportlab.config.experiment import load_experiment
from supportlab.data.engine import connect
from supportlab.design.ledger import (
    MAX_PLANNED_DAYS,
    assign,
    eligible_hash,
    read_ledger,
    running_experiments,
    verify,
)
from supportlab.design.randomize import redraw
from supportlab.design.spec import design_spec
from supportlab.errors import ConfigError, DataValidationError, WorkspaceError
from supportlab.features.metrics import compute_metrics, experiment_windows
from supportlab.features.targeting import select_targets


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    root = tmp_path_factory.mktemp("ledger-template")
    ws = design_workspace(root)
    ws.ensure_tables()
    ws.close()
    pkgs = root / "experiments" / "packages"
    (pkgs / "launch-kit-2.yaml").write_text(PACKAGE_YAML.replace("version: 1", "version: 2"),
                                            encoding="utf-8")
    (pkgs / "other-kit.yaml").write_text(PACKAGE_YAML.replace("id: launch-kit", "id: other-kit"),
                                         encoding="utf-8")
    return root


@pytest.fixture
def world(template, tmp_path):
    """A fresh copy of the simulated workspace (history to 2026-05-31) for each test."""
    root = tmp_path / "ws"
    shutil.copytree(template, root)
    ws = sl.Workspace.open(root)
    yield root, ws
    ws.close()


@pytest.fixture(scope="module")
def shared(template, tmp_path_factory):
    """One workspace for the read-only checks of a stored assignment."""
    root = tmp_path_factory.mktemp("ledger") / "ws"
    shutil.copytree(template, root)
    ws = sl.Workspace.open(root)
    exp = experiment(root, "kit-2026q2")
    result = assign(ws, exp)
    yield root, ws, exp, result
    ws.close()


def experiment(root, id: str, *, design: str = "", start: str = "2026-06-01",
               rule: str | None = None, package: str = "launch-kit@1", seed: int = 11,
               horizon: int = 60, strata: str = "rank"):
    text = EXPERIMENT_YAML.format(id=id, start=start, design=design)
    text = text.replace("horizon_days: 60", f"horizon_days: {horizon}")
    text = text.replace("stratify_by: [rank]", f"stratify_by: [{strata}]")
    text = text.replace("package: launch-kit@1", f"package: {package}")
    text = text.replace("seed: 11", f"seed: {seed}")
    if rule:
        text = text.replace(f"package: {package}\n", f'package: {package}\neligibility: "{rule}"\n')
    path = write_experiment(root, id=id, text=text)
    return load_experiment(path, root / "experiments" / "packages")


def rows(ws, table: str, experiment_id: str) -> pd.DataFrame:
    return ws.query(f"SELECT * FROM {table} WHERE experiment_id = ?", [experiment_id])


# -- what assign writes ----------------------------------------------------------------------------


def test_the_eligible_partners_as_of_the_start_are_randomized_and_stored(shared):
    _, ws, exp, result = shared
    targets = select_targets(connect(ws), exp, as_of=exp.design.start)
    spec, ledger = read_ledger(ws, exp.id)
    assert list(ledger.index) == sorted(targets.frame.index)
    assert result.n_assigned == result.n_eligible == len(targets.frame) == len(ledger)
    assert not result.already and not result.dry_run and result.as_of_source == "start"
    assert result.message() == f"assigned {len(ledger):,} partners"
    assert (ledger["seed"] == 11).all() and (ledger["phase"] == 1).all()
    assert ledger["assigned_at"].nunique() == 1
    assert set(ledger["arm"]) == {"control", "treatment"}
    assert (ledger["probability"] == 0.5).all()
    # the stratum is the partner's rank (every rank holds partners for both arms)
    ranks = targets.frame["rank"].reindex(ledger.index)
    assert (ledger["stratum"] == ranks).all()
    for _, g in ledger.groupby("stratum"):
        assert abs((g["arm"] == "treatment").sum() - len(g) / 2) <= 0.5
    d = rows(ws, "designs", exp.id)
    assert len(d) == 1 and int(d["n_assigned"].iloc[0]) == len(ledger)
    assert d["design_hash"].iloc[0] == design_spec(exp).design_hash == spec.design_hash
    text = "\n".join(sorted(targets.frame.index))
    assert d["eligible_hash"].iloc[0] == hashlib.sha256(text.encode()).hexdigest()
    assert str(d["start_date"].iloc[0])[:10] == "2026-06-01" and not d["placebo"].iloc[0]
    units = rows(ws, "assignment_units", exp.id)
    assert len(units) == len(ledger) and (units["status"] == "assigned").all()
    inputs = json.loads(units.sort_values("partner_id")["inputs"].iloc[0])
    assert {"rank", "deals_registered_pre", "portal_logins_pre"} <= set(inputs)


def test_counts_balance_and_capacity_are_reported(shared):
    _, ws, exp, result = shared
    _, ledger = read_ledger(ws, exp.id)
    counts = result.counts.set_index("stratum")
    assert counts["total"].sum() == len(ledger)
    assert counts["treatment"].sum() == result.n_per_arm["treatment"]
    # the balance table is balance_check's SMD of the pre-period metrics
    pre, _ = experiment_windows(exp, "Asia/Tokyo")
    m = compute_metrics(connect(ws), ["deals_registered"], [pre], partners=list(ledger.index),
                        suffix=True)
    df = ledger.join(m)
    t, c = df[df["arm"] == "treatment"], df[df["arm"] == "control"]
    x = "deals_registered_pre"
    smd = (t[x].mean() - c[x].mean()) / np.sqrt((t[x].var() + c[x].var()) / 2)
    row = result.balance.set_index("covariate").loc[x]
    assert row["smd"] == pytest.approx(smd)
    big = result.balance[result.balance["smd"].abs() > 0.1]
    assert len([w for w in result.warnings if "poor balance" in w]) == len(big)
    assert result.capacity == 1 and result.capacity_program == 600 // len(ledger)
    assert result.capacity_segment == 415 // len(ledger)
    assert any("can host" in n for n in result.notes)
    js = json.loads(result.to_json())
    assert js["n_assigned"] == len(ledger) and js["design"]["seed"] == 11
    assert "partners by stratum and arm" in result.to_string()
    assert "割付" in result.to_string("ja")


def test_capacity_counts_the_eligible_partners_before_the_cap(world):
    root, ws = world
    r = assign(ws, experiment(root, "capped", design=", max_partners: 100"), dry_run=True)
    assert r.n_assigned == 100 and r.capacity == 415 // 100 == 4
    assert "the 415 eligible partners can host 4 experiment(s) of 100 partners" in \
        " ".join(r.notes)


def test_assigning_again_returns_the_stored_assignment_and_writes_nothing(shared):
    root, ws, exp, first = shared
    before = snapshot(ws)
    again = assign(ws, experiment(root, exp.id))
    assert again.already and again.assigned_at == first.assigned_at
    assert again.message().startswith(f"already assigned on {first.assigned_at[:10]}: the "
                                      "stored assignment is unchanged")
    assert again.n_per_arm == first.n_per_arm
    pd.testing.assert_frame_equal(again.counts, first.counts)
    pd.testing.assert_frame_equal(again.balance, first.balance)
    assert_unchanged(before, ws)


def test_verify_recomputes_the_ledger_row_by_row(shared):
    _, ws, exp, _ = shared
    v = verify(ws, exp)
    assert v.equal and v.eligible_hash_ok and v.n_differing == 0 and v.n_rows > 400


def test_verify_reports_a_tampered_row(world):
    root, ws = world
    exp = experiment(root, "tampered")
    assign(ws, exp)
    _, ledger = read_ledger(ws, exp.id)
    victim = ledger.index[3]
    flipped = "control" if ledger.loc[victim, "arm"] == "treatment" else "treatment"
    with ws.transaction() as con:
        con.execute("UPDATE assignments SET arm = ? WHERE experiment_id = ? AND partner_id = ?",
                    [flipped, exp.id, victim])
    v = verify(ws, exp)
    assert not v.equal and v.n_differing == 1
    row = v.differences.iloc[0]
    assert (row["partner_id"], row["column"], row["stored"]) == (victim, "arm", flipped)


def test_a_changed_design_or_package_after_assignment_is_refused_with_the_way_out(shared):
    root, ws, exp, _ = shared
    before = snapshot(ws)
    with pytest.raises(ConfigError, match=r"seed: 11 -> 12.*design\.phase: 2"):
        assign(ws, experiment(root, exp.id, seed=12))
    with pytest.raises(ConfigError, match=r"version: 1 -> 2"):
        assign(ws, experiment(root, exp.id, package="launch-kit@2"))
    with pytest.raises(ConfigError, match=r"method: 'stratified' -> 'blocked'"):
        assign(ws, experiment(root, exp.id, design=", method: blocked, "
                                                   "block_on: deals_registered"))
    assert_unchanged(before, ws)


def test_changed_eligibility_after_assignment_is_refused(shared):
    root, ws, exp, _ = shared
    before = snapshot(ws)
    with pytest.raises(ConfigError, match=r"eligibility: 415 partners at assignment, \d+ now "
                                          r"\(0 new, \d+ no longer eligible\)"):
        assign(ws, experiment(root, exp.id, rule="days_since_last_login < 30"))
    assert_unchanged(before, ws)


def test_a_new_phase_re_assigns_and_keeps_the_old_one(world):
    root, ws = world
    exp = experiment(root, "phased")
    first = assign(ws, exp)
    second = assign(ws, experiment(root, "phased", seed=12, design=", phase: 2"))
    assert not second.already and second.phase == 2
    spec1, l1 = read_ledger(ws, "phased", phase=1)
    spec2, l2 = read_ledger(ws, "phased")
    assert spec1.phase == 1 and spec2.phase == 2 and spec2.seed == 12
    assert (l1["phase"] == 1).all() and (l2["phase"] == 2).all()
    assert not (l1["arm"] == l2["arm"]).all()
    assert first.n_assigned == len(l1) == len(l2)
    assert verify(ws, "phased", phase=1).equal and verify(ws, "phased", phase=2).equal
    assert ws.count("designs") == 2
    assert ws.validate(["assignments"]).ok  # one row per partner and phase


def test_a_dry_run_writes_nothing(world):
    root, ws = world
    before = snapshot(ws)
    r = assign(ws, experiment(root, "dry"), dry_run=True)
    assert r.dry_run and r.n_assigned > 400 and r.assigned_at is None
    assert r.message().startswith("dry run: would assign")
    assert_unchanged(before, ws)
    real = assign(ws, experiment(root, "dry"))
    assert real.n_per_arm == r.n_per_arm and real.design_hash == r.design_hash


def test_blocked_and_rerandomized_designs_are_stored_and_verified(world):
    root, ws = world
    blocked = assign(ws, experiment(root, "pairs", design=", method: blocked, "
                                                         "block_on: deals_registered"))
    _, led = read_ledger(ws, "pairs")
    assert led["block"].notna().all() and blocked.design["block_size"] == 2
    for _, b in led.groupby("block"):
        assert (b["arm"] == "control").sum() in (len(b) // 2, len(b) - len(b) // 2)
    rr = assign(ws, experiment(root, "rerand", start="2026-08-01", design=(
        ", method: rerandomized, rerandomize: {covariates: [deals_registered, portal_logins], "
        "acceptance: 0.2}")))
    spec, led2 = read_ledger(ws, "rerand")
    o = spec.outcome
    assert o["distance"] <= o["threshold"] and o["draws"] >= 1
    assert any("rerandomization: draw" in n for n in rr.notes)
    assert rr.as_of_source == "day after the data" and rr.as_of.isoformat() == "2026-06-01"
    assert verify(ws, "pairs").equal and verify(ws, "rerand").equal
    # the redraws of the evaluation keep the ledger's strata counts and the criterion
    units = led2.join(compute_metrics(connect(ws), ["deals_registered", "portal_logins"],
                                      [_pre_at(rr.as_of)], partners=list(led2.index),
                                      suffix=True))
    draws = redraw(units, spec)(np.random.default_rng(0))
    assert draws.shape[1] == len(led2) and len(draws) >= 1


def _pre_at(day):
    from supportlab.features.metrics import Window

    end = pd.Timestamp(day).tz_localize("Asia/Tokyo")
    return Window("pre", end, end - pd.Timedelta(days=90))


# -- randomization before outcomes, placebo ---------------------------------------------------------


def test_a_start_inside_the_data_is_refused_unless_placebo(world):
    root, ws = world
    before = snapshot(ws)
    with pytest.raises(ConfigError, match=r"already holds data up to 2026-05-31: randomization "
                                          r"happens before outcomes.*placebo: true"):
        assign(ws, experiment(root, "late", start="2026-04-01"))
    assert_unchanged(before, ws)
    r = assign(ws, experiment(root, "aa", start="2026-03-01", design=", placebo: true"))
    assert r.placebo and "placebo" in r.message() and r.as_of.isoformat() == "2026-03-01"
    assert r.notes[0].startswith("PLACEBO")
    spec, _ = read_ledger(ws, "aa")
    assert spec.placebo and bool(rows(ws, "designs", "aa")["placebo"].iloc[0])
    assert "placebo" in assign(ws, experiment(root, "aa", start="2026-03-01",
                                              design=", placebo: true")).message()
    # a placebo run is not a running experiment: it excludes no one
    assert "aa" not in set(running_experiments(ws, "2026-03-15")["experiment_id"])


def test_a_placebo_after_the_data_and_a_start_far_beyond_it_are_refused(world):
    root, ws = world
    before = snapshot(ws)
    with pytest.raises(ConfigError, match=r"placebo .* after the data"):
        assign(ws, experiment(root, "aa2", start="2026-06-10", design=", placebo: true"))
    with pytest.raises(DataValidationError, match=f"within {MAX_PLANNED_DAYS} days"):
        assign(ws, experiment(root, "far", start="2026-12-01"))
    assert_unchanged(before, ws)


# -- contamination and roll-out ---------------------------------------------------------------------


def test_partners_of_a_running_experiment_of_the_same_package_are_excluded(world):
    root, ws = world
    first = assign(ws, experiment(root, "first", rule="days_since_last_login >= 7"))
    assert running_experiments(ws, "2026-06-15")["experiment_id"].tolist() == ["first"]
    assert running_experiments(ws, "2026-07-31").empty  # the horizon's end is exclusive
    _, taken = read_ledger(ws, "first")
    # another package is not excluded under same_package, but is under any_package
    other = assign(ws, experiment(root, "other", package="other-kit@1"), dry_run=True)
    assert other.n_excluded == 0
    anyp = assign(ws, experiment(root, "anyp", start="2026-07-15", package="other-kit@1",
                                 design=", exclude_running: any_package"), dry_run=True)
    assert set(anyp.excluded["partner_id"]) == set(taken.index)
    assert set(anyp.excluded["reason"]) == {"in running experiment first (of any package)"}
    second = assign(ws, experiment(root, "second", start="2026-07-01"))
    _, led = read_ledger(ws, "second")
    assert not set(led.index) & set(taken.index)
    assert second.n_excluded == len(taken) == first.n_assigned
    assert second.n_assigned + second.n_excluded == second.n_eligible
    assert set(second.excluded["reason"]) == {"in running experiment first (of the same "
                                              "package)"}
    assert any("overlap [2026-07-01, 2026-08-30): first" in n for n in second.notes)
    units = rows(ws, "assignment_units", "second")
    assert (units["status"] == "running").sum() == len(taken)
    assert verify(ws, "second").equal
    assert assign(ws, experiment(root, "second", start="2026-07-01")).already


def test_every_partner_taken_by_an_overlapping_experiment_is_a_clear_error(world):
    root, ws = world
    assign(ws, experiment(root, "all-of-them"))
    before = snapshot(ws)
    with pytest.raises(DataValidationError, match=r"every one of the .* is excluded: in running "
                                                  "experiment all-of-them"):
        assign(ws, experiment(root, "overlap", start="2026-07-01"))
    assert_unchanged(before, ws)


def test_a_rollout_excludes_treated_partners_and_sizes_its_holdout_by_power(world):
    from supportlab.design.plan import rollout_holdout

    root, ws = world
    assign(ws, experiment(root, "pilot", rule="days_since_last_login >= 7", horizon=10))
    _, led = read_ledger(ws, "pilot")
    treated = set(led.index[led["arm"] == "treatment"])
    exp = experiment(root, "rollout", start="2026-06-15", design=", rollout: true")
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = assign(ws, exp)
    assert not [w for w in caught if "holdout" in str(w.message)]  # it travels in the result
    spec, led2 = read_ledger(ws, "rollout")
    assert not set(led2.index) & treated
    assert set(r.excluded["partner_id"]) == treated
    assert set(r.excluded["reason"]) == {"already treated by launch-kit in experiment pilot "
                                         "(roll-out)"}
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        h = rollout_holdout(ws, exp, len(led2), partners=list(led2.index))
    assert spec.probabilities["control"] == pytest.approx(h) == spec.outcome["rollout_holdout"]
    assert any("roll-out: holdout" in n for n in r.notes)
    if h == 0.5:  # at this size even an even split is underpowered, and the result says so
        assert any("underpowered" in w for w in r.warnings)
    again = assign(ws, exp)
    assert again.already and again.warnings == r.warnings and verify(ws, "rollout").equal


# -- bad input, nothing written ---------------------------------------------------------------------


def test_zero_eligible_partners_is_a_clear_error(world):
    root, ws = world
    before = snapshot(ws)
    with pytest.raises(DataValidationError, match=r"no partner is eligible for none .*"
                                                  "nothing was written"):
        assign(ws, experiment(root, "none", rule="days_since_last_login >= 100000"))
    assert_unchanged(before, ws)


def test_a_stratum_of_one_partner_under_policy_error_writes_nothing(world):
    root, ws = world
    before = snapshot(ws)
    exp = experiment(root, "tiny-strata", design=", small_strata: error", strata="rank, region")
    with pytest.raises(DataValidationError, match=r"too small to put a partner in every arm.*"
                                                  r"small_strata: pool"):
        assign(ws, exp)
    assert_unchanged(before, ws)
    pooled = assign(ws, experiment(root, "tiny-strata", strata="rank, region"))
    assert any("small strata pooled" in n for n in pooled.notes)
    assert "(pooled)" in set(pooled.counts["stratum"])


@pytest.mark.parametrize("design,match", [
    (", control_share: 0", "control_share"),
    (", control_share: 1", "control_share"),
    (", arms: [treatment, control]", "first arm is 'treatment'"),
    (", arms: [control, a, a]", "an arm is named twice"),
])
def test_the_configuration_refuses_shares_and_arms_it_cannot_randomize(world, design, match):
    root, _ = world
    text = EXPERIMENT_YAML.format(id="bad", start="2026-06-01", design="")
    text = text.replace("control_share: 0.5, ", "").replace("pre_days: 90", "pre_days: 90"
                                                              + design)
    with pytest.raises(ConfigError, match=match):
        load_experiment(write_experiment(root, id="bad", text=text),
                        root / "experiments" / "packages")


def test_unknown_strata_columns_and_metrics_are_refused(world):
    root, ws = world
    before = snapshot(ws)
    with pytest.raises(ConfigError, match="unknown partner column 'rnak'"):
        assign(ws, experiment(root, "typo", strata="rnak"))
    with pytest.raises(ConfigError, match="unknown pre-period metric 'deals_registerd'"):
        assign(ws, experiment(root, "typo2", design=", method: blocked, "
                                                    "block_on: deals_registerd"))
    assert_unchanged(before, ws)


def test_read_ledger_of_an_unassigned_experiment_says_how_to_assign(world):
    _, ws = world
    with pytest.raises(WorkspaceError, match=r"not assigned.*supportlab assign EXPERIMENT\.yaml"):
        read_ledger(ws, "never")


def test_ledger_rows_without_their_design_are_refused(world):
    root, ws = world
    exp = experiment(root, "foreign")
    ws.append("assignments", pd.DataFrame([{
        "experiment_id": "foreign", "partner_id": "P00001", "arm": "control", "stratum": None,
        "assigned_at": pd.Timestamp("2026-06-01", tz="UTC"), "seed": 1, "block": None,
        "probability": 0.5, "phase": 1}]))
    with pytest.raises(WorkspaceError, match="without their design"):
        assign(ws, exp)


def test_the_eligible_hash_is_the_sorted_ids():
    assert eligible_hash(["b", "a"]) == hashlib.sha256(b"a\nb").hexdigest()


def test_the_existence_check_inside_the_write_transaction_wins_a_race(world, monkeypatch):
    """Another process wrote the assignment between this one's first look and its write."""
    import supportlab.design.ledger as ledger

    root, ws = world
    exp = experiment(root, "race")
    first = assign(ws, exp)
    before = snapshot(ws)
    real = ledger._stored
    calls = []

    def blind_first_look(ws_, con, experiment_id, phase):
        calls.append(experiment_id)
        return None if len(calls) == 1 else real(ws_, con, experiment_id, phase)

    monkeypatch.setattr(ledger, "_stored", blind_first_look)
    again = assign(ws, exp)
    assert len(calls) == 2  # the first look saw nothing; the check in the transaction did
    assert again.already and again.assigned_at == first.assigned_at
    assert_unchanged(before, ws)


def test_data_arriving_after_assignment_changes_nothing(world):
    """After delivery the logs run past the start (and past a planned start's as-of day): a
    re-run returns the stored assignment instead of refusing the start or the eligibility."""
    import datetime as dt

    from supportlab.design.simulated import continue_simulated_world

    root, ws = world
    now = experiment(root, "now")
    planned = experiment(root, "planned", start="2026-06-20", package="other-kit@1")
    a, b = assign(ws, now), assign(ws, planned)
    assert b.as_of_source == "day after the data"
    continue_simulated_world(ws, dt.date(2026, 7, 10))
    assert assign(ws, now).already and assign(ws, planned).already
    with pytest.raises(ConfigError, match="randomization happens before outcomes"):
        assign(ws, experiment(root, "too-late", start="2026-06-20"))
    assert verify(ws, "now").equal and verify(ws, "planned").equal
    assert a.n_assigned == len(read_ledger(ws, "now")[1])


def test_a_multi_arm_experiment_gets_its_shares_and_a_balance_row_per_arm(world):
    root, ws = world
    r = assign(ws, experiment(root, "three", design=", arms: [control, video, webinar]"))
    spec, led = read_ledger(ws, "three")
    assert spec.arms == ("control", "video", "webinar")
    assert set(r.n_per_arm) == set(spec.arms) and sum(r.n_per_arm.values()) == len(led)
    assert abs(r.n_per_arm["control"] - len(led) / 2) <= 4  # 50% control, 25% each other
    assert set(r.balance["arm"]) == {"video", "webinar"}
    assert (led["probability"] == led["arm"].map(spec.probabilities)).all()
