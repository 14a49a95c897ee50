"""Repeated looks: always-valid confidence sequences for weekly reports.

Scheduled weekly reports look at the same experiment again and again; a fixed-horizon interval
checked every week excludes zero by chance far more often than 5% of the time. supportlab's
sequential method is the **normal-mixture confidence sequence** in information time (Robbins
1970; Howard, Ramdas, McAuliffe & Sekhon 2021; the asymptotic form of Waudby-Smith, Arnold, Wu,
McAuliffe & Ramdas 2021). At look *k*, with estimate ``θ_k`` and standard error ``se_k``
(information ``1/se_k²``) and a mixture scale ``ρ``::

    η_k = ρ² / se_k²
    CS_k = θ_k ± se_k · sqrt((1 + η_k)/η_k · (2·log(1/α) + log(1 + η_k)))

The whole sequence covers the effect with probability at least ``1 − α`` *simultaneously at
every look*, however many and whenever taken, provided the estimate evolves like a Gaussian
process with independent increments in information time (true asymptotically for accruing
units; for a fixed set of units whose outcomes accumulate, positively correlated weekly
increments make it conservative, see ``validation/README.md``). ``ρ`` is fixed in advance: set it
to the smallest effect worth acting on (``min_effect``) or the planned minimum detectable effect;
the sequence is tightest where ``se ≈ ρ/2.8``.

Early stopping is for **harm** only: :attr:`SequentialResult.stop_for_harm` is true once the
sequence lies entirely on the harmful side of ``harm_threshold``. Promotion waits for the
planned horizon (see :func:`supportlab.stats.decision.decide`).

Example:
    >>> weekly = pd.DataFrame({"effect": [0.3, -0.4, -0.5], "se": [0.4, 0.2, 0.1]})
    >>> res = sequential_looks(weekly, mixture_sd=0.3)
    >>> [round(x, 3) for x in res.to_frame()["cs_upper"]]
    [1.992, 0.244, -0.196]
    >>> res.stop_for_harm, res.harm_look
    (True, 3)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from scipy import stats

from supportlab.errors import ConfigError, DataValidationError
from supportlab.results import ResultMixin
from supportlab.stats.estimation import Estimate
from supportlab.stats.num import TINY, two_sided_p

__all__ = ["METHOD", "SequentialLook", "SequentialResult", "boundary_multiplier",
           "confidence_sequence", "sequential_looks"]

#: how results describe the method
METHOD = ("always-valid normal-mixture confidence sequence (Howard et al. 2021; "
          "Waudby-Smith et al. 2021): valid at every look, however many")


def _check(alpha: float, mixture_sd: float) -> None:
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha == {alpha!r}, must be in (0, 1)", where="sequential",
                          fix="use e.g. 0.05")
    if not (mixture_sd > 0 and math.isfinite(mixture_sd)):
        raise ConfigError(f"mixture_sd == {mixture_sd!r}, must be a positive number",
                          where="sequential",
                          fix="set it in advance to min_effect or the planned minimum "
                              "detectable effect (in outcome units)")


def boundary_multiplier(se: Any, *, mixture_sd: float, alpha: float = 0.05) -> np.ndarray:
    """Half-width of the confidence sequence in standard errors (≥ the fixed z value).

    Example:
        >>> round(float(boundary_multiplier(0.1, mixture_sd=0.28)), 3)
        3.035
    """
    _check(alpha, mixture_sd)
    se = np.asarray(se, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = mixture_sd**2 / se**2
        return np.sqrt((1 + eta) / eta * (2 * math.log(1 / alpha) + np.log1p(eta)))


def confidence_sequence(effect: Any, se: Any, *, mixture_sd: float,
                        alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper ends of the always-valid interval at each look (vectorized).

    Example:
        >>> lo, hi = confidence_sequence([0.5], [0.1], mixture_sd=0.28)
        >>> round(float(lo[0]), 3), round(float(hi[0]), 3)
        (0.196, 0.804)
    """
    effect = np.asarray(effect, dtype=float)
    se = np.asarray(se, dtype=float)
    half = se * boundary_multiplier(se, mixture_sd=mixture_sd, alpha=alpha)
    return effect - half, effect + half


def _always_valid_p(effect: np.ndarray, se: np.ndarray, mixture_sd: float) -> np.ndarray:
    """Running minimum of ``1 / M_k`` with ``M_k`` the normal-mixture likelihood ratio."""
    eta = mixture_sd**2 / se**2
    z2 = (effect / se) ** 2
    log_m = eta * z2 / (2 * (1 + eta)) - 0.5 * np.log1p(eta)
    p = np.maximum(np.exp(np.minimum(0.0, -log_m)), TINY)  # never exactly 0
    return np.minimum.accumulate(p)


@dataclass(frozen=True)
class SequentialLook(ResultMixin):
    """One look of a sequentially monitored experiment.

    Attributes:
        look: look number (1 = first).
        effect: estimate at this look.
        se: its standard error.
        ci_lower: fixed-horizon interval (valid only if this were the only look).
        ci_upper: fixed-horizon interval, upper end.
        cs_lower: always-valid interval, lower end.
        cs_upper: always-valid interval, upper end.
        p_value: fixed-horizon p-value (not valid under repeated looks).
        p_value_always_valid: always-valid p-value (running minimum up to this look).
        harm: the always-valid interval lies entirely on the harmful side.
    """

    _title: ClassVar[str] = "Sequential look"
    _title_ja: ClassVar[str] = "逐次の確認"

    look: int
    effect: float
    se: float
    ci_lower: float
    ci_upper: float
    cs_lower: float
    cs_upper: float
    p_value: float
    p_value_always_valid: float
    harm: bool


@dataclass(frozen=True)
class SequentialResult(ResultMixin):
    """All looks so far, with the always-valid intervals and the harm-stopping verdict.

    Attributes:
        method: which sequential method applies (:data:`METHOD`).
        alpha: error rate over all looks together.
        mixture_sd: the mixture scale ρ fixed in advance.
        better: ``higher`` or ``lower`` (which direction of the effect is good).
        harm_threshold: the sequence must pass this value on the harmful side to stop.
        looks: every :class:`SequentialLook`.
        stop_for_harm: true once a look shows harm.
        harm_look: the first look that showed harm.
        applies: what the guarantee covers and what is not allowed.
    """

    _title: ClassVar[str] = "Sequential monitoring"
    _title_ja: ClassVar[str] = "逐次モニタリング"

    method: str
    alpha: float
    mixture_sd: float
    better: str
    harm_threshold: float
    looks: tuple[SequentialLook, ...]
    stop_for_harm: bool
    harm_look: int | None
    applies: str

    @property
    def last(self) -> SequentialLook:
        """The latest look."""
        return self.looks[-1]

    def to_frame(self) -> pd.DataFrame:
        """One row per look."""
        return pd.DataFrame([{f: getattr(lk, f) for f in (
            "look", "effect", "se", "ci_lower", "ci_upper", "cs_lower", "cs_upper", "p_value",
            "p_value_always_valid", "harm")} for lk in self.looks])

    def _headline(self, lang: str) -> str:
        if self.stop_for_harm:
            return (f"{self.harm_look} 回目で悪化を検出（停止）" if lang == "ja"
                    else f"HARM at look {self.harm_look}: stop")
        n = len(self.looks)
        return f"{n} 回、悪化なし" if lang == "ja" else f"{n} look(s), no harm"


def sequential_looks(looks: Sequence[Estimate] | pd.DataFrame, *, mixture_sd: float,
                     alpha: float = 0.05, better: Literal["higher", "lower"] = "higher",
                     harm_threshold: float = 0.0) -> SequentialResult:
    """Always-valid intervals for a series of looks at one experiment.

    Args:
        looks: the estimates at each look in time order (:class:`Estimate` objects, or a
            frame with ``effect`` and ``se`` columns).
        mixture_sd: mixture scale ρ, fixed before the first look (min_effect or planned MDE,
            in outcome units).
        alpha: error rate over all looks together.
        better: ``higher`` when a positive effect is good, ``lower`` otherwise.
        harm_threshold: harm means the always-valid interval lies entirely beyond this value on
            the harmful side (0 = any harm; ``-margin`` for a guardrail with a margin).

    Returns:
        A :class:`SequentialResult`.

    Raises:
        DataValidationError: no looks, or a standard error that is not positive.
    """
    _check(alpha, mixture_sd)
    if better not in ("higher", "lower"):
        raise ConfigError(f"better == {better!r}", where="sequential",
                          fix="use 'higher' or 'lower'")
    if isinstance(looks, pd.DataFrame):
        missing = [c for c in ("effect", "se") if c not in looks.columns]
        if missing:
            raise DataValidationError(f"columns {missing} not found", where="sequential looks",
                                      fix="give one row per look with 'effect' and 'se'")
        eff = looks["effect"].to_numpy(dtype=float)
        se = looks["se"].to_numpy(dtype=float)
        ci = None
        pv = None
    else:
        looks = list(looks)
        eff = np.array([e.effect for e in looks], dtype=float)
        se = np.array([e.se for e in looks], dtype=float)
        ci = [(e.ci_lower, e.ci_upper) for e in looks]
        pv = [e.p_value for e in looks]
    if len(eff) == 0:
        raise DataValidationError("no looks given", where="sequential",
                                  fix="pass at least one estimate")
    if not np.all(se > 0) or not np.all(np.isfinite(eff)):
        raise DataValidationError("every look needs a finite effect and a positive standard "
                                  "error", where="sequential",
                                  fix="check the estimates (a constant outcome has no se)")
    lo, hi = confidence_sequence(eff, se, mixture_sd=mixture_sd, alpha=alpha)
    pav = _always_valid_p(eff, se, mixture_sd)
    z = stats.norm.isf(alpha / 2)
    out = []
    harm_look = None
    for i in range(len(eff)):
        harm = bool(hi[i] < harm_threshold) if better == "higher" else bool(
            lo[i] > harm_threshold)
        if harm and harm_look is None:
            harm_look = i + 1
        cl, cu = ci[i] if ci is not None else (eff[i] - z * se[i], eff[i] + z * se[i])
        p = pv[i] if pv is not None else two_sided_p(float(eff[i] / se[i]), math.inf)
        out.append(SequentialLook(look=i + 1, effect=float(eff[i]), se=float(se[i]),
                                  ci_lower=float(cl), ci_upper=float(cu), cs_lower=float(lo[i]),
                                  cs_upper=float(hi[i]), p_value=float(p),
                                  p_value_always_valid=float(pav[i]), harm=harm))
    applies = ("always-valid: the intervals and p-values hold at every look together; stop "
               "early only for harm, decide promotion at the planned horizon")
    return SequentialResult(method=METHOD, alpha=alpha, mixture_sd=float(mixture_sd),
                            better=better, harm_threshold=float(harm_threshold),
                            looks=tuple(out), stop_for_harm=harm_look is not None,
                            harm_look=harm_look, applies=applies)
