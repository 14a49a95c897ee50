"""Experiment files: every hole of the old validator closed, all problems at once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

import pytest

import supportlab as sl
from supportlab.config.problems import ConfigFileError

REPO = Path(__file__).resolve().parents[2]
PACKAGE = """
id: product-a-launch
version: {version}
segment: {{product: A, rank: [B, C]}}
steps:
  - week: 1
    items: [{{content: video-a-intro, done_when: video_complete}}]
"""
GOOD = """
id: product-a-launch-2026q4
package: product-a-launch@2
eligibility: "completion_rate < 0.5 or days_since_last_login >= 30"
priority: support_score desc
design: {control_share: 0.4, stratify_by: [rank, tenure_band], seed: 20261001,
         start: 2026-10-01, horizon_days: 60, max_partners: 200}
metrics:
  primary: deals_registered
  secondary: pipeline_amount
  guardrails: [portal_logins, {metric: deals_won, max_drop: 0.2}]
decision: {min_effect: 0.3, alpha: 0.1}
report: {lang: en}
"""


@pytest.fixture
def folder(tmp_path, write):
    write(tmp_path / "packages" / "kit-v1.yaml", PACKAGE.format(version=1))
    write(tmp_path / "packages" / "kit-v2.yaml", PACKAGE.format(version=2))
    return tmp_path


def test_a_good_experiment_reads_into_the_public_object(folder, write):
    exp = sl.load_experiment(write(folder / "e.yaml", GOOD))
    assert exp.id == "product-a-launch-2026q4" and exp.package.ref == "product-a-launch@2"
    assert exp.design == sl.load_experiment(folder / "e.yaml").design
    assert (exp.design.start, exp.design.control_share, exp.design.stratify_by) == (
        dt.date(2026, 10, 1), 0.4, ("rank", "tenure_band"))
    assert (exp.design.horizon_days, exp.design.pre_days, exp.design.max_partners) == (60, 90, 200)
    assert exp.metrics.secondary == ("pipeline_amount",)
    assert [(g.metric, g.max_drop) for g in exp.metrics.guardrails] == [
        ("portal_logins", 0.1), ("deals_won", 0.2)]
    assert exp.metrics.names == ["deals_registered", "pipeline_amount", "portal_logins", "deals_won"]
    assert (exp.priority, exp.priority_order, exp.min_effect, exp.alpha, exp.language) == (
        "support_score", "desc", 0.3, 0.1, "en")
    assert exp.eligibility.startswith("completion_rate") and exp.path == str(folder / "e.yaml")
    assert dataclasses.replace(exp, priority="logins").priority == "logins"  # still a dataclass
    with pytest.raises(dataclasses.FrozenInstanceError):
        exp.alpha = 0.5  # type: ignore[misc]


def test_the_repositorys_experiments_validate():
    files = sorted((REPO / "experiments").glob("*.yaml"))
    assert files
    for f in files:
        if f.name in ("metrics.yaml", "segments.yaml"):
            continue
        exp = sl.load_experiment(f)
        assert exp.package.items and exp.path == str(f)


def test_the_holes_of_the_old_validator(folder, write, problems_of):
    f = write(folder / "e.yaml", """
        id: product-a-launch-2026q4
        package: product-a-launch@2
        priority: 5
        design: {start: 2026-10-01, max_partners: many, control_share: true}
        metrics: {primary: deals_registered}
        decision: {min_effect: 0.3, alpha: five}
        report: ja
        """)
    found = problems_of(f, "experiment")
    assert set(found) == {"priority", "design.max_partners", "design.control_share",
                          "decision.alpha", "report"}
    assert "decision.alpha: must be a number, got 'five'" in found["decision.alpha"]
    assert "significance level" in found["decision.alpha"]
    assert "report: must be a mapping like {lang: ja}, got 'ja'" in found["report"]
    assert "priority: must be text, got 5" in found["priority"]
    assert "must be a whole number, got 'many'" in found["design.max_partners"]
    assert "true/false is not a number" in found["design.control_share"]


@pytest.mark.parametrize(("line", "key", "message"), [
    ("colour: red", "colour", "unknown key 'colour'"),
    ("desing: {start: 2026-10-01}", "desing", "did you mean 'design'?"),
    ("report: {lang: fr}", "report.lang", "allowed languages: ja, en"),
    ("report: {language: ja}", "report.language", "did you mean 'lang'?"),
    ("decision: {alpha: 1.5}", "decision.alpha", "must be < 1"),
    ("decision: {alpha: 0.05, min_efect: 0.3}", "decision.min_efect", "did you mean 'min_effect'?"),
    ("decision: {min_effect: -1}", "decision.min_effect", "must be >= 0"),
    ("priority: support_score sideways", "priority", "add ' desc' for highest first"),
    ("eligibility: 3", "eligibility", "must be text"),
    ("eligibility: ''", "eligibility", "must not be empty"),
])
def test_more_invalid_keys(folder, write, problems_of, line, key, message):
    text = GOOD.replace("report: {lang: en}\n", "").replace('eligibility: "completion_rate < 0.5 '
                                                            'or days_since_last_login >= 30"\n', "")
    text = text.replace("priority: support_score desc\n", "")
    if line.startswith("decision:"):
        text = text.replace("decision: {min_effect: 0.3, alpha: 0.1}\n", "")
    text += line + "\n"
    found = problems_of(write(folder / "e.yaml", text), "experiment")
    assert key in found and message in found[key], found


@pytest.mark.parametrize(("design", "key", "message"), [
    ("{seed: 1}", "design", "missing required key 'start'"),
    ("{start: 2026-13-01}", "design.start", "2026-13-01 is not a day of the calendar"),
    ("{start: next monday}", "design.start", "YYYY-MM-DD"),
    ("{start: 2026-10-01, horizon_days: 0}", "design.horizon_days", "must be >= 1"),
    ("{start: 2026-10-01, seed: 1.5}", "design.seed", "must be a whole number"),
    ("{start: 2026-10-01, stratify_by: 3}", "design.stratify_by", "must be a list"),
    ("{start: 2026-10-01, control_share: 1}", "design.control_share", "must be < 1"),
    ("[2026-10-01]", "design", "must be a mapping like {start: 2026-10-01"),
])
def test_design_problems(folder, write, problems_of, design, key, message):
    text = GOOD.replace("""design: {control_share: 0.4, stratify_by: [rank, tenure_band], seed: 20261001,
         start: 2026-10-01, horizon_days: 60, max_partners: 200}""", f"design: {design}")
    found = problems_of(write(folder / "e.yaml", text), "experiment")
    assert key in found and message in found[key], found


def test_ids_that_become_directories_are_safe(folder, write, problems_of):
    for bad in ("../../etc", "Product-A", "a b", "-x", "x" * 65, "製品a"):
        found = problems_of(write(folder / "e.yaml", GOOD.replace(
            "id: product-a-launch-2026q4", f"id: '{bad}'")), "experiment")
        assert "id" in found and "becomes a directory name" in found["id"], bad
    for good in ("a", "product-a.v2_2026", "0" * 64):
        assert sl.load_experiment(write(folder / "e.yaml", GOOD.replace(
            "id: product-a-launch-2026q4", f"id: '{good}'"))).id == good
    found = problems_of(write(folder / "e.yaml", GOOD.replace("product-a-launch@2", "kit@two")),
                        "experiment")
    assert "ID@VERSION" in found["package"]


def test_an_unknown_package_version_lists_those_that_exist(folder, write):
    f = write(folder / "e.yaml", GOOD.replace("product-a-launch@2", "product-a-launch@3")
              .replace("alpha: 0.1", "alpha: five"))
    with pytest.raises(ConfigFileError) as info:
        sl.load_experiment(f)
    found = {p.key_path: str(p) for p in info.value.problems}
    assert set(found) == {"package", "decision.alpha"}  # reported together
    assert "package 'product-a-launch' has no version 3" in found["package"]
    assert "versions that exist: 1, 2" in found["package"]
    f = write(folder / "e.yaml", GOOD.replace("product-a-launch@2", "product-a-lunch"))
    with pytest.raises(sl.ConfigError, match="did you mean 'product-a-launch'"):
        sl.load_experiment(f)


def test_a_bare_package_id_means_its_highest_version(folder, write):
    assert sl.load_experiment(write(folder / "e.yaml", GOOD.replace(
        "product-a-launch@2", "product-a-launch"))).package.version == 2


def test_two_package_files_with_the_same_id_and_version_are_refused(folder, write):
    shutil.copy(folder / "packages" / "kit-v2.yaml", folder / "packages" / "kit-copy.yaml")
    with pytest.raises(sl.ConfigError) as info:
        sl.load_experiment(write(folder / "e.yaml", GOOD))
    assert "'product-a-launch@2' is defined by 2 files" in str(info.value)
    assert "kit-copy.yaml" in str(info.value) and "kit-v2.yaml" in str(info.value)
    with pytest.raises(sl.ConfigError, match="defined by 2 files"):
        sl.config.experiment.find_package("product-a-launch", folder / "packages")


def test_an_invalid_package_file_is_reported_with_the_experiment(folder, write):
    write(folder / "packages" / "kit-v2.yaml", PACKAGE.format(version=2).replace(
        "video_complete", "video_completed"))
    f = write(folder / "e.yaml", GOOD.replace("alpha: 0.1", "alpha: 2"))
    with pytest.raises(ConfigFileError) as info:
        sl.load_experiment(f)
    where = [p.where for p in info.value.problems]
    assert f"{folder / 'packages' / 'kit-v2.yaml'}: steps.0.items.0.done_when" in where
    assert f"{f}: decision.alpha" in where


def test_from_dict_checks_too():
    pkg = sl.Package.from_dict({"id": "p", "version": 1, "steps": [
        {"week": 1, "items": [{"content": "c", "done_when": "view"}]}]})
    with pytest.raises(ConfigFileError, match=r"exp\.yaml: design: missing required key 'start'"):
        sl.Experiment.from_dict({"id": "e", "package": "p@1", "design": {},
                                 "metrics": {"primary": "logins"}}, pkg, "exp.yaml")


def test_importing_the_configuration_does_not_load_pandas():
    import subprocess
    import sys

    code = ("import sys, supportlab as sl; sl.load_experiment('experiments/"
            "product-a-launch-2026q2.yaml'); sl.load_config('.'); "
            "import supportlab.config.checks; print('pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
