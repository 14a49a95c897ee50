"""The complier effect: the effect on units that actually consumed the package, with
assignment as the instrument (Wald / just-identified 2SLS, Anderson–Rubin interval).

Reported beside the intention-to-treat effect, never instead of it (DESIGN §7).

Example:
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(3)
    >>> z = np.tile([0, 1], 500)
    >>> d = z * (rng.random(1000) < 0.5)
    >>> res = complier_effect(pd.DataFrame({"arm": z, "y": rng.normal(0, 1, 1000) + 2 * d,
    ...                                     "opened": d}), arm="arm", outcome="y", uptake="opened")
    >>> round(res.uptake_treatment, 2), res.ci_lower < 2 < res.ci_upper
    (0.5, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from supportlab.errors import DataValidationError
from supportlab.results import ResultMixin, fmt
from supportlab.stats.estimation import Estimate, estimate_comparison
from supportlab.stats.inputs import Comparison, is_binary, prepare
from supportlab.stats.num import check_level, critical_value, two_sided_p
from supportlab.stats.regression import fit_by_arm

__all__ = ["ComplierEstimate", "complier_effect"]


@dataclass(frozen=True)
class ComplierEstimate(ResultMixin):
    """Effect on the units that actually consumed the package (complier average causal effect).

    Assignment is the instrument for consumption (``uptake``): the effect is the Wald ratio
    ``ITT on the outcome / ITT on uptake`` (the just-identified two-stage least squares
    estimate). Shown beside the intention-to-treat effect, never instead of it.

    Attributes:
        label: plain-words label of the estimand.
        outcome: outcome column.
        uptake: consumption column (0/1 or a share).
        effect: complier effect.
        se: delta-method standard error (equal to 2SLS with HC2-type errors).
        ci_lower: lower end of the Anderson–Rubin interval (robust to a weak first stage).
        ci_upper: upper end of that interval (may be infinite).
        wald_ci_lower: lower end of the delta-method (Wald) interval, for reference.
        wald_ci_upper: upper end of the delta-method interval.
        p_value: p-value of "no effect": the ITT z-test, dual to the Anderson–Rubin interval.
        confidence_level: of the intervals.
        itt: the intention-to-treat :class:`Estimate` on the outcome.
        first_stage: the :class:`Estimate` of assignment on uptake.
        first_stage_f: robust first-stage F statistic (weak when below 10).
        uptake_control: mean uptake in the control arm (0 = one-sided non-compliance).
        uptake_treatment: mean uptake in the treatment arm.
        warnings: e.g. a weak first stage.
        notes: what the estimate assumes.
    """

    _title: ClassVar[str] = "Complier effect (assignment as instrument)"
    _title_ja: ClassVar[str] = "消化したパートナーへの効果（割付を操作変数として）"
    _hidden: ClassVar[frozenset[str]] = frozenset({"itt", "first_stage", "outcome", "uptake"})
    _order: ClassVar[tuple[str, ...]] = ("label", "effect", "ci_lower", "ci_upper", "p_value")

    label: str
    outcome: str
    uptake: str
    effect: float
    se: float
    ci_lower: float
    ci_upper: float
    wald_ci_lower: float
    wald_ci_upper: float
    p_value: float
    confidence_level: float
    itt: Estimate
    first_stage: Estimate
    first_stage_f: float
    uptake_control: float
    uptake_treatment: float
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def _headline(self, lang: str) -> str:
        if lang == "ja":
            return f"{self.outcome}、消化の列 '{self.uptake}'"
        return f"{self.outcome}, uptake '{self.uptake}'"

    def _is_percent(self, name: str) -> bool:
        return name.startswith("uptake_") or super()._is_percent(name)

    def _tables(self, lang: str) -> list[tuple[str, pd.DataFrame]]:
        return [("推定対象" if lang == "ja" else "estimands", self.to_frame())]

    def to_frame(self) -> pd.DataFrame:
        """Three rows: intention to treat, first stage and complier effect."""
        rows = [
            {"estimand": "intention to treat (by assignment)", "effect": self.itt.effect,
             "ci_lower": self.itt.ci_lower, "ci_upper": self.itt.ci_upper,
             "p_value": self.itt.p_value},
            {"estimand": f"first stage (effect of assignment on {self.uptake})",
             "effect": self.first_stage.effect, "ci_lower": self.first_stage.ci_lower,
             "ci_upper": self.first_stage.ci_upper, "p_value": self.first_stage.p_value},
            {"estimand": self.label, "effect": self.effect, "ci_lower": self.ci_lower,
             "ci_upper": self.ci_upper, "p_value": self.p_value},
        ]
        return pd.DataFrame(rows)


def complier_effect(df: pd.DataFrame, *, arm: str, outcome: str, uptake: str,
                    control: Any = None, treatment: Any = None,
                    covariates: Sequence[str] | str | None = None, strata: str | None = None,
                    confidence_level: float = 0.95, winsorize: float | None = None
                    ) -> ComplierEstimate:
    """Effect on the units that consumed the package, with assignment as the instrument.

    Both intention-to-treat effects (on the outcome and on uptake) come from one joint fit
    (Lin-style regression adjustment when covariates or strata are given, otherwise the
    difference in means) with HC2 covariances, so the delta-method variance of the ratio
    ``τ = ITT_Y / ITT_D`` includes their covariance:
    ``Var(τ) ≈ (V_Y − 2τ·C_YD + τ²·V_D) / ITT_D²``. The reported interval is the
    Anderson–Rubin set ``{τ: |ITT_Y − τ·ITT_D| ≤ z·sd(ITT_Y − τ·ITT_D)}``, valid even when the
    first stage is weak, and the p-value is its dual (the ITT z-test).

    Args:
        df: one row per unit.
        arm: arm column.
        outcome: outcome column.
        uptake: consumption column: 0/1 (opened, completed) or a share in [0, 1].
        control: control label.
        treatment: treatment label.
        covariates: optional pre-period covariates.
        strata: optional randomization strata.
        confidence_level: of the intervals.
        winsorize: optional pooled cap on the outcome.

    Returns:
        A :class:`ComplierEstimate`.

    Example:
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(3)
        >>> z = np.tile([0, 1], 500)
        >>> d = z * (rng.random(1000) < 0.5)
        >>> y = rng.normal(0, 1, 1000) + 2.0 * d
        >>> res = complier_effect(pd.DataFrame({"arm": z, "y": y, "opened": d}), arm="arm",
        ...                       outcome="y", uptake="opened")
        >>> bool(res.ci_lower < 2.0 < res.ci_upper), round(res.uptake_control, 2)
        (True, 0.0)
    """
    level = check_level(confidence_level)
    where = "complier_effect"
    d, ext = prepare(df, arm=arm, outcome=outcome, control=control, treatment=treatment,
                      covariates=covariates, strata=strata, winsorize=winsorize, where=where,
                      extra=[uptake])
    u = ext[uptake]
    alpha = 1 - level
    z = critical_value(alpha, math.inf)
    fit_t, fit_c, names = fit_by_arm(d, np.column_stack([d.y, u]), where)
    ity = float(fit_t.coef[0, 0] - fit_c.coef[0, 0])
    itd = float(fit_t.coef[0, 1] - fit_c.coef[0, 1])
    vy = float(fit_t.cov[0, 0, 0, 0] + fit_c.cov[0, 0, 0, 0])
    vd = float(fit_t.cov[1, 1, 0, 0] + fit_c.cov[1, 1, 0, 0])
    cyd = float(fit_t.cov[0, 1, 0, 0] + fit_c.cov[0, 1, 0, 0])
    method = "regression" if names else "welch"
    d_u = Comparison(y=u, t=d.t, X=d.X, strata=d.strata, strata_labels=d.strata_labels,
                control=d.control, treatment=d.treatment, outcome=uptake, arm=d.arm,
                covariates=d.covariates, strata_col=d.strata_col, index=d.index)
    itt = estimate_comparison(d, method, level, seed=None, permutations=0, resamples=0,
                              where=where)
    first = estimate_comparison(d_u, method, level, seed=None, permutations=0, resamples=0,
                                where=where, thin=False)
    warnings: list[str] = []
    notes = ["effect on partners who consumed the package (compliers), with assignment as the "
             "instrument: assumes assignment changes the outcome only through uptake and that "
             "nobody consumes less because of assignment"]
    f_stat = itd**2 / vd if vd > 0 else (math.inf if itd != 0 else math.nan)
    if itd == 0:
        raise DataValidationError(f"uptake '{uptake}' does not differ between the arms",
                                  where=where, fix="the complier effect needs assignment to "
                                                   "change uptake; check the uptake column")
    tau = ity / itd
    var = (vy - 2 * tau * cyd + tau * tau * vd) / itd**2
    se = math.sqrt(max(var, 0.0))
    # Anderson–Rubin set: (ity − τ itd)² ≤ z² (vy − 2τ cyd + τ² vd)
    qa = itd**2 - z * z * vd
    qb = -2 * (ity * itd - z * z * cyd)
    qc = ity**2 - z * z * vy
    disc = qb * qb - 4 * qa * qc
    if qa > 0 and disc >= 0:
        r1, r2 = sorted(((-qb - math.sqrt(disc)) / (2 * qa), (-qb + math.sqrt(disc)) / (2 * qa)))
        ar = (r1, r2)
    elif qa < 0 and disc > 0:
        # two rays (−∞, r1] ∪ [r2, ∞): an interval cannot hold it, so the whole line is
        # reported, and the rays are named so that nothing is hidden
        r1, r2 = sorted(((-qb - math.sqrt(disc)) / (2 * qa), (-qb + math.sqrt(disc)) / (2 * qa)))
        ar = (-math.inf, math.inf)
        notes.append(f"the Anderson–Rubin set is two rays, (−∞, {fmt(r1)}] ∪ [{fmt(r2)}, ∞)"
                     + (", which exclude 0" if r1 < 0 < r2 else "")
                     + ": the first stage is too weak to bound the complier effect; the "
                       "interval shown is the whole line")
    else:
        ar = (-math.inf, math.inf)
        notes.append("the Anderson–Rubin set is unbounded: the first stage is too weak at this "
                     "confidence level to bound the complier effect")
    if f_stat < 10:
        warnings.append(f"weak first stage (F = {f_stat:.1f} < 10): assignment barely changes "
                        f"'{uptake}', so the complier effect is poorly determined")
    uc = float(u[~d.t].mean())
    ut = float(u[d.t].mean())
    if uc == 0:
        notes.append("one-sided non-compliance (no control unit consumed the package): the "
                     "complier effect is the effect on treated units that consumed it")
    if not is_binary(u):
        notes.append(f"uptake '{uptake}' is not 0/1: the ratio is the effect per unit of uptake")
    # dual to the Anderson–Rubin set at τ = 0: the ITT z-test from the same joint fit
    ps = two_sided_p(ity / math.sqrt(vy), math.inf) if vy > 0 else math.nan
    return ComplierEstimate(
        label="effect on partners who consumed the package (complier effect)",
        outcome=outcome, uptake=uptake, effect=tau, se=se, ci_lower=ar[0], ci_upper=ar[1],
        wald_ci_lower=tau - z * se, wald_ci_upper=tau + z * se, p_value=ps,
        confidence_level=level, itt=itt, first_stage=first, first_stage_f=float(f_stat),
        uptake_control=uc, uptake_treatment=ut, warnings=tuple(warnings), notes=tuple(notes))


# -- segments -------------------------------------------------------------------------------------
