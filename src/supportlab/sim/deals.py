"""Simulated deals: heavy-tailed yen amounts, stages, closing dates and outcomes.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> attrs = deal_attributes(rng, np.array([0, 0]), 86400 * 365, np.array([0, 3]),
    ...                         np.array([0.9, 0.2]), AMOUNT_MEDIAN_YEN)
    >>> attrs["closed"].tolist(), bool((attrs["amount"] >= 50_000).all())
    ([True, True], True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from supportlab.sim.columns import DEALS_SCHEMA, fixed_ids, pieces, timestamps
from supportlab.vocab import DEAL_STAGES

__all__ = ["AMOUNT_MEDIAN_YEN", "AMOUNT_PRODUCT", "AMOUNT_RANK", "AMOUNT_SIGMA", "deal_attributes",
           "deals_table"]

_WON, _LOST = DEAL_STAGES.index("won"), DEAL_STAGES.index("lost")
#: deal-size factor by rank (S, A, B, C)
AMOUNT_RANK = np.array([2.0, 1.4, 1.0, 0.8])
#: deal-size factor of the 1st, 2nd, ... configured product (cycled)
AMOUNT_PRODUCT = (1.0, 1.6, 0.7, 1.2, 0.9)
#: median deal amount (yen) of a B-rank partner's first product
AMOUNT_MEDIAN_YEN = 1_500_000.0
#: log-scale spread of deal amounts
AMOUNT_SIGMA = 0.95


def deal_attributes(rng: np.random.Generator, reg_ts: NDArray[Any], as_of: int,
                    rank: NDArray[Any], engagement: NDArray[Any],
                    median: NDArray[Any] | float) -> dict[str, NDArray[Any]]:
    """Amount, stage, closing time and outcome of deals registered at ``reg_ts``.

    Args:
        rng: the random stream.
        reg_ts: registration times, UTC epoch seconds.
        as_of: the end of history (UTC epoch seconds): deals closing later are still open, at
            a stage that follows their progress.
        rank: rank codes (0 = S ... 3 = C).
        engagement: the partners' latent engagement (0–1): engaged partners win more often.
        median: median amount (yen) before the rank factor, per deal or for all.

    Returns:
        Arrays ``amount``, ``stage`` (codes of :data:`supportlab.vocab.DEAL_STAGES`),
        ``closed_ts``, ``closed`` and ``won``.
    """
    n = len(reg_ts)
    z_amount, z_duration = rng.standard_normal(n), rng.standard_normal(n)
    u_win, u_hour = rng.random(n), rng.random(n)
    amount = np.maximum(np.round(median * AMOUNT_RANK[rank] * np.exp(AMOUNT_SIGMA * z_amount),
                                 -3), 50_000.0)
    duration = 86400.0 * np.exp(np.log(45.0) + 0.6 * z_duration)
    closed_ts = reg_ts + duration.astype(np.int64) + ((u_hour - 0.5) * 4 * 3600).astype(np.int64)
    closed_ts = np.maximum(closed_ts, reg_ts + 3600)
    closed = closed_ts < as_of
    won = u_win < 0.25 + 0.3 * engagement
    progress = (as_of - reg_ts) / duration
    open_stage = np.searchsorted([0.2, 0.45, 0.75], progress, side="right")
    stage = np.where(closed, np.where(won, _WON, _LOST), open_stage).astype(np.int8)
    return {"amount": amount, "stage": stage, "closed_ts": closed_ts, "closed": closed,
            "won": won}


def deals_table(prefix: str, partner_ids: pa.Array, products: Sequence[str | None],
                parts: list[dict[str, NDArray[Any]]], width: int = 9) -> pa.Table:
    """A ``deals`` table from drawn deals (``parts`` as built by the simulator, consumed).

    Args:
        prefix: the deal id prefix (``D`` in the world, ``<experiment>-D`` for a delivery).
        partner_ids: the partner id of each partner index.
        products: the product name of each product index.
        parts: per block of partners, arrays ``partner``, ``number``, ``ts``, ``product`` and
            those of :func:`deal_attributes`.
        width: digits of the deal number.
    """
    stages = pa.array(DEAL_STAGES, type=pa.string())
    product_arr = pa.array(list(products), type=pa.string())
    batches = []
    for dl in pieces(parts):
        closed = dl["closed"]
        batches.append(pa.RecordBatch.from_arrays([
            fixed_ids(prefix, dl["number"], width),
            partner_ids.take(pa.array(dl["partner"])),
            product_arr.take(pa.array(dl["product"])),
            timestamps(dl["ts"]),
            stages.take(pa.array(dl["stage"])),
            pa.array(dl["amount"], type=pa.float64()),
            timestamps(dl["closed_ts"], mask=~closed),
            pa.array(dl["won"], mask=~closed, type=pa.bool_()),
        ], schema=DEALS_SCHEMA))
    return pa.Table.from_batches(batches, schema=DEALS_SCHEMA)

