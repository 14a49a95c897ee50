"""Segments, the support score and target lists, on a simulated world and by hand."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from click.testing import CliRunner

import supportlab as sl
from helpers import simulated_workspace
from supportlab.cli import cli
from supportlab.config.experiment import load_experiment
from supportlab.data.engine import connect
from supportlab.features.score import ScoreConfig, save_snapshot, score_components, score_movement
from supportlab.features.score import support_score as compute_score
from supportlab.features.segments import in_segment, partner_attributes, tenure_band
from supportlab.features.targeting import partner_features, select_targets

EXP = "experiments/product-a-launch-2026q2.yaml"
TZ = "Asia/Tokyo"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    ws = simulated_workspace(tmp_path_factory.mktemp("world"), n_partners=400, seed=11)
    yield ws
    ws.close()


def test_tenure_bands():
    s = pd.Series([0, 364, 365, 1094, 1095, None], dtype="Float64")
    assert tenure_band(s).tolist() == ["<1y", "<1y", "1-3y", "1-3y", "3y+", "unknown"]


def test_partner_attributes_as_of(ws):
    ws.append("partner_products", pd.DataFrame({"partner_id": ["P1", "P1", "P2"],
                                                "product": ["B", "A", "A"]}))
    df = partner_attributes(connect(ws), "2026-04-01")
    assert df.loc["P1", "products"] == "A|B" and df.loc["P3", "products"] == ""
    assert df.loc["P2", "tenure_days"] == 76 and df.loc["P2", "tenure_band"] == "<1y"
    assert df.loc["P1", "segment"] == "A×1-3y"
    seg = {"product": "A", "rank": ["B"], "tenure_days": {"max": 365}}
    assert in_segment(df, seg).tolist() == [False, True, False]
    with pytest.raises(sl.ConfigError, match="did you mean 'region'"):
        in_segment(df, {"regoin": "関東"})


def test_score_components_by_hand():
    m = pd.DataFrame({"days_since_last_login": [0.0, 30.0, 90.0], "completions": [6, 3, 0],
                      "downloads": [10, 1, 0], "latest_test_score": [100.0, 50.0, None],
                      "material_uses": [4, 2, 0]})
    c = score_components(m)
    assert c.iloc[0].tolist() == [1.0, 1.0, 1.0, 1.0, 1.0]
    assert c.iloc[1].tolist() == [0.5, 0.5, 0.2, 0.5, 0.5]
    assert c.iloc[2].tolist() == [0.0, 0.0, 0.0, 0.0, 0.0]


def test_support_score_is_0_to_100_with_contributions(world):
    sc = compute_score(connect(world), "2026-07-01")
    assert sc.support_score.between(0, 100).all()
    pts = sc[[c for c in sc.columns if c.endswith("_points")]].sum(axis=1)
    pd.testing.assert_series_equal(pts, sc.support_score, check_names=False, atol=1e-4)
    assert sc.support_score.std() > 10  # it discriminates between partners
    # dormant partners score lower than active ones
    dormant = sc.days_since_last_login >= 30
    assert sc.support_score[dormant].mean() < sc.support_score[~dormant].mean() - 20


def test_score_weights_are_configurable(world):
    only_login = ScoreConfig.from_mapping({"weights": {"login_recency": 1, "completion": 0,
                                                       "downloads": 0, "test_results": 0,
                                                       "material_use": 0}})
    sc = compute_score(connect(world), "2026-07-01", only_login)
    expected = 100 * (1 - sc.days_since_last_login / 60).clip(0, 1)
    pd.testing.assert_series_equal(sc.support_score, expected, check_names=False, atol=1e-4)
    with pytest.raises(sl.ConfigError, match="unknown score component 'logins'"):
        ScoreConfig.from_mapping({"weights": {"logins": 3}})


def test_snapshots_keep_history_and_movement(world):
    e = connect(world)
    a = compute_score(e, "2026-06-01")
    b = compute_score(e, "2026-07-01")
    save_snapshot(world, "2026-06-01", a)
    save_snapshot(world, "2026-07-01", b)
    save_snapshot(world, "2026-07-01", b)  # same date again replaces, never duplicates
    n = world.query("SELECT as_of, count(*) AS n FROM score_snapshots GROUP BY 1 ORDER BY 1")
    assert n.n.tolist() == [len(a), len(b)]  # partners who had joined by each date
    mv = score_movement(world, "2026-07-01")
    expected = (b.support_score - a.support_score.reindex(b.index))
    pd.testing.assert_series_equal(mv.sort_index(), expected.sort_index(), check_names=False,
                                   atol=1e-6)


def test_targets_follow_segment_rule_and_priority(world):
    exp = load_experiment(EXP)
    tl = select_targets(connect(world), exp)
    df = tl.frame
    feats = partner_features(connect(world), exp.design.start, package=exp.package)
    seg = feats[(feats["rank"].isin(["B", "C"])) & feats.products.str.contains("A")]
    expected = seg[(seg.completion_rate < 0.5) | (seg.days_since_last_login >= 30)]
    assert set(df.index) == set(expected.index) and len(df) > 20
    assert tl.n_in_segment == len(seg) and tl.n_eligible == len(expected)
    assert df.support_score.is_monotonic_increasing  # lowest score first
    assert df.priority_rank.tolist() == list(range(1, len(df) + 1))
    assert {"completion_rate", "days_since_last_login", "why"} <= set(df.columns)
    assert all(isinstance(w, str) and w for w in df.why)


def test_targets_priority_desc_and_limit(world):
    exp = load_experiment(EXP)
    exp = dataclasses.replace(exp, priority="days_since_last_login", priority_order="desc")
    tl = select_targets(connect(world), exp, limit=10)
    assert len(tl.frame) == 10 and tl.n_eligible > 10
    assert tl.frame.days_since_last_login.is_monotonic_decreasing


def test_unknown_rule_feature_is_a_clear_error(world):
    exp = dataclasses.replace(load_experiment(EXP), eligibility="complet_rate < 0.5")
    with pytest.raises(sl.ConfigError, match="did you mean 'completion_rate'"):
        select_targets(connect(world), exp)


def test_targets_and_score_cli(world, tmp_path):
    r = CliRunner().invoke(cli, ["-C", str(world.config.root), "targets", EXP, "--out",
                                 str(tmp_path / "t.csv")], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "eligible of" in r.output
    raw = (tmp_path / "t.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads Japanese names correctly
    back = pd.read_csv(tmp_path / "t.csv", encoding="utf-8-sig")
    assert back.partner_id.str.startswith("P").all()
    r = CliRunner().invoke(cli, ["-C", str(world.config.root), "score", "--as-of", "2026-07-01",
                                 "--out", str(tmp_path / "score")], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    csv = tmp_path / "score" / "support_score_2026-07-01.csv"
    assert csv.read_bytes().startswith(b"\xef\xbb\xbf")
    pq = pd.read_parquet(tmp_path / "score" / "support_score_2026-07-01.parquet")
    joined = world.query("SELECT count(*) AS n FROM partners WHERE joined_at <= '2026-07-01'")
    assert len(pq) == joined.n[0]
    assert {"name", "support_score", "login_recency_points"} <= set(pq.columns)


@pytest.mark.spark
def test_targets_and_score_identical_on_spark(world, tmp_path):
    import shutil

    from helpers import require
    from supportlab.data.engine import connect_spark

    require("java", shutil.which("java") is not None, "Spark needs a Java runtime")
    world.export_parquet(tmp_path / "pq")
    spark = connect_spark(tmp_path / "pq", world.config.timezone)
    exp = load_experiment(EXP)
    a = select_targets(connect(world), exp).frame
    b = select_targets(spark, exp).frame
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    sa = compute_score(connect(world), "2026-07-01")
    sb = compute_score(spark, "2026-07-01")
    pd.testing.assert_frame_equal(sa, sb, check_dtype=False)
    fa = partner_features(connect(world), "2026-07-01", package=exp.package)
    fb = partner_features(spark, "2026-07-01", package=exp.package)
    pd.testing.assert_frame_equal(fa, fb, check_dtype=False)


def test_named_segments_are_rule_features(world, tmp_path):
    from supportlab.features.segments import load_segments

    f = tmp_path / "segments.yaml"
    f.write_text("segments:\n  young_c: {rank: [C], tenure_days: {max: 365}}\n", encoding="utf-8")
    segs = load_segments(f)
    exp = dataclasses.replace(load_experiment(EXP), eligibility="young_c and logins_30d < 5")
    tl = select_targets(connect(world), exp, segments=segs)
    feats = partner_features(connect(world), exp.design.start, package=exp.package, segments=segs)
    expected = feats[feats.young_c & (feats["rank"] == "C") & feats.products.str.contains("A")
                     & (feats.logins_30d < 5)]
    assert set(tl.frame.index) == set(expected.index) and len(expected) > 0
    assert (feats.young_c == ((feats["rank"] == "C") & (feats.tenure_days < 365))).all()
    f.write_text("segments:\n  bad name: {rank: C}\n", encoding="utf-8")
    with pytest.raises(sl.ConfigError, match="cannot be used in rules"):
        load_segments(f)


def test_partners_not_yet_joined_are_left_out(world):
    exp = load_experiment(EXP)
    joined = world.query("SELECT partner_id, joined_at FROM partners")
    late = set(joined.partner_id[pd.to_datetime(joined.joined_at) > pd.Timestamp("2026-07-01")])
    assert late  # the simulated world has partners who join later
    tl = select_targets(connect(world), exp)
    assert not late & set(tl.frame.index)
    sc = compute_score(connect(world), "2026-07-01")
    assert not late & set(sc.index) and len(sc) == 400 - len(late)
    m = sl.compute_metrics(connect(world), ["days_since_last_login"],
                           [sl.window_asof("2026-07-01", "Asia/Tokyo")])
    assert not late & set(m.index) and len(m) == len(sc)  # as documented for as-of windows
    pre = sl.compute_metrics(connect(world), ["logins"], list(sl.experiment_windows(exp, TZ)))
    assert late <= set(pre.index)  # experiment windows keep every partner


def test_no_one_eligible_says_which_condition_failed(world):
    exp = dataclasses.replace(load_experiment(EXP), eligibility="rank == 'Ｂ' or logins_30d < 0")
    tl = select_targets(connect(world), exp)
    assert tl.n_eligible == 0
    assert "rank == 'Ｂ': 0" in str(tl) and "logins_30d < 0: 0" in str(tl)


def test_empty_workspace_is_a_clear_error(tmp_path):
    sl.init_workspace(tmp_path)
    with sl.Workspace.open(tmp_path) as w:  # no database file yet: says how to get data
        with pytest.raises(sl.WorkspaceError, match=r"no data yet.*supportlab ingest"):
            compute_score(connect(w), "2026-07-01")
        assert not w.exists  # the failed read created nothing
        w.ensure_tables()  # tables exist but hold no partners: the same advice
        for call in (lambda: compute_score(connect(w), "2026-07-01"),
                     lambda: select_targets(connect(w), load_experiment(EXP))):
            with pytest.raises(sl.WorkspaceError, match=r"no data yet.*supportlab simulate"):
                call()


def test_metrics_cli_with_package(world, tmp_path):
    import shutil

    shutil.copytree("experiments/packages", world.config.root / "experiments" / "packages",
                    dirs_exist_ok=True)
    r = CliRunner().invoke(cli, ["-C", str(world.config.root), "metrics", "--as-of", "2026-07-01",
                                 "--package", "product-a-launch@2", "--metric", "completion_rate",
                                 "--metric", "logins_30d", "--out", str(tmp_path / "m.csv")],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    m = pd.read_csv(tmp_path / "m.csv", encoding="utf-8-sig")
    assert m.completion_rate.between(0, 1).all() and m.completion_rate.nunique() > 2
