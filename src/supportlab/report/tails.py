"""The heavy-tail description of an experiment's outcomes (the report's heavy-tail panel).

Partner outcomes are heavy-tailed: a few partners register most deals. Beside the mean the
panel shows, per arm, the median, the mean after capping every outcome at the pooled 99th
percentile (the cap :func:`supportlab.stats.estimation.analyze` uses with ``winsorize=0.99``)
and how much of the difference in means the top 1% of partners carry.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CAP_QUANTILE", "TOP_SHARE", "ArmTail", "HeavyTail", "heavy_tail"]


#: the pooled quantile of the winsorization cap (the library's ``winsorize=0.99``)
CAP_QUANTILE = 0.99

#: the share of partners (pooled, by outcome) whose part of the difference is shown
TOP_SHARE = 0.01


@dataclass(frozen=True)
class ArmTail:
    """One arm's outcomes, described.

    Attributes:
        arm: the arm.
        n: partners with an outcome.
        mean / median: of the raw outcomes.
        winsorized_mean: the mean after capping at :attr:`HeavyTail.cap`.
        n_capped: values above the cap.
        n_top: partners among the top ones (:attr:`HeavyTail.top`).
    """

    arm: str
    n: int
    mean: float
    median: float
    winsorized_mean: float
    n_capped: int
    n_top: int


@dataclass(frozen=True)
class HeavyTail:
    """How far a few partners drive the raw difference (descriptive; the effect is the model's).

    The cap is one value for both arms, the :data:`CAP_QUANTILE` quantile of the pooled outcomes
    (``numpy.quantile``'s linear interpolation, definition 7 of Hyndman & Fan 1996, as the
    library's ``winsorize=0.99``); values above it are set to it. The top partners are those
    whose outcome is above the ``k+1``-th largest of all partners, ``k`` the
    :data:`TOP_SHARE` of them rounded up (at least one): at most ``k`` partners, never a split
    tie and never a zero. The treatment-minus-control difference
    in sums scales the control arm to the treatment arm's size,
    ``D = Σ_T y − (n_T / n_C) Σ_C y = n_T (mean_T − mean_C)``, so it splits exactly into the top
    partners' part and the others'; ``top_share`` is the top partners' part of ``D``.

    Attributes:
        control / treatment: the two arms compared.
        cap: the winsorization cap.
        quantile: its pooled quantile.
        top_fraction: the share of partners counted as top.
        top: partners counted as top (both arms; 0 when the largest outcomes tie).
        difference_in_sums: ``D``.
        top_share: the top partners' part of ``D`` (NaN when ``D`` is 0; above 1 or below 0
            when the others pull the other way).
        difference_without_top: mean_T − mean_C over the other partners.
    """

    control: ArmTail
    treatment: ArmTail
    cap: float
    quantile: float
    top_fraction: float
    top: int
    difference_in_sums: float
    top_share: float
    difference_without_top: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (NaN -> ``None``)."""
        def clean(v: Any) -> Any:
            return None if isinstance(v, float) and not math.isfinite(v) else v
        d = dataclasses.asdict(self)
        return {k: ({a: clean(b) for a, b in v.items()} if isinstance(v, dict) else clean(v))
                for k, v in d.items()}


def heavy_tail(outcomes: Mapping[str, Sequence[float]], control: str, treatment: str, *,
               quantile: float = CAP_QUANTILE, top_fraction: float = TOP_SHARE) -> HeavyTail | None:
    """Describe the two arms' outcomes (see :class:`HeavyTail`); ``None`` when an arm has none.

    Example:
        >>> t = heavy_tail({"control": [0, 1, 1, 2], "treatment": [0, 1, 2, 41]}, "control",
        ...                "treatment", top_fraction=0.1)
        >>> t.top, t.difference_in_sums, t.top_share, t.difference_without_top
        (1, 40.0, 1.025, 0.0)
    """
    yc = np.asarray([float(v) for v in outcomes.get(control, ())], dtype=float)
    yt = np.asarray([float(v) for v in outcomes.get(treatment, ())], dtype=float)
    yc, yt = yc[np.isfinite(yc)], yt[np.isfinite(yt)]
    if not len(yc) or not len(yt):
        return None
    pooled = np.concatenate([yc, yt])
    cap = float(np.quantile(pooled, quantile))
    k = max(1, math.ceil(top_fraction * len(pooled)))
    above = float(np.sort(pooled)[::-1][k]) if k < len(pooled) else -math.inf
    tc, tt = (yc > above) & (yc > 0), (yt > above) & (yt > 0)
    r = len(yt) / len(yc)
    d = float(yt.sum() - r * yc.sum())
    part = float(yt[tt].sum() - r * yc[tc].sum())
    rest_c, rest_t = yc[~tc], yt[~tt]
    without = (float(rest_t.mean() - rest_c.mean()) if len(rest_c) and len(rest_t)
               else math.nan)

    def arm(name: str, y: np.ndarray, top: np.ndarray) -> ArmTail:
        return ArmTail(arm=name, n=len(y), mean=float(y.mean()), median=float(np.median(y)),
                       winsorized_mean=float(np.minimum(y, cap).mean()),
                       n_capped=int((y > cap).sum()), n_top=int(top.sum()))

    return HeavyTail(control=arm(control, yc, tc), treatment=arm(treatment, yt, tt), cap=cap,
                     quantile=quantile, top_fraction=top_fraction, top=int(tc.sum() + tt.sum()),
                     difference_in_sums=d, top_share=part / d if d != 0 else math.nan,
                     difference_without_top=without)
