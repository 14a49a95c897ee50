"""The one loader: reading YAML and TOML, all problems at once, the error's shape."""

from __future__ import annotations

import pickle

import pytest

import supportlab as sl
from supportlab.config.loader import load_file, read_document, validate
from supportlab.config.models import ENGINE_KINDS, FILE_KINDS, METRIC_KINDS, SCORE_COMPONENTS
from supportlab.config.problems import ConfigFileError, Problem


def test_every_problem_is_reported_at_once_with_its_line(tmp_path, write):
    f = write(tmp_path / "kit.yaml", """
        id: Kit A
        version: "2"
        owner: tanaka
        steps: []
        """)
    with pytest.raises(ConfigFileError) as info:
        load_file(f, "package")
    err = info.value
    assert isinstance(err, sl.ConfigError) and isinstance(err, ValueError) and err.exit_code == 2
    assert [p.key_path for p in err.problems] == ["id", "version", "steps"]
    assert [p.line for p in err.problems] == [1, 2, 4]
    text = str(err)
    assert text.startswith(f"3 problems in {f}:\n")
    assert f"{f}: version: must be a whole number, got '2' (line 2)." in text


def test_one_problem_reads_as_one_sentence(tmp_path, write):
    f = write(tmp_path / "kit.yaml", "id: kit\nversion: 1\nsteps: [{week: 1, items: "
                                     "[{content: v, done_when: video_completed}]}]\n")
    with pytest.raises(ConfigFileError) as info:
        load_file(f, "package")
    assert str(info.value) == (
        f"{f}: steps.0.items.0.done_when: done_when == 'video_completed' is not allowed (line 3). "
        "Fix: did you mean 'video_complete'? allowed done_when events: login, view, "
        "video_progress, video_complete, download, training_complete, test_submit, "
        "material_use, campaign_view, test_pass.")
    assert info.value.where == f"{f}: steps.0.items.0.done_when"


def test_error_survives_pickling_with_its_problems(tmp_path):
    err = ConfigFileError([Problem(("a",), "x"), Problem(("b", 0), "y", "z")], source="f.yaml")
    back = pickle.loads(pickle.dumps(err))
    assert str(back) == str(err) and back.problems == err.problems


def test_a_key_written_twice_is_a_problem(tmp_path, write, problems_of):
    f = write(tmp_path / "segments.yaml", """
        segments:
          young: {rank: [C]}
          young: {rank: [B]}
        """)
    found = problems_of(f, "segments")
    assert "key 'young' is written twice (first at line 2)" in found["segments.young"]
    assert "(line 3)" in found["segments.young"]


def test_impossible_date_names_the_key_not_only_the_file(tmp_path, write, problems_of):
    f = write(tmp_path / "e.yaml", """
        id: e
        package: kit@1
        design: {start: 2026-02-30}
        metrics: {primary: logins}
        """)
    found = problems_of(f, "experiment")
    assert "design.start: 2026-02-30 is not a day of the calendar" in found["design.start"]
    assert "2026-02-28" in found["design.start"]


@pytest.mark.parametrize(("text", "message"), [
    ("id: [unclosed\n", "not valid YAML at line"),
    ("- a\n- b\n", "must hold a mapping of keys, not a list"),
    ("a: !!python/object:os.system {}\n", "not valid YAML"),
])
def test_unreadable_files_say_why(tmp_path, text, message):
    f = tmp_path / "x.yaml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(sl.ConfigError, match=message):
        read_document(f)


def test_not_utf8_and_missing_files(tmp_path):
    f = tmp_path / "x.yaml"
    f.write_bytes("id: テスト\n".encode("cp932"))
    with pytest.raises(sl.ConfigError, match="not UTF-8"):
        read_document(f)
    with pytest.raises(sl.ConfigError, match="file not found"):
        read_document(tmp_path / "missing.yaml")
    with pytest.raises(sl.ConfigError, match=r"unknown file kind 'packag'.*did you mean 'package'"):
        load_file(f, "packag")


def test_validate_takes_data_in_python_with_a_key_prefix():
    with pytest.raises(ConfigFileError) as info:
        validate("metrics", {"metrics": {"x": {"kind": "count", "lookback_days": 0}}})
    (p,) = info.value.problems
    assert p.where == "metrics.x.lookback_days" and "must be >= 1" in p.what


def test_vocabularies_match_the_modules_that_use_them():
    from supportlab.data.engine import KINDS as engine_kinds
    from supportlab.features.metrics import KINDS as metric_kinds
    from supportlab.features.score import COMPONENTS, ScoreConfig

    assert METRIC_KINDS == metric_kinds and ENGINE_KINDS == engine_kinds
    assert SCORE_COMPONENTS == COMPONENTS
    section = FILE_KINDS["score"]()
    default = ScoreConfig()
    assert section.weights.model_dump() == dict(default.weights)
    assert section.caps.model_dump() == dict(default.caps)
    assert section.lookback_days == default.lookback_days
