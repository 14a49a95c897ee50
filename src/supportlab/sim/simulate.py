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

:func:`continue_world` continues the world beyond its history: everyone's untreated
behaviour over a later period, from the stored latent state and with the same rules
(``sim_state`` records how far the world has gone, so it is continued once).
:func:`simulate_delivery` then adds the consequences of delivering a support package to the
treatment arm of an experiment (package events, extra deals) and yields ``sim_truth``, the
individual true effects from which the true average effects follow.

The simulator lives in one module per topic: :mod:`.world` (the configuration, partners,
events and deals), :mod:`.continuation` (the world after its history), :mod:`.delivery`
(packages delivered with true effects), :mod:`.calendar` (business days and hours),
:mod:`.catalogue` (contents and how partners act on them), :mod:`.deals` (amounts and
stages) and :mod:`.columns` (Arrow ids, timestamps, schemas). This module gathers the public
names, so ``from supportlab.sim.simulate import simulate_world`` keeps working.

Randomness comes only from ``numpy.random.Generator`` objects seeded from the configured seed;
the same configuration yields the same data, whatever ``chunk_partners`` is.

Example:
    >>> import datetime as dt
    >>> cfg = SimulationConfig(n_partners=20, days=30, end=dt.date(2026, 11, 1))
    >>> tables = {}
    >>> for name, table in simulate_world(cfg):
    ...     tables[name] = tables.get(name, 0) + table.num_rows
    >>> sorted(tables)
    ['contents', 'deals', 'events', 'partner_products', 'partners', 'sim_partners', 'sim_state']
    >>> tables["partners"]
    20
"""

from __future__ import annotations

from supportlab.sim.catalogue import content_catalogue
from supportlab.sim.continuation import CONTINUATION_VERSION, continue_world, latent_state
from supportlab.sim.delivery import DONE_WHEN, EffectModel, PackageStep, simulate_delivery
from supportlab.sim.world import (
    DEFAULT_EVENTS_PER_PARTNER_PER_DAY,
    WORLD_VERSION,
    SimulationConfig,
    config_from_json,
    config_json,
    expected_event_count,
    simulate_world,
    world_state,
)

__all__ = [
    "CONTINUATION_VERSION",
    "DEFAULT_EVENTS_PER_PARTNER_PER_DAY",
    "DONE_WHEN",
    "WORLD_VERSION",
    "EffectModel",
    "PackageStep",
    "SimulationConfig",
    "config_from_json",
    "config_json",
    "content_catalogue",
    "continue_world",
    "expected_event_count",
    "latent_state",
    "simulate_delivery",
    "simulate_world",
    "world_state",
]
