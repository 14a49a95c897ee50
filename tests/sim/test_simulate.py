"""Simulator: schema-valid, deterministic, believable worlds and honest package deliveries."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from supportlab.data.schemas import validate_frame
from supportlab.errors import ConfigError, DataValidationError
from supportlab.sim.simulate import (
    EffectModel,
    PackageStep,
    SimulationConfig,
    content_catalogue,
    expected_event_count,
    simulate_delivery,
    simulate_world,
)

CANONICAL = ("partners", "partner_products", "contents", "events", "deals")
END = dt.date(2026, 11, 1)
TZ = "Asia/Tokyo"

STEPS = (
    PackageStep(1, (("video-a-intro", "video_complete"), ("proposal-template-a", "download"))),
    PackageStep(2, (("training-a", "training_complete"), ("quiz-a", "test_pass"))),
    PackageStep(3, (("campaign-a", "view"), ("deck-a", "material_use"))),
)
START = dt.date(2026, 7, 1)
HORIZON = 90


def run_world(config: SimulationConfig) -> dict[str, list[pa.Table]]:
    chunks: dict[str, list[pa.Table]] = {}
    for name, table in simulate_world(config):
        chunks.setdefault(name, []).append(table)
    return chunks


def concat(chunks: dict[str, list[pa.Table]]) -> dict[str, pa.Table]:
    return {name: pa.concat_tables(tables) for name, tables in chunks.items()}


def frame(table: pa.Table, columns: list[str] | None = None) -> pd.DataFrame:
    return (table.select(columns) if columns else table).to_pandas()


def local_midnight(day: dt.date) -> pd.Timestamp:
    return pd.Timestamp(day).tz_localize(TZ)


@pytest.fixture(scope="module")
def small() -> dict[str, list[pa.Table]]:
    """A small world cut into several chunks."""
    return run_world(SimulationConfig(n_partners=300, days=120, seed=11, chunk_partners=70))


@pytest.fixture(scope="module")
def world() -> dict[str, pa.Table]:
    """A default-shaped world of 2,000 partners over a year (about 1.1 million events)."""
    return concat(run_world(SimulationConfig(n_partners=2000, seed=3)))


@pytest.fixture(scope="module")
def partners(world: dict[str, pa.Table]) -> pd.DataFrame:
    return frame(world["partners"])


@pytest.fixture(scope="module")
def logins(world: dict[str, pa.Table]) -> pd.DataFrame:
    ev = frame(world["events"], ["partner_id", "ts", "event_type"])
    return ev[ev["event_type"] == "login"]


@pytest.fixture(scope="module")
def deals(world: dict[str, pa.Table]) -> pd.DataFrame:
    return frame(world["deals"])


# -- shape and contract -------------------------------------------------------------------------


def test_every_canonical_table_validates(small):
    tables = concat(small)
    assert set(tables) == {*CANONICAL, "sim_partners", "sim_state"}
    for name in CANONICAL:
        report = validate_frame(tables[name].to_pandas(), name)
        assert report.ok, f"{name}: {report}"


def test_arrow_types_match_the_workspace(small):
    tables = concat(small)
    ts = pa.timestamp("us", tz="UTC")
    assert tables["events"].schema.field("ts").type == ts
    assert tables["deals"].schema.field("registered_at").type == ts
    assert tables["deals"].schema.field("closed_at").type == ts
    assert tables["deals"].schema.field("won").type == pa.bool_()
    assert tables["partners"].schema.field("joined_at").type == pa.date32()
    assert tables["contents"].schema.field("version").type == pa.int64()
    assert tables["events"].schema.field("value").type == pa.float64()
    for name in ("events", "deals"):  # every chunk of a table has the same schema
        assert len({t.schema for t in small[name]}) == 1


def test_chunks_are_bounded_and_ids_unique(small):
    assert len(small["events"]) > 1
    for table in small["events"] + small["deals"]:
        assert pc.count_distinct(table.column("partner_id")).as_py() <= 70
    events, deals = concat(small)["events"], concat(small)["deals"]
    assert pc.count_distinct(events.column("event_id")).as_py() == events.num_rows
    assert pc.count_distinct(deals.column("deal_id")).as_py() == deals.num_rows


def test_foreign_keys_hold(small):
    t = concat(small)
    pids = set(t["partners"].column("partner_id").to_pylist())
    cids = set(t["contents"].column("content_id").to_pylist())
    for name in ("events", "deals", "partner_products", "sim_partners"):
        assert set(t[name].column("partner_id").to_pylist()) <= pids, name
    used = set(t["events"].column("content_id").drop_null().to_pylist())
    assert used and used <= cids


def test_catalogue_holds_the_demo_package():
    ids = set(content_catalogue(("A", "B")).content_id)
    for step in STEPS:
        for content_id, _ in step.items:
            assert content_id in ids
    assert "video-b-intro" in ids and "quiz-b" in ids


def test_same_seed_same_world_whatever_the_chunking(small):
    again = concat(run_world(SimulationConfig(n_partners=300, days=120, seed=11,
                                              chunk_partners=1000)))
    first = concat(small)
    for name, table in first.items():
        assert table.equals(again[name]), name


def test_another_seed_another_world(small):
    other = concat(run_world(SimulationConfig(n_partners=300, days=120, seed=12)))
    first = concat(small)
    assert not first["events"].equals(other["events"])
    assert not first["partners"].equals(other["partners"])


def test_event_count_matches_the_estimate():
    config = SimulationConfig(n_partners=800, days=200, seed=5, events_per_partner_per_day=0.8)
    rows = sum(t.num_rows for name, t in simulate_world(config) if name == "events")
    assert rows == pytest.approx(expected_event_count(config), rel=0.12)


def test_bad_configs_are_refused():
    with pytest.raises(ConfigError, match="days"):
        SimulationConfig(days=0)
    with pytest.raises(ConfigError, match="timezone"):
        SimulationConfig(timezone="Mars/Olympus")
    with pytest.raises(ConfigError, match="products"):
        SimulationConfig(products=("A", "a"))


# -- realism ------------------------------------------------------------------------------------


def test_rank_pyramid(partners):
    share = partners["rank"].value_counts(normalize=True)
    assert share["S"] < share["A"] < share["B"] < share["C"]
    assert share["S"] < 0.08
    assert share["C"] > 0.4


def test_share_of_new_partners(partners):
    joined = pd.to_datetime(partners["joined_at"])
    new = joined >= pd.Timestamp(END) - pd.Timedelta(days=365)
    assert 0.18 <= new.mean() <= 0.35
    assert joined.max() < pd.Timestamp(END)


def test_bigger_partners_carry_more_products(world, partners):
    pp = frame(world["partner_products"])
    per = pp.groupby("partner_id").size().reindex(partners["partner_id"], fill_value=0)
    rank = partners.set_index("partner_id")["rank"]
    assert per.between(1, 3).all()
    assert per[rank == "S"].mean() > per[rank == "C"].mean() + 0.5


def test_weekday_logins_outnumber_weekend_logins(logins):
    local = logins["ts"].dt.tz_convert(TZ)
    weekend = local.dt.day_of_week >= 5
    per_weekday = (~weekend).sum() / 5
    per_weekend_day = weekend.sum() / 2
    assert per_weekday > 4 * per_weekend_day
    assert local.dt.hour.between(8, 18).mean() > 0.85


def test_share_of_dormant_partners(partners, logins):
    recent = logins.loc[logins["ts"] >= local_midnight(END) - pd.Timedelta(days=30), "partner_id"]
    dormant = 1 - recent.nunique() / len(partners)
    assert 0.15 <= dormant <= 0.25


def test_events_per_partner_are_heavy_tailed(world, partners):
    ids = world["events"].column("partner_id").to_pandas()
    per = ids.value_counts().reindex(partners["partner_id"], fill_value=0)
    assert per.mean() > 1.8 * per.median()
    assert per.quantile(0.99) > 10 * per.median()
    assert per.mean() / 365 == pytest.approx(1.5, rel=0.1)


def test_deals_in_consecutive_windows_correlate(deals, partners):
    end = local_midnight(END)
    reg = deals["registered_at"]

    def window(lo: int, hi: int) -> pd.Series:
        inside = (reg >= end - pd.Timedelta(days=lo)) & (reg < end - pd.Timedelta(days=hi))
        counts = deals[inside].groupby("partner_id").size()
        return counts.reindex(partners["partner_id"], fill_value=0)

    pre, post = window(180, 90), window(90, 0)
    assert 0.4 <= np.corrcoef(pre, post)[0, 1] <= 0.75
    assert 1.0 <= post.mean() <= 3.0


def test_deal_amounts_are_heavy_tailed_yen(deals):
    amount = deals["amount"]
    assert 800_000 <= amount.median() <= 3_000_000
    assert amount.mean() > 1.3 * amount.median()
    assert (amount % 1000 == 0).all()


def test_fiscal_year_end_bump_and_august_dip(deals):
    month = deals["registered_at"].dt.tz_convert(TZ).dt.month
    per_day = month.value_counts() / pd.Series({3: 31, 8: 31, 6: 30, 10: 31})
    assert per_day[3] > 1.2 * per_day[6]
    assert per_day[8] < 0.85 * per_day[6]


def test_deal_stages_are_consistent(deals):
    closed = deals["stage"].isin(["won", "lost"])
    assert closed.mean() > 0.5
    assert deals.loc[closed, "closed_at"].notna().all()
    assert deals.loc[~closed, "closed_at"].isna().all()
    assert (deals.loc[closed, "won"] == (deals.loc[closed, "stage"] == "won")).all()
    assert deals.loc[~closed, "won"].isna().all()
    assert (deals.loc[closed, "closed_at"] > deals.loc[closed, "registered_at"]).all()
    assert set(deals.loc[~closed, "stage"]) == {"registered", "qualified", "proposal",
                                               "negotiation"}


def test_nothing_happens_after_the_end(world, deals):
    end = local_midnight(END)
    start = local_midnight(END - dt.timedelta(days=365))
    ts = world["events"].column("ts").to_pandas()
    assert ts.max() < end and ts.min() >= start
    assert deals["registered_at"].max() < end
    assert deals["closed_at"].max() < end


def test_event_values_fit_their_types(small):
    ev = concat(small)["events"].to_pandas()
    login = ev["event_type"] == "login"
    assert ev.loc[login, "content_id"].isna().all()
    assert ev.loc[~login, "content_id"].notna().all()
    scored = ev["event_type"].isin(["video_progress", "test_submit"])
    assert ev.loc[scored, "value"].between(0, 100).all()
    assert ev.loc[~scored, "value"].isna().all()
    assert (ev["user_id"].str.rsplit("-u", n=1).str[0] == ev["partner_id"]).all()
    assert ev["partner_id"].map(ev.groupby("partner_id")["user_id"].nunique()).max() > 1


# -- delivering a package -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def truth(world: dict[str, pa.Table]) -> pd.DataFrame:
    return frame(world["sim_partners"])


@pytest.fixture(scope="module")
def assignments(truth: pd.DataFrame) -> pd.DataFrame:
    arm = np.where(np.random.default_rng(8).random(len(truth)) < 0.5, "treatment", "control")
    return pd.DataFrame({"experiment_id": "launch-a", "partner_id": truth["partner_id"],
                         "arm": arm})


def deliver(truth: pd.DataFrame, assignments: pd.DataFrame, seed: int = 4,
            effect: EffectModel | None = None, **kw: object) -> dict[str, pa.Table]:
    return dict(simulate_delivery(truth, assignments, STEPS, experiment_id="launch-a",
                                  start=START, horizon_days=HORIZON,
                                  effect=effect or EffectModel(), seed=seed, **kw))


@pytest.fixture(scope="module")
def delivered(truth: pd.DataFrame, assignments: pd.DataFrame) -> dict[str, pa.Table]:
    return deliver(truth, assignments)


def test_delivery_tables_validate(delivered, assignments):
    assert set(delivered) == {"events", "deals", "sim_truth"}
    for name in ("events", "deals"):
        report = validate_frame(delivered[name].to_pandas(), name)
        assert report.ok, f"{name}: {report}"
    assert delivered["sim_truth"].schema.field("partner_id").type == pa.string()
    st = delivered["sim_truth"].to_pandas()
    assert len(st) == len(assignments)
    assert {"experiment_id", "partner_id", "arm", "opened", "consumption", "steps_completed",
            "tau", "extra_deals", "segment", "new_partner"} <= set(st.columns)


def test_only_the_treatment_arm_gets_anything(delivered, assignments):
    arm = assignments.set_index("partner_id")["arm"]
    for name in ("events", "deals"):
        pids = delivered[name].column("partner_id").to_pandas()
        assert len(pids) > 0
        assert (pids.map(arm) == "treatment").all(), name
    st = delivered["sim_truth"].to_pandas().set_index("partner_id")
    assert (st.loc[st["arm"] == "control", "extra_deals"] == 0).all()
    per = delivered["deals"].column("partner_id").to_pandas().value_counts()
    assert np.array_equal(per.reindex(st.index, fill_value=0).to_numpy(),
                          st["extra_deals"].to_numpy())


def test_uptake_is_partial_and_completion_falls_by_step(delivered):
    st = delivered["sim_truth"].to_pandas()
    treated = st[st["arm"] == "treatment"]
    assert 0.3 < treated["opened"].mean() < 0.9
    reached = [(treated["steps_completed"] >= k).mean() for k in (1, 2, 3)]
    assert treated["opened"].mean() > reached[0] > reached[1] > reached[2] > 0
    # the same funnel is visible in the logs
    ev = delivered["events"].to_pandas()
    n = len(treated)
    video = ev[ev["event_type"] == "video_complete"]["partner_id"].nunique() / n
    quiz = ev[(ev["event_type"] == "test_submit") & (ev["value"] >= 70)]["partner_id"].nunique()
    deck = ev[ev["event_type"] == "material_use"]["partner_id"].nunique() / n
    assert video > quiz / n > deck > 0


def test_test_pass_means_a_score_of_70(delivered):
    st = delivered["sim_truth"].to_pandas().set_index("partner_id")
    ev = delivered["events"].to_pandas()
    best = ev[ev["content_id"] == "quiz-a"].groupby("partner_id")["value"].max()
    assert (best < 70).any() and (best >= 70).any()
    passed, failed = best[best >= 70].index, best[best < 70].index
    # a pass needs week 1 done first; a fail leaves week 2 unfinished
    assert (st.loc[passed, "items_done"] >= 3).all()
    assert (st.loc[passed, "steps_completed"] >= 1).all()
    assert (st.loc[failed, "steps_completed"] == 1).all()


def test_events_fall_in_their_weeks(delivered):
    ev = delivered["events"].to_pandas()
    start = local_midnight(START)
    week = ((ev["ts"] - start) // pd.Timedelta(days=7)) + 1
    expect = {"video-a-intro": 1, "proposal-template-a": 1, "training-a": 2, "quiz-a": 2,
              "campaign-a": 3, "deck-a": 3}
    items = ev["content_id"].notna()
    assert (week[items] == ev.loc[items, "content_id"].map(expect)).all()
    assert week.between(1, 3).all()
    assert ev.loc[ev["content_id"] == "campaign-a", "event_type"].eq("view").all()


def test_realized_extra_deals_match_tau(delivered):
    st = delivered["sim_truth"].to_pandas()
    treated = st[st["arm"] == "treatment"]
    se = np.sqrt(treated["tau"].mean() / len(treated))
    assert treated["tau"].mean() > 0.05
    assert abs(treated["extra_deals"].mean() - treated["tau"].mean()) < 4 * se
    dl = delivered["deals"].to_pandas()
    start = local_midnight(START)
    assert (dl["registered_at"] >= start).all()
    assert (dl["registered_at"] < start + pd.Timedelta(days=HORIZON)).all()
    assert (dl["product"] == "A").all()


def test_tau_is_defined_for_both_arms(delivered):
    st = delivered["sim_truth"].to_pandas()
    assert (st.loc[~st["opened"], "tau"] == 0).all()
    assert (st.loc[st["consumption"] == 0, "tau"] == 0).all()
    by_arm = st.groupby("arm")["tau"].mean()
    assert by_arm["control"] > 0
    assert by_arm["control"] == pytest.approx(by_arm["treatment"], rel=0.3)
    itt, complier = st["tau"].mean(), st.loc[st["opened"], "tau"].mean()
    assert complier == pytest.approx(itt / st["opened"].mean())
    # the segment multipliers shape tau: B partners gain more than S partners per unit consumed
    per_unit = st[st["consumption"] > 0].assign(u=lambda d: d["tau"] / d["consumption"])
    old = per_unit[~per_unit["new_partner"]].groupby("segment")["u"].mean()
    assert old["B"] == pytest.approx(0.6 * 1.2) and old["S"] == pytest.approx(0.6 * 0.5)


def test_counterfactual_does_not_depend_on_the_arm(truth, assignments):
    flipped = assignments.assign(arm=np.where(assignments["arm"] == "treatment", "control",
                                              "treatment"))
    a = deliver(truth, assignments)["sim_truth"].to_pandas()
    b = deliver(truth, flipped)["sim_truth"].to_pandas()
    for col in ("opened", "consumption", "steps_completed", "tau"):
        assert a[col].equals(b[col]), col


def test_delivery_ids_do_not_collide_with_the_world(delivered, world):
    for name, key in (("events", "event_id"), ("deals", "deal_id")):
        ours = set(delivered[name].column(key).to_pylist())
        assert len(ours) == delivered[name].num_rows
        assert all(i.startswith("launch-a-") for i in ours)
        theirs = world[name].column(key)
        assert not pc.is_in(theirs, value_set=pa.array(list(ours))).to_numpy().any()


def test_delivery_is_deterministic(truth, assignments, delivered):
    again = deliver(truth, assignments.sample(frac=1.0, random_state=1))
    for name, table in delivered.items():
        assert table.equals(again[name]), name
    other = deliver(truth, assignments, seed=5)
    assert not other["events"].equals(delivered["events"])


def test_no_effect_means_no_extra_deals(truth, assignments):
    out = deliver(truth, assignments, effect=EffectModel(base_effect=0.0))
    assert out["deals"].num_rows == 0
    assert out["events"].num_rows > 0
    assert (out["sim_truth"].column("tau").to_numpy() == 0).all()


def test_baseline_outcomes_travel_into_the_truth(truth, assignments):
    base = pd.DataFrame({"partner_id": truth["partner_id"], "deals": 2})
    st = deliver(truth, assignments, baseline_post=base)["sim_truth"].to_pandas()
    assert (st["baseline_deals"] == 2).all()
    assert np.allclose(st["expected_deals_if_treated"], 2 + st["tau"])


def test_delivery_refuses_bad_input(truth, assignments):
    with pytest.raises(DataValidationError, match="not in partners_truth"):
        deliver(truth.iloc[10:], assignments)
    with pytest.raises(ConfigError, match="done_when"):
        PackageStep(1, (("quiz-a", "passed"),))
    with pytest.raises(ConfigError, match="uptake"):
        EffectModel(uptake=1.5)
