"""Numerical building blocks of the estimators: critical values, p-values that never underflow to
zero, intervals (t, delta-method relative, Newcombe) and seeded random generators.

Pure functions of numbers and arrays; every estimator and check in :mod:`supportlab.stats`
shares them, so that a p-value or a critical value is computed one way everywhere.

Example:
    >>> round(critical_value(0.05, math.inf), 4), two_sided_p(40.0, math.inf) > 0
    (1.96, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import stats

from supportlab.errors import ConfigError

__all__ = [
    "TINY",
    "SeedLike",
    "check_level",
    "critical_value",
    "invert_test",
    "make_rng",
    "newcombe_interval",
    "newcombe_p_value",
    "relative_interval",
    "skewness",
    "t_interval",
    "two_sided_p",
]

#: the smallest positive float: p-values below it are reported as it, never as 0
TINY = float(np.finfo(float).tiny)

#: an integer seed, a ``numpy.random.Generator``, or ``None`` for fresh recorded entropy
SeedLike = int | np.random.Generator | None


def check_level(confidence_level: float) -> float:
    """Validate a confidence level and return it as a float in ``[0.5, 1)``.

    Raises:
        ConfigError: not a number, or outside ``[0.5, 1)``.

    Example:
        >>> check_level(0.9)
        0.9
    """
    try:
        level = float(confidence_level)
    except (TypeError, ValueError):
        raise ConfigError(f"confidence_level == {confidence_level!r}, must be a number",
                          fix="use e.g. 0.95") from None
    if not 0.5 <= level < 1:
        raise ConfigError(f"confidence_level == {confidence_level!r}, must be in [0.5, 1)",
                          fix="use e.g. 0.95 for 95% intervals")
    return level


def critical_value(alpha: float, df: float) -> float:
    """Two-sided critical value at level ``alpha`` of t(df), or the normal when df is inf.

    Example:
        >>> round(critical_value(0.05, 10), 4)
        2.2281
    """
    if not math.isfinite(df):
        return float(stats.norm.isf(alpha / 2))
    return float(stats.t.isf(alpha / 2, df))


def two_sided_p(stat: float, df: float) -> float:
    """Two-sided p-value of a z or t statistic, from the log survival function.

    Never 0: below the smallest float it is :data:`TINY`.

    Example:
        >>> round(two_sided_p(1.96, math.inf), 4), two_sided_p(60.0, math.inf) == TINY
        (0.05, True)
    """
    if not math.isfinite(stat):
        return math.nan
    a = abs(stat)
    logp = (stats.norm.logsf(a) if not math.isfinite(df) else stats.t.logsf(a, df)) + math.log(2)
    return float(max(min(math.exp(logp), 1.0), TINY))


def relative_interval(effect: float, mean_c: float, var_eff: float, var_c: float,
                      cov_eff_c: float, crit: float) -> tuple[float, float, float, float]:
    """Relative effect ``effect / mean_c`` with its delta-method standard error and interval.

    Uses ``Var(e/c) ≈ Var(e)/c² + e²Var(c)/c⁴ − 2e·Cov(e, c)/c³``: the variance of both means
    (and their covariance) enters, the absolute interval is never simply rescaled. A control
    mean of zero or below gives NaNs (a relative change has no meaning there).

    Returns:
        ``(relative effect, standard error, lower, upper)``.

    Example:
        >>> [round(x, 3) for x in relative_interval(1.0, 10.0, 0.04, 0.01, -0.01, 1.96)]
        [0.1, 0.021, 0.06, 0.14]
    """
    if not math.isfinite(mean_c) or mean_c <= 1e-12 * max(1.0, abs(effect)):
        # a change relative to a control mean of zero or below has no meaning
        return math.nan, math.nan, math.nan, math.nan
    r = effect / mean_c
    var = (var_eff / mean_c**2 + effect**2 * var_c / mean_c**4
           - 2 * effect * cov_eff_c / mean_c**3)
    se = math.sqrt(max(var, 0.0))
    return r, se, r - crit * se, r + crit * se


def skewness(y: np.ndarray) -> float:
    """Sample skewness g1 = m3 / m2^1.5 (0 for fewer than 3 values or no variation).

    Example:
        >>> skewness(np.array([1.0, 2.0, 3.0])), round(skewness(np.array([0.0, 0.0, 9.0])), 3)
        (0.0, 0.707)
    """
    n = len(y)
    if n < 3:
        return 0.0
    dev = y - y.mean()
    sq = dev * dev
    m2 = float(sq.sum()) / n
    if m2 <= 0:
        return 0.0
    return float(np.dot(sq, dev)) / n / m2**1.5


def t_interval(effect: float, se: float, df: float,
               alpha: float) -> tuple[tuple[float, float], float]:
    """The ``1 − alpha`` interval ``effect ± t·se`` and the two-sided p-value of "no effect".

    A standard error that is not positive gives NaNs.

    Example:
        >>> (lo, hi), p = t_interval(1.0, 0.5, math.inf, 0.05)
        >>> round(lo, 3), round(hi, 3), round(p, 4)
        (0.02, 1.98, 0.0455)
    """
    if not se > 0:
        return (math.nan, math.nan), math.nan
    c = critical_value(alpha, df)
    return (effect - c * se, effect + c * se), two_sided_p(effect / se, df)


def _wilson(x: np.ndarray, n: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = x / n
    z2 = z * z
    centre = (x + z2 / 2) / (n + z2)
    half = z * np.sqrt(n * p * (1 - p) + z2 / 4) / (n + z2)
    return centre - half, centre + half


def newcombe_interval(x_t: Any, n_t: Any, x_c: Any, n_c: Any,
                      z: Any) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval for ``p_t − p_c`` (Newcombe 1998, method 10).

    Works elementwise on arrays; ``z`` is the two-sided critical value.

    Example:
        >>> lo, hi = newcombe_interval(30, 100, 20, 100, 1.959963984540054)
        >>> round(float(lo), 4), round(float(hi), 4)
        (-0.0202, 0.2167)
    """
    x_t, n_t, x_c, n_c, z = (np.asarray(a, dtype=float) for a in (x_t, n_t, x_c, n_c, z))
    pt, pc = x_t / n_t, x_c / n_c
    lt, ut = _wilson(x_t, n_t, z)
    lc, uc = _wilson(x_c, n_c, z)
    d = pt - pc
    lo = d - np.sqrt((pt - lt) ** 2 + (uc - pc) ** 2)
    hi = d + np.sqrt((ut - pt) ** 2 + (pc - lc) ** 2)
    return lo, hi


def newcombe_p_value(x_t: Any, n_t: Any, x_c: Any, n_c: Any) -> np.ndarray:
    """Two-sided p-value dual to Newcombe's interval: the smallest α whose interval excludes 0.

    So ``p < α`` exactly when the ``1 − α`` Newcombe interval excludes zero. Found by
    bisection on the critical value (vectorized).

    Example:
        >>> round(float(newcombe_p_value(30, 100, 20, 100)), 4)
        0.103
    """
    x_t, n_t, x_c, n_c = np.broadcast_arrays(*(np.asarray(a, dtype=float)
                                               for a in (x_t, n_t, x_c, n_c)))
    d = x_t / n_t - x_c / n_c
    lo = np.zeros(d.shape)
    hi = np.full(d.shape, 40.0)
    for _ in range(80):
        mid = (lo + hi) / 2
        low, upp = newcombe_interval(x_t, n_t, x_c, n_c, mid)
        excl = np.where(d > 0, low > 0, upp < 0)
        lo = np.where(excl, mid, lo)
        hi = np.where(excl, hi, mid)
    z = (lo + hi) / 2
    p = np.exp(stats.norm.logsf(z) + math.log(2))
    p = np.where(d == 0, 1.0, np.clip(p, TINY, 1.0))
    return p


def make_rng(seed: SeedLike) -> tuple[np.random.Generator, Any]:
    """A generator for ``seed`` and what to record to re-derive its draws.

    An integer seeds SFC64; ``None`` draws fresh entropy and returns it (so the run can be
    repeated); a ``Generator`` is used as given (recorded as ``"generator"``).

    Raises:
        ConfigError: the seed is neither an integer nor a Generator.

    Example:
        >>> rng, recorded = make_rng(7)
        >>> recorded, 0 <= rng.random() < 1
        (7, True)
    """
    if isinstance(seed, np.random.Generator):
        return seed, "generator"
    if seed is None:
        ss = np.random.SeedSequence()
        return np.random.Generator(np.random.SFC64(ss)), ss.entropy
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"seed == {seed!r}, must be an integer or a numpy Generator")
    return np.random.Generator(np.random.SFC64(int(seed))), int(seed)


def invert_test(pval: Callable[[float], float], est: float, step: float,
                alpha: float) -> tuple[float, float]:
    """The interval ``{τ : p(τ) > α}`` around ``est``, by bracketing and bisection.

    ``pval(τ)`` is the p-value of the sharp null "the effect is τ" (a randomization test
    inverted into an interval); ``step`` is the scale of the first bracket (e.g. a standard
    error). An end that no bracket reaches is infinite.

    Example:
        >>> lo, hi = invert_test(lambda t: 1.0 if abs(t) < 2 else 0.0, 0.0, 1.0, 0.05)
        >>> round(lo, 6), round(hi, 6)
        (-2.0, 2.0)
    """
    if not math.isfinite(est):
        return math.nan, math.nan

    def bound(direction: int) -> float:
        inside, k = est, 0
        outside = est + direction * 2 * step
        while pval(outside) > alpha:
            inside = outside
            outside = est + direction * 2 ** (k + 2) * step
            k += 1
            if k > 60:
                return direction * math.inf
        for _ in range(80):
            mid = (inside + outside) / 2
            if pval(mid) > alpha:
                inside = mid
            else:
                outside = mid
            if abs(outside - inside) <= 1e-10 * max(abs(mid), step):
                break
        return (inside + outside) / 2

    return bound(-1), bound(+1)
