"""The simulated world's continuation: deterministic, chunk-independent, the history's rules."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from supportlab.data.schemas import validate_frame
from supportlab.errors import ConfigError, DataValidationError
from supportlab.sim.continuation import continue_world, latent_state, month_starts
from supportlab.sim.world import SimulationConfig, config_from_json, config_json, simulate_world

CFG = SimulationConfig(n_partners=600, days=180, seed=5, end=dt.date(2026, 6, 1))
TZ = CFG.timezone
BOUNDARY = pd.Timestamp("2026-06-01", tz=TZ)


def collect(chunks) -> dict[str, pd.DataFrame]:
    parts: dict[str, list[pa.Table]] = {}
    for name, table in chunks:
        parts.setdefault(name, []).append(table)
    return {name: pa.concat_tables(t).to_pandas() for name, t in parts.items()}


def by_id(df: pd.DataFrame, key: str) -> pd.DataFrame:
    return df.sort_values(key).reset_index(drop=True)


@pytest.fixture(scope="module")
def history() -> dict[str, pd.DataFrame]:
    return collect(simulate_world(CFG))


@pytest.fixture(scope="module")
def truth(history) -> pd.DataFrame:
    return history["sim_partners"]


@pytest.fixture(scope="module")
def later(truth) -> dict[str, pd.DataFrame]:
    """June to September 2026 in one go."""
    return collect(continue_world(truth, CFG, start=CFG.end, through=dt.date(2026, 10, 1)))


def per_partner(df: pd.DataFrame, ids: pd.Series, mask: pd.Series | None = None) -> pd.Series:
    rows = df if mask is None else df[mask]
    return rows.groupby("partner_id").size().reindex(ids, fill_value=0)


# -- the contract ---------------------------------------------------------------------------------


def test_the_state_records_the_config_and_the_drift(history):
    state = dict(zip(history["sim_state"]["key"], history["sim_state"]["value"], strict=True))
    assert config_from_json(state["config"]) == CFG
    assert state["world_end"] == state["history_end"] == "2026-06-01"
    assert "chunk_partners" not in state["config"]  # it shapes output chunks, not the world
    assert config_json(SimulationConfig(chunk_partners=7)) == config_json(SimulationConfig())
    drift = history["sim_partners"]["activity_drift"]
    assert drift.notna().all() and 0.2 < drift.std() < 0.5  # the AR(1) drift, sd 0.35


def test_the_continuation_validates_and_lies_in_its_period(later):
    for name in ("events", "deals"):
        assert validate_frame(later[name], name).ok, name
    assert later["events"]["ts"].min() >= BOUNDARY
    assert later["events"]["ts"].max() < pd.Timestamp("2026-10-01", tz=TZ)
    assert later["deals"]["registered_at"].min() >= BOUNDARY


def test_ids_never_collide(history, later):
    for name, key in (("events", "event_id"), ("deals", "deal_id")):
        assert later[name][key].is_unique
        assert not set(later[name][key]) & set(history[name][key])
    assert later["events"]["event_id"].iloc[0].startswith("E202606-")
    assert set(later["events"]["partner_id"]) <= set(history["partners"]["partner_id"])
    users = later["events"]["user_id"].str.rsplit("-u", n=1).str[0]
    assert (users == later["events"]["partner_id"]).all()


def test_deterministic(truth, later):
    again = collect(continue_world(truth, CFG, start=CFG.end, through=dt.date(2026, 10, 1)))
    pd.testing.assert_frame_equal(later["events"], again["events"])
    pd.testing.assert_frame_equal(later["deals"], again["deals"])


def test_independent_of_how_it_is_chunked(truth, later):
    cuts = [CFG.end, dt.date(2026, 6, 17), dt.date(2026, 7, 1), dt.date(2026, 8, 20),
            dt.date(2026, 10, 1)]
    pieces = [collect(continue_world(truth, CFG, start=a, through=b, chunk_partners=100))
              for a, b in itertools.pairwise(cuts)]
    events = pd.concat([p["events"] for p in pieces])
    pd.testing.assert_frame_equal(by_id(events, "event_id"), by_id(later["events"], "event_id"))
    deals = by_id(pd.concat([p["deals"] for p in pieces]), "deal_id")
    whole = by_id(later["deals"], "deal_id")
    cols = ["deal_id", "partner_id", "product", "registered_at", "amount"]
    pd.testing.assert_frame_equal(deals[cols], whole[cols])
    # outcomes are as of the end of each piece: deals closed by then agree
    closed = deals["closed_at"] < pd.Timestamp("2026-06-17", tz=TZ)
    assert closed.any()
    pd.testing.assert_frame_equal(deals[closed], whole[closed])
    # another seed, another continuation
    other = collect(continue_world(truth, SimulationConfig(**{**CFG.__dict__, "seed": 6}),
                                   start=CFG.end, through=dt.date(2026, 7, 1)))
    assert len(other["events"]) != len(pieces[0]["events"]) + len(pieces[1]["events"])


# -- the history's rules, continued ---------------------------------------------------------------


def test_activity_and_deals_go_on_at_the_history_rate(history, later):
    ids = history["partners"]["partner_id"]
    ev_h, ev_c = history["events"], later["events"]
    last = ev_h["ts"] >= BOUNDARY - pd.Timedelta(days=61)
    first = ev_c["ts"] < BOUNDARY + pd.Timedelta(days=61)
    assert 0.85 < first.sum() / last.sum() < 1.2
    logins_h = per_partner(ev_h, ids, last & (ev_h["event_type"] == "login"))
    logins_c = per_partner(ev_c, ids, first & (ev_c["event_type"] == "login"))
    assert np.corrcoef(np.log1p(logins_h), np.log1p(logins_c))[0, 1] > 0.8
    dl_h, dl_c = history["deals"], later["deals"]
    deals_h = per_partner(dl_h, ids, dl_h["registered_at"] >= BOUNDARY - pd.Timedelta(days=92))
    deals_c = per_partner(dl_c, ids, dl_c["registered_at"] < BOUNDARY + pd.Timedelta(days=92))
    assert np.corrcoef(deals_h, deals_c)[0, 1] > 0.3
    # March-May (season 1.45, 0.85, 0.9) against June-August (1.0, 1.0, 0.7)
    assert 0.72 < deals_c.sum() / deals_h.sum() < 1.0  # expected about 0.84


def test_the_calendar_and_seasonality_hold(later):
    ev = later["events"]
    local = ev["ts"].dt.tz_convert(TZ)
    logins = ev[ev["event_type"] == "login"]
    weekend = local[logins.index].dt.day_of_week >= 5
    assert weekend.mean() < 0.05  # weekends weigh 0.10 and 0.05 of a weekday
    hours = local.dt.hour
    assert ((hours >= 9) & (hours < 18)).mean() > 0.7
    reg = later["deals"]["registered_at"].dt.tz_convert(TZ)
    per_day = reg.dt.month.value_counts() / pd.Series({6: 30, 7: 31, 8: 31, 9: 30})
    assert per_day[8] < 0.85 * per_day[[6, 7]].mean()  # the August dip
    assert per_day[9] > per_day[8] * 1.3  # September is busy (season 1.2)


def test_drift_continues_from_the_last_month_of_history(truth, later):
    """June's activity follows May's drift beyond each partner's own level."""
    t = truth.set_index("partner_id")
    active = t[t["dormant_since"].isna()]
    ev = later["events"]
    june = ev[(ev["event_type"] == "login") & (ev["ts"] < pd.Timestamp("2026-07-01", tz=TZ))]
    sessions = june.groupby("partner_id").size().reindex(active.index, fill_value=0)
    ratio = np.log((sessions + 0.5) / active["sessions_per_weekday"])
    rho = pd.Series(ratio).corr(active["activity_drift"], method="spearman")
    assert rho > 0.3


def test_dormant_partners_stay_dormant(truth, later):
    dormant = set(truth.loc[truth["dormant_since"].notna(), "partner_id"])
    logins = later["events"][later["events"]["event_type"] == "login"]
    assert dormant and not dormant & set(logins["partner_id"])
    # some active partners go dormant later: fewer are active in September than in June
    local = logins["ts"].dt.tz_convert(TZ).dt.month
    assert logins[local == 9]["partner_id"].nunique() < logins[local == 6]["partner_id"].nunique()


# -- refusals -------------------------------------------------------------------------------------


def test_bad_periods_and_state_are_refused(truth):
    with pytest.raises(ConfigError, match="inside the history"):
        list(continue_world(truth, CFG, start=dt.date(2026, 5, 1), through=dt.date(2026, 7, 1)))
    with pytest.raises(ConfigError, match="before start"):
        list(continue_world(truth, CFG, start=dt.date(2026, 7, 1), through=dt.date(2026, 6, 5)))
    with pytest.raises(DataValidationError, match="sessions_per_weekday"):
        latent_state(truth.drop(columns="sessions_per_weekday"), CFG)
    empty = collect(continue_world(truth, CFG, start=CFG.end, through=CFG.end))
    assert len(empty["events"]) == len(empty["deals"]) == 0


def test_month_starts():
    assert month_starts(dt.date(2026, 12, 15), dt.date(2027, 1, 2)) == [dt.date(2026, 12, 1),
                                                                        dt.date(2027, 1, 1)]
    assert month_starts(dt.date(2026, 6, 1), dt.date(2026, 6, 1)) == []
