"""The evaluation end to end on a small simulated workspace: history -> ledger -> delivery with a
known effect -> evaluate (metrics in the engine, design-aware estimates, checks, the decision)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from helpers import EXPERIMENT_YAML, design_workspace, write_experiment
from supportlab.cli import cli
from supportlab.cli.app import COMMANDS
from supportlab.config.experiment import Experiment, load_experiment
from supportlab.data.engine import connect
from supportlab.design.evaluate import REQUIRED_JSON, Evaluation, evaluate
from supportlab.design.simulated import simulate_experiment_delivery
from supportlab.design.spec import design_spec
from supportlab.errors import ConfigError, DataValidationError, WorkspaceError
from supportlab.features.targeting import select_targets
from supportlab.sim.delivery import EffectModel
from supportlab.stats.decision import OUTCOMES

ESTIMATE_FIELDS = ("method", "n_control", "n_treatment", "mean_control", "mean_treatment",
                   "effect", "ci_lower", "ci_upper", "p_value", "rel_effect", "rel_ci_lower",
                   "rel_ci_upper", "confidence_level")


def experiment(root, id: str, *, start: str = "2026-06-01", design: str = "",
               decision: str = "", control_share: float = 0.5) -> Experiment:
    text = EXPERIMENT_YAML.format(id=id, start=start, design=design) \
        .replace("control_share: 0.5", f"control_share: {control_share:g}")
    if decision:
        text = text.replace("decision: {min_effect: 0.2, alpha: 0.05}",
                            "decision: {min_effect: 0.2, alpha: 0.05" + decision + "}")
    path = write_experiment(root, id=id, text=text)
    return load_experiment(path, root / "experiments" / "packages")


def write_ledger(ws, exp: Experiment, ids, ranks, *, seed: int = 1,
                 stratum: bool = True) -> pd.DataFrame:
    """Ledger rows as `assign` writes them: arms in their shares within each rank stratum."""
    spec = design_spec(exp)
    rng = np.random.default_rng(seed)
    ids, ranks = np.asarray(ids), np.asarray(ranks)
    arms = np.empty(len(ids), dtype=object)
    for r in np.unique(ranks):
        idx = np.flatnonzero(ranks == r)
        counts = np.floor(np.array(list(spec.probabilities.values())) * len(idx)).astype(int)
        labels = np.repeat(spec.arms, counts)
        labels = np.concatenate([labels, rng.choice(spec.arms, len(idx) - len(labels),
                                                    p=list(spec.probabilities.values()))])
        arms[idx] = labels[rng.permutation(len(idx))]
    now = pd.Timestamp("2026-06-01", tz="UTC")
    rows = pd.DataFrame({"experiment_id": exp.id, "partner_id": ids, "arm": arms,
                         "stratum": ranks if stratum else None, "assigned_at": now,
                         "seed": spec.seed, "block": None,
                         "probability": [spec.probabilities[a] for a in arms], "phase": 1})
    ws.append("assignments", rows)
    ws.append("designs", pd.DataFrame([{
        "experiment_id": exp.id, "phase": 1, "package_id": exp.package.id,
        "version": exp.package.version, "method": spec.method, "design_hash": spec.design_hash,
        "eligible_hash": "-", "spec": spec.to_json(), "placebo": spec.placebo,
        "n_assigned": len(ids), "start_date": spec.start, "end_date": spec.end,
        "assigned_at": now}]))
    return rows


def true_itt(ws, exp_id: str) -> float:
    truth = ws.query("SELECT tau FROM sim_truth WHERE experiment_id = ?", [exp_id])
    return float(truth["tau"].mean())


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Three experiments on disjoint thirds of the eligible partners, delivered in the real
    order: a strong package (segments by rank), a null one and a three-arm one."""
    root = tmp_path_factory.mktemp("evaluate")
    ws = design_workspace(root, n_partners=1000)
    ws.ensure_tables()
    strong = experiment(root, "kit-strong", decision=", segments: [rank]")
    targets = select_targets(connect(ws), strong, as_of=strong.design.start).frame.sort_index()
    ids, ranks = targets.index.to_numpy(), targets["rank"].astype(str).to_numpy()
    null = experiment(root, "kit-null")
    arms3 = experiment(root, "kit-arms", design=", arms: [control, short, full]",
                       control_share=0.4)
    parts = {}
    for k, exp in enumerate((strong, null, arms3)):
        parts[exp.id] = write_ledger(ws, exp, ids[k::3], ranks[k::3], seed=k + 1)
    simulate_experiment_delivery(ws, strong, effect=EffectModel(base_effect=2.0))
    simulate_experiment_delivery(ws, null, effect=EffectModel(base_effect=0.0))
    simulate_experiment_delivery(ws, arms3, effect={"short": EffectModel(base_effect=0.0),
                                                    "full": EffectModel(base_effect=2.5)})
    yield root, ws, {"strong": strong, "null": null, "arms": arms3}, parts, (ids, ranks)
    ws.close()


@pytest.fixture(scope="module")
def strong(world):
    _, ws, exps, _, _ = world
    return evaluate(ws, exps["strong"])


# -- recovery and decisions -----------------------------------------------------------------------


def test_a_strong_package_is_recovered_and_promoted(world, strong):
    _, ws, _exps, parts, _ = world
    ev = strong
    assert isinstance(ev, Evaluation)
    assert ev.final and ev.as_of == ev.end == "2026-07-31" and ev.look == ev.looks == 1
    assert ev.primary.method == "stratified-regression"
    assert ev.primary.covariates == ("deals_registered_pre",)
    itt = true_itt(ws, "kit-strong")
    assert ev.primary.ci_lower < itt < ev.primary.ci_upper
    assert ev.primary.ci_lower > 0
    assert ev.decision == "promote" and ev.decision_detail.outcome == "promote"
    assert ev.n_control + ev.n_treatment == len(parts["kit-strong"])
    assert not ev.srm.mismatch and ev.srm_p_value > 0.001
    assert ev.primary.details["randomization_p_value"] < 0.05  # the design's redraws agree
    assert [g.status for g in ev.guardrails] == ["ok"]
    assert [e.outcome for e in ev.secondary] == ["package_completion_post"]
    assert ev.balance is not None and set(ev.balance.table["covariate"]) == {
        "deals_registered_pre", "package_completion_pre", "portal_logins_pre"}
    assert (ev.experiment_id, ev.package_id, ev.version, ev.owner, ev.metric) == (
        "kit-strong", "launch-kit", 1, "tanaka", "deals_registered")
    assert "product: A" in ev.cohort and "2026-06-01" in ev.cohort and "2026-07-31" in ev.cohort


def test_a_null_package_is_not_promoted(world):
    _, ws, exps, _, _ = world
    ev = evaluate(ws, exps["null"])
    assert true_itt(ws, "kit-null") == 0
    assert ev.primary.ci_lower < 0 < ev.primary.ci_upper
    assert ev.decision in ("revise", "continue")


def test_uptake_and_the_step_funnel_per_arm(world, strong):
    _, ws, _, parts, _ = world
    ev = strong
    up = ev.uptake.set_index("arm")
    ledger = parts["kit-strong"]
    assert up.loc["treatment", "n_assigned"] == (ledger["arm"] == "treatment").sum()
    assert list(up.columns) == ["n_assigned", "n_opened", "uptake_share", "mean_completion",
                                "n_week1_done", "n_week2_done"]
    # the package was delivered to treatment only: more of it is done there
    assert up.loc["treatment", "n_week2_done"] > up.loc["control", "n_week2_done"]
    assert ev.funnel is not None
    assert ev.funnel.stages == ("assigned", "opened", "week 1 done", "week 2 done")
    assert ev.funnel.counts == tuple(up.loc["treatment", ["n_assigned", "n_opened",
                                                          "n_week1_done", "n_week2_done"]])
    assert list(ev.funnel.counts) == sorted(ev.funnel.counts, reverse=True)
    # the delivered events are in the logs: the truth's completed steps are seen
    truth = ws.query("SELECT partner_id, steps_completed FROM sim_truth WHERE experiment_id = "
                     "'kit-strong' AND arm = 'treatment'")
    assert up.loc["treatment", "n_week2_done"] >= (truth["steps_completed"] == 2).sum()
    # beside the ITT, labelled: the complier effect (assignment as instrument, opened as uptake)
    assert ev.complier is not None and ev.complier.uptake == "opened"


def test_segments_are_pre_declared_and_holm_adjusted(strong):
    (seg,) = strong.segments
    assert seg.segment == "rank" and seg.adjust == "holm"
    assert set(seg.labels) <= {"S", "A", "B", "C"} and len(seg.labels) >= 2
    assert all(lv >= strong.primary.confidence_level - 1e-12 for lv in seg.levels)


def test_each_arm_is_compared_with_control(world):
    _, ws, exps, _parts, _ = world
    ev = evaluate(ws, exps["arms"])
    assert [a.arm for a in ev.arms] == ["short", "full"]
    assert ev.uptake["arm"].tolist() == ["control", "short", "full"]
    short, full = ev.arms
    assert full.ci_lower > 0 and short.ci_lower < 0 < short.ci_upper
    for a in ev.arms:  # the SRM check uses the design's 40/30/30, not 50/50
        assert a.srm.expected_control_share == pytest.approx(0.4 / 0.7)
        assert a.primary.treatment == a.arm and a.primary.control == "control"
    assert ev.primary is next(a.primary for a in ev.arms if a.arm == "short")  # first arm
    frame = ev.to_frame()
    assert set(frame["arm"]) == {"short", "full"}
    assert "arms" in ev.to_string()


def _copy_ledger(ws, exp: Experiment, rows: pd.DataFrame) -> None:
    spec = design_spec(exp)
    ws.append("assignments", rows.assign(experiment_id=exp.id))
    ws.append("designs", pd.DataFrame([{
        "experiment_id": exp.id, "phase": 1, "package_id": "launch-kit", "version": 1,
        "method": spec.method, "design_hash": spec.design_hash, "eligible_hash": "-",
        "spec": spec.to_json(), "placebo": False, "n_assigned": len(rows),
        "start_date": spec.start, "end_date": spec.end,
        "assigned_at": pd.Timestamp("2026-06-01", tz="UTC")}]))


def test_the_analysis_follows_a_blocked_or_rerandomized_design(world, strong):
    root, ws, _exps, parts, _ = world
    itt = true_itt(ws, "kit-strong")
    # the strong experiment's arms, as pairs: the i-th control with the i-th treatment partner
    # of each rank (the delivered arms stay what they were)
    rows = parts["kit-strong"].copy()
    rows["block"] = None
    for (_r, _a), g in rows.groupby(["stratum", "arm"]):
        rows.loc[g.index, "block"] = [f"{_r}-{i}" for i in range(len(g))]
    unpaired = rows.groupby("block")["arm"].transform("nunique") < 2
    rows = rows[~unpaired]
    blocked = experiment(root, "kit-blocked", design=", method: blocked, "
                                                     "block_on: deals_registered")
    _copy_ledger(ws, blocked, rows)
    ev = evaluate(ws, blocked)
    assert ev.primary.method == "blocked" and ev.primary.details["blocks"] == len(rows) // 2
    assert ev.primary.ci_lower < itt < ev.primary.ci_upper
    assert "pairs/blocks" in ev.design
    rerand = experiment(root, "kit-rerand", design=", method: rerandomized")
    _copy_ledger(ws, rerand, parts["kit-strong"])
    ev = evaluate(ws, rerand)
    assert ev.primary.method == "rerandomized-regression"
    assert ev.primary.covariates == ("deals_registered_pre",)
    assert ev.primary.effect == pytest.approx(strong.primary.effect, rel=0.2)
    # the randomization test draws from the accepted set of the design, never freely
    assert ev.primary.details["randomization_redraws"] == 1000
    assert ev.primary.details["randomization_redrawn"] == "the design's redraws"


# -- checks ------------------------------------------------------------------------------------


def test_sample_ratio_mismatch_flags_a_broken_ledger(world):
    root, ws, _exps, parts, _ = world
    exp = experiment(root, "kit-broken")
    rows = parts["kit-strong"].copy()
    rows["experiment_id"] = exp.id
    treated = rows.index[rows["arm"] == "treatment"]
    rows = rows.drop(treated[: len(treated) // 2])  # half of the treatment rows lost
    spec = design_spec(exp)
    ws.append("assignments", rows)
    ws.append("designs", pd.DataFrame([{
        "experiment_id": exp.id, "phase": 1, "package_id": "launch-kit", "version": 1,
        "method": spec.method, "design_hash": spec.design_hash, "eligible_hash": "-",
        "spec": spec.to_json(), "placebo": False, "n_assigned": len(rows),
        "start_date": spec.start, "end_date": spec.end,
        "assigned_at": pd.Timestamp("2026-06-01", tz="UTC")}]))
    ev = evaluate(ws, exp)
    assert ev.srm.mismatch and ev.srm_p_value < 0.001
    assert ev.decision != "promote"
    assert any("sample-ratio mismatch" in w for w in ev.warnings)
    assert any("Sample-ratio mismatch" in r for r in ev.reasons)


def test_an_interim_look_says_which_and_stops_only_for_harm(world):
    root, ws, _exps, parts, _ = world
    exp = experiment(root, "kit-looks", decision=", looks: 4")
    rows = parts["kit-strong"].assign(experiment_id=exp.id)
    spec = design_spec(exp)
    ws.append("assignments", rows)
    ws.append("designs", pd.DataFrame([{
        "experiment_id": exp.id, "phase": 1, "package_id": "launch-kit", "version": 1,
        "method": spec.method, "design_hash": spec.design_hash, "eligible_hash": "-",
        "spec": spec.to_json(), "placebo": False, "n_assigned": len(rows),
        "start_date": spec.start, "end_date": spec.end,
        "assigned_at": pd.Timestamp("2026-06-01", tz="UTC")}]))
    ev = evaluate(ws, exp, as_of="2026-06-25")  # day 24 of 60: the second of four looks
    assert (ev.look, ev.looks, ev.final, ev.as_of) == (2, 4, False, "2026-06-25")
    assert ev.decision == "continue"  # a good package waits for the horizon
    assert ev.sequential is not None and len(ev.sequential.looks) == 2
    assert ev.sequential.looks[-1].effect == pytest.approx(ev.primary.effect)
    assert ev.reasons[0].startswith("Look 2 of 4, as of 2026-06-25") and "look 2 of 4" in ev.timing
    ja = evaluate(ws, exp, as_of="2026-06-25", lang="ja")
    assert "第2回（全4回中）" in ja.reasons[0] and ja.lang == "ja"
    assert any("早期停止" in r for r in ja.reasons)
    final = evaluate(ws, exp)
    assert final.final and final.look == 4 and len(final.sequential.looks) == 4
    assert final.decision == "promote"


def test_a_placebo_run_is_labelled_everywhere(world):
    root, ws, _exps, _, (ids, ranks) = world
    exp = experiment(root, "kit-placebo", start="2026-03-02", design=", placebo: true")
    write_ledger(ws, exp, ids, ranks, seed=9)
    ev = evaluate(ws, exp)
    assert ev.placebo and ev.final
    assert ev.reasons[0].startswith("PLACEBO (A/A)")
    assert ev.warnings[0].startswith("PLACEBO (A/A)")
    assert "PLACEBO (A/A)" in ev.to_string() and "プラセボ" in ev.to_string("ja")
    assert "PLACEBO (A/A)" in ev.to_html() and "PLACEBO (A/A)" in ev.to_markdown()
    assert json.loads(ev.to_json())["placebo"] is True
    # nothing was delivered: an A/A comparison finds no effect
    assert ev.primary.ci_lower < 0 < ev.primary.ci_upper and ev.decision != "promote"


# -- refusals ------------------------------------------------------------------------------------


def test_no_post_data_gets_a_clear_message_not_nans(world):
    root, ws, exps, _, (ids, ranks) = world
    with pytest.raises(DataValidationError, match=r"no post-period data as of 2026-06-01: it "
                                                  r"starts on 2026-06-01"):
        evaluate(ws, exps["strong"], as_of="2026-06-01")
    later = experiment(root, "kit-later", start="2026-09-01")
    write_ledger(ws, later, ids[:40], ranks[:40], seed=3)
    with pytest.raises(DataValidationError, match=r"has no post-period data yet: it starts on "
                                                  r"2026-09-01 and the logs end on 2026-07-3"):
        evaluate(ws, later)
    with pytest.raises(ConfigError, match="in the future"):
        evaluate(ws, exps["strong"], as_of="2999-01-01")


def test_refusals_name_what_is_wrong(world):
    root, ws, exps, _parts, (ids, ranks) = world
    with pytest.raises(WorkspaceError, match="is not assigned"):
        evaluate(ws, experiment(root, "kit-nobody"))
    nostrata = experiment(root, "kit-nostrata")
    write_ledger(ws, nostrata, ids[:90], ranks[:90], stratum=False)
    with pytest.raises(DataValidationError, match="has no 'stratum' for 90 partner"):
        evaluate(ws, nostrata)
    badseg = experiment(root, "kit-badseg", decision=", segments: [rnak]")
    write_ledger(ws, badseg, ids[:90], ranks[:90])
    with pytest.raises(ConfigError, match="did you mean 'rank'"):
        evaluate(ws, badseg)
    with pytest.raises(ValueError, match="lang"):
        evaluate(ws, exps["strong"], lang="fr")


# -- output ----------------------------------------------------------------------------------------


def test_json_round_trip_has_the_result_fields(strong):
    ev = strong
    d = json.loads(ev.to_json())
    assert REQUIRED_JSON <= set(d)
    assert list(d)[:8] == ["experiment", "package", "decision", "reasons", "primary",
                           "srm_p_value", "n_control", "n_treatment"]
    assert (d["experiment"], d["package"], d["decision"]) == ("kit-strong", "launch-kit@1",
                                                              "promote")
    assert d["decision"] in OUTCOMES and d["reasons"] == list(ev.reasons)
    for f in ESTIMATE_FIELDS:
        want = getattr(ev.primary, f)
        assert d["primary"][f] == (pytest.approx(want) if isinstance(want, float) else want), f
    assert d["srm_p_value"] == pytest.approx(ev.srm_p_value)
    assert (d["n_control"], d["n_treatment"]) == (ev.n_control, ev.n_treatment)
    assert d["decision_detail"]["reasons_ja"] == list(ev.decision_detail.reasons_ja)
    assert d["uptake"][0]["arm"] == "control" and d["funnel"]["stages"][0] == "assigned"
    assert "NaN" not in ev.to_json()


def test_reasons_in_both_languages(world, strong):
    _, ws, exps, _, _ = world
    ja = evaluate(ws, exps["strong"], lang="ja")
    assert ja.decision == strong.decision and ja.lang == "ja"
    assert any("テンプレート" in r for r in ja.reasons)
    assert ja.reasons_in("en") == strong.reasons
    assert "実験の評価" in str(ja) and "昇格" in str(ja)


def test_the_command(world, strong):
    root, _ws, _exps, _, _ = world
    path = str(root / "experiments" / "kit-strong.yaml")
    run = CliRunner().invoke
    r = run(cli, ["-C", str(root), "evaluate", path, "--format", "json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["decision"] == strong.decision and out["primary"]["effect"] == pytest.approx(
        strong.primary.effect)
    target = root / "out" / "kit-strong.json"
    r = run(cli, ["-C", str(root), "evaluate", path, "--lang", "ja", "--out", str(target)])
    assert r.exit_code == 0, r.output
    assert "実験の評価" in r.output and "昇格" in r.output
    assert json.loads(target.read_text(encoding="utf-8"))["experiment"] == "kit-strong"
    table = root / "out" / "estimates.csv"
    r = run(cli, ["-C", str(root), "evaluate", path, "--out", str(table)])
    assert r.exit_code == 0
    rows = pd.read_csv(table, encoding="utf-8-sig")
    assert rows["role"].tolist() == ["primary", "secondary", "guardrail"]
    r = run(cli, ["-C", str(root), "evaluate", path, "--as-of", "2026-06-01"])
    assert r.exit_code != 0 and "no post-period data" in r.output and "Traceback" not in r.output
    r = run(cli, ["-C", str(root), "evaluate", path, "--out", str(root / "x.pdf")])
    assert r.exit_code != 0 and "cannot write '.pdf'" in r.output
    assert not (root / "x.pdf").exists()
    from supportlab.cli.evaluate import evaluate as command

    assert command.get_short_help_str(limit=1000) == COMMANDS["evaluate"].summary


# -- the real order: assign -> simulate-delivery -> evaluate -----------------------------------


def test_the_real_order_with_the_assign_ledger(tmp_path):
    from supportlab.design.ledger import assign

    ws = design_workspace(tmp_path, n_partners=600, seed=8)
    try:
        ws.ensure_tables()
        exp = experiment(tmp_path, "kit-real", design=", method: rerandomized")
        ledger = assign(ws, exp)
        delivered = simulate_experiment_delivery(ws, exp, effect=EffectModel(base_effect=2.0))
        ev = evaluate(ws, exp)
        assert ev.n_control + ev.n_treatment == ws.count("assignments")
        assert ev.primary.method == "rerandomized-regression"
        # the redraws follow the stored acceptance rule, on the covariates assign kept
        assert ev.primary.details["randomization_redrawn"] == "the design's redraws"
        assert ev.primary.ci_lower < delivered.true_itt < ev.primary.ci_upper
        assert ev.decision == "promote" and not ev.srm.mismatch
        assert ledger.spec.design_hash == design_spec(exp).design_hash
        assert not any("differs from the stored one" in w for w in ev.warnings)
    finally:
        ws.close()
