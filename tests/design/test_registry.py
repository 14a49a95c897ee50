"""The registry: the append-only decision log, overrides and their reasons, placebo refusals,
status transitions, lineage, reproduction counts on a hand-made log, the pooled and shrunk
estimates against statsmodels' combine_effects and a hand calculation, credits, the commands."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from statsmodels.stats.meta_analysis import combine_effects

from supportlab.cli import cli
from supportlab.cli.app import COMMANDS
from supportlab.config.workspace import init_workspace
from supportlab.data.workspace import Workspace
from supportlab.design.registry import (
    CRITERION_PREFIX,
    DEFAULT_REPRODUCTION,
    credits,
    empirical_bayes,
    packages,
    pool_effects,
    record_decision,
)
from supportlab.errors import ConfigError, WorkspaceError

UTC = dt.UTC

STEPS = "steps:\n  - week: 1\n    items: [{content: video-a-intro, done_when: video_complete}]\n"


def at(month: int, day: int = 1) -> dt.datetime:
    return dt.datetime(2026, month, day, 9, tzinfo=UTC)


class Lab:
    """A workspace with package files, hand-made ``designs`` rows and task owners."""

    def __init__(self, root: Path) -> None:
        init_workspace(root)
        self.root = root
        self.pkgs = root / "experiments" / "packages"
        self.ws = Workspace.open(root)
        self.ws.ensure_tables()

    def package(self, pid: str, version: int, owner: str = "tanaka", extra: str = "") -> None:
        (self.pkgs / f"{pid}-{version}.yaml").write_text(
            f"id: {pid}\nversion: {version}\nowner: {owner}\ntitle: {pid} v{version}\n"
            f"segment: {{product: A}}\n{extra}{STEPS}", encoding="utf-8")

    def design(self, eid: str, pid: str, version: int, start: dt.date,
               placebo: bool = False) -> None:
        with self.ws.transaction() as con:
            con.execute("INSERT INTO designs VALUES (?, 1, ?, ?, 'stratified', 'h', 'e', '{}', "
                        "?, 200, ?, ?, ?)",
                        [eid, pid, version, placebo, start, start + dt.timedelta(days=60),
                         dt.datetime(2026, 1, 1, tzinfo=UTC)])

    def tasks(self, eid: str, *owners: str) -> None:
        with self.ws.transaction() as con:
            for i, o in enumerate(owners):
                con.execute("INSERT INTO tasks (task_id, experiment_id, partner_id, week, "
                            "content_id, status, owner) VALUES (?, ?, ?, 1, 'video-a-intro', "
                            "'done', ?)", [f"{eid}-{i}", eid, f"P{i}", o])

    def experiment_file(self, eid: str, package: str, extra: str = "") -> Path:
        path = self.root / "experiments" / f"{eid}.yaml"
        path.write_text(f"id: {eid}\npackage: {package}\n"
                        "design: {start: 2026-06-01, seed: 1, horizon_days: 60}\n"
                        f"metrics: {{primary: deals_registered}}\n{extra}", encoding="utf-8")
        return path

    def log(self) -> pd.DataFrame:
        return self.ws.query("SELECT * FROM decisions ORDER BY decided_at")


def rows(df: pd.DataFrame) -> list[tuple[object, ...]]:
    """A frame's rows as tuples, missing values as None (dtypes aside)."""
    return [tuple(None if pd.isna(v) else v for v in r) for r in df.itertuples(index=False)]


def evaluation(eid: str, ref: str, decision: str, effect: float = 0.5, se: float = 0.1,
               cohort: str | None = None, placebo: bool = False, metric: str = "deals_registered"
               ) -> SimpleNamespace:
    """A stand-in for the evaluation object (read by its attributes only)."""
    pid, _, ver = ref.partition("@")
    primary = SimpleNamespace(effect=effect, se=se, ci_lower=effect - 1.959964 * se,
                              ci_upper=effect + 1.959964 * se)
    return SimpleNamespace(experiment_id=eid, package_id=pid, version=int(ver), owner="tanaka",
                           decision=decision, reasons=(f"computed: {decision}",), primary=primary,
                           metric=metric, cohort=cohort or eid, placebo=placebo, final=True)


@pytest.fixture()
def lab(tmp_path: Path) -> Lab:
    lab = Lab(tmp_path / "ws")
    lab.package("kit", 1)
    lab.package("kit", 2)
    lab.design("e1", "kit", 2, dt.date(2026, 1, 5))
    lab.design("e2", "kit", 2, dt.date(2026, 3, 2))
    lab.design("e3", "kit", 2, dt.date(2026, 5, 4))
    return lab


# -- the log --------------------------------------------------------------------------------------


def test_append_only_no_row_ever_changes_and_repeats_add_nothing(lab: Lab) -> None:
    steps = [
        (evaluation("e1", "kit@2", "continue"), {}, at(2)),
        (evaluation("e1", "kit@2", "continue"), {}, at(3)),  # the same decision: nothing new
        (evaluation("e1", "kit@2", "promote"), {}, at(4)),
        (evaluation("e2", "kit@2", "continue"), {"decision": "stop", "reason": "complaints",
                                                 "decided_by": "sato"}, at(5)),
        (evaluation("e2", "kit@2", "continue"), {}, at(6)),  # the person's call stands
        (None, {"experiment": "e1", "decision": "retire", "reason": "product discontinued"},
         at(7)),
    ]
    expected_rows = [1, 1, 2, 3, 3, 4]
    before = lab.log()
    for (ev, kw, when), n in zip(steps, expected_rows, strict=True):
        rec = record_decision(lab.ws, ev, at=when, **kw)
        after = lab.log()
        assert len(after) == n
        # every earlier row is still there, unchanged
        assert rows(after)[:len(before)] == rows(before)
        assert rec.already_recorded == (len(after) == len(before))
        before = after
    assert before["decision"].tolist() == ["continue", "promote", "stop", "retire"]
    assert before["computed"].tolist()[:3] == ["continue", "promote", "continue"]


def test_recorded_row_holds_the_estimate_and_the_criterion(lab: Lab) -> None:
    rec = record_decision(lab.ws, evaluation("e1", "kit@2", "promote", 0.42, 0.1, "rank B"),
                          report="reports/e1/index.html", at=at(3))
    row = lab.log().iloc[0]
    assert (row["package_id"], row["version"], row["decision"]) == ("kit", 2, "promote")
    assert row["effect"] == pytest.approx(0.42) and row["std_error"] == pytest.approx(0.1)
    assert row["ci_lower"] == pytest.approx(0.42 - 0.1959964)
    assert (row["metric"], row["cohort"], row["report"]) == ("deals_registered", "rank B",
                                                            "reports/e1/index.html")
    reasons = json.loads(row["reasons"])
    assert reasons == ["computed: promote", CRITERION_PREFIX + DEFAULT_REPRODUCTION]
    assert rec.reproduction == DEFAULT_REPRODUCTION and not rec.override
    assert json.loads(rec.to_json())["decision"] == "promote"
    assert "kit@2" in rec.to_string("ja") and "昇格" in rec.to_string("ja")


def test_an_override_needs_a_written_reason_and_keeps_both_decisions(lab: Lab) -> None:
    ev = evaluation("e1", "kit@2", "continue", 0.3, 0.2)
    for reason in (None, "   "):
        with pytest.raises(ConfigError, match=r"overrides the computed 'continue'.*reason"):
            record_decision(lab.ws, ev, decision="promote", reason=reason, at=at(3))
    assert lab.log().empty
    rec = record_decision(lab.ws, ev, decision="promote", reason="partner council asked",
                          decided_by="sato", at=at(3))
    row = lab.log().iloc[0]
    assert (row["decision"], row["computed"], row["override_reason"], row["decided_by"]) == \
        ("promote", "continue", "partner council asked", "sato")
    assert rec.override and rec.computed == "continue"


def test_decisions_without_an_evaluation_and_retire_need_a_reason(lab: Lab) -> None:
    with pytest.raises(ConfigError, match="without an evaluation"):
        record_decision(lab.ws, experiment="e1", decision="stop")
    with pytest.raises(ConfigError, match="retiring"):
        record_decision(lab.ws, experiment="e1", decision="retire")
    with pytest.raises(ConfigError, match="no decision"):
        record_decision(lab.ws, experiment="e1")
    with pytest.raises(ConfigError, match=r"unknown decision 'promot'.*did you mean 'promote'"):
        record_decision(lab.ws, experiment="e1", decision="promot", reason="x")
    with pytest.raises(ConfigError, match="needs an evaluation or an experiment"):
        record_decision(lab.ws, decision="stop", reason="x")
    assert lab.log().empty
    rec = record_decision(lab.ws, experiment="e1", decision="stop", reason="budget cut")
    assert rec.computed is None and rec.override_reason == "budget cut"
    assert rec.effect is None


def test_placebo_runs_are_never_package_decisions(lab: Lab) -> None:
    lab.design("aa", "kit", 2, dt.date(2025, 10, 1), placebo=True)
    with pytest.raises(ConfigError, match=r"placebo \(A/A\)"):
        record_decision(lab.ws, evaluation("aa", "kit@2", "promote"))
    with pytest.raises(ConfigError, match=r"placebo \(A/A\)"):
        record_decision(lab.ws, evaluation("e1", "kit@2", "promote", placebo=True))
    with pytest.raises(ConfigError, match=r"placebo \(A/A\)"):
        record_decision(lab.ws, experiment="aa", decision="retire", reason="x")
    assert lab.log().empty
    reg = packages(lab.ws, lab.pkgs)
    row = reg.frame.set_index("ref").loc["kit@2"]
    assert "aa (A/A)" in row["experiments"] and row["n_experiments"] == 3


def test_unknown_experiment_package_and_times_are_refused(lab: Lab) -> None:
    with pytest.raises(WorkspaceError,
                       match=r"'e9' has no assignment.*assigned experiments: e1, e2, e3"):
        record_decision(lab.ws, evaluation("e9", "kit@2", "promote"))
    with pytest.raises(ConfigError, match="names package kit@1, but experiment 'e1' "
                                          "delivered kit@2"):
        record_decision(lab.ws, evaluation("e1", "kit@1", "promote"))
    with pytest.raises(ConfigError, match="evaluation is of experiment 'e1', not 'e2'"):
        record_decision(lab.ws, evaluation("e1", "kit@2", "promote"), experiment="e2")
    with pytest.raises(ConfigError, match="in the future"):
        record_decision(lab.ws, evaluation("e1", "kit@2", "promote"),
                        at=dt.datetime.now(UTC) + dt.timedelta(days=3))
    record_decision(lab.ws, evaluation("e1", "kit@2", "continue"), at=at(5))
    with pytest.raises(ConfigError, match="append-only and in time order"):
        record_decision(lab.ws, evaluation("e1", "kit@2", "promote"), at=at(4))
    with pytest.raises(ConfigError, match=r"unknown package 'kitt'.*did you mean 'kit'"):
        packages(lab.ws, lab.pkgs, package="kitt")
    with pytest.raises(ConfigError, match="does not exist"):
        packages(lab.ws, lab.root / "nowhere")
    assert len(lab.log()) == 1


# -- status and lineage ---------------------------------------------------------------------------


def test_status_follows_the_log(lab: Lab) -> None:
    def status() -> dict[str, str]:
        f = packages(lab.ws, lab.pkgs).frame
        return dict(zip(f["ref"], f["status"], strict=True))

    lab.package("fresh", 1)
    assert status() == {"fresh@1": "draft", "kit@1": "draft", "kit@2": "piloting"}
    record_decision(lab.ws, evaluation("e1", "kit@2", "continue"), at=at(2))
    assert status()["kit@2"] == "piloting"  # an interim look decides nothing
    record_decision(lab.ws, evaluation("e1", "kit@2", "promote"), at=at(3))
    assert status()["kit@2"] == "promoted"
    record_decision(lab.ws, evaluation("e2", "kit@2", "continue"), at=at(4))
    assert status()["kit@2"] == "promoted"  # a running reproduction keeps the promotion
    record_decision(lab.ws, evaluation("e2", "kit@2", "revise", 0.05), at=at(5))
    assert status()["kit@2"] == "revise"
    record_decision(lab.ws, evaluation("e3", "kit@2", "stop", -0.4), at=at(6))
    assert status()["kit@2"] == "stopped"
    record_decision(lab.ws, experiment="e3", decision="retire", reason="replaced", at=at(7))
    reg = packages(lab.ws, lab.pkgs)
    row = reg.frame.set_index("ref").loc["kit@2"]
    assert (row["status"], row["last_decision"]) == ("retired", "retire")
    assert reg.n_packages == 3 and reg.n_piloting == 0


def test_lineage_by_version_and_by_revises(lab: Lab) -> None:
    lab.package("kit", 3)
    lab.package("kit-lite", 1, owner="suzuki", extra="revises: kit@2\n")
    f = packages(lab.ws, lab.pkgs).frame.set_index("ref")
    assert pd.isna(f.loc["kit@1", "revises"])
    assert f.loc["kit@1", "revised_by"] == "kit@2"
    assert f.loc["kit@2", "revises"] == "kit@1"
    assert f.loc["kit@2", "revised_by"] == "kit@3, kit-lite@1"
    assert f.loc["kit@3", "lineage"] == "kit@1 → kit@2 → kit@3"
    assert f.loc["kit-lite@1", "lineage"] == "kit@1 → kit@2 → kit-lite@1"
    assert (f.loc["kit-lite@1", "owner"], f.loc["kit-lite@1", "segment"]) == ("suzuki",
                                                                              "product: A")


def test_a_package_only_in_the_log_is_listed_with_a_warning(lab: Lab) -> None:
    lab.design("x1", "ghost", 1, dt.date(2026, 2, 2))
    reg = packages(lab.ws, lab.pkgs)
    row = reg.frame.set_index("ref").loc["ghost@1"]
    assert row["status"] == "piloting" and pd.isna(row["owner"])
    assert any("ghost@1" in w and "no package file" in w for w in reg.warnings)


def test_an_empty_workspace_lists_the_package_files_as_drafts(tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    init_workspace(root)
    (root / "experiments" / "packages" / "a.yaml").write_text(
        "id: a\nversion: 1\nowner: mori\n" + STEPS, encoding="utf-8")
    ws = Workspace.open(root)
    reg = packages(ws, root / "experiments" / "packages")
    assert reg.frame["status"].tolist() == ["draft"] and not ws.exists  # nothing created
    assert credits(ws, root / "experiments" / "packages").frame["designed"].tolist() == [1]


# -- reproduction ---------------------------------------------------------------------------------


def reproduction_log(lab: Lab) -> None:
    """Promote in cohort 1, a confirming cohort 2, a failing cohort 3 (and noise that must not
    count: the same cohort again, an earlier experiment, an interim look, a placebo)."""
    lab.design("e0", "kit", 2, dt.date(2025, 11, 3))    # earlier than the promotion
    lab.design("e4", "kit", 2, dt.date(2026, 6, 1))     # the promotion's cohort again
    lab.design("e5", "kit", 2, dt.date(2026, 6, 8))     # still running
    lab.design("aa", "kit", 2, dt.date(2026, 7, 1), placebo=True)
    record_decision(lab.ws, evaluation("e0", "kit@2", "revise", 0.05, 0.1, "cohort 0"),
                    at=at(1, 10))
    record_decision(lab.ws, evaluation("e1", "kit@2", "promote", 0.6, 0.15, "cohort 1"),
                    at=at(3, 10))
    record_decision(lab.ws, evaluation("e2", "kit@2", "promote", 0.45, 0.12, "cohort 2"),
                    at=at(5, 10))
    record_decision(lab.ws, evaluation("e3", "kit@2", "revise", 0.1, 0.1, "cohort 3"),
                    at=at(7, 10))
    record_decision(lab.ws, evaluation("e4", "kit@2", "promote", 0.5, 0.1, "cohort 1"),
                    at=at(8, 10))
    record_decision(lab.ws, evaluation("e5", "kit@2", "continue", 0.7, 0.1, "cohort 5"),
                    at=at(8, 11))


def test_reproduced_in_n_of_m_on_a_hand_made_log(lab: Lab) -> None:
    reproduction_log(lab)
    reg = packages(lab.ws, lab.pkgs)
    row = reg.frame.set_index("ref").loc["kit@2"]
    assert row["promoted_in"] == "e1"
    assert row["reproduction"] == DEFAULT_REPRODUCTION
    assert (row["n_reproduced"], row["n_reproduction_tries"]) == (1, 2)
    assert row["reproduced"] == "reproduced in 1 of 2" and row["confirmed_by"] == "e2"
    e = reg.experiments.set_index("experiment_id")
    assert e.loc["e2", "confirmed"] and not e.loc["e3", "confirmed"]
    assert reg.n_reproduced == 1
    assert "reproduced in 1 of 2" in reg.to_string()
    assert "2 件中 1 件で再現" in reg.to_string("ja")
    ja, en = reg.to_string("ja"), reg.to_string()
    assert "経験ベイズ" in ja and "empirical Bayes" not in ja
    assert "empirical Bayes" in en and "経験ベイズ" not in en


def test_a_stated_criterion_travels_with_the_promotion(lab: Lab) -> None:
    path = lab.experiment_file("e1", "kit@2", "decision: {reproduction: two more regions}\n")
    from supportlab.config.experiment import load_experiment

    exp = load_experiment(path)
    rec = record_decision(lab.ws, evaluation("e1", "kit@2", "promote"), experiment=exp,
                          at=at(3))
    assert rec.reproduction == "two more regions"
    reg = packages(lab.ws, lab.pkgs)
    assert reg.frame.set_index("ref").loc["kit@2", "reproduction"] == "two more regions"
    assert any("two more regions" in n for n in reg.notes)


def test_a_negative_promotion_is_reproduced_by_a_negative_interval(lab: Lab) -> None:
    # a metric where lower is better: the same sign, an interval below zero
    record_decision(lab.ws, evaluation("e1", "kit@2", "promote", -0.5, 0.1), at=at(3))
    record_decision(lab.ws, evaluation("e2", "kit@2", "promote", -0.3, 0.1), at=at(5))
    record_decision(lab.ws, evaluation("e3", "kit@2", "revise", 0.3, 0.1), at=at(7))
    row = packages(lab.ws, lab.pkgs).frame.set_index("ref").loc["kit@2"]
    assert (row["n_reproduced"], row["n_reproduction_tries"]) == (1, 2)


# -- pooled and shrunk estimates ------------------------------------------------------------------


def dersimonian_laird(y: np.ndarray, s: np.ndarray) -> tuple[float, float, float]:
    """By hand: Q, tau² = max(0, (Q - (k-1)) / c), the weighted mean and its se."""
    w = 1 / s**2
    fe = (w * y).sum() / w.sum()
    q = (w * (y - fe) ** 2).sum()
    c = w.sum() - (w**2).sum() / w.sum()
    tau2 = max(0.0, (q - (len(y) - 1)) / c)
    wr = 1 / (s**2 + tau2)
    return tau2, float((wr * y).sum() / wr.sum()), float(math.sqrt(1 / wr.sum()))


def test_pool_matches_combine_effects_and_a_hand_calculation() -> None:
    y, s = np.array([0.9, 0.1, 0.45, -0.2, 0.6]), np.array([0.2, 0.1, 0.15, 0.3, 0.25])
    p = pool_effects(y, s)
    sm = combine_effects(y, s**2, method_re="dl", use_t=False)
    tau2, mean, se = dersimonian_laird(y, s)
    assert p.tau2 > 0
    assert p.tau2 == pytest.approx(sm.tau2, rel=1e-12) == pytest.approx(tau2, rel=1e-12)
    assert p.mean == pytest.approx(sm.mean_effect_re, rel=1e-12) == pytest.approx(mean)
    assert p.mean_se == pytest.approx(sm.sd_eff_w_re, rel=1e-12) == pytest.approx(se)
    lo, hi = sm.conf_int(use_t=False)[1]
    assert p.ci() == pytest.approx((lo, hi), rel=1e-9)
    assert p.q == pytest.approx(sm.q)
    # shrinkage by hand: mean + B (y - mean), B = tau² / (tau² + s²)
    b = tau2 / (tau2 + s**2)
    assert p.shrunk == pytest.approx(tuple(mean + b * (y - mean)), rel=1e-12)
    assert p.shrunk_se == pytest.approx(tuple(np.sqrt(b * s**2 + (1 - b) ** 2 * se**2)))
    # the noisiest estimate moves most
    moved = np.abs(np.array(p.shrunk) - y) / np.abs(y - mean)
    assert np.argmax(moved) == np.argmax(s)


def test_pool_truncates_tau2_at_zero_where_statsmodels_goes_negative() -> None:
    y, s = np.array([0.3, 0.32, 0.29]), np.array([0.2, 0.25, 0.3])
    sm = combine_effects(y, s**2, method_re="dl", use_t=False)
    assert sm.tau2 < 0  # DerSimonian–Laird truncates this at zero
    p = pool_effects(y, s)
    assert p.tau2 == 0.0
    assert p.mean == pytest.approx(sm.mean_effect_fe) and p.mean_se == pytest.approx(sm.sd_eff_w_fe)
    assert p.shrunk == pytest.approx((p.mean,) * 3)  # no heterogeneity: all at the mean
    one = pool_effects([0.4], [0.1])
    assert (one.mean, one.mean_se, one.tau2, one.shrunk) == (0.4, 0.1, 0.0, (0.4,))
    with pytest.raises(ValueError, match="positive"):
        pool_effects([0.1, 0.2], [0.1, 0.0])
    with pytest.raises(ValueError, match="at least one"):
        pool_effects([], [])


def test_registry_pools_per_version_and_shrinks_across_the_registry(lab: Lab) -> None:
    lab.package("other", 1, owner="suzuki")
    lab.design("o1", "other", 1, dt.date(2026, 2, 2))
    lab.design("o2", "other", 1, dt.date(2026, 4, 6))
    est = {"e1": (0.9, 0.35), "e2": (0.2, 0.1), "e3": (0.3, 0.12), "o1": (-0.1, 0.1),
           "o2": (0.05, 0.2)}
    for i, (eid, (eff, se)) in enumerate(est.items()):
        ref = "other@1" if eid.startswith("o") else "kit@2"
        record_decision(lab.ws, evaluation(eid, ref, "revise", eff, se), at=at(2 + i))
    # on another metric: never pooled or shrunk with the rest
    lab.design("m1", "other", 1, dt.date(2026, 5, 4))
    record_decision(lab.ws, evaluation("m1", "other@1", "revise", 50.0, 10.0,
                                       metric="pipeline_amount"), at=at(8))
    reg = packages(lab.ws, lab.pkgs)
    y = np.array([v[0] for v in est.values()])
    s = np.array([v[1] for v in est.values()])
    tau2, mu, mu_se = dersimonian_laird(y, s)
    e = reg.experiments.set_index("experiment_id")
    b = tau2 / (tau2 + s**2)
    assert e.loc[list(est), "shrunk_effect"].tolist() == pytest.approx(list(mu + b * (y - mu)))
    assert e.loc["m1", "shrunk_effect"] == pytest.approx(50.0)  # alone on its metric
    # the lucky small experiment (e1) is pulled down the most
    assert e.loc["e1", "effect"] - e.loc["e1", "shrunk_effect"] > 0.3
    f = reg.frame.set_index("ref")
    k_tau2, k_mean, k_se = dersimonian_laird(y[:3], s[:3])
    assert f.loc["kit@2", "pooled_effect"] == pytest.approx(k_mean)
    assert f.loc["kit@2", "pooled_std_error"] == pytest.approx(k_se)
    assert f.loc["kit@2", "tau2"] == pytest.approx(k_tau2)
    bk = tau2 / (tau2 + k_se**2)
    assert f.loc["kit@2", "shrunk_effect"] == pytest.approx(mu + bk * (k_mean - mu))
    assert f.loc["other@1", "metric"] == "deals_registered"
    assert any("other@1" in w and "another metric" in w for w in reg.warnings)
    means = reg.registry_means.set_index("metric")
    assert means.loc["deals_registered", "tau2"] == pytest.approx(tau2)
    assert means.loc["deals_registered", "mean"] == pytest.approx(mu)
    assert means.loc["deals_registered", "mean_std_error"] == pytest.approx(mu_se)
    assert means.loc["deals_registered", "n_experiments"] == 5


def test_empirical_bayes_is_the_pool_of_the_registry() -> None:
    d = empirical_bayes([0.9, 0.1, 0.2], [0.4, 0.1, 0.1])
    assert d.shrunk == pool_effects([0.9, 0.1, 0.2], [0.4, 0.1, 0.1]).shrunk


# -- credits --------------------------------------------------------------------------------------


def test_credits_from_the_log(lab: Lab) -> None:
    lab.package("lite", 1, owner="suzuki")
    lab.package("lite", 2, owner="suzuki")
    lab.design("l1", "lite", 1, dt.date(2026, 1, 12))
    lab.design("l2", "lite", 1, dt.date(2026, 4, 13))
    lab.tasks("e1", "tanaka")
    lab.tasks("e2", "sato", "kato", "tanaka")   # tanaka's package confirmed by others
    lab.tasks("l1", "suzuki")
    lab.tasks("l2", "suzuki")                   # suzuki confirmed only her own: no credit
    record_decision(lab.ws, evaluation("e1", "kit@2", "promote", 0.5, 0.1), at=at(3))
    record_decision(lab.ws, evaluation("e2", "kit@2", "promote", 0.4, 0.1), at=at(5))
    record_decision(lab.ws, evaluation("l1", "lite@1", "promote", 0.5, 0.1), at=at(3, 2))
    record_decision(lab.ws, evaluation("l2", "lite@1", "promote", 0.5, 0.1), at=at(6))
    record_decision(lab.ws, evaluation("e3", "kit@2", "continue", 0.1, 0.1), decision="stop",
                    reason="channel conflict", decided_by="mori", at=at(7))
    c = credits(lab.ws, lab.pkgs)
    f = c.frame.set_index("owner")
    assert f.loc["tanaka", ["designed", "promoted", "reproduced", "reproductions", "spread",
                            "overrides"]].tolist() == [2, 1, 1, 1, 0, 1]
    assert f.loc["suzuki", ["designed", "promoted", "reproduced", "spread"]].tolist() == \
        [2, 1, 0, 0]
    assert f.loc["sato", "spread"] == 1 and f.loc["kato", "spread"] == 1
    assert f.loc["sato", "designed"] == 0
    assert c.frame["owner"].iloc[0] == "tanaka"  # the reproduced designer first
    o = c.overrides.iloc[0]
    assert (o["experiment_id"], o["computed"], o["decision"], o["override_reason"],
            o["decided_by"]) == ("e3", "continue", "stop", "channel conflict", "mori")
    assert len(c.overrides) == 1
    assert "tanaka" in c.to_string() and "他者の展開" not in c.to_string("ja")
    assert "展開した再現" in c.to_string("ja")
    assert "自己申告" in c.to_string("ja") and "never self-reported" in c.to_string()


# -- commands -------------------------------------------------------------------------------------


def test_commands_docstrings_equal_the_command_table() -> None:
    from supportlab.cli import registry as mod

    for name in ("packages", "credits", "record-decision"):
        ref = COMMANDS[name]
        assert ref.module == "supportlab.cli.registry"
        command = getattr(mod, ref.function)
        assert command.get_short_help_str(limit=1000) == ref.summary


def test_cli_record_decision_packages_and_credits(lab: Lab) -> None:
    run = CliRunner().invoke
    path = lab.experiment_file("e1", "kit@2")
    base = ["-C", str(lab.root)]
    r = run(cli, [*base, "record-decision", str(path), "--decision", "promote",
                  "--without-evaluation", "--format", "json"])
    assert r.exit_code != 0 and "needs a written reason" in r.output
    assert lab.log().empty
    r = run(cli, [*base, "record-decision", str(path), "--decision", "promote", "--reason",
                  "the board saw the pilot", "--by", "sato", "--without-evaluation",
                  "--format", "json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert (out["decision"], out["computed"], out["decided_by"]) == ("promote", None, "sato")
    assert out["reproduction"] == DEFAULT_REPRODUCTION
    r = run(cli, [*base, "record-decision", str(path), "--decision", "promote", "--reason",
                  "again", "--without-evaluation", "--format", "json"])
    assert json.loads(r.output)["already_recorded"] and len(lab.log()) == 1
    r = run(cli, [*base, "packages", "--format", "json"])
    assert r.exit_code == 0, r.output
    reg = json.loads(r.output)
    rows = {x["ref"]: x for x in reg["frame"]}
    assert rows["kit@2"]["status"] == "promoted" and rows["kit@1"]["status"] == "draft"
    assert reg["n_promoted"] == 1
    r = run(cli, [*base, "packages", "--package", "kit", "--lang", "ja"])
    assert r.exit_code == 0 and "昇格" in r.output and "系譜" in r.output
    r = run(cli, [*base, "credits", "--format", "json"])
    assert r.exit_code == 0, r.output
    cr = json.loads(r.output)
    assert cr["frame"][0]["owner"] == "tanaka" and cr["frame"][0]["promoted"] == 1
    r = run(cli, [*base, "record-decision", str(path), "--decision", "retire", "--reason",
                  "replaced by v3", "--lang", "en"])
    assert r.exit_code == 0 and "retire kit@2" in r.output
    assert lab.log()["decision"].tolist() == ["promote", "retire"]


def test_cli_errors_are_one_paragraph(lab: Lab) -> None:
    run = CliRunner().invoke
    base = ["-C", str(lab.root)]
    path = lab.experiment_file("e9", "kit@2")
    r = run(cli, [*base, "record-decision", str(path), "--decision", "stop", "--reason", "x",
                  "--without-evaluation"])
    assert r.exit_code != 0 and "'e9' has no assignment" in r.output
    assert "Traceback" not in r.output
    r = run(cli, [*base, "record-decision", str(lab.experiment_file("e1", "kit@7")),
                  "--decision", "stop", "--reason", "x", "--without-evaluation"])
    assert r.exit_code != 0 and "no version 7" in r.output
    r = run(cli, [*base, "packages", "--package", "nope"])
    assert r.exit_code != 0 and "unknown package 'nope'" in r.output
    r = run(cli, [*base, "record-decision", str(path), "--without-evaluation"])
    assert r.exit_code != 0 and "--decision" in r.output
    assert lab.log().empty


RECORD_SCRIPT = """
import sys
from types import SimpleNamespace as NS
from supportlab.data.workspace import Workspace
from supportlab.design.registry import record_decision
ws = Workspace.open(sys.argv[1], lock_timeout=60)
primary = NS(effect=0.5, se=0.1, ci_lower=0.3, ci_upper=0.7)
ev = NS(experiment_id="e1", package_id="kit", version=2, decision="promote", reasons=(),
        primary=primary, metric="deals_registered", cohort="c1", placebo=False)
print(record_decision(ws, ev).already_recorded)
"""


def test_two_processes_recording_the_same_decision_write_one_row(lab: Lab) -> None:
    import subprocess
    import sys

    procs = [subprocess.Popen([sys.executable, "-c", RECORD_SCRIPT, str(lab.root)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert sorted(o[0].strip() for o in outs) == ["False", "True"]
    assert lab.log()["decision"].tolist() == ["promote"]


# -- the loop: evaluate, then record ---------------------------------------------------------------


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory):
    """A simulated workspace with launch-kit@1 assigned (within rank strata), delivered with a
    strong effect through its horizon, ready to evaluate."""
    from helpers import design_workspace, write_experiment
    from supportlab.config.experiment import load_experiment
    from supportlab.data.engine import connect
    from supportlab.design.simulated import simulate_experiment_delivery
    from supportlab.design.spec import design_spec
    from supportlab.features.targeting import select_targets
    from supportlab.sim.delivery import EffectModel

    root = tmp_path_factory.mktemp("registry-loop")
    ws = design_workspace(root)
    ws.ensure_tables()
    path = write_experiment(root, id="kit-2026q2")
    exp = load_experiment(path, root / "experiments" / "packages")
    ids = np.sort(np.asarray(select_targets(connect(ws), exp, as_of=exp.design.start)
                             .frame.index))
    spec = design_spec(exp)
    arms = np.array(spec.arms)[np.random.default_rng(3).permutation(len(ids)) % 2]
    rank = ws.table("partners").set_index("partner_id")["rank"]
    now = pd.Timestamp("2026-06-01", tz="UTC")
    ws.append("assignments", pd.DataFrame({
        "experiment_id": exp.id, "partner_id": ids, "arm": arms,
        "stratum": rank.reindex(ids).to_numpy(), "assigned_at": now, "seed": spec.seed,
        "block": None, "probability": 0.5, "phase": 1}))
    ws.append("designs", pd.DataFrame([{
        "experiment_id": exp.id, "phase": 1, "package_id": exp.package.id,
        "version": exp.package.version, "method": spec.method, "design_hash": spec.design_hash,
        "eligible_hash": "-", "spec": spec.to_json(), "placebo": False, "n_assigned": len(ids),
        "start_date": spec.start, "end_date": spec.end, "assigned_at": now}]))
    simulate_experiment_delivery(ws, exp, effect=EffectModel(base_effect=1.5))
    yield root, ws, exp, path
    ws.close()


def test_the_loop_records_the_evaluation_and_the_registry_shows_it(loop) -> None:
    from supportlab.design.evaluate import evaluate

    root, ws, exp, path = loop
    ev = evaluate(ws, exp)
    assert ev.final and ev.decision == "promote"
    run = CliRunner().invoke
    r = run(cli, ["-C", str(root), "record-decision", str(path), "--decision", "revise"])
    assert r.exit_code != 0 and "overrides the computed 'promote'" in r.output
    r = run(cli, ["-C", str(root), "record-decision", str(path), "--format", "json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert (out["decision"], out["computed"], out["override"]) == ("promote", "promote", False)
    assert out["effect"] == pytest.approx(ev.primary.effect)
    assert out["std_error"] == pytest.approx(ev.primary.se)
    assert out["cohort"] == ev.cohort and out["metric"] == "deals_registered"
    again = record_decision(ws, ev, experiment=exp)
    assert again.already_recorded and ws.count("decisions") == 1
    reg = packages(ws, root / "experiments" / "packages")
    row = reg.frame.set_index("ref").loc["launch-kit@1"]
    assert (row["status"], row["owner"], row["promoted_in"]) == ("promoted", "tanaka",
                                                                "kit-2026q2")
    assert row["pooled_effect"] == pytest.approx(ev.primary.effect)
    assert row["reproduced"] == "reproduced in 0 of 0"
