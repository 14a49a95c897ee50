"""Power, minimum detectable effect and sample size for two-arm experiments.

Shared by experiment planning (``plan``) and by the decision rule, which asks whether a null
result came from an experiment able to see ``min_effect``. The calculations are those of a
two-sample *t* test with unequal allocation (statsmodels' ``TTestIndPower``), on an outcome
standard deviation that regression adjustment shrinks to ``sd·sqrt(1 − R²)`` when pre-period
covariates explain a share ``R²`` of the outcome's variance.

Example:
    >>> round(mde(500, 500, sd=2.0), 3)
    0.355
    >>> sample_size(0.355, sd=2.0).n_total
    1000
    >>> round(power_at(0.355, 500, 500, sd=2.0), 2)
    0.8
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

from scipy import stats
from statsmodels.stats.power import TTestIndPower

from supportlab.errors import ConfigError
from supportlab.results import ResultMixin

__all__ = ["SampleSize", "binary_sd", "mde", "mde_from_se", "power_at", "power_from_se",
           "sample_size"]

Alternative = Literal["two-sided", "larger", "smaller"]


def _check(alpha: float, power: float | None, r2: float, sd: float) -> None:
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha == {alpha!r}, must be in (0, 1)", fix="use e.g. 0.05")
    if power is not None and not 0 < power < 1:
        raise ConfigError(f"power == {power!r}, must be in (0, 1)", fix="use e.g. 0.8")
    if not 0 <= r2 < 1:
        raise ConfigError(f"r2 == {r2!r}, must be in [0, 1)",
                          fix="give the share of outcome variance the covariates explain")
    if not (sd > 0 and math.isfinite(sd)):
        raise ConfigError(f"sd == {sd!r}, must be a positive number",
                          fix="use the outcome's standard deviation from pre-period data")


def _alt(alternative: str) -> str:
    if alternative not in ("two-sided", "larger", "smaller"):
        raise ConfigError(f"alternative == {alternative!r}",
                          fix="use 'two-sided', 'larger' or 'smaller'")
    return alternative


def _sizes(n_control: float, n_treatment: float) -> tuple[float, float]:
    if not (n_control >= 2 and n_treatment >= 2):
        raise ConfigError(f"arm sizes {n_control!r} and {n_treatment!r}, must each be >= 2")
    return float(n_control), float(n_treatment)


def binary_sd(p: float) -> float:
    """Standard deviation of a 0/1 outcome with rate ``p``.

    Example:
        >>> binary_sd(0.5)
        0.5
    """
    if not 0 < p < 1:
        raise ConfigError(f"p == {p!r}, must be in (0, 1)", fix="give the baseline rate")
    return math.sqrt(p * (1 - p))


def mde(n_control: float, n_treatment: float, *, sd: float, alpha: float = 0.05,
        power: float = 0.8, r2: float = 0.0, alternative: Alternative = "two-sided") -> float:
    """Minimum detectable effect (absolute) of a two-arm experiment.

    Args:
        n_control: units in the control arm.
        n_treatment: units in the treatment arm.
        sd: outcome standard deviation (per unit).
        alpha: significance level.
        power: probability of detecting an effect of the returned size.
        r2: share of outcome variance explained by covariates used in the analysis.
        alternative: ``two-sided``, ``larger`` or ``smaller``.

    Returns:
        The smallest true effect detected with probability ``power`` (in outcome units).

    Example:
        >>> round(mde(300, 700, sd=1.0, r2=0.5), 3)
        0.137
    """
    _check(alpha, power, r2, sd)
    nc, nt = _sizes(n_control, n_treatment)
    d = TTestIndPower().solve_power(effect_size=None, nobs1=nt, alpha=alpha, power=power,
                                    ratio=nc / nt, alternative=_alt(alternative))
    return float(abs(d)) * sd * math.sqrt(1 - r2)


def power_at(effect: float, n_control: float, n_treatment: float, *, sd: float,
             alpha: float = 0.05, r2: float = 0.0,
             alternative: Alternative = "two-sided") -> float:
    """Power to detect a true ``effect`` (absolute, outcome units).

    Example:
        >>> round(power_at(0.2, 400, 400, sd=1.0), 3)
        0.806
    """
    _check(alpha, None, r2, sd)
    nc, nt = _sizes(n_control, n_treatment)
    d = effect / (sd * math.sqrt(1 - r2))
    return float(TTestIndPower().power(effect_size=d, nobs1=nt, alpha=alpha, ratio=nc / nt,
                                       alternative=_alt(alternative)))


@dataclass(frozen=True)
class SampleSize(ResultMixin):
    """Units needed per arm.

    Attributes:
        n_control: control units.
        n_treatment: treatment units.
        n_total: both arms.
        mde: the effect the experiment is sized for.
        alpha: significance level.
        power: power at ``mde``.
    """

    _title: ClassVar[str] = "Sample size"
    _title_ja: ClassVar[str] = "必要なサンプルサイズ"

    n_control: int
    n_treatment: int
    n_total: int
    mde: float
    alpha: float
    power: float


def sample_size(mde: float, *, sd: float, control_share: float = 0.5, alpha: float = 0.05,
                power: float = 0.8, r2: float = 0.0,
                alternative: Alternative = "two-sided") -> SampleSize:
    """Units needed to detect ``mde`` with the given power and allocation.

    Args:
        mde: the effect to detect (absolute, outcome units).
        sd: outcome standard deviation.
        control_share: share of units in the control arm.
        alpha: significance level.
        power: desired power.
        r2: share of outcome variance explained by covariates.
        alternative: ``two-sided``, ``larger`` or ``smaller``.

    Returns:
        A :class:`SampleSize` (arm sizes rounded up).

    Example:
        >>> s = sample_size(0.2, sd=1.0, control_share=0.3)
        >>> s.n_control, s.n_treatment
        (281, 656)
    """
    _check(alpha, power, r2, sd)
    if not 0 < control_share < 1:
        raise ConfigError(f"control_share == {control_share!r}, must be in (0, 1)")
    if not mde != 0 or not math.isfinite(mde):
        raise ConfigError(f"mde == {mde!r}, must be a non-zero number")
    d = abs(mde) / (sd * math.sqrt(1 - r2))
    ratio = control_share / (1 - control_share)
    nt = TTestIndPower().solve_power(effect_size=d, nobs1=None, alpha=alpha, power=power,
                                     ratio=ratio, alternative=_alt(alternative))
    n_t = max(2, math.ceil(float(nt) - 1e-9))
    n_c = max(2, math.ceil(float(nt) * ratio - 1e-9))
    return SampleSize(n_control=n_c, n_treatment=n_t, n_total=n_c + n_t, mde=float(mde),
                      alpha=alpha, power=power)


def mde_from_se(se: float, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """Minimum detectable effect of an estimate with standard error ``se`` (normal theory).

    ``(z_{1−α/2} + z_{power})·se``; used when the experiment has run and its standard error is
    known (e.g. after regression adjustment), so no variance guess is needed.

    Example:
        >>> round(mde_from_se(0.1), 4)
        0.2802
    """
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ConfigError(f"alpha == {alpha!r} and power == {power!r} must be in (0, 1)")
    return float((stats.norm.isf(alpha / 2) + stats.norm.ppf(power)) * se)


def power_from_se(effect: float, se: float, *, alpha: float = 0.05) -> float:
    """Two-sided power to detect ``effect`` with an estimate of standard error ``se``.

    Example:
        >>> round(power_from_se(0.2802, 0.1), 3)
        0.8
    """
    if not se > 0:
        return math.nan
    z = stats.norm.isf(alpha / 2)
    shift = abs(effect) / se
    return float(stats.norm.sf(z - shift) + stats.norm.cdf(-z - shift))
