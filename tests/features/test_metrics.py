"""Metrics: definitions, windows, edge cases, and the same results on DuckDB, Parquet and Spark."""

from __future__ import annotations

import datetime as dt
import shutil

import numpy as np
import pandas as pd
import pytest

import supportlab as sl
from helpers import require, simulated_workspace
from supportlab.config.experiment import Package
from supportlab.data.engine import connect, connect_parquet, connect_spark
from supportlab.features.metrics import (
    Window,
    builtin_metrics,
    compute_metrics,
    experiment_windows,
    load_metrics,
    window_asof,
)

TZ = "Asia/Tokyo"
PKG = Package.from_dict({"id": "p", "version": 1, "steps": [
    {"week": 1, "items": [{"content": "video-a-intro", "done_when": "video_complete"},
                          {"content": "proposal-template-a", "done_when": "download"}]},
    {"week": 2, "items": [{"content": "quiz-a", "done_when": "test_pass"}]}]})


def ts(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz=TZ)


@pytest.fixture
def small(ws):
    ws.append("contents", pd.DataFrame({"content_id": ["quiz-a"], "content_type": ["test"],
                                        "product": ["A"], "version": [1]}))
    ev = pd.DataFrame([
        ("E1", "P1", "u1", ts("2026-03-01 10:00"), "login", None, None),
        ("E2", "P1", "u2", ts("2026-03-20 10:00"), "login", None, None),
        ("E3", "P1", "u1", ts("2026-03-20 11:00"), "video_complete", "video-a-intro", None),
        ("E4", "P1", "u1", ts("2026-03-21 11:00"), "test_submit", "quiz-a", 60.0),
        ("E5", "P1", "u1", ts("2026-03-25 11:00"), "test_submit", "quiz-a", 85.0),
        ("E6", "P2", "u9", ts("2026-01-10 09:00"), "login", None, None),
        ("E7", "P2", "u9", ts("2026-01-10 09:30"), "download", "proposal-template-a", None),
        ("E8", "P1", "u1", ts("2026-04-01 00:00"), "login", None, None),  # at the end: excluded
        ("E9", "P1", "u1", ts("2026-03-31 23:59"), "download", "video-a-intro", None),
    ], columns=["event_id", "partner_id", "user_id", "ts", "event_type", "content_id", "value"])
    ws.append("events", ev)
    ws.append("deals", pd.DataFrame([
        ("D1", "P1", "A", ts("2026-03-05"), "won", 1_000_000.0, ts("2026-03-20"), True),
        ("D2", "P1", "A", ts("2026-03-06"), "lost", 500_000.0, ts("2026-03-25"), False),
        ("D3", "P2", "A", ts("2026-03-07"), "registered", 2_000_000.0, pd.NaT, None),
    ], columns=["deal_id", "partner_id", "product", "registered_at", "stage", "amount",
                "closed_at", "won"]))
    return ws


def test_hand_computed_values(small):
    w = Window("m", ts("2026-04-01"), ts("2026-03-01"))
    names = ["logins", "active_users", "days_since_last_login", "video_completed",
             "template_downloaded", "latest_test_score", "deals_registered", "pipeline_amount",
             "won_revenue", "win_rate", "package_completion", "logins_30d", "downloads"]
    df = compute_metrics(connect(small), names, [w], package=PKG)
    p1, p2, p3 = df.loc["P1"], df.loc["P2"], df.loc["P3"]
    assert (p1.logins, p1.active_users, p1.downloads) == (2, 2, 1)  # E8 is at the end: excluded
    assert p1.days_since_last_login == 11  # 2026-03-20 10:00 → 2026-04-01 00:00
    assert bool(p1.video_completed) and not bool(p1.template_downloaded)  # E9 is not a template
    assert p1.latest_test_score == 85.0
    assert (p1.deals_registered, p1.pipeline_amount, p1.won_revenue, p1.win_rate) == \
        (2, 1_500_000.0, 1_000_000.0, 0.5)
    # video done, template not downloaded (E9 is another content), quiz passed (85 >= 70)
    assert p1.package_completion == pytest.approx(2 / 3)
    # P2: nothing in March except a deal; its login was in January (outside the window)
    assert (p2.logins, p2.deals_registered, p2.pipeline_amount) == (0, 1, 2_000_000.0)
    assert p2.days_since_last_login == 80  # all history before the end: 80.6 days, floored
    assert bool(p2.template_downloaded) is False  # January is outside the window
    assert np.isnan(p2.win_rate) and np.isnan(p2.latest_test_score)
    # P3 never logged in: days since joining (2025-07-01 → 2026-04-01)
    assert p3.days_since_last_login == 274
    assert (p3.logins, p3.deals_registered, p3.package_completion) == (0, 0, 0.0)


def test_lookback_and_multiple_windows(small):
    pre = Window("pre", ts("2026-03-01"), ts("2026-01-01"))
    post = Window("post", ts("2026-04-01"), ts("2026-03-01"))
    df = compute_metrics(connect(small), ["logins", "logins_30d"], [pre, post])
    assert list(df.columns) == ["logins_pre", "logins_post", "logins_30d_pre", "logins_30d_post"]
    assert df.loc["P2", "logins_pre"] == 1 and df.loc["P2", "logins_30d_pre"] == 0
    assert df.loc["P1", "logins_30d_post"] == 1  # Mar 1 10:00 is more than 30 days before Apr 1


def test_if_never_options(small):
    w = Window("m", ts("2026-04-01"), ts("2026-03-01"))
    base = builtin_metrics()["days_since_last_login"]
    import dataclasses

    as_null = dataclasses.replace(base, name="d_null", if_never="null")
    as_num = dataclasses.replace(base, name="d_999", if_never=999)
    df = compute_metrics(connect(small), [as_null, as_num], [w])
    assert np.isnan(df.loc["P3", "d_null"]) and df.loc["P3", "d_999"] == 999


def test_empty_tables_give_zeros(ws):
    w = window_asof("2026-04-01", TZ)
    df = compute_metrics(connect(ws), ["logins", "deals_registered", "latest_test_score",
                                       "days_since_last_login", "win_rate"], [w])
    assert df.logins.tolist() == [0, 0, 0] and df.deals_registered.tolist() == [0, 0, 0]
    assert df.latest_test_score.isna().all() and df.win_rate.isna().all()
    assert df.loc["P1", "days_since_last_login"] == 730  # joined 2024-04-01


def test_experiment_windows():
    exp = sl.load_experiment("experiments/product-a-launch-2026q2.yaml")
    pre, post = experiment_windows(exp, TZ)
    assert pre.start == ts("2026-03-03") and pre.end == ts("2026-06-01")
    assert post.start == ts("2026-06-01") and post.end == ts("2026-07-31")
    _, interim = experiment_windows(exp, TZ, post_days=14)
    assert interim.end == ts("2026-06-15")


def test_metric_yaml_errors(tmp_path):
    f = tmp_path / "metrics.yaml"
    f.write_text("metrics:\n  x: {kind: count, table: events, where: {evnt_type: login}}\n")
    with pytest.raises(sl.ConfigError, match=r"metrics\.x\.where\.evnt_type.*not in events"):
        load_metrics(f)
    f.write_text("metrics:\n  x: {kind: summ, table: events}\n")
    with pytest.raises(sl.ConfigError, match=r"metrics\.x\.kind.*allowed kinds: count"):
        load_metrics(f)
    f.write_text("metrics:\n  x: {kind: sum, table: deals}\n")
    with pytest.raises(sl.ConfigError, match="needs 'column'"):
        load_metrics(f)
    f.write_text("metrics:\n  x: {kind: count, tabel: deals}\n")
    with pytest.raises(sl.ConfigError, match="did you mean 'table'"):
        load_metrics(f)
    f.write_text("metrics:\n  webinar: {kind: count, where: {event_type: view, "
                 "content_type: campaign}, lookback_days: 30}\n")
    assert load_metrics(f)["webinar"].lookback_days == 30
    with pytest.raises(sl.ConfigError, match="did you mean 'logins'"):
        compute_metrics(None, ["logins_"], [])  # type: ignore[arg-type]


# -- the same results on every engine --------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    ws = simulated_workspace(tmp_path_factory.mktemp("world"), n_partners=300, seed=7)
    ws.export_parquet(ws.config.root / "parquet")
    yield ws
    ws.close()


ALL = [n for n, m in builtin_metrics().items()]


def _compute(engine):
    pre = window_asof("2026-07-01", TZ, 90, name="pre")
    post = Window("post", ts("2026-09-29"), ts("2026-07-01"))
    return compute_metrics(engine, ALL, [pre, post], package=PKG)


def test_duckdb_and_parquet_agree(world):
    a = _compute(connect(world))
    b = _compute(connect_parquet(world.config.root / "parquet", TZ))
    pd.testing.assert_frame_equal(a, b)
    assert a["logins_pre"].sum() > 1000  # a real comparison, not of empty frames


def test_against_plain_pandas(world):
    """A straightforward pandas computation of a few metrics agrees with the engine."""
    ev = world.table("events")
    end, start = ts("2026-07-01"), ts("2026-04-02")
    inwin = ev[(ev.ts >= start) & (ev.ts < end)]
    logins = inwin[inwin.event_type == "login"].groupby("partner_id").size()
    last = ev[(ev.event_type == "login") & (ev.ts < end)].groupby("partner_id").ts.max()
    days = np.floor((end - last) / pd.Timedelta(days=1))
    got = compute_metrics(connect(world), ["logins", "days_since_last_login"],
                          [window_asof("2026-07-01", TZ, 90)])
    pd.testing.assert_series_equal(got.logins[got.logins > 0], logins.astype("int64"),
                                   check_names=False)
    pd.testing.assert_series_equal(got.days_since_last_login.reindex(days.index), days,
                                   check_names=False)


@pytest.mark.spark
def test_spark_agrees_with_duckdb(world):
    require("java", shutil.which("java") is not None, "Spark needs a Java runtime")
    try:
        import pyspark  # noqa: F401
    except ImportError:
        require("pyspark", False, "pip install 'supportlab[spark]'")
    a = _compute(connect(world))
    c = _compute(connect_spark(world.config.root / "parquet", TZ))
    pd.testing.assert_frame_equal(a, c, check_dtype=False, check_exact=False, rtol=1e-12)


def test_today_default_is_a_date():
    assert isinstance(window_asof(dt.date(2026, 1, 1), TZ).end, pd.Timestamp)
