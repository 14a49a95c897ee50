"""Package files: the weekly plan, the segment (rule or mapping sugar), safe ids."""

from __future__ import annotations

from pathlib import Path

import pytest

import supportlab as sl

REPO = Path(__file__).resolve().parents[2]
GOOD = """
id: kit
version: 3
owner: tanaka
title: 製品A 立ち上げ
segment: {product: A, rank: [B, C], tenure_days: {max: 365}}
steps:
  - week: 1
    items: [{content: video-a, done_when: video_complete}, {content: tpl-a, done_when: download}]
  - week: 2
    items: [{content: quiz-a, done_when: test_pass}]
"""


def test_a_good_package_round_trips(tmp_path, write):
    pkg = sl.load_package(write(tmp_path / "kit.yaml", GOOD))
    assert (pkg.id, pkg.version, pkg.ref, pkg.owner, pkg.title) == (
        "kit", 3, "kit@3", "tanaka", "製品A 立ち上げ")
    assert [(i.content, i.done_when) for i in pkg.items] == [
        ("video-a", "video_complete"), ("tpl-a", "download"), ("quiz-a", "test_pass")]
    assert [s.week for s in pkg.steps] == [1, 2]
    assert pkg.segment == {"product": "A", "rank": ["B", "C"], "tenure_days": {"max": 365}}
    assert pkg.path == str(tmp_path / "kit.yaml")
    assert sl.Package.from_dict({"id": "kit", "version": 3, "steps": [
        {"week": 1, "items": [{"content": "video-a", "done_when": "video_complete"}]}]}).segment == {}


def test_the_segment_may_be_a_rule(tmp_path, write):
    text = GOOD.replace("segment: {product: A, rank: [B, C], tenure_days: {max: 365}}",
                        "segment: \"rank in ('B', 'C') and tenure_days < 365\"")
    assert sl.load_package(write(tmp_path / "kit.yaml", text)).segment.startswith("rank in")


def test_the_repositorys_packages_validate():
    files = sorted((REPO / "experiments" / "packages").glob("*.yaml"))
    assert files
    for f in files:
        assert sl.load_package(f).items


@pytest.mark.parametrize(("old", "new", "key", "message"), [
    ("version: 3", "version: 0", "version", "must be >= 1"),
    ("version: 3", "version: three", "version", "must be a whole number"),
    ("version: 3", "version: true", "version", "true/false is not a number"),
    ("id: kit", "id: Kit", "id", "becomes a directory name"),
    ("id: kit", "ident: kit", "(top level)", "missing required key 'id'"),
    ("id: kit", "ident: kit", "ident", "unknown key 'ident'"),
    ("owner: tanaka", "ownr: tanaka", "ownr", "did you mean 'owner'?"),
    ("done_when: download", "done_when: downlaod", "steps.0.items.1.done_when",
     "did you mean 'download'?"),
    ("{content: tpl-a, done_when: download}", "{content: tpl-a}", "steps.0.items.1",
     "missing required key 'done_when'"),
    ("{content: tpl-a, done_when: download}", "{content: video-a, done_when: download}",
     "steps.0.items.1.content", "already delivered at steps.0.items.0"),
    ("- week: 2", "- week: 1", "steps.1.week", "week 1 comes after week 1"),
    ("items: [{content: quiz-a, done_when: test_pass}]", "items: []", "steps.1.items",
     "must not be empty"),
    ("tenure_days: {max: 365}", "tenure_days: {maxi: 365}", "segment.tenure_days.maxi",
     "unknown bound 'maxi' (line 5). Fix: did you mean 'max'?"),
    ("tenure_days: {max: 365}", "tenure_days: {}", "segment.tenure_days", "needs min or max"),
    ("tenure_days: {max: 365}", "tenure_days: {max: a year}", "segment.tenure_days.max",
     "must be a number"),
    ("rank: [B, C]", "rank: [B, [C]]", "segment.rank.1", "must be a single value"),
    ("segment: {product: A, rank: [B, C], tenure_days: {max: 365}}", "segment: 5", "segment",
     "must be a rule (text) or a mapping of conditions"),
    ("segment: {product: A, rank: [B, C], tenure_days: {max: 365}}", "segment: {}", "segment",
     "must not be empty"),
])
def test_invalid_packages(tmp_path, write, problems_of, old, new, key, message):
    assert old in GOOD
    found = problems_of(write(tmp_path / "kit.yaml", GOOD.replace(old, new, 1)), "package")
    assert key in found and message in found[key], found
