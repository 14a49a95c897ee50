"""The simulated world: partners with latent state, their portal activity and their deals.

Start with :class:`SimulationConfig` and :func:`simulate_world`. The world is drawn in two
passes: first every partner's rank, tenure, latent engagement and capacity, users, products,
dormancy and monthly drift (:func:`simulate_world` yields ``partners``, ``partner_products``,
``contents`` and the ground truth ``sim_partners`` from it), then events and deals per block of
256 partners, each block from its own random stream, so that the output does not depend on
:attr:`SimulationConfig.chunk_partners`.

Example:
    >>> cfg = SimulationConfig(n_partners=20, days=30)
    >>> sorted({name for name, _ in simulate_world(cfg)})
    ['contents', 'deals', 'events', 'partner_products', 'partners', 'sim_partners', 'sim_state']
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import NDArray
from scipy.special import ndtr

from supportlab.errors import ConfigError
from supportlab.sim.calendar import EPOCH_ORDINAL, Calendar, business_calendar, sample_days, time_of_day
from supportlab.sim.catalogue import (
    ACTIONS,
    EVENT_CODES,
    GENERAL_CONTENT,
    GENERAL_SHARE,
    PRODUCT_CONTENT,
    content_catalogue,
    slug,
)
from supportlab.sim.columns import DEALS_SCHEMA, EVENTS_SCHEMA, fixed_ids, pieces, timestamps
from supportlab.sim.deals import AMOUNT_MEDIAN_YEN, AMOUNT_PRODUCT, deal_attributes, deals_table
from supportlab.vocab import EVENT_TYPES, RANKS

__all__ = ["BLOCK", "DEFAULT_EVENTS_PER_PARTNER_PER_DAY", "DORMANT_DEAL_FACTOR", "MONTHLY_PHI",
           "MONTHLY_SD", "WORLD_VERSION", "SimulationConfig", "WorldArrays", "catalogue_arrays",
           "config_from_json", "config_json", "draw_deals", "draw_events", "events_table",
           "expected_event_count", "simulate_world", "world_state"]

#: average events per partner per day when :attr:`SimulationConfig.events_per_partner_per_day`
#: is left at ``None``
DEFAULT_EVENTS_PER_PARTNER_PER_DAY = 1.5

# -- the shape of the partner programme ------------------------------------------------------

#: share of each rank (S, A, B, C)
_RANK_SHARES = np.array([0.04, 0.12, 0.30, 0.54])
#: share of partners of each rank that joined within the year before the end of history
_NEW_SHARE = np.array([0.04, 0.12, 0.24, 0.32])
_ENGAGEMENT_SHIFT = np.array([0.7, 0.4, 0.0, -0.3])
_CAPACITY_SHIFT = np.array([1.2, 0.6, 0.0, -0.4])
_USERS_MEAN = np.array([7.0, 3.5, 1.6, 0.6])
#: probability of carrying 1, 2 or 3 products, by rank
_N_PRODUCTS_P = np.array([[0.10, 0.30, 0.60], [0.25, 0.45, 0.30],
                          [0.50, 0.35, 0.15], [0.75, 0.20, 0.05]])
#: expected deals per 30 days of a reference partner (capacity 0, engagement 0.5)
_CAPACITY_BASE = 0.55
DORMANT_DEAL_FACTOR = 0.3

_REGIONS = ("関東", "関西", "中部", "九州", "東北", "北海道", "中国", "四国")
_REGION_SHARES = np.array([0.40, 0.18, 0.14, 0.09, 0.07, 0.05, 0.04, 0.03])
_MANAGERS = ("tanaka", "suzuki", "sato", "takahashi", "watanabe", "ito", "yamamoto",
             "nakamura", "kobayashi", "kato", "yoshida", "yamada")
_NAME_HEADS = ("東洋", "日本", "大和", "富士", "中央", "未来", "新光", "北斗", "三栄", "旭",
               "平和", "光陽", "朝日", "昭和", "協和", "双葉", "誠和", "天神", "桜", "青葉",
               "白石", "若葉", "千代田", "丸の内", "なにわ", "みなと", "アルファ", "ネクスト",
               "グローバル", "サンライズ", "ブルースカイ", "クローバー", "エース", "ライト",
               "スター", "ワイズ", "アイビー", "ユニオン", "フロンティア", "パシフィック")
_NAME_TAILS = ("システム", "システムズ", "ソリューションズ", "テクノロジー", "情報サービス",
               "ネットワークス", "データ", "通信", "商事", "電機", "ITサービス",
               "ビジネスサポート", "コンサルティング", "OA販売", "事務機", "デジタル", "クラウド",
               "ソフト", "エンジニアリング", "トレーディング")

MONTHLY_SD = 0.35  # month-to-month drift of a partner's activity (log scale)
MONTHLY_PHI = 0.7

BLOCK = 256  # partners per random-number block (fixed: makes output independent of chunking)


@dataclass(frozen=True)
class SimulationConfig:
    """The size and shape of a simulated partner programme.

    Attributes:
        n_partners: number of partner companies.
        seed: seed of every random draw; the same config always yields the same data.
        end: exclusive end of history: the last simulated day is the day before ``end``
            (local midnight of ``end`` in ``timezone``).
        days: length of the history in days, ending at ``end``.
        events_per_partner_per_day: average events per partner per day over the history
            (dormant and late-joining partners included); ``None`` means
            :data:`DEFAULT_EVENTS_PER_PARTNER_PER_DAY`, heavy-tailed across partners. Use it to
            size a world, e.g. ``1e7 / (n_partners * days)`` for ten million events.
        products: product names; each gets its own content catalogue.
        timezone: the IANA zone of business hours (timestamps are stored in UTC).
        chunk_partners: partners per chunk of events and deals (bounds memory).

    Example:
        >>> SimulationConfig(n_partners=100).days
        365
        >>> SimulationConfig(n_partners=0)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        supportlab.errors.ConfigError: n_partners == 0, must be >= 1. Fix: ...
    """

    n_partners: int = 1000
    seed: int = 20261001
    end: dt.date = dt.date(2026, 11, 1)
    days: int = 365
    events_per_partner_per_day: float | None = None
    products: tuple[str, ...] = ("A", "B", "C")
    timezone: str = "Asia/Tokyo"
    chunk_partners: int = 5000

    def __post_init__(self) -> None:
        fix = "pass a valid value to SimulationConfig(...)"
        for name in ("n_partners", "days", "chunk_partners"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"{name} == {value!r}, must be >= 1", fix=fix)
        if not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ConfigError(f"seed == {self.seed!r}, must be a non-negative integer", fix=fix)
        rate = self.events_per_partner_per_day
        if rate is not None and not rate >= 0:
            raise ConfigError(f"events_per_partner_per_day == {rate!r}, must be >= 0", fix=fix)
        if not isinstance(self.end, dt.date) or isinstance(self.end, dt.datetime):
            raise ConfigError(f"end == {self.end!r}, must be a datetime.date", fix=fix)
        if not self.products or len(set(map(slug, self.products))) != len(self.products):
            raise ConfigError(f"products == {self.products!r}, must be non-empty and distinct",
                              fix=fix)
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"timezone == {self.timezone!r} is not a known IANA zone",
                              fix="use a name such as 'Asia/Tokyo'") from None

    @property
    def start(self) -> dt.date:
        """First simulated day."""
        return self.end - dt.timedelta(days=self.days)

    @property
    def rate(self) -> float:
        """The effective average events per partner per day."""
        if self.events_per_partner_per_day is None:
            return DEFAULT_EVENTS_PER_PARTNER_PER_DAY
        return float(self.events_per_partner_per_day)


#: the version of the world's generative rules, stored in ``sim_state`` beside the config
WORLD_VERSION = "supportlab-world/1"


def config_json(config: SimulationConfig) -> str:
    """The configuration as canonical JSON (without ``chunk_partners``, which shapes the output
    chunks, never the world).

    Example:
        >>> cfg = SimulationConfig(n_partners=20, seed=3)
        >>> config_from_json(config_json(cfg)) == SimulationConfig(n_partners=20, seed=3)
        True
    """
    d = {"n_partners": int(config.n_partners), "seed": int(config.seed),
         "end": config.end.isoformat(), "days": int(config.days),
         "events_per_partner_per_day": config.events_per_partner_per_day,
         "products": list(config.products), "timezone": config.timezone}
    return json.dumps(d, sort_keys=True, ensure_ascii=False)


def config_from_json(text: str) -> SimulationConfig:
    """Read a configuration written by :func:`config_json`.

    Raises:
        ConfigError: the text is not such a configuration.
    """
    try:
        d = json.loads(text)
        return SimulationConfig(
            n_partners=int(d["n_partners"]), seed=int(d["seed"]),
            end=dt.date.fromisoformat(d["end"]), days=int(d["days"]),
            events_per_partner_per_day=d.get("events_per_partner_per_day"),
            products=tuple(d["products"]), timezone=str(d["timezone"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"the stored simulation config cannot be read ({exc})",
                          where="sim_state: config",
                          fix="simulate the world again (supportlab simulate --replace)") from None


def world_state(config: SimulationConfig, world_end: dt.date | None = None) -> pa.Table:
    """The ``sim_state`` table of a world: ``key``/``value`` rows ``config`` (JSON),
    ``version``, ``history_start``, ``history_end`` (exclusive) and ``world_end`` (exclusive:
    how far everyone's untreated behaviour has been simulated; the history's end until the
    world is continued).

    Example:
        >>> t = world_state(SimulationConfig(n_partners=5, end=dt.date(2026, 6, 1), days=30))
        >>> dict(zip(t.column("key").to_pylist(), t.column("value").to_pylist()))["world_end"]
        '2026-06-01'
    """
    rows = {"config": config_json(config), "version": WORLD_VERSION,
            "history_start": config.start.isoformat(), "history_end": config.end.isoformat(),
            "world_end": (world_end or config.end).isoformat()}
    return pa.table({"key": pa.array(list(rows), type=pa.string()),
                     "value": pa.array(list(rows.values()), type=pa.string())})


def expected_event_count(config: SimulationConfig) -> int:
    """Approximate number of events :func:`simulate_world` yields (for progress bars).

    Example:
        >>> expected_event_count(SimulationConfig(n_partners=1000, days=365))
        547500
    """
    return round(config.n_partners * config.days * config.rate)


# -- the partners and their latent state ------------------------------------------------------


@dataclass(frozen=True)
class WorldArrays:
    """Everything known per partner before events are drawn (all arrays have n rows).

    The history is drawn from one over its whole calendar; the continuation
    (:mod:`.continuation`) builds one per calendar month from the stored latent state and
    draws with the same :func:`draw_events` and :func:`draw_deals`.
    """

    config: SimulationConfig
    cal: Calendar
    partner_ids: pa.Array
    rank: NDArray[Any]
    engagement: NDArray[Any]
    joined_day: NDArray[Any]  # day index relative to the start of history (may be negative)
    n_users: NDArray[Any]
    user_offset: NDArray[Any]  # cumulative users before each partner
    n_products: NDArray[Any]
    product_order: NDArray[Any]  # n x P, carried products first (primary first)
    active_start: NDArray[Any]
    active_end: NDArray[Any]
    session_rate: NDArray[Any]  # sessions per unit of calendar weight
    actions_per_session: NDArray[Any]
    capacity: NDArray[Any]  # expected deals per 30 days (before seasonality and drift)
    act_mult: NDArray[Any]  # n x periods
    deal_mult: NDArray[Any]  # n x periods
    catalogue: pd.DataFrame
    content_cdf: NDArray[Any]  # per-product catalogue popularity CDF
    general_cdf: NDArray[Any]
    action_codes: NDArray[Any]  # n_contents x 3 event-type codes
    action_cum: NDArray[Any]  # n_contents x 3 cumulative probabilities


def catalogue_arrays(products: tuple[str, ...]) -> dict[str, Any]:
    """The content catalogue and the lookup arrays events are drawn with (the ``catalogue``,
    ``content_cdf``, ``general_cdf``, ``action_codes`` and ``action_cum`` of
    :class:`WorldArrays`)."""
    catalogue = content_catalogue(products)
    per_product = np.array([c[3] for c in PRODUCT_CONTENT])
    general = np.array([c[3] for c in GENERAL_CONTENT])
    codes = np.zeros((len(catalogue), 3), dtype=np.int8)
    cum = np.ones((len(catalogue), 3))
    for i, ctype in enumerate(catalogue["content_type"]):
        acts = ACTIONS[ctype]
        c = np.cumsum([p for _, p in acts])
        for j in range(3):
            codes[i, j] = EVENT_CODES[acts[min(j, len(acts) - 1)][0]]
            cum[i, j] = c[j] if j < len(acts) else 1.0
    return {"catalogue": catalogue, "content_cdf": np.cumsum(per_product) / per_product.sum(),
            "general_cdf": np.cumsum(general) / general.sum(), "action_codes": codes,
            "action_cum": cum}


def _company_names(rng: np.random.Generator, n: int) -> list[str]:
    head = rng.integers(0, len(_NAME_HEADS), n)
    tail = rng.integers(0, len(_NAME_TAILS), n)
    form = rng.choice(4, size=n, p=[0.45, 0.40, 0.10, 0.05])
    names = []
    for h, t, f in zip(head.tolist(), tail.tolist(), form.tolist(), strict=True):
        core = _NAME_HEADS[h] + _NAME_TAILS[t]
        names.append(("株式会社" + core, core + "株式会社", core + "合同会社",
                      "有限会社" + core)[f])
    return names


def _build_world(config: SimulationConfig) -> tuple[WorldArrays, dict[str, pa.Table]]:
    cal = business_calendar(config.start, config.days, config.timezone)
    rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(0,)))
    n, days, n_prod = config.n_partners, config.days, len(config.products)

    rank = rng.choice(4, size=n, p=_RANK_SHARES)
    is_new = rng.random(n) < _NEW_SHARE[rank]
    tenure = np.where(is_new, rng.integers(1, 366, n),
                      np.minimum(366 + rng.exponential(4.0 * 365, n), 25 * 365)).astype(np.int64)
    joined_day = days - tenure  # day index relative to the start of history

    z1, z2 = rng.standard_normal(n), rng.standard_normal(n)
    z_eng = 0.8 * z1 + _ENGAGEMENT_SHIFT[rank] + 0.25 * is_new
    z_cap = 0.8 * (0.5 * z1 + np.sqrt(0.75) * z2) + _CAPACITY_SHIFT[rank] - 0.3 * is_new
    engagement = ndtr(z_eng)
    capacity = _CAPACITY_BASE * np.exp(0.7 * z_cap) * (0.6 + 0.8 * engagement)

    n_users = (1 + rng.poisson(_USERS_MEAN[rank] * np.exp(0.3 * z_eng))).clip(max=60)
    rel_sessions = np.exp(0.9 * z_eng + 0.5 * rng.standard_normal(n)) * np.sqrt(n_users)
    actions = 0.5 + 1.8 * engagement

    cum_p = np.cumsum(_N_PRODUCTS_P[rank][:, :n_prod], axis=1)
    n_products = 1 + (rng.random(n)[:, None] * cum_p[:, -1:] > cum_p[:, :-1]).sum(axis=1)
    pop = np.log(0.6 ** np.arange(n_prod))
    keys = pop[None, :] + rng.gumbel(size=(n, n_prod))
    product_order = np.argsort(-keys, axis=1, kind="stable")

    active_start = np.clip(joined_day, 0, days)
    u_inactive, u_churn, u_when = rng.random(n), rng.random(n), rng.random(n)
    inactive = u_inactive < 0.02 + 0.10 * (1 - engagement)
    churn_room = days - 31 - (active_start + 14)
    churned = ~inactive & (u_churn < 0.04 + 0.16 * (1 - engagement)) & (churn_room > 0)
    dormant_since = np.where(inactive, active_start,
                             np.where(churned, active_start + 14 + u_when * churn_room, days))
    active_end = np.maximum(dormant_since.astype(np.int64), active_start)

    weight = cal.act_cum[active_end] - cal.act_cum[active_start]
    denominator = float(np.sum(rel_sessions * (1 + actions) * weight))
    scale = config.rate * n * days / denominator if denominator > 0 else 0.0
    session_rate = scale * rel_sessions

    months = cal.n_periods
    x = np.empty((n, months))
    eta = rng.standard_normal((n, months))
    x[:, 0] = MONTHLY_SD * rng.standard_normal(n)
    innovation_sd = np.sqrt(1 - MONTHLY_PHI**2) * MONTHLY_SD
    for t in range(1, months):
        x[:, t] = MONTHLY_PHI * x[:, t - 1] + innovation_sd * rng.standard_normal(n)
    act_mult = np.exp(x - MONTHLY_SD**2 / 2)
    deal_log = 0.6 * x + 0.25 * eta
    deal_mult = np.exp(deal_log - (0.36 * MONTHLY_SD**2 + 0.0625) / 2)

    region = rng.choice(len(_REGIONS), size=n, p=_REGION_SHARES)
    manager = np.where(rank <= 1, rng.integers(0, 5, n), rng.integers(3, len(_MANAGERS), n))
    no_manager = (rank == 3) & (rng.random(n) < 0.04)
    names = _company_names(rng, n)

    width = max(5, len(str(n)))
    partner_ids = fixed_ids("P", np.arange(1, n + 1), width)
    user_offset = np.concatenate([[0], np.cumsum(n_users)])

    arrays = catalogue_arrays(config.products)
    catalogue = arrays["catalogue"]
    world = WorldArrays(
        config=config, cal=cal, partner_ids=partner_ids, rank=rank, engagement=engagement,
        joined_day=joined_day, n_users=n_users, user_offset=user_offset, n_products=n_products,
        product_order=product_order, active_start=active_start, active_end=active_end,
        session_rate=session_rate, actions_per_session=actions, capacity=capacity,
        act_mult=act_mult, deal_mult=deal_mult, **arrays,
    )

    day0 = config.start.toordinal() - EPOCH_ORDINAL
    joined = pa.array((day0 + joined_day).astype(np.int32)).cast(pa.date32())
    products = np.array(config.products, dtype=object)
    rank_str = pa.array(np.array(RANKS, dtype=object)[rank])
    partners = pa.table({
        "partner_id": partner_ids,
        "name": pa.array(names, type=pa.string()),
        "rank": rank_str,
        "region": pa.array(np.array(_REGIONS, dtype=object)[region]),
        "joined_at": joined,
        "manager": pa.array(np.array(_MANAGERS, dtype=object)[manager], mask=no_manager,
                            type=pa.string()),
    })
    carried = np.arange(n_prod)[None, :] < n_products[:, None]
    pp_partner = np.repeat(np.arange(n), n_products)
    pp_product = np.sort(np.where(carried, product_order, n_prod), axis=1)[carried]
    partner_products = pa.table({
        "partner_id": partner_ids.take(pa.array(pp_partner)),
        "product": pa.array(products[pp_product], type=pa.string()),
    })
    contents = pa.table({
        "content_id": pa.array(catalogue["content_id"], type=pa.string()),
        "content_type": pa.array(catalogue["content_type"], type=pa.string()),
        "product": pa.array(catalogue["product"], type=pa.string()),
        "version": pa.array(catalogue["version"], type=pa.int64()),
        "title": pa.array(catalogue["title"], type=pa.string()),
    })
    dormant = active_end < days
    truth = pa.table({
        "partner_id": partner_ids,
        "rank": rank_str,
        "joined_at": joined,
        "new_partner": pa.array(is_new),
        "engagement": pa.array(engagement),
        "capacity": pa.array(capacity),
        "n_users": pa.array(n_users.astype(np.int64)),
        "products": pa.array(["|".join(products[product_order[i, : n_products[i]]])
                              for i in range(n)], type=pa.string()),
        "sessions_per_weekday": pa.array(session_rate),
        "actions_per_session": pa.array(actions),
        "active_from": pa.array((day0 + active_start).astype(np.int32)).cast(pa.date32()),
        "dormant_since": pa.array((day0 + active_end).astype(np.int32), mask=~dormant)
        .cast(pa.date32()),
        "activity_drift": pa.array(x[:, -1]),
        "deal_drift": pa.array(deal_log[:, -1]),
    })
    return world, {"contents": contents, "partners": partners,
                   "partner_products": partner_products, "sim_partners": truth,
                   "sim_state": world_state(config)}


# -- events and deals, one block of partners at a time ----------------------------------------


def _draw_in_periods(cal: Calendar, cum: NDArray[Any], a0: NDArray[Any], a1: NDArray[Any] | int,
                     rate: NDArray[Any], lo: int, hi: int,
                     rng: np.random.Generator) -> tuple[NDArray[Any], NDArray[Any]]:
    """Poisson counts per partner and calendar period (intensity ``rate`` × the period's share
    of the cumulative seasonal weight ``cum`` inside each partner's active span ``[a0, a1)``),
    then a day for each occurrence. Returns (partner index, day) per occurrence."""
    plo = np.clip(cal.period_start[None, :-1], a0, a1)
    phi = np.clip(cal.period_start[None, 1:], a0, a1)
    counts = rng.poisson(rate * (cum[phi] - cum[plo])).ravel()
    n = int(counts.sum())
    partner = np.repeat(np.repeat(np.arange(lo, hi), cal.n_periods), counts)
    day = sample_days(cum, np.repeat(plo.ravel(), counts), np.repeat(phi.ravel(), counts),
                       rng.random(n))
    return partner, day


def draw_events(w: WorldArrays, lo: int, hi: int, rng: np.random.Generator) -> dict[str, NDArray[Any]]:
    """Portal sessions and content actions of partners ``lo..hi-1`` over ``w.cal``, sorted by
    partner and time."""
    cal = w.cal
    a0, a1 = w.active_start[lo:hi, None], w.active_end[lo:hi, None]
    partner, day = _draw_in_periods(cal, cal.act_cum, a0, a1,
                                    w.session_rate[lo:hi, None] * w.act_mult[lo:hi], lo, hi, rng)
    ns = len(partner)
    sec = time_of_day(rng, ns)
    user = (w.n_users[partner] * rng.random(ns) ** 1.8).astype(np.int64)
    n_act = rng.poisson(w.actions_per_session[partner])

    na = int(n_act.sum())
    session = np.repeat(np.arange(ns), n_act)
    gaps = 20.0 + rng.exponential(240.0, na)
    cum = np.cumsum(gaps)
    first = np.cumsum(n_act) - n_act
    before = np.concatenate([[0.0], cum])[first]
    a_sec = np.minimum(sec[session] + (cum - before[session]).astype(np.int64), 86399)
    a_partner = partner[session]

    u_general, u_product, u_content = rng.random(na), rng.random(na), rng.random(na)
    u_type, u_full, u_pct, z_score = (rng.random(na), rng.random(na), rng.random(na),
                                      rng.standard_normal(na))
    n_prod = len(w.config.products)
    k = len(PRODUCT_CONTENT)
    slot = (u_product * w.n_products[a_partner]).astype(np.int64)
    product = w.product_order[a_partner, slot]
    in_product = product * k + np.searchsorted(w.content_cdf, u_content, side="right")
    in_general = n_prod * k + np.searchsorted(w.general_cdf, u_content, side="right")
    content = np.where(u_general < GENERAL_SHARE, in_general, in_product)
    choice = (u_type[:, None] > w.action_cum[content, :2]).sum(axis=1)
    etype = w.action_codes[content, choice]
    value = np.full(na, np.nan)
    is_progress = etype == EVENT_CODES["video_progress"]
    value[is_progress] = np.where(u_full < 0.3, 100.0, np.round(5 + 90 * u_pct))[is_progress]
    is_test = etype == EVENT_CODES["test_submit"]
    score = np.clip(np.round(50 + 40 * w.engagement[a_partner] + 15 * z_score), 0, 100)
    value[is_test] = score[is_test]

    ts = np.concatenate([cal.midnight[day] + sec, cal.midnight[day[session]] + a_sec])
    partner_all = np.concatenate([partner, a_partner])
    order = np.argsort(((partner_all - lo) << 34) | (ts - cal.midnight[0]), kind="stable")
    return {
        "partner": partner_all[order],
        "ts": ts[order],
        "user": np.concatenate([user, user[session]])[order],
        "type": np.concatenate([np.zeros(ns, dtype=np.int8), etype.astype(np.int8)])[order],
        "content": np.concatenate([np.full(ns, -1, dtype=np.int64), content])[order],
        "value": np.concatenate([np.full(ns, np.nan), value])[order],
    }


def draw_deals(w: WorldArrays, lo: int, hi: int, rng: np.random.Generator,
               as_of: int | None = None) -> dict[str, NDArray[Any]]:
    """Deals of partners ``lo..hi-1`` over ``w.cal``; stages as of ``as_of`` (UTC epoch
    seconds, default the calendar's end)."""
    cal, days = w.cal, w.cal.days
    a0 = w.active_start[lo:hi, None]
    partner, day = _draw_in_periods(cal, cal.deal_cum, a0, days,
                                    w.capacity[lo:hi, None] / 30.0 * w.deal_mult[lo:hi], lo, hi,
                                    rng)
    nd = len(partner)
    sec = time_of_day(rng, nd)
    u_keep, u_product = rng.random(nd), rng.random(nd)
    slot = (w.n_products[partner] * u_product**1.6).astype(np.int64)
    product = w.product_order[partner, slot]
    reg_ts = cal.midnight[day] + sec
    factors = np.array([AMOUNT_PRODUCT[i % len(AMOUNT_PRODUCT)]
                        for i in range(len(w.config.products))])
    end = int(cal.midnight[days]) if as_of is None else as_of
    attrs = deal_attributes(rng, reg_ts, end, w.rank[partner],
                             w.engagement[partner], AMOUNT_MEDIAN_YEN * factors[product])
    keep = (day < w.active_end[partner]) | (u_keep < DORMANT_DEAL_FACTOR)
    order = np.argsort(((partner[keep] - lo) << 34) | (reg_ts[keep] - cal.midnight[0]),
                       kind="stable")
    out = {"partner": partner, "ts": reg_ts, "product": product, **attrs}
    return {key: v[keep][order] for key, v in out.items()}


def _slice(arrays: dict[str, NDArray[Any]], a: int, b: int) -> dict[str, NDArray[Any]]:
    p = arrays["partner"]
    i, j = np.searchsorted(p, a, side="left"), np.searchsorted(p, b, side="left")
    return {k: v[i:j] for k, v in arrays.items()}


def _user_ids(w: WorldArrays, first: int, last: int) -> pa.Array:
    """``P00001-u1``, ``P00001-u2``, ... for partners ``first..last-1``, in user order."""
    import pyarrow.compute as pc

    owners = np.repeat(np.arange(first, last), w.n_users[first:last])
    ranks = np.arange(len(owners)) - (w.user_offset[owners] - w.user_offset[first]) + 1
    return pc.binary_join_element_wise(w.partner_ids.take(pa.array(owners, type=pa.int64())),
                                       pa.array(ranks, type=pa.int64()).cast(pa.string()), "-u")


def events_table(w: WorldArrays, parts: list[dict[str, NDArray[Any]]], prefix: str = "E",
                 width: int = 10) -> pa.Table:
    """An ``events`` table from drawn events (``parts`` as :func:`draw_events` returns them,
    with a ``number`` each, consumed); ids are ``prefix`` + ``width`` digits."""
    contents = pa.array(w.catalogue["content_id"], type=pa.string())
    types = pa.array(EVENT_TYPES, type=pa.string())
    batches = []
    for ev in pieces(parts):
        p, c, value = ev["partner"], ev["content"], ev["value"]
        first, last = int(p[0]), int(p[-1]) + 1
        users = _user_ids(w, first, last)
        batches.append(pa.RecordBatch.from_arrays([
            fixed_ids(prefix, ev["number"], width),
            w.partner_ids.take(pa.array(p)),
            users.take(pa.array(w.user_offset[p] - w.user_offset[first] + ev["user"])),
            timestamps(ev["ts"]),
            types.take(pa.array(ev["type"])),
            contents.take(pa.array(np.maximum(c, 0), mask=c < 0)),
            pa.array(value, mask=np.isnan(value), type=pa.float64()),
        ], schema=EVENTS_SCHEMA))
    return pa.Table.from_batches(batches, schema=EVENTS_SCHEMA)


def _blocks(w: WorldArrays) -> Iterator[tuple[int, dict[str, NDArray[Any]], dict[str, NDArray[Any]]]]:
    """Yield ``(hi, events, deals)`` per block of partners, numbered across blocks."""
    n = w.config.n_partners
    n_events = n_deals = 0
    for b, lo in enumerate(range(0, n, BLOCK)):
        hi = min(n, lo + BLOCK)
        rng = np.random.default_rng(np.random.SeedSequence(w.config.seed, spawn_key=(1, b)))
        ev = draw_events(w, lo, hi, rng)
        dl = draw_deals(w, lo, hi, rng)
        ev["number"] = n_events + 1 + np.arange(len(ev["partner"]))
        dl["number"] = n_deals + 1 + np.arange(len(dl["partner"]))
        n_events += len(ev["partner"])
        n_deals += len(dl["partner"])
        yield hi, ev, dl


def simulate_world(config: SimulationConfig) -> Iterator[tuple[str, pa.Table]]:
    """Simulate a PRM world and yield its tables chunk by chunk.

    Yields, in this order: ``contents``, ``partners``, ``partner_products``, the ground
    truth ``sim_partners`` and the world's bookkeeping ``sim_state`` (:func:`world_state`;
    one table each), then ``events`` and ``deals`` chunks of at most
    :attr:`SimulationConfig.chunk_partners` partners each (empty chunks are skipped, but each
    table is yielded at least once). Column names follow :mod:`supportlab.data.schemas`; column
    order within a table is not significant.

    ``sim_partners`` holds one row per partner: ``partner_id, rank, joined_at, new_partner``
    (joined within 365 days before ``end``), the latent ``engagement`` (0–1) and ``capacity``
    (expected deals per 30 days before seasonality and drift), ``n_users``, ``products``
    (carried, ``|``-separated, primary first), ``sessions_per_weekday``,
    ``actions_per_session``, ``active_from`` and ``dormant_since`` (the day the partner stopped
    logging in, null if still active), ``activity_drift`` and ``deal_drift`` (the log-scale
    monthly drift of activity and deals in the last month of history, from which the
    continuation goes on).

    Ids are deterministic: partners ``P00001``…, users ``P00001-u1``…, events ``E0000000001``…
    and deals ``D000000001``… numbered in partner and time order.

    Args:
        config: the size and shape of the world.

    Yields:
        ``(table_name, pyarrow.Table)`` pairs.

    Example:
        >>> cfg = SimulationConfig(n_partners=30, days=60, seed=7, chunk_partners=10)
        >>> chunks = [(name, t.num_rows) for name, t in simulate_world(cfg)]
        >>> [name for name, _ in chunks[:4]]
        ['contents', 'partners', 'partner_products', 'sim_partners']
        >>> sum(rows for name, rows in chunks if name == "events") > 0
        True
    """
    world, static = _build_world(config)
    yield from static.items()

    n, step = config.n_partners, config.chunk_partners
    products = list(config.products)
    blocks = _blocks(world)
    pending: tuple[int, dict[str, NDArray[Any]], dict[str, NDArray[Any]]] | None = None
    seen = {"events": False, "deals": False}
    for a in range(0, n, step):
        b = min(n, a + step)
        ev_parts: list[dict[str, NDArray[Any]]] = []
        dl_parts: list[dict[str, NDArray[Any]]] = []
        while True:
            if pending is None:
                pending = next(blocks)
            hi, ev, dl = pending
            ev_parts.append(_slice(ev, a, b))
            dl_parts.append(_slice(dl, a, b))
            if hi <= b:
                pending = None
            if hi >= b:
                break
        del ev, dl
        ev_parts = [p for p in ev_parts if len(p["partner"])]
        dl_parts = [p for p in dl_parts if len(p["partner"])]
        if ev_parts:
            seen["events"] = True
            yield "events", events_table(world, ev_parts)
        if dl_parts:
            seen["deals"] = True
            yield "deals", deals_table("D", world.partner_ids, products, dl_parts)
    if not seen["events"]:
        yield "events", EVENTS_SCHEMA.empty_table()
    if not seen["deals"]:
        yield "deals", DEALS_SCHEMA.empty_table()


