"""Continuing the simulated world beyond its history: everyone's untreated behaviour, later.

A simulated workspace holds history up to :attr:`.world.SimulationConfig.end`. An experiment
that starts there needs the world to go on: :func:`continue_world` draws every partner's portal
activity and deals over a later period from the stored latent state (``sim_partners``:
engagement, capacity, sessions and actions, users, products, dormancy, and the monthly drift
of the last month of history), with the history's own rules (:func:`.world.draw_events`,
:func:`.world.draw_deals`: the same business calendar, the same deal seasonality, scaled as in
the history, and the same monthly drift, continued from where the history left it).

Determinism and chunking: the world goes on one calendar month at a time. Each month's drift
innovations and dormancy draws come from a stream seeded by the world's seed and the month,
its events and deals from one stream per month and block of 256 partners, numbered within the
month. A continuation over ``[start, through)`` keeps the days of each month inside the range,
so continuing June and then July yields exactly the rows of continuing June–July at once, and
ids (``E202606-000000001``, ``D202606-00000001``: month and number) never collide with the
history's (``E0000000001``) or a delivery's (``<experiment>-E0000001``). Deals are staged as of
the end of the continued period: a deal still open then stays open, at a stage that follows
its progress, as in the history; its registration, product and amount do not depend on it.

The caller records how far the world has gone (``world_end`` in ``sim_state``, see
:func:`.world.world_state`) and continues only beyond it, so that two experiments running at
once never double the untreated world.

Example:
    >>> import datetime as dt
    >>> from supportlab.sim.world import SimulationConfig, simulate_world
    >>> cfg = SimulationConfig(n_partners=30, days=60, seed=3, end=dt.date(2026, 6, 1))
    >>> truth = dict(simulate_world(cfg))["sim_partners"].to_pandas()
    >>> out = list(continue_world(truth, cfg, start=cfg.end, through=dt.date(2026, 6, 15)))
    >>> sorted({name for name, _ in out})
    ['deals', 'events']
    >>> ts = [t.column("ts") for name, t in out if name == "events"][0]
    >>> str(min(ts.to_pylist()).date()) >= "2026-05-31"  # UTC: 2026-06-01 00:00 in Tokyo
    True
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import NDArray

from supportlab.errors import ConfigError, DataValidationError
from supportlab.sim.calendar import DEAL_SEASON, business_calendar
from supportlab.sim.columns import DEALS_SCHEMA, EVENTS_SCHEMA
from supportlab.sim.deals import deals_table
from supportlab.sim.world import (
    BLOCK,
    MONTHLY_PHI,
    MONTHLY_SD,
    SimulationConfig,
    WorldArrays,
    catalogue_arrays,
    draw_deals,
    draw_events,
    events_table,
)
from supportlab.vocab import RANKS

__all__ = ["CONTINUATION_VERSION", "LatentState", "continue_world", "latent_state",
           "month_starts"]

#: the version of the continuation's draws (a change of them needs a new version)
CONTINUATION_VERSION = "supportlab-continuation/1"

#: yearly chance that a still-active partner goes dormant, at engagement 1 and 0 (as the
#: history's churn over a year)
_CHURN_YEAR = (0.04, 0.20)
_STATE_KEY, _DRAW_KEY = 3, 4  # spawn keys of the month streams (0, 1: the history's)


@dataclass(frozen=True)
class LatentState:
    """The stored latent state of every partner, sorted by ``partner_id`` (arrays of n rows).

    Attributes:
        partner_ids: the partner ids.
        rank: rank codes (0 = S ... 3 = C).
        engagement / capacity / n_users / session_rate / actions: as in ``sim_partners``.
        n_products / product_order: products carried (indices of the config's products,
            carried first, primary first).
        active: still logging in at the end of history.
        activity_drift / deal_drift: the log-scale monthly drift of the history's last month.
    """

    partner_ids: pa.Array
    rank: NDArray[Any]
    engagement: NDArray[Any]
    capacity: NDArray[Any]
    n_users: NDArray[Any]
    session_rate: NDArray[Any]
    actions: NDArray[Any]
    n_products: NDArray[Any]
    product_order: NDArray[Any]
    active: NDArray[Any]
    activity_drift: NDArray[Any]
    deal_drift: NDArray[Any]

    @property
    def n(self) -> int:
        """The number of partners."""
        return len(self.rank)


_REQUIRED = ("partner_id", "rank", "engagement", "capacity", "n_users", "products",
             "sessions_per_weekday", "actions_per_session", "dormant_since")


def latent_state(partners_truth: pd.DataFrame, config: SimulationConfig) -> LatentState:
    """The latent state of a world's ``sim_partners`` table.

    A world simulated before the drift was stored (no ``activity_drift``/``deal_drift``)
    continues from each partner's own level (drift 0).

    Raises:
        DataValidationError: a column the continuation needs is missing, or the table is empty.
    """
    missing = [c for c in _REQUIRED if c not in partners_truth.columns]
    if missing or partners_truth.empty:
        raise DataValidationError(
            f"sim_partners lacks {', '.join(missing)}" if missing else "sim_partners is empty",
            where="sim_partners",
            fix="simulate the world again with this version (supportlab simulate --replace)")
    t = partners_truth.drop_duplicates("partner_id").astype({"partner_id": str})
    t = t.sort_values("partner_id", kind="stable").reset_index(drop=True)
    n, n_prod = len(t), len(config.products)
    index = {p: i for i, p in enumerate(config.products)}
    order = np.empty((n, n_prod), dtype=np.int64)
    n_products = np.empty(n, dtype=np.int64)
    for i, text in enumerate(t["products"].fillna("").astype(str)):
        carried = list(dict.fromkeys(index[p] for p in text.split("|") if p in index)) or [0]
        order[i] = carried + [j for j in range(n_prod) if j not in carried]
        n_products[i] = len(carried)
    rank = np.array([RANKS.index(r) if r in RANKS else 2 for r in t["rank"].astype(str)])

    def column(name: str, default: float) -> NDArray[Any]:
        if name not in t:
            return np.full(n, default)
        values: NDArray[Any] = t[name].astype(float).fillna(default).to_numpy()
        return values

    return LatentState(
        partner_ids=pa.array(t["partner_id"].to_numpy(), type=pa.string()), rank=rank,
        engagement=column("engagement", 0.5), capacity=column("capacity", 0.0),
        n_users=t["n_users"].fillna(1).astype(np.int64).clip(lower=1).to_numpy(),
        session_rate=column("sessions_per_weekday", 0.0),
        actions=column("actions_per_session", 0.0), n_products=n_products,
        product_order=order, active=t["dormant_since"].isna().to_numpy(),
        activity_drift=column("activity_drift", 0.0), deal_drift=column("deal_drift", 0.0))


def month_starts(first: dt.date, through: dt.date) -> list[dt.date]:
    """The first days of the calendar months from ``first``'s month up to before ``through``.

    Example:
        >>> [str(d) for d in month_starts(dt.date(2026, 5, 20), dt.date(2026, 7, 2))]
        ['2026-05-01', '2026-06-01', '2026-07-01']
    """
    out: list[dt.date] = []
    day = first.replace(day=1)
    while day < through:
        out.append(day)
        day = (day + dt.timedelta(days=32)).replace(day=1)
    return out


def _history_deal_norm(config: SimulationConfig) -> float:
    """The mean raw deal weight of the history's days: the history's deal intensity is
    normalised by it, and so is the continuation's."""
    cal = business_calendar(config.start, config.days, config.timezone)
    weights = np.diff(cal.act_cum)
    season = np.array([DEAL_SEASON[(config.start + dt.timedelta(days=i)).month]
                       for i in range(config.days)])
    return float(np.mean(weights * season))


def _midnight(day: dt.date, timezone: str) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(timezone)).timestamp())


def continue_world(partners_truth: pd.DataFrame, config: SimulationConfig, *, start: dt.date,
                   through: dt.date, chunk_partners: int | None = None
                   ) -> Iterator[tuple[str, pa.Table]]:
    """Continue a simulated world over ``[start, through)``: everyone's untreated behaviour.

    Args:
        partners_truth: the world's ``sim_partners`` table.
        config: the world's configuration (``sim_state``'s ``config``).
        start: the first day to simulate, at or after the end of history (usually the
            ``world_end`` recorded in ``sim_state``).
        through: the exclusive end.
        chunk_partners: partners per yielded chunk (default: the config's).

    Yields:
        ``("events", table)`` and ``("deals", table)`` chunks with the canonical columns (each
        at least once, possibly empty).

    Raises:
        ConfigError: ``start`` lies inside the history, or ``through`` before ``start``.
    """
    if start < config.end:
        raise ConfigError(f"the continuation would start on {start}, inside the history "
                          f"(which ends before {config.end})", where="continue_world",
                          fix=f"continue from {config.end} or later")
    if through < start:
        raise ConfigError(f"through == {through} is before start == {start}",
                          where="continue_world", fix="give an end after the start")
    state = latent_state(partners_truth, config)
    n = state.n
    step = chunk_partners or config.chunk_partners
    norm = _history_deal_norm(config)
    arrays = catalogue_arrays(config.products)
    products = list(config.products)
    as_of = _midnight(through, config.timezone)
    innovation_sd = np.sqrt(1 - MONTHLY_PHI**2) * MONTHLY_SD
    churn = 1 - (1 - (_CHURN_YEAR[1] - (_CHURN_YEAR[1] - _CHURN_YEAR[0]) * state.engagement)) \
        ** (1 / 12)
    x, deal_log, active = state.activity_drift.copy(), state.deal_drift.copy(), state.active.copy()
    seen = {"events": False, "deals": False}
    for month in month_starts(config.end, through):
        nxt = (month + dt.timedelta(days=32)).replace(day=1)
        days = (nxt - month).days
        key = month.year * 12 + month.month - 1
        rng = np.random.default_rng(np.random.SeedSequence(config.seed,
                                                           spawn_key=(_STATE_KEY, key)))
        z, eta = rng.standard_normal(n), rng.standard_normal(n)
        u_churn, u_when = rng.random(n), rng.random(n)
        first = max(0, (config.end - month).days)  # days of this month inside the history
        if first == 0:  # a new month: the drift moves on
            x = MONTHLY_PHI * x + innovation_sd * z
            deal_log = 0.6 * x + 0.25 * eta
        left = (days - first) / days
        goes = active & (u_churn < churn * left)
        end_day = np.where(active, np.where(goes, first + (u_when * (days - first)).astype(
            np.int64), days), first)
        lo_day, hi_day = max(first, (start - month).days), min(days, (through - month).days)
        if lo_day < hi_day:
            yield from _month(state, config, month, days, first, end_day, x, deal_log, norm,
                              arrays, products, (lo_day, hi_day), as_of, step, key, seen)
        active &= ~goes
    if not seen["events"]:
        yield "events", EVENTS_SCHEMA.empty_table()
    if not seen["deals"]:
        yield "deals", DEALS_SCHEMA.empty_table()


def _month(state: LatentState, config: SimulationConfig, month: dt.date, days: int, first: int,
           end_day: NDArray[Any], x: NDArray[Any], deal_log: NDArray[Any], norm: float,
           arrays: dict[str, Any], products: list[str], keep: tuple[int, int], as_of: int,
           step: int, key: int, seen: dict[str, bool]) -> Iterator[tuple[str, pa.Table]]:
    """One month of the continuation, days ``keep[0]..keep[1]-1`` kept, in partner chunks."""
    n = state.n
    cal = business_calendar(month, days, config.timezone)
    raw = np.diff(cal.act_cum) * DEAL_SEASON[month.month] / norm
    cal = replace(cal, deal_cum=np.concatenate([[0.0], np.cumsum(raw)]))
    w = WorldArrays(
        config=config, cal=cal, partner_ids=state.partner_ids, rank=state.rank,
        engagement=state.engagement, joined_day=np.zeros(n, dtype=np.int64),
        n_users=state.n_users, user_offset=np.concatenate([[0], np.cumsum(state.n_users)]),
        n_products=state.n_products, product_order=state.product_order,
        active_start=np.full(n, first, dtype=np.int64), active_end=end_day,
        session_rate=state.session_rate, actions_per_session=state.actions,
        capacity=state.capacity, act_mult=np.exp(x - MONTHLY_SD**2 / 2)[:, None],
        deal_mult=np.exp(deal_log - (0.36 * MONTHLY_SD**2 + 0.0625) / 2)[:, None], **arrays)
    t0, t1 = int(cal.midnight[keep[0]]), int(cal.midnight[keep[1]])
    tag = f"{month.year:04d}{month.month:02d}"
    n_events = n_deals = done = 0
    ev_parts: list[dict[str, NDArray[Any]]] = []
    dl_parts: list[dict[str, NDArray[Any]]] = []
    for b, lo in enumerate(range(0, n, BLOCK)):
        hi = min(n, lo + BLOCK)
        rng = np.random.default_rng(np.random.SeedSequence(config.seed,
                                                           spawn_key=(_DRAW_KEY, key, b)))
        ev = draw_events(w, lo, hi, rng)
        dl = draw_deals(w, lo, hi, rng, as_of=as_of)
        ev["number"] = n_events + 1 + np.arange(len(ev["partner"]))
        dl["number"] = n_deals + 1 + np.arange(len(dl["partner"]))
        n_events += len(ev["partner"])
        n_deals += len(dl["partner"])
        in_ev = (ev["ts"] >= t0) & (ev["ts"] < t1)
        in_dl = (dl["ts"] >= t0) & (dl["ts"] < t1)
        if in_ev.any():
            ev_parts.append({k: v[in_ev] for k, v in ev.items()})
        if in_dl.any():
            dl_parts.append({k: v[in_dl] for k, v in dl.items()})
        if hi - done >= step or hi == n:  # a chunk of about ``step`` partners is complete
            done = hi
            if ev_parts:
                seen["events"] = True
                yield "events", events_table(w, ev_parts, prefix=f"E{tag}-", width=9)
            if dl_parts:
                seen["deals"] = True
                yield "deals", deals_table(f"D{tag}-", state.partner_ids, products, dl_parts,
                                           width=8)
            ev_parts, dl_parts = [], []
