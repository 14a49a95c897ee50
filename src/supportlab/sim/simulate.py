"""A simulated PRM world and simulated package deliveries, with the ground truth beside the data.

The simulator produces the canonical tables (``partners``, ``partner_products``, ``contents``,
``events``, ``deals``) of a believable partner programme plus a ground-truth table
``sim_partners`` with each partner's latent state. It never writes anywhere itself: it yields
``(table_name, pyarrow.Table)`` pairs that the caller appends, so memory stays bounded by
:attr:`SimulationConfig.chunk_partners` whether the world has a hundred partners or a hundred
thousand.

How the world works:

* every partner has a latent **engagement** (0–1, drives portal logins and content use) and a
  latent **capacity** (drives deal registrations), correlated with each other and with rank;
* activity follows a Japanese business calendar in the configured time zone (weekdays, business
  hours, national holidays, Obon, New Year) and drifts month to month around each partner's own
  level, so that pre-period behaviour predicts post-period outcomes without determining them;
* some partners go dormant (stop logging in) and some never use the portal at all;
* deals have heavy-tailed yen amounts, a fiscal-year-end (March) bump and an August dip, and
  progress through stages until they are won or lost.

:func:`simulate_delivery` then adds the consequences of delivering a support package to the
treatment arm of an experiment (package events, extra deals) and yields ``sim_truth``, the
individual true effects from which the true average effects follow.

Randomness comes only from ``numpy.random.Generator`` objects seeded from the configured seed;
the same configuration yields the same data, whatever ``chunk_partners`` is.

Example:
    >>> import datetime as dt
    >>> cfg = SimulationConfig(n_partners=20, days=30, end=dt.date(2026, 11, 1))
    >>> tables = {}
    >>> for name, table in simulate_world(cfg):
    ...     tables[name] = tables.get(name, 0) + table.num_rows
    >>> sorted(tables)
    ['contents', 'deals', 'events', 'partner_products', 'partners', 'sim_partners']
    >>> tables["partners"]
    20
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.special import ndtr, ndtri

from supportlab.errors import ConfigError, DataValidationError

__all__ = [
    "DEFAULT_EVENTS_PER_PARTNER_PER_DAY",
    "DONE_WHEN",
    "EffectModel",
    "PackageStep",
    "SimulationConfig",
    "content_catalogue",
    "expected_event_count",
    "simulate_delivery",
    "simulate_world",
]

#: average events per partner per day when :attr:`SimulationConfig.events_per_partner_per_day`
#: is left at ``None``
DEFAULT_EVENTS_PER_PARTNER_PER_DAY = 1.5

# -- the shape of the partner programme ------------------------------------------------------

_RANKS = ("S", "A", "B", "C")
_RANK_SHARES = np.array([0.04, 0.12, 0.30, 0.54])
#: share of partners of each rank that joined within the year before the end of history
_NEW_SHARE = np.array([0.04, 0.12, 0.24, 0.32])
_ENGAGEMENT_SHIFT = np.array([0.7, 0.4, 0.0, -0.3])
_CAPACITY_SHIFT = np.array([1.2, 0.6, 0.0, -0.4])
_USERS_MEAN = np.array([7.0, 3.5, 1.6, 0.6])
#: probability of carrying 1, 2 or 3 products, by rank
_N_PRODUCTS_P = np.array([[0.10, 0.30, 0.60], [0.25, 0.45, 0.30],
                          [0.50, 0.35, 0.15], [0.75, 0.20, 0.05]])
_AMOUNT_RANK = np.array([2.0, 1.4, 1.0, 0.8])
#: deal-size factor of the 1st, 2nd, ... configured product (cycled)
_AMOUNT_PRODUCT = (1.0, 1.6, 0.7, 1.2, 0.9)
_AMOUNT_MEDIAN_YEN = 1_500_000.0
_AMOUNT_SIGMA = 0.95
#: expected deals per 30 days of a reference partner (capacity 0, engagement 0.5)
_CAPACITY_BASE = 0.55
_DORMANT_DEAL_FACTOR = 0.3

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

#: the catalogue template per product: (content_type, id pattern, title pattern, popularity)
_CATALOGUE = (
    ("video", "video-{p}-intro", "製品{P} 紹介動画", 10.0),
    ("video", "video-{p}-demo", "製品{P} デモ動画", 6.0),
    ("video", "video-{p}-usecase", "製品{P} 導入事例動画", 4.0),
    ("video", "video-{p}-advanced", "製品{P} 上級機能解説", 2.0),
    ("template", "proposal-template-{p}", "製品{P} 提案書テンプレート", 7.0),
    ("template", "quote-template-{p}", "製品{P} 見積書テンプレート", 4.0),
    ("template", "email-template-{p}", "製品{P} 案内メール文面", 3.0),
    ("training", "training-{p}", "製品{P} 販売トレーニング", 4.0),
    ("training", "training-{p}-advanced", "製品{P} 上級トレーニング", 1.5),
    ("test", "quiz-{p}", "製品{P} 理解度テスト", 3.5),
    ("test", "quiz-{p}-advanced", "製品{P} 上級理解度テスト", 1.0),
    ("campaign", "campaign-{p}", "製品{P} キャンペーンガイド", 5.0),
    ("campaign", "campaign-{p}-fy-end", "製品{P} 期末キャンペーンガイド", 3.0),
    ("material", "deck-{p}", "製品{P} 営業資料", 6.0),
    ("material", "casestudy-{p}", "製品{P} 導入事例集", 4.0),
    ("material", "brochure-{p}", "製品{P} パンフレット", 3.0),
    ("material", "pricing-{p}", "製品{P} 価格表", 4.0),
)
#: content that belongs to no product
_GENERAL = (
    ("video", "video-portal-tour", "パートナーポータルの使い方", 3.0),
    ("material", "partner-program-guide", "パートナープログラムガイド", 3.0),
    ("training", "training-compliance", "コンプライアンス研修", 1.5),
    ("test", "quiz-compliance", "コンプライアンス確認テスト", 1.5),
)
_GENERAL_SHARE = 0.07

_EVENT_TYPES = ("login", "view", "video_progress", "video_complete", "download",
                "training_complete", "test_submit", "material_use", "campaign_view")
_EV = {name: code for code, name in enumerate(_EVENT_TYPES)}
#: what a content action is, by content type: (event type, probability), up to three
_ACTIONS = {
    "video": (("view", 0.15), ("video_progress", 0.55), ("video_complete", 0.30)),
    "template": (("view", 0.45), ("download", 0.55)),
    "training": (("view", 0.55), ("training_complete", 0.45)),
    "test": (("view", 0.25), ("test_submit", 0.75)),
    "campaign": (("campaign_view", 0.75), ("view", 0.25)),
    "material": (("view", 0.35), ("material_use", 0.40), ("download", 0.25)),
}
_STAGES = ("registered", "qualified", "proposal", "negotiation", "won", "lost")

#: monthly deal seasonality (Japanese fiscal year ends in March; August is quiet)
_DEAL_SEASON = {1: 0.85, 2: 1.0, 3: 1.45, 4: 0.85, 5: 0.9, 6: 1.0, 7: 1.0, 8: 0.7, 9: 1.2,
                10: 0.95, 11: 1.0, 12: 1.1}
_MONTHLY_SD = 0.35  # month-to-month drift of a partner's activity (log scale)
_MONTHLY_PHI = 0.7

_BLOCK = 256  # partners per random-number block (fixed: makes output independent of chunking)
_MAX_BATCH_ROWS = 1 << 22

_TS = pa.timestamp("us", tz="UTC")


# -- public configuration ---------------------------------------------------------------------


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
        if not self.products or len(set(map(_slug, self.products))) != len(self.products):
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


def expected_event_count(config: SimulationConfig) -> int:
    """Approximate number of events :func:`simulate_world` yields (for progress bars).

    Example:
        >>> expected_event_count(SimulationConfig(n_partners=1000, days=365))
        547500
    """
    return round(config.n_partners * config.days * config.rate)


# -- calendar ---------------------------------------------------------------------------------

_EPOCH = dt.date(1970, 1, 1).toordinal()


def _nth_monday(year: int, month: int, n: int) -> dt.date:
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(7 - first.weekday()) % 7 + 7 * (n - 1))


def _jp_holiday(day: dt.date) -> bool:
    """Approximate Japanese public holidays and the New Year closure."""
    md = (day.month, day.day)
    if md in {(1, 1), (1, 2), (1, 3), (2, 11), (2, 23), (3, 20), (4, 29), (5, 3), (5, 4),
              (5, 5), (8, 11), (9, 23), (11, 3), (11, 23), (12, 29), (12, 30), (12, 31)}:
        return True
    return day in {_nth_monday(day.year, 1, 2), _nth_monday(day.year, 7, 3),
                   _nth_monday(day.year, 9, 3), _nth_monday(day.year, 10, 2)}


@dataclass(frozen=True)
class _Calendar:
    """Days ``[start, start + days)`` in a time zone; index ``days`` is the exclusive end."""

    start: dt.date
    days: int
    midnight: np.ndarray  # int64 UTC epoch seconds of each local midnight, length days + 1
    act_cum: np.ndarray  # cumulative activity weight, length days + 1
    deal_cum: np.ndarray  # cumulative deal weight (mean 1 per day), length days + 1
    period_start: np.ndarray  # day index where each calendar month starts, plus days

    @property
    def n_periods(self) -> int:
        return len(self.period_start) - 1


def _calendar(start: dt.date, days: int, timezone: str) -> _Calendar:
    tz = ZoneInfo(timezone)
    dates = [start + dt.timedelta(days=i) for i in range(days + 1)]
    midnight = np.empty(days + 1, dtype=np.int64)
    act = np.empty(days)
    deal = np.empty(days)
    periods = [0]
    for i, d in enumerate(dates):
        noon = dt.datetime(d.year, d.month, d.day, 12, tzinfo=tz)
        offset = noon.utcoffset() or dt.timedelta(0)
        midnight[i] = (d.toordinal() - _EPOCH) * 86400 - int(offset.total_seconds())
        if i == days:
            break
        if i > 0 and d.day == 1:
            periods.append(i)
        if _jp_holiday(d):
            w = 0.08
        elif d.weekday() == 5:
            w = 0.10
        elif d.weekday() == 6:
            w = 0.05
        elif d.month == 8 and 13 <= d.day <= 16:
            w = 0.45
        else:
            w = 1.0
        act[i] = w
        deal[i] = w * _DEAL_SEASON[d.month]
    periods.append(days)
    deal = deal / deal.mean()
    return _Calendar(
        start=start, days=days, midnight=midnight,
        act_cum=np.concatenate([[0.0], np.cumsum(act)]),
        deal_cum=np.concatenate([[0.0], np.cumsum(deal)]),
        period_start=np.array(periods, dtype=np.int64),
    )


def _sample_days(cum: np.ndarray, lo: np.ndarray, hi: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Days in ``[lo, hi)`` drawn with probability proportional to the calendar weights."""
    target = cum[lo] + u * (cum[hi] - cum[lo])
    day = np.searchsorted(cum, target, side="right") - 1
    return np.clip(day, lo, hi - 1)


def _time_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    """Local seconds after midnight: a morning and an afternoon peak, a few late workers."""
    u = rng.random(n)
    z = rng.standard_normal(n)
    late = 7.0 + 16.0 * rng.random(n)
    hours = np.where(u < 0.45, 10.3 + 1.3 * z, np.where(u < 0.9, 15.0 + 1.8 * z, late))
    return (np.clip(hours, 6.0, 23.5) * 3600).astype(np.int64)


# -- contents ---------------------------------------------------------------------------------


def _slug(product: str) -> str:
    return re.sub(r"[^0-9a-z]+", "-", str(product).lower()).strip("-") or "x"


def content_catalogue(products: Sequence[str] = ("A", "B", "C")) -> pd.DataFrame:
    """The content catalogue of a simulated world (the ``contents`` table).

    Per product there are videos, templates, trainings, tests, campaigns and materials; the
    first of each kind (``video-a-intro``, ``proposal-template-a``, ``training-a``, ``quiz-a``,
    ``campaign-a``, ``deck-a`` for product ``A``) make a natural launch package. A few items
    belong to no product (portal tour, programme guide, compliance training and test).

    Args:
        products: product names, as in :attr:`SimulationConfig.products`.

    Returns:
        One row per item: ``content_id, content_type, product, version, title``; also
        ``popularity``, the relative chance an item is picked in the simulated history.

    Example:
        >>> cat = content_catalogue(["A"])
        >>> cat.loc[cat.content_type == "test", "content_id"].tolist()
        ['quiz-a', 'quiz-a-advanced', 'quiz-compliance']
    """
    rows = []
    for p in products:
        s = _slug(p)
        for ctype, cid, title, pop in _CATALOGUE:
            rows.append((cid.format(p=s), ctype, str(p), 1, title.format(P=p), pop))
    for ctype, cid, title, pop in _GENERAL:
        rows.append((cid, ctype, None, 1, title, pop))
    return pd.DataFrame(rows, columns=["content_id", "content_type", "product", "version",
                                       "title", "popularity"])


# -- the partners and their latent state ------------------------------------------------------


@dataclass(frozen=True)
class _World:
    """Everything known per partner before events are drawn (all arrays have n rows)."""

    config: SimulationConfig
    cal: _Calendar
    partner_ids: pa.Array
    rank: np.ndarray
    engagement: np.ndarray
    joined_day: np.ndarray  # day index relative to the start of history (may be negative)
    n_users: np.ndarray
    user_offset: np.ndarray  # cumulative users before each partner
    n_products: np.ndarray
    product_order: np.ndarray  # n x P, carried products first (primary first)
    active_start: np.ndarray
    active_end: np.ndarray
    session_rate: np.ndarray  # sessions per unit of calendar weight
    actions_per_session: np.ndarray
    capacity: np.ndarray  # expected deals per 30 days (before seasonality and drift)
    act_mult: np.ndarray  # n x periods
    deal_mult: np.ndarray  # n x periods
    catalogue: pd.DataFrame
    content_cdf: np.ndarray  # per-product catalogue popularity CDF
    general_cdf: np.ndarray
    action_codes: np.ndarray  # n_contents x 3 event-type codes
    action_cum: np.ndarray  # n_contents x 3 cumulative probabilities


def _fixed_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + zero-padded numbers as a string array, built without Python loops."""
    head = np.frombuffer(prefix.encode("utf-8"), dtype=np.uint8)
    n = len(numbers)
    w = len(head) + width
    buf = np.empty((n, w), dtype=np.uint8)
    buf[:, : len(head)] = head
    x = np.asarray(numbers, dtype=np.int64).copy()
    for j in range(w - 1, len(head) - 1, -1):
        buf[:, j] = x % 10 + 48
        x //= 10
    if n * w < 2**31:
        offsets = np.arange(0, (n + 1) * w, w, dtype=np.int32)
        return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buf))
    offsets = np.arange(0, (n + 1) * w, w, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buf))


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


def _build_world(config: SimulationConfig) -> tuple[_World, dict[str, pa.Table]]:
    cal = _calendar(config.start, config.days, config.timezone)
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
    x[:, 0] = _MONTHLY_SD * rng.standard_normal(n)
    innovation_sd = np.sqrt(1 - _MONTHLY_PHI**2) * _MONTHLY_SD
    for t in range(1, months):
        x[:, t] = _MONTHLY_PHI * x[:, t - 1] + innovation_sd * rng.standard_normal(n)
    act_mult = np.exp(x - _MONTHLY_SD**2 / 2)
    deal_log = 0.6 * x + 0.25 * eta
    deal_mult = np.exp(deal_log - (0.36 * _MONTHLY_SD**2 + 0.0625) / 2)

    region = rng.choice(len(_REGIONS), size=n, p=_REGION_SHARES)
    manager = np.where(rank <= 1, rng.integers(0, 5, n), rng.integers(3, len(_MANAGERS), n))
    no_manager = (rank == 3) & (rng.random(n) < 0.04)
    names = _company_names(rng, n)

    width = max(5, len(str(n)))
    partner_ids = _fixed_ids("P", np.arange(1, n + 1), width)
    user_offset = np.concatenate([[0], np.cumsum(n_users)])

    catalogue = content_catalogue(config.products)
    per_product = np.array([c[3] for c in _CATALOGUE])
    general = np.array([c[3] for c in _GENERAL])
    codes = np.zeros((len(catalogue), 3), dtype=np.int8)
    cum = np.ones((len(catalogue), 3))
    for i, ctype in enumerate(catalogue["content_type"]):
        acts = _ACTIONS[ctype]
        c = np.cumsum([p for _, p in acts])
        for j in range(3):
            codes[i, j] = _EV[acts[min(j, len(acts) - 1)][0]]
            cum[i, j] = c[j] if j < len(acts) else 1.0

    world = _World(
        config=config, cal=cal, partner_ids=partner_ids, rank=rank, engagement=engagement,
        joined_day=joined_day, n_users=n_users, user_offset=user_offset, n_products=n_products,
        product_order=product_order, active_start=active_start, active_end=active_end,
        session_rate=session_rate, actions_per_session=actions, capacity=capacity,
        act_mult=act_mult, deal_mult=deal_mult, catalogue=catalogue,
        content_cdf=np.cumsum(per_product) / per_product.sum(),
        general_cdf=np.cumsum(general) / general.sum(), action_codes=codes, action_cum=cum,
    )

    day0 = config.start.toordinal() - _EPOCH
    joined = pa.array((day0 + joined_day).astype(np.int32)).cast(pa.date32())
    products = np.array(config.products, dtype=object)
    rank_str = pa.array(np.array(_RANKS, dtype=object)[rank])
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
    })
    return world, {"contents": contents, "partners": partners,
                   "partner_products": partner_products, "sim_partners": truth}


# -- events and deals, one block of partners at a time ----------------------------------------


def _draw_in_periods(cal: _Calendar, cum: np.ndarray, a0: np.ndarray, a1: np.ndarray | int,
                     rate: np.ndarray, lo: int, hi: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Poisson counts per partner and calendar period (intensity ``rate`` × the period's share
    of the cumulative seasonal weight ``cum`` inside each partner's active span ``[a0, a1)``),
    then a day for each occurrence. Returns (partner index, day) per occurrence."""
    plo = np.clip(cal.period_start[None, :-1], a0, a1)
    phi = np.clip(cal.period_start[None, 1:], a0, a1)
    counts = rng.poisson(rate * (cum[phi] - cum[plo])).ravel()
    n = int(counts.sum())
    partner = np.repeat(np.repeat(np.arange(lo, hi), cal.n_periods), counts)
    day = _sample_days(cum, np.repeat(plo.ravel(), counts), np.repeat(phi.ravel(), counts),
                       rng.random(n))
    return partner, day


def _block_events(w: _World, lo: int, hi: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    cal = w.cal
    a0, a1 = w.active_start[lo:hi, None], w.active_end[lo:hi, None]
    partner, day = _draw_in_periods(cal, cal.act_cum, a0, a1,
                                    w.session_rate[lo:hi, None] * w.act_mult[lo:hi], lo, hi, rng)
    ns = len(partner)
    sec = _time_of_day(rng, ns)
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
    k = len(_CATALOGUE)
    slot = (u_product * w.n_products[a_partner]).astype(np.int64)
    product = w.product_order[a_partner, slot]
    in_product = product * k + np.searchsorted(w.content_cdf, u_content, side="right")
    in_general = n_prod * k + np.searchsorted(w.general_cdf, u_content, side="right")
    content = np.where(u_general < _GENERAL_SHARE, in_general, in_product)
    choice = (u_type[:, None] > w.action_cum[content, :2]).sum(axis=1)
    etype = w.action_codes[content, choice]
    value = np.full(na, np.nan)
    is_progress = etype == _EV["video_progress"]
    value[is_progress] = np.where(u_full < 0.3, 100.0, np.round(5 + 90 * u_pct))[is_progress]
    is_test = etype == _EV["test_submit"]
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


def _deal_attributes(rng: np.random.Generator, reg_ts: np.ndarray, as_of: int,
                     rank: np.ndarray, engagement: np.ndarray,
                     median: np.ndarray | float) -> dict[str, np.ndarray]:
    """Amount, stage, closing time and outcome of deals registered at ``reg_ts`` (seconds)."""
    n = len(reg_ts)
    z_amount, z_duration = rng.standard_normal(n), rng.standard_normal(n)
    u_win, u_hour = rng.random(n), rng.random(n)
    amount = np.maximum(np.round(median * _AMOUNT_RANK[rank] * np.exp(_AMOUNT_SIGMA * z_amount),
                                 -3), 50_000.0)
    duration = 86400.0 * np.exp(np.log(45.0) + 0.6 * z_duration)
    closed_ts = reg_ts + duration.astype(np.int64) + ((u_hour - 0.5) * 4 * 3600).astype(np.int64)
    closed_ts = np.maximum(closed_ts, reg_ts + 3600)
    closed = closed_ts < as_of
    won = u_win < 0.25 + 0.3 * engagement
    progress = (as_of - reg_ts) / duration
    open_stage = np.searchsorted([0.2, 0.45, 0.75], progress, side="right")
    stage = np.where(closed, np.where(won, 4, 5), open_stage).astype(np.int8)
    return {"amount": amount, "stage": stage, "closed_ts": closed_ts, "closed": closed,
            "won": won}


def _block_deals(w: _World, lo: int, hi: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    cal, days = w.cal, w.cal.days
    a0 = w.active_start[lo:hi, None]
    partner, day = _draw_in_periods(cal, cal.deal_cum, a0, days,
                                    w.capacity[lo:hi, None] / 30.0 * w.deal_mult[lo:hi], lo, hi,
                                    rng)
    nd = len(partner)
    sec = _time_of_day(rng, nd)
    u_keep, u_product = rng.random(nd), rng.random(nd)
    slot = (w.n_products[partner] * u_product**1.6).astype(np.int64)
    product = w.product_order[partner, slot]
    reg_ts = cal.midnight[day] + sec
    factors = np.array([_AMOUNT_PRODUCT[i % len(_AMOUNT_PRODUCT)]
                        for i in range(len(w.config.products))])
    attrs = _deal_attributes(rng, reg_ts, int(cal.midnight[days]), w.rank[partner],
                             w.engagement[partner], _AMOUNT_MEDIAN_YEN * factors[product])
    keep = (day < w.active_end[partner]) | (u_keep < _DORMANT_DEAL_FACTOR)
    order = np.argsort(((partner[keep] - lo) << 34) | (reg_ts[keep] - cal.midnight[0]),
                       kind="stable")
    out = {"partner": partner, "ts": reg_ts, "product": product, **attrs}
    return {key: v[keep][order] for key, v in out.items()}


def _slice(arrays: dict[str, np.ndarray], a: int, b: int) -> dict[str, np.ndarray]:
    p = arrays["partner"]
    i, j = np.searchsorted(p, a, side="left"), np.searchsorted(p, b, side="left")
    return {k: v[i:j] for k, v in arrays.items()}


_EVENTS_SCHEMA = pa.schema([
    ("event_id", pa.string()), ("partner_id", pa.string()), ("user_id", pa.string()),
    ("ts", _TS), ("event_type", pa.string()), ("content_id", pa.string()),
    ("value", pa.float64()),
])
_DEALS_SCHEMA = pa.schema([
    ("deal_id", pa.string()), ("partner_id", pa.string()), ("product", pa.string()),
    ("registered_at", _TS), ("stage", pa.string()), ("amount", pa.float64()),
    ("closed_at", _TS), ("won", pa.bool_()),
])


def _pieces(parts: list[dict[str, np.ndarray]]) -> Iterator[dict[str, np.ndarray]]:
    """Consume ``parts`` (freeing each as it goes) in pieces of at most _MAX_BATCH_ROWS rows."""
    while parts:
        part = parts.pop(0)
        n = len(part["partner"])
        for i in range(0, n, _MAX_BATCH_ROWS):
            yield {k: v[i: i + _MAX_BATCH_ROWS] for k, v in part.items()}


def _timestamps(seconds: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(seconds * 1_000_000, type=_TS, mask=mask)


def _user_ids(w: _World, first: int, last: int) -> pa.Array:
    """``P00001-u1``, ``P00001-u2``, ... for partners ``first..last-1``, in user order."""
    import pyarrow.compute as pc

    owners = np.repeat(np.arange(first, last), w.n_users[first:last])
    ranks = np.arange(len(owners)) - (w.user_offset[owners] - w.user_offset[first]) + 1
    return pc.binary_join_element_wise(w.partner_ids.take(pa.array(owners, type=pa.int64())),
                                       pa.array(ranks, type=pa.int64()).cast(pa.string()), "-u")


def _events_table(w: _World, parts: list[dict[str, np.ndarray]]) -> pa.Table:
    contents = pa.array(w.catalogue["content_id"], type=pa.string())
    types = pa.array(_EVENT_TYPES, type=pa.string())
    batches = []
    for ev in _pieces(parts):
        p, c, value = ev["partner"], ev["content"], ev["value"]
        first, last = int(p[0]), int(p[-1]) + 1
        users = _user_ids(w, first, last)
        batches.append(pa.RecordBatch.from_arrays([
            _fixed_ids("E", ev["number"], 10),
            w.partner_ids.take(pa.array(p)),
            users.take(pa.array(w.user_offset[p] - w.user_offset[first] + ev["user"])),
            _timestamps(ev["ts"]),
            types.take(pa.array(ev["type"])),
            contents.take(pa.array(np.maximum(c, 0), mask=c < 0)),
            pa.array(value, mask=np.isnan(value), type=pa.float64()),
        ], schema=_EVENTS_SCHEMA))
    return pa.Table.from_batches(batches, schema=_EVENTS_SCHEMA)


def _deals_table(prefix: str, partner_ids: pa.Array, products: Sequence[str | None],
                 parts: list[dict[str, np.ndarray]], width: int = 9) -> pa.Table:
    stages = pa.array(_STAGES, type=pa.string())
    product_arr = pa.array(list(products), type=pa.string())
    batches = []
    for dl in _pieces(parts):
        closed = dl["closed"]
        batches.append(pa.RecordBatch.from_arrays([
            _fixed_ids(prefix, dl["number"], width),
            partner_ids.take(pa.array(dl["partner"])),
            product_arr.take(pa.array(dl["product"])),
            _timestamps(dl["ts"]),
            stages.take(pa.array(dl["stage"])),
            pa.array(dl["amount"], type=pa.float64()),
            _timestamps(dl["closed_ts"], mask=~closed),
            pa.array(dl["won"], mask=~closed, type=pa.bool_()),
        ], schema=_DEALS_SCHEMA))
    return pa.Table.from_batches(batches, schema=_DEALS_SCHEMA)


def _blocks(w: _World) -> Iterator[tuple[int, dict[str, np.ndarray], dict[str, np.ndarray]]]:
    """Yield ``(hi, events, deals)`` per block of partners, numbered across blocks."""
    n = w.config.n_partners
    n_events = n_deals = 0
    for b, lo in enumerate(range(0, n, _BLOCK)):
        hi = min(n, lo + _BLOCK)
        rng = np.random.default_rng(np.random.SeedSequence(w.config.seed, spawn_key=(1, b)))
        ev = _block_events(w, lo, hi, rng)
        dl = _block_deals(w, lo, hi, rng)
        ev["number"] = n_events + 1 + np.arange(len(ev["partner"]))
        dl["number"] = n_deals + 1 + np.arange(len(dl["partner"]))
        n_events += len(ev["partner"])
        n_deals += len(dl["partner"])
        yield hi, ev, dl


def simulate_world(config: SimulationConfig) -> Iterator[tuple[str, pa.Table]]:
    """Simulate a PRM world and yield its tables chunk by chunk.

    Yields, in this order: ``contents``, ``partners``, ``partner_products`` and the ground
    truth ``sim_partners`` (one table each), then ``events`` and ``deals`` chunks of at most
    :attr:`SimulationConfig.chunk_partners` partners each (empty chunks are skipped, but each
    table is yielded at least once). Column names follow :mod:`supportlab.data.schemas`; column
    order within a table is not significant.

    ``sim_partners`` holds one row per partner: ``partner_id, rank, joined_at, new_partner``
    (joined within 365 days before ``end``), the latent ``engagement`` (0–1) and ``capacity``
    (expected deals per 30 days before seasonality and drift), ``n_users``, ``products``
    (carried, ``|``-separated, primary first), ``sessions_per_weekday``,
    ``actions_per_session``, ``active_from`` and ``dormant_since`` (the day the partner stopped
    logging in, null if still active).

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
    pending: tuple[int, dict[str, np.ndarray], dict[str, np.ndarray]] | None = None
    seen = {"events": False, "deals": False}
    for a in range(0, n, step):
        b = min(n, a + step)
        ev_parts: list[dict[str, np.ndarray]] = []
        dl_parts: list[dict[str, np.ndarray]] = []
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
            yield "events", _events_table(world, ev_parts)
        if dl_parts:
            seen["deals"] = True
            yield "deals", _deals_table("D", world.partner_ids, products, dl_parts)
    if not seen["events"]:
        yield "events", _EVENTS_SCHEMA.empty_table()
    if not seen["deals"]:
        yield "deals", _DEALS_SCHEMA.empty_table()


# -- delivering a package ---------------------------------------------------------------------

#: how each ``done_when`` shows in the events: the events of a done item, and what a partner
#: who reached the step but did not finish the item leaves behind (event, value kind, chance)
DONE_WHEN: Mapping[str, tuple[tuple[tuple[str, str | None], ...],
                              tuple[str, str, float] | None]] = {
    "video_complete": ((("video_progress", "full"), ("video_complete", None)),
                       ("video_progress", "partial", 0.7)),
    "video_progress": ((("video_progress", "partial"),), None),
    "download": ((("view", None), ("download", None)), ("view", None, 0.5)),
    "training_complete": ((("view", None), ("training_complete", None)), ("view", None, 0.6)),
    "test_pass": ((("test_submit", "pass"),), ("test_submit", "fail", 0.7)),
    "test_submit": ((("test_submit", "score"),), None),
    "view": ((("view", None),), None),
    "campaign_view": ((("campaign_view", None),), None),
    "material_use": ((("view", None), ("material_use", None)), ("view", None, 0.5)),
}


@dataclass(frozen=True)
class PackageStep:
    """One week of a support package.

    Attributes:
        week: the week after the experiment start (1 = the first seven days).
        items: ``(content_id, done_when)`` pairs; ``done_when`` is one of :data:`DONE_WHEN`,
            e.g. ``"video_complete"``, ``"download"``, ``"training_complete"``,
            ``"test_pass"`` (a ``test_submit`` with a score of at least 70), ``"view"``,
            ``"material_use"``.

    Example:
        >>> PackageStep(1, (("video-a-intro", "video_complete"),)).week
        1
    """

    week: int
    items: tuple[tuple[str, str], ...]

    def __post_init__(self) -> None:
        if not isinstance(self.week, (int, np.integer)) or self.week < 1:
            raise ConfigError(f"week == {self.week!r}, must be an integer >= 1",
                              where="PackageStep")
        if not self.items:
            raise ConfigError(f"week {self.week} has no items", where="PackageStep",
                              fix="give at least one (content_id, done_when) pair")
        for item in self.items:
            if len(item) != 2 or not str(item[0]).strip():
                raise ConfigError(f"item {item!r} must be a (content_id, done_when) pair",
                                  where=f"PackageStep(week={self.week})")
            if item[1] not in DONE_WHEN:
                raise ConfigError(
                    f"done_when == {item[1]!r} for {item[0]!r} is not supported",
                    where=f"PackageStep(week={self.week})",
                    fix=f"use one of {', '.join(DONE_WHEN)}")


def _default_segments() -> dict[str, float]:
    return {"S": 0.5, "A": 0.8, "B": 1.2, "C": 1.0, "new": 1.5}


@dataclass(frozen=True)
class EffectModel:
    """The true effect of a support package, as the simulator draws it.

    Attributes:
        base_effect: expected extra deals registered over the horizon by a partner of a
            reference segment (multiplier 1) who completes the whole package.
        segment_multipliers: multiplier by rank; the key ``"new"`` multiplies in addition for
            partners that joined less than 365 days before the start. Missing keys mean 1.
        uptake: baseline probability that an assigned partner opens the package; partners with
            higher latent engagement open it more often, dormant partners much less.
        step_dropoff: probability of continuing to each next step given every item of the
            previous step was done; the last value repeats for longer packages. ``None`` means
            ``(0.8, 0.7)``.
        pipeline_per_deal: median amount (yen) of an extra deal before the rank factor;
            ``None`` means the world's median.

    Example:
        >>> round(EffectModel().multiplier("B", new_partner=True), 2)
        1.8
    """

    base_effect: float = 0.6
    segment_multipliers: Mapping[str, float] = field(default_factory=_default_segments)
    uptake: float = 0.6
    step_dropoff: tuple[float, ...] | None = None
    pipeline_per_deal: float | None = None

    def __post_init__(self) -> None:
        if not self.base_effect >= 0:
            raise ConfigError(f"base_effect == {self.base_effect!r}, must be >= 0",
                              where="EffectModel")
        if not 0 <= self.uptake <= 1:
            raise ConfigError(f"uptake == {self.uptake!r}, must be within [0, 1]",
                              where="EffectModel")
        for p in self.step_dropoff or ():
            if not 0 <= p <= 1:
                raise ConfigError(f"step_dropoff value {p!r} must be within [0, 1]",
                                  where="EffectModel")
        if self.pipeline_per_deal is not None and not self.pipeline_per_deal > 0:
            raise ConfigError(f"pipeline_per_deal == {self.pipeline_per_deal!r}, must be > 0",
                              where="EffectModel")

    def multiplier(self, rank: str, *, new_partner: bool = False) -> float:
        """The segment multiplier of a partner of ``rank`` (and the new-partner boost)."""
        m = float(self.segment_multipliers.get(rank, 1.0))
        if new_partner:
            m *= float(self.segment_multipliers.get("new", 1.0))
        return m

    def continuation(self, n_steps: int) -> np.ndarray:
        """Probability of moving on after each of the first ``n_steps - 1`` steps."""
        drop = self.step_dropoff if self.step_dropoff is not None else (0.8, 0.7)
        if n_steps <= 1:
            return np.zeros(0)
        if not drop:
            return np.ones(n_steps - 1)
        return np.array([drop[min(i, len(drop) - 1)] for i in range(n_steps - 1)])


def _local_dates(values: pd.Series, timezone: str) -> pd.Series:
    """Dates or timestamps as naive local datetimes (timezone-aware ones converted first)."""
    out = pd.to_datetime(pd.Series(values.to_numpy(), dtype=object))
    if out.dt.tz is not None:
        out = out.dt.tz_convert(timezone).dt.tz_localize(None)
    return out


def _stable_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


def _infer_product(steps: Sequence[PackageStep], truth: pd.DataFrame) -> str | None:
    if "products" not in truth.columns:
        return None
    known = {_slug(p): p for s in truth["products"].dropna().unique() for p in str(s).split("|")}
    hits: dict[str, int] = {}
    for step in steps:
        for content_id, _ in step.items:
            for token in str(content_id).lower().split("-"):
                if token in known:
                    hits[known[token]] = hits.get(known[token], 0) + 1
    return max(hits, key=lambda p: hits[p]) if hits else None


def simulate_delivery(
    partners_truth: pd.DataFrame,
    assignments: pd.DataFrame,
    steps: Sequence[PackageStep],
    *,
    experiment_id: str,
    start: dt.date,
    horizon_days: int,
    effect: EffectModel,
    seed: int,
    baseline_post: pd.DataFrame | None = None,
    product: str | None = None,
    timezone: str = "Asia/Tokyo",
) -> Iterator[tuple[str, pa.Table]]:
    """Simulate delivering a support package to the treatment arm of an experiment.

    The world's history already holds every partner's untreated behaviour; this adds only the
    consequences of the treatment for partners with ``arm == "treatment"`` (the control arm
    gets nothing):

    * **uptake**: partner *i* opens the package with probability
      ``sigmoid(logit(uptake) + z_i - 1.5 * dormant_i)``, where ``z_i`` is the normal score of
      its latent engagement and ``dormant_i`` says it had stopped logging in before ``start``;
    * **steps**: an opener reaches step 1; each item of a reached step is done with probability
      ``0.7 + 0.25 * engagement``; the next step is reached only when every item of the current
      one was done, then with probability ``effect.step_dropoff[k]``. Each reached step is a
      portal session (a ``login`` and the items' events) on a business day of its week;
      unfinished items leave partial traces (a failed test, a half-watched video);
    * **deals**: ``Poisson(tau_i)`` extra deal registrations in ``[start, start + horizon)``
      after the first session, with ``tau_i = base_effect * multiplier(rank_i, new_i) *
      consumption_i`` and amounts from the world's heavy-tailed distribution; stages are as of
      the end of the horizon.

    Every partner's opening, steps, consumption and ``tau`` are drawn the same way whatever its
    arm (the control arm's values are the counterfactual "had it been treated"), from a stream
    seeded by ``seed`` and ``experiment_id`` over the partners sorted by id. Hence, with
    ``sim_truth`` over all assigned partners:

    * true ITT effect on deals registered over the horizon = ``mean(tau)``;
    * true effect on openers (the complier effect, assignment as instrument, "opened" as
      take-up) = ``mean(tau | opened)`` = ITT / ``mean(opened)``, since ``tau`` is 0 for
      partners who never open the package.

    Args:
        partners_truth: the world's ``sim_partners`` (at least ``partner_id`` and ``rank``;
            ``engagement``, ``joined_at``, ``dormant_since``, ``n_users`` and ``products`` are
            used when present).
        assignments: ``partner_id`` and ``arm`` per assigned partner (rows of other
            experiments are ignored when an ``experiment_id`` column is present).
        steps: the package's weekly steps.
        experiment_id: prefixes the ids of the added events (``<id>-E0000001``) and deals
            (``<id>-D000001``), so they never collide with the world's.
        start: the first day of the experiment.
        horizon_days: length of the post window in days.
        effect: the true effect model.
        seed: seed of every random draw.
        baseline_post: optional per-partner baseline outcomes over the post window
            (``partner_id`` and e.g. ``deals``); copied to ``sim_truth`` as ``baseline_<col>``;
            with ``deals``, also ``expected_deals_if_treated = baseline_deals + tau``.
        product: product of the extra deals; ``None`` infers it from the items' content ids
            and the products in ``partners_truth`` (null if that fails).
        timezone: the zone of business hours.

    Yields:
        ``("events", table)``, ``("deals", table)`` (canonical columns) and ``("sim_truth",
        table)`` with one row per assigned partner: ``experiment_id, partner_id, arm, segment,
        new_partner, opened, items_done, steps_completed, consumption, tau, extra_deals``
        (``extra_deals`` is 0 in the control arm).

    Example:
        >>> import datetime as dt
        >>> truth = pd.DataFrame({"partner_id": ["P1", "P2", "P3", "P4"],
        ...                       "rank": ["B", "C", "B", "A"], "engagement": 0.9})
        >>> arms = pd.DataFrame({"partner_id": ["P1", "P2", "P3", "P4"],
        ...                      "arm": ["treatment", "control", "treatment", "control"]})
        >>> steps = [PackageStep(1, (("video-a-intro", "video_complete"),)),
        ...          PackageStep(2, (("quiz-a", "test_pass"),))]
        >>> out = dict(simulate_delivery(truth, arms, steps, experiment_id="x1",
        ...                              start=dt.date(2026, 6, 1), horizon_days=60,
        ...                              effect=EffectModel(), seed=1))
        >>> out["sim_truth"].column("arm").to_pylist()
        ['treatment', 'control', 'treatment', 'control']
        >>> set(out["events"].column("partner_id").to_pylist()) <= {"P1", "P3"}
        True
    """
    steps = sorted(steps, key=lambda s: s.week)
    if not steps:
        raise ConfigError("the package has no steps", where=f"experiment {experiment_id}",
                          fix="give at least one PackageStep")
    if horizon_days < 1:
        raise ConfigError(f"horizon_days == {horizon_days!r}, must be >= 1",
                          where=f"experiment {experiment_id}")
    for col, frame, name in (("partner_id", partners_truth, "partners_truth"),
                             ("rank", partners_truth, "partners_truth"),
                             ("partner_id", assignments, "assignments"),
                             ("arm", assignments, "assignments")):
        if col not in frame.columns:
            raise DataValidationError(f"column '{col}' is missing", where=name,
                                      fix=f"pass a frame with a '{col}' column")
    assigned = assignments
    if "experiment_id" in assigned.columns:
        assigned = assigned[assigned["experiment_id"].astype(str) == experiment_id]
    assigned = assigned[["partner_id", "arm"]].astype({"partner_id": str, "arm": str})
    if assigned["partner_id"].duplicated().any():
        dup = assigned.loc[assigned["partner_id"].duplicated(), "partner_id"].head(3).tolist()
        raise DataValidationError(f"partners assigned twice, e.g. {dup}", where="assignments")
    assigned = assigned.sort_values("partner_id", kind="stable").reset_index(drop=True)
    truth = partners_truth.drop_duplicates("partner_id")
    truth = truth.set_index(truth["partner_id"].astype(str))
    missing = assigned.loc[~assigned["partner_id"].isin(truth.index), "partner_id"]
    if len(missing):
        raise DataValidationError(
            f"{len(missing)} assigned partner(s) not in partners_truth, e.g. "
            f"{missing.head(3).tolist()}", where="assignments",
            fix="pass the sim_partners table of the world the partners come from")
    t = truth.loc[assigned["partner_id"]]
    n = len(assigned)
    start_ts = pd.Timestamp(start)
    rank = t["rank"].astype(str).to_numpy()
    engagement = (t["engagement"].astype(float).to_numpy() if "engagement" in t
                  else np.full(n, 0.5))
    if "joined_at" in t:
        joined = _local_dates(t["joined_at"], timezone)
        new_partner = (joined > start_ts - pd.Timedelta(days=365)).fillna(False).to_numpy(bool)
    else:
        new_partner = np.zeros(n, dtype=bool)
    if "dormant_since" in t:
        dormant = (_local_dates(t["dormant_since"], timezone) <= start_ts).fillna(False)
        dormant = dormant.to_numpy(bool)
    else:
        dormant = np.zeros(n, dtype=bool)
    n_users = t["n_users"].fillna(1).astype(int).to_numpy() if "n_users" in t else np.ones(n, int)
    treated = (assigned["arm"] == "treatment").to_numpy()

    key = _stable_int(experiment_id)
    decide = np.random.default_rng(np.random.SeedSequence([seed, key], spawn_key=(0,)))
    detail = np.random.default_rng(np.random.SeedSequence([seed, key], spawn_key=(1,)))
    deal_rng = np.random.default_rng(np.random.SeedSequence([seed, key], spawn_key=(2,)))

    # who opens, how far they get, what they would gain: drawn for every assigned partner
    items = [(s_i, cid, when) for s_i, s in enumerate(steps) for cid, when in s.items]
    n_steps, n_items = len(steps), len(items)
    item_step = np.array([s_i for s_i, _, _ in items])
    z = ndtri(np.clip(engagement, 1e-6, 1 - 1e-6))
    logit = np.log(effect.uptake / (1 - effect.uptake)) if 0 < effect.uptake < 1 else None
    u_open = decide.random(n)
    u_items = decide.random((n, n_items))
    u_next = decide.random((n, max(n_steps - 1, 0)))
    if logit is None:
        opened = np.full(n, effect.uptake >= 1)
    else:
        opened = u_open < 1 / (1 + np.exp(-(logit + z - 1.5 * dormant)))
    q_item = 0.7 + 0.25 * engagement
    done = u_items < q_item[:, None]
    go_on = u_next < effect.continuation(n_steps)[None, :]
    reached = np.zeros((n, n_steps), dtype=bool)
    reached[:, 0] = opened
    step_done = np.zeros((n, n_steps), dtype=bool)
    for s_i in range(n_steps):
        if s_i > 0:
            reached[:, s_i] = step_done[:, s_i - 1] & go_on[:, s_i - 1]
        done[:, item_step == s_i] &= reached[:, [s_i]]
        step_done[:, s_i] = reached[:, s_i] & done[:, item_step == s_i].all(axis=1)
    items_done = done.sum(axis=1)
    consumption = items_done / n_items
    mult = np.array([effect.multiplier(r, new_partner=bool(b))
                     for r, b in zip(rank, new_partner, strict=True)])
    tau = effect.base_effect * mult * consumption
    extra_cf = decide.poisson(tau)
    extra = np.where(treated, extra_cf, 0)

    # when and how it shows in the logs: details for everyone, kept for the treated
    span = max(horizon_days, 7 * steps[-1].week)
    cal = _calendar(start, span, timezone)
    week = np.array([s.week for s in steps])
    u_day = detail.random((n, n_steps))
    sec = _time_of_day(detail, n * n_steps).reshape(n, n_steps)
    day = _sample_days(cal.act_cum, np.broadcast_to(7 * (week - 1), (n, n_steps)),
                       np.broadcast_to(7 * week, (n, n_steps)), u_day)
    user = (n_users[:, None] * detail.random((n, n_steps)) ** 1.8).astype(np.int64) + 1
    gaps = 60 + detail.exponential(300.0, (n, n_items, 2)).astype(np.int64)
    u_partial = detail.random((n, n_items))
    u_value = detail.random((n, n_items))

    rows: dict[str, list[np.ndarray]] = {k: [] for k in ("partner", "ts", "user", "type",
                                                         "content", "value")}
    contents: list[str] = []

    def emit(mask: np.ndarray, s_i: int, offset: np.ndarray, etype: str,
             content: int, value: np.ndarray) -> None:
        idx = np.flatnonzero(mask)
        ts = cal.midnight[day[idx, s_i]] + np.minimum(sec[idx, s_i] + offset[idx], 86399)
        rows["partner"].append(idx)
        rows["ts"].append(ts)
        rows["user"].append(user[idx, s_i])
        rows["type"].append(np.full(len(idx), _EV[etype], dtype=np.int8))
        rows["content"].append(np.full(len(idx), content, dtype=np.int64))
        rows["value"].append(value[idx])

    nan = np.full(n, np.nan)

    def values(kind: str | None, u: np.ndarray) -> np.ndarray:
        if kind is None:
            return nan
        lo, width = {"full": (100.0, 0.0), "partial": (10.0, 75.0), "pass": (70.0, 30.0),
                     "fail": (20.0, 49.0), "score": (40.0, 60.0)}[kind]
        return np.round(lo + width * u)

    for s_i in range(n_steps):
        live = treated & reached[:, s_i]
        emit(live, s_i, np.zeros(n, dtype=np.int64), "login", -1, nan)
    clock = np.zeros((n, n_steps), dtype=np.int64)
    for i_i, (s_i, content_id, when) in enumerate(items):
        contents.append(content_id)
        live = treated & reached[:, s_i]
        done_events, partial = DONE_WHEN[when]
        for e_i, (etype, kind) in enumerate(done_events):
            clock[:, s_i] += gaps[:, i_i, min(e_i, 1)]
            emit(live & done[:, i_i], s_i, clock[:, s_i], etype, i_i,
                 values(kind, u_value[:, i_i]))
        if partial is not None:
            etype, kind, chance = partial
            emit(live & ~done[:, i_i] & (u_partial[:, i_i] < chance), s_i, clock[:, s_i],
                 etype, i_i, values(kind, u_value[:, i_i]))

    ev = {k: np.concatenate(v) for k, v in rows.items()}
    order = np.lexsort((ev["ts"], ev["partner"]))
    ev = {k: v[order] for k, v in ev.items()}
    ev["number"] = np.arange(1, len(order) + 1)
    ids = pa.array(assigned["partner_id"].to_numpy(), type=pa.string())
    content_arr = pa.array(contents, type=pa.string())
    types = pa.array(_EVENT_TYPES, type=pa.string())
    users = pa.array([f"{p}-u{k}" for p, k in zip(assigned["partner_id"].to_numpy()
                                                   [ev["partner"]], ev["user"], strict=True)],
                     type=pa.string())
    c = ev["content"]
    events = pa.table({
        "event_id": _fixed_ids(f"{experiment_id}-E", ev["number"], 7),
        "partner_id": ids.take(pa.array(ev["partner"], type=pa.int64())),
        "user_id": users,
        "ts": _timestamps(ev["ts"]),
        "event_type": types.take(pa.array(ev["type"], type=pa.int8())),
        "content_id": content_arr.take(pa.array(np.maximum(c, 0), mask=c < 0,
                                                type=pa.int64())),
        "value": pa.array(ev["value"], mask=np.isnan(ev["value"]), type=pa.float64()),
    })
    yield "events", events

    # extra deals
    who = np.repeat(np.arange(n), extra)
    first_day = day[who, 0]
    lo = np.minimum(first_day + 1, horizon_days - 1)
    deal_day = _sample_days(cal.deal_cum, lo, np.full(len(who), horizon_days),
                            deal_rng.random(len(who)))
    reg_ts = cal.midnight[deal_day] + _time_of_day(deal_rng, len(who))
    rank_code = np.array([_RANKS.index(r) if r in _RANKS else 2 for r in rank[who]], dtype=int)
    median = effect.pipeline_per_deal or _AMOUNT_MEDIAN_YEN
    attrs = _deal_attributes(deal_rng, reg_ts, int(cal.midnight[horizon_days]), rank_code,
                             engagement[who], median)
    prod = product if product is not None else _infer_product(steps, truth)
    dl = {"partner": who, "ts": reg_ts, "product": np.zeros(len(who), dtype=np.int64), **attrs}
    order = np.lexsort((dl["ts"], dl["partner"]))
    dl = {k: v[order] for k, v in dl.items()}
    dl["number"] = np.arange(1, len(who) + 1)
    yield "deals", _deals_table(f"{experiment_id}-D", ids, [prod], [dl], width=6)

    out = pd.DataFrame({
        "experiment_id": experiment_id,
        "partner_id": assigned["partner_id"].to_numpy(),
        "arm": assigned["arm"].to_numpy(),
        "segment": rank,
        "new_partner": new_partner.astype(bool),
        "opened": opened,
        "items_done": items_done.astype(np.int64),
        "steps_completed": step_done.sum(axis=1).astype(np.int64),
        "consumption": consumption.astype(float),
        "tau": tau.astype(float),
        "extra_deals": extra.astype(np.int64),
    })
    if baseline_post is not None:
        if "partner_id" not in baseline_post.columns:
            raise DataValidationError("column 'partner_id' is missing", where="baseline_post")
        base = baseline_post.drop_duplicates("partner_id").astype({"partner_id": str})
        base = base.rename(columns={c: c if c.startswith("baseline_") else f"baseline_{c}"
                                    for c in base.columns if c != "partner_id"})
        out = out.merge(base, on="partner_id", how="left")
        if "baseline_deals" in out:
            out["expected_deals_if_treated"] = out["baseline_deals"].fillna(0) + out["tau"]
    yield "sim_truth", _arrow(out)


def _arrow(df: pd.DataFrame) -> pa.Table:
    """A pandas frame as an Arrow table with plain ``string`` columns and no pandas metadata."""
    table = pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(None)
    fields = [pa.field(f.name, pa.string()) if pa.types.is_large_string(f.type) else f
              for f in table.schema]
    return table.cast(pa.schema(fields))
