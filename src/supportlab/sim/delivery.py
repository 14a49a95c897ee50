"""Delivering a support package in the simulated world, with the true effects beside the data.

Start with :func:`simulate_delivery`: given the world's ground truth (``sim_partners``), the
assignment of partners to arms, the package's weekly :class:`PackageStep` s and an
:class:`EffectModel`, it yields the package events and extra deals of the treatment arm and
``sim_truth``, every assigned partner's individual true effect.

Example:
    >>> EffectModel(base_effect=1.0).multiplier("S")
    0.5
    >>> PackageStep(2, (("quiz-a", "test_pass"),)).items[0][1]
    'test_pass'
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import NDArray
from scipy.special import ndtri

from supportlab.errors import ConfigError, DataValidationError
from supportlab.sim.calendar import business_calendar, sample_days, time_of_day
from supportlab.sim.catalogue import EVENT_CODES, slug
from supportlab.sim.columns import fixed_ids, timestamps, to_arrow
from supportlab.sim.deals import AMOUNT_MEDIAN_YEN, deal_attributes, deals_table
from supportlab.vocab import EVENT_TYPES, RANKS

__all__ = ["DONE_WHEN", "EffectModel", "PackageStep", "simulate_delivery"]

#: how each ``done_when`` shows in the events: the events of a done item, and what a partner
#: who reached the step but did not finish the item leaves behind (event, value kind, chance)
DONE_WHEN: Mapping[str, tuple[tuple[tuple[str, str | None], ...],
                              tuple[str, str | None, float] | None]] = {
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

    def continuation(self, n_steps: int) -> NDArray[Any]:
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
    known = {slug(p): p for s in truth["products"].dropna().unique() for p in str(s).split("|")}
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
    cal = business_calendar(start, span, timezone)
    week = np.array([s.week for s in steps])
    u_day = detail.random((n, n_steps))
    sec = time_of_day(detail, n * n_steps).reshape(n, n_steps)
    day = sample_days(cal.act_cum, np.broadcast_to(7 * (week - 1), (n, n_steps)),
                       np.broadcast_to(7 * week, (n, n_steps)), u_day)
    user = (n_users[:, None] * detail.random((n, n_steps)) ** 1.8).astype(np.int64) + 1
    gaps = 60 + detail.exponential(300.0, (n, n_items, 2)).astype(np.int64)
    u_partial = detail.random((n, n_items))
    u_value = detail.random((n, n_items))

    rows: dict[str, list[NDArray[Any]]] = {k: [] for k in ("partner", "ts", "user", "type",
                                                         "content", "value")}
    contents: list[str] = []

    def emit(mask: NDArray[Any], s_i: int, offset: NDArray[Any], etype: str,
             content: int, value: NDArray[Any]) -> None:
        idx = np.flatnonzero(mask)
        ts = cal.midnight[day[idx, s_i]] + np.minimum(sec[idx, s_i] + offset[idx], 86399)
        rows["partner"].append(idx)
        rows["ts"].append(ts)
        rows["user"].append(user[idx, s_i])
        rows["type"].append(np.full(len(idx), EVENT_CODES[etype], dtype=np.int8))
        rows["content"].append(np.full(len(idx), content, dtype=np.int64))
        rows["value"].append(value[idx])

    nan = np.full(n, np.nan)

    def values(kind: str | None, u: NDArray[Any]) -> NDArray[Any]:
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
    types = pa.array(EVENT_TYPES, type=pa.string())
    users = pa.array([f"{p}-u{k}" for p, k in zip(assigned["partner_id"].to_numpy()
                                                   [ev["partner"]], ev["user"], strict=True)],
                     type=pa.string())
    c = ev["content"]
    events = pa.table({
        "event_id": fixed_ids(f"{experiment_id}-E", ev["number"], 7),
        "partner_id": ids.take(pa.array(ev["partner"], type=pa.int64())),
        "user_id": users,
        "ts": timestamps(ev["ts"]),
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
    deal_day = sample_days(cal.deal_cum, lo, np.full(len(who), horizon_days),
                            deal_rng.random(len(who)))
    reg_ts = cal.midnight[deal_day] + time_of_day(deal_rng, len(who))
    rank_code = np.array([RANKS.index(r) if r in RANKS else 2 for r in rank[who]], dtype=int)
    median = effect.pipeline_per_deal or AMOUNT_MEDIAN_YEN
    attrs = deal_attributes(deal_rng, reg_ts, int(cal.midnight[horizon_days]), rank_code,
                             engagement[who], median)
    prod = product if product is not None else _infer_product(steps, truth)
    dl = {"partner": who, "ts": reg_ts, "product": np.zeros(len(who), dtype=np.int64), **attrs}
    order = np.lexsort((dl["ts"], dl["partner"]))
    dl = {k: v[order] for k, v in dl.items()}
    dl["number"] = np.arange(1, len(who) + 1)
    yield "deals", deals_table(f"{experiment_id}-D", ids, [prod], [dl], width=6)

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
    yield "sim_truth", to_arrow(out)
