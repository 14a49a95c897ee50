"""The simulator's seeded output, pinned: refactoring the simulator must not change one value.

Every demo, test and validation figure is computed on simulated worlds; a silent change of the
draws would move all of them. The digests below are of a small world and a delivery into it; if
a change of the simulated world is intended, say so in the commit and update them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa

from supportlab.sim.simulate import (
    EffectModel,
    PackageStep,
    SimulationConfig,
    simulate_delivery,
    simulate_world,
)

WORLD = {
    "contents": "9f4f15a1d3fe75d4",
    "deals": "c2badd1e82848285",
    "events": "aff14389371aa228",
    "partner_products": "117b1105424c170e",
    "partners": "19e015bee1683d28",
    "sim_partners": "1fdb620098831dbe",  # + activity_drift, deal_drift (for the continuation)
    "sim_state": "9168bbab619d1ab7",
}
DELIVERY = {
    "deals": "37ddf140309628b5",
    "events": "82a9cead3b48ed19",
    "sim_truth": "64cffc1845722cd9",
}

STEPS = (
    PackageStep(1, (("video-a-intro", "video_complete"), ("proposal-template-a", "download"))),
    PackageStep(2, (("training-a", "training_complete"), ("quiz-a", "test_pass"))),
)


def digest(table: pa.Table) -> str:
    """A digest of a table's values, column names and order (not of its chunking)."""
    df = table.to_pandas()
    h = hashlib.sha256(",".join(df.columns).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def digests(chunks: Iterable[tuple[str, pa.Table]]) -> dict[str, str]:
    tables: dict[str, list[pa.Table]] = {}
    for name, table in chunks:
        tables.setdefault(name, []).append(table)
    return {name: digest(pa.concat_tables(parts)) for name, parts in sorted(tables.items())}


def world() -> dict[str, pa.Table]:
    tables: dict[str, list[pa.Table]] = {}
    for name, table in simulate_world(SimulationConfig(n_partners=150, days=90, seed=7,
                                                       end=dt.date(2026, 11, 1), chunk_partners=60)):
        tables.setdefault(name, []).append(table)
    return {name: pa.concat_tables(parts) for name, parts in tables.items()}


def test_the_seeded_world_is_unchanged():
    assert {name: digest(t) for name, t in sorted(world().items())} == WORLD


def test_the_seeded_delivery_is_unchanged():
    truth = world()["sim_partners"].to_pandas()
    arm = np.where(np.random.default_rng(2).random(len(truth)) < 0.5, "treatment", "control")
    assigned = pd.DataFrame({"partner_id": truth["partner_id"], "arm": arm})
    out = simulate_delivery(truth, assigned, STEPS, experiment_id="fp", start=dt.date(2026, 9, 1),
                            horizon_days=60, effect=EffectModel(base_effect=1.0), seed=9)
    assert digests(out) == DELIVERY
