"""supportlab.toml: [workspace], [paths], [engine] and [score], validated together."""

from __future__ import annotations

import pytest

import supportlab as sl
from supportlab.config.problems import ConfigFileError


def test_every_section_reads_into_the_config(tmp_path, write):
    write(tmp_path / "supportlab.toml", """
        [workspace]
        database = "db/w.duckdb"
        timezone = "UTC"
        language = "en"
        memory_limit = "2 GB"
        [paths]
        experiments = "exp"
        reports = "out"
        [engine]
        kind = "parquet"
        path = "data/parquet"
        options = {"spark.sql.shuffle.partitions" = 8}
        [score]
        lookback_days = 60
        weights = {login_recency = 50, completion = 0}
        caps = {downloads = 10}
        """)
    cfg = sl.load_config(tmp_path)
    assert (cfg.database, cfg.timezone, cfg.language, cfg.memory_limit) == (
        "db/w.duckdb", "UTC", "en", "2 GB")
    assert cfg.experiments_path == (tmp_path / "exp").resolve() and cfg.reports_dir == "out"
    assert (cfg.engine.kind, cfg.engine.path, dict(cfg.engine.options)) == (
        "parquet", "data/parquet", {"spark.sql.shuffle.partitions": "8"})
    assert cfg.score.lookback_days == 60 and cfg.score.weights.login_recency == 50
    assert cfg.score.caps.downloads == 10 and cfg.score.caps.completion == 6
    from supportlab.data.engine import EngineConfig
    from supportlab.features.score import ScoreConfig

    eng = EngineConfig.from_workspace(cfg)
    assert (eng.kind, eng.path) == ("parquet", str(tmp_path / "data/parquet"))
    sc = ScoreConfig.from_section(cfg.score)
    assert sc.weights["login_recency"] == 50 and sc.weights["completion"] == 0
    assert sc.caps["downloads"] == 10 and sc.lookback_days == 60


def test_all_problems_of_supportlab_toml_at_once(tmp_path, write):
    f = write(tmp_path / "supportlab.toml", """
        [workspace]
        timezone = "Asia/Tokio"
        language = "jp"
        memory_limit = "lots"
        databse = "x"
        [engine]
        kind = "sparc"
        [score]
        lookback_days = 0
        weights = {logins = 3, completion = -1}
        [egnine]
        """)
    with pytest.raises(ConfigFileError) as info:
        sl.load_config(tmp_path)
    found = {p.key_path: str(p) for p in info.value.problems}
    assert all(v.startswith(f"{f}: ") for v in found.values())
    assert "unknown timezone 'Asia/Tokio'" in found["workspace.timezone"]
    assert "language == 'jp' is not allowed" in found["workspace.language"]
    assert "1536MB or 2GB" in found["workspace.memory_limit"]
    assert "unknown key 'databse'. Fix: did you mean 'database'?" in found["workspace.databse"]
    assert "kind == 'sparc' is not allowed. Fix: did you mean 'spark'?" in found["engine.kind"]
    assert "must be >= 1" in found["score.lookback_days"]
    assert "unknown score component 'logins'" in found["score.weights.logins"]
    assert "must be >= 0" in found["score.weights.completion"]
    assert "unknown section 'egnine'. Fix: did you mean 'engine'?" in found["egnine"]


def test_weights_summing_to_zero(tmp_path, write):
    write(tmp_path / "supportlab.toml", "[score]\nweights = {login_recency = 0, completion = 0, "
          "downloads = 0, test_results = 0, material_use = 0}\n")
    with pytest.raises(sl.ConfigError, match=r"score\.weights: the score weights sum to 0"):
        sl.load_config(tmp_path)


def test_score_settings_from_python():
    from supportlab.features.score import ScoreConfig

    with pytest.raises(sl.ConfigError, match=r"score\.caps\.downloads: .*must be > 0"):
        ScoreConfig.from_mapping({"caps": {"downloads": 0}})
    with pytest.raises(sl.ConfigError, match=r"w\.toml: score\.lookback_days: must be a whole"):
        ScoreConfig.from_mapping({"lookback_days": "90"}, where="w.toml [score]")


def test_bad_toml_says_so(tmp_path, write):
    write(tmp_path / "supportlab.toml", "[workspace\n")
    with pytest.raises(sl.ConfigError, match="not valid TOML"):
        sl.load_config(tmp_path)


def test_init_checks_its_arguments_the_same_way(tmp_path):
    with pytest.raises(sl.ConfigError, match=r"workspace\.memory_limit"):
        sl.init_workspace(tmp_path, memory_limit="much")
    assert not (tmp_path / "supportlab.toml").exists()
    cfg = sl.init_workspace(tmp_path, language="en")
    assert sl.load_config(tmp_path) == cfg
