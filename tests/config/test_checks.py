"""Cross-file checks: metrics, strata columns, content ids, against what the workspace holds."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import supportlab as sl
from supportlab.config.checks import check_experiment, experiment_problems
from supportlab.config.problems import ConfigFileError

REPO = Path(__file__).resolve().parents[2]
EXP = REPO / "experiments" / "product-a-launch-2026q2.yaml"
METRICS = {"deals_registered", "pipeline_amount", "package_completion", "portal_logins",
           "won_revenue", "support_score"}
COLUMNS = {"rank", "tenure_band", "region", "support_score"}
CONTENTS = {"video-a-intro", "proposal-template-a", "training-a", "quiz-a", "campaign-a", "deck-a"}


def test_a_consistent_experiment_passes():
    exp = sl.load_experiment(EXP)
    assert experiment_problems(exp, metrics=METRICS, columns=COLUMNS, contents=CONTENTS) == []
    check_experiment(exp, metrics=METRICS, columns=COLUMNS, contents=CONTENTS)
    check_experiment(exp)  # nothing known, nothing checked


def test_unknown_names_are_all_reported_in_their_files():
    exp = sl.load_experiment(EXP)
    exp = dataclasses.replace(
        exp, priority="suport_score",
        metrics=sl.config.experiment.Metrics("won_revenu", ("pipeline_amount", "pipline"), (
            sl.config.experiment.Guardrail("portal_login"),)),
        design=dataclasses.replace(exp.design, stratify_by=("rnk", "tenure_band")))
    with pytest.raises(ConfigFileError) as info:
        check_experiment(exp, metrics=METRICS, columns=COLUMNS, contents=CONTENTS - {"quiz-a"})
    found = {p.where: str(p) for p in info.value.problems}
    e, k = str(EXP), exp.package.path
    assert "unknown metric 'won_revenu'" in found[f"{e}: metrics.primary"]
    assert "did you mean 'won_revenue'?" in found[f"{e}: metrics.primary"]
    assert "did you mean 'pipeline_amount'?" in found[f"{e}: metrics.secondary.1"]
    assert "did you mean 'portal_logins'?" in found[f"{e}: metrics.guardrails.0.metric"]
    assert "unknown partner column 'rnk'" in found[f"{e}: design.stratify_by.0"]
    assert "did you mean 'rank'?" in found[f"{e}: design.stratify_by.0"]
    assert "did you mean 'support_score'?" in found[f"{e}: priority"]
    assert "content 'quiz-a' is not in the contents catalogue" in found[
        f"{k}: steps.1.items.1.content"]
    assert len(found) == 6
    assert str(info.value).startswith("6 problems:\n")  # in two files


def test_an_empty_catalogue_says_how_to_fill_it():
    exp = sl.load_experiment(EXP)
    (first, *_) = experiment_problems(exp, contents=set())
    assert "supportlab ingest contents" in str(first)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from helpers import simulated_workspace

    ws = simulated_workspace(tmp_path_factory.mktemp("world"), n_partners=60, seed=3)
    yield ws
    ws.close()


def test_targeting_checks_the_experiment_against_the_workspace(world, tmp_path):
    from supportlab.data.engine import connect

    text = EXP.read_text(encoding="utf-8").replace("stratify_by: [rank, tenure_band]",
                                                   "stratify_by: [rnk, tenure_band]")
    text = text.replace("primary: deals_registered", "primary: deals_registerd")
    (tmp_path / "packages").mkdir()
    pkg = (EXP.parent / "packages" / "product-a-launch.yaml").read_text(encoding="utf-8")
    (tmp_path / "packages" / "kit.yaml").write_text(pkg.replace("quiz-a", "quiz-z"), "utf-8")
    f = tmp_path / "e.yaml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigFileError) as info:
        sl.select_targets(connect(world), sl.load_experiment(f))
    where = {p.where for p in info.value.problems}
    assert where == {f"{f}: metrics.primary", f"{f}: design.stratify_by.0",
                     f"{tmp_path / 'packages' / 'kit.yaml'}: steps.1.items.1.content"}
    assert "did you mean 'deals_registered'?" in str(info.value)
    assert "did you mean 'quiz-" in str(info.value)
    assert len(sl.select_targets(connect(world), sl.load_experiment(EXP)).frame) > 0
