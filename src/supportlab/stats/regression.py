"""Regression adjustment by arm (Lin 2013): within-arm OLS on centred covariates and strata
dummies, with HC2 covariances.

The interacted regression ``y ~ 1 + T + Xc + T·Xc`` is block-diagonal by arm, so its
coefficients, leverages and HC2 covariance equal those of one regression per arm on
``[1, Xc]``; the treatment effect is the difference of the two intercepts (the adjusted means).
:func:`fit_by_arm` fits both arms for one or several outcomes at once (several outcomes give
the cross-covariances the complier effect needs).

Example:
    >>> import numpy as np, pandas as pd
    >>> from supportlab.stats.inputs import prepare
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"arm": np.tile([0, 1], 100), "x": rng.normal(0, 1, 200)})
    >>> df["y"] = df["x"] + df["arm"]
    >>> d, _ = prepare(df, arm="arm", outcome="y", control=0, treatment=1, covariates=["x"])
    >>> fit_t, fit_c, names = fit_by_arm(d, d.y, "example")
    >>> names, round(float(fit_t.coef[0, 0] - fit_c.coef[0, 0]), 6)
    (['x'], 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from supportlab.errors import DataValidationError
from supportlab.stats.inputs import Comparison

__all__ = ["ArmFit", "adjusters", "fit_arm", "fit_by_arm"]


def adjusters(d: Comparison) -> tuple[np.ndarray, list[str]]:
    """Covariates and stratum dummies (first stratum left out), centred at their pooled means.

    Returns:
        The centred adjusters (n × k) and their names (``col=label`` for stratum dummies).
    """
    cols = [d.X]
    names = list(d.covariates)
    if d.strata is not None and len(d.strata_labels) > 1:
        n_s = len(d.strata_labels)
        dummies = np.zeros((len(d.y), n_s - 1))
        rows = np.flatnonzero(d.strata > 0)
        dummies[rows, d.strata[rows] - 1] = 1.0
        cols.append(dummies)
        names += [f"{d.strata_col}={lab}" for lab in d.strata_labels[1:]]
    A = np.column_stack(cols) if cols else np.zeros((len(d.y), 0))
    if A.shape[1]:
        A = A - A.mean(axis=0)
    return A, names


@dataclass
class ArmFit:
    """Within-arm OLS on ``[1, centred adjusters]`` with HC2 covariances.

    Attributes:
        coef: coefficients, one column per outcome (p × m); row 0 is the adjusted mean.
        cov: HC2 covariance between the coefficient vectors of outcomes j and k
            (m × m × p × p).
        n: units in the arm.
    """

    coef: np.ndarray
    cov: np.ndarray
    n: int


def fit_arm(Y: np.ndarray, A: np.ndarray, arm_name: str, names: list[str],
            where: str) -> ArmFit:
    """OLS of each column of ``Y`` on ``[1, A]`` with HC2 (cross-)covariances.

    Works on the transposed design ``Zt`` (p × n) so that every large product has a wide or a
    tiny output; tall-skinny matrix products are slow with threaded BLAS on busy machines.

    Raises:
        DataValidationError: too few units, collinear adjusters, or a unit with leverage 1.
    """
    n = len(Y)
    p = A.shape[1] + 1
    Zt = np.empty((p, n))
    Zt[0] = 1.0
    Zt[1:] = A.T
    G = Zt @ Zt.T
    scale = np.sqrt(np.diag(G))
    if np.any(scale == 0) or n <= p:
        raise DataValidationError(
            f"too few units ({n}) in the {arm_name} arm for {p - 1} adjustment term(s)",
            where=where, fix="use fewer covariates or strata")
    Gs = G / np.outer(scale, scale)
    if np.linalg.cond(Gs) > 1e12:
        raise DataValidationError(
            f"the covariates/strata are collinear in the {arm_name} arm ({', '.join(names)}): "
            "one is constant there or a combination of others", where=where,
            fix="remove the redundant covariate")
    cf = linalg.cho_factor(G)
    Ginv = np.ascontiguousarray(linalg.cho_solve(cf, np.eye(p)))
    m = Y.shape[1]
    B = np.empty((p, m))
    E = np.empty((m, n))
    for j in range(m):
        B[:, j] = linalg.cho_solve(cf, Zt @ Y[:, j])
        E[j] = Y[:, j] - B[:, j] @ Zt
    h = np.einsum("ij,ij->j", Ginv @ Zt, Zt)
    if np.any(h > 1 - 1e-10):
        raise DataValidationError(
            f"a unit in the {arm_name} arm has leverage 1 (it alone determines an adjustment "
            "term), so HC2 errors are undefined", where=where,
            fix="drop rare strata or covariates that single out one unit")
    w = 1.0 / (1.0 - h)
    cov = np.empty((m, m, p, p))
    for j in range(m):
        for k in range(j, m):
            meat = (Zt * (E[j] * E[k] * w)) @ Zt.T
            cov[j, k] = cov[k, j] = Ginv @ meat @ Ginv
    return ArmFit(B, cov, n)


def fit_by_arm(d: Comparison, Y: np.ndarray, where: str) -> tuple[ArmFit, ArmFit, list[str]]:
    """Fit each arm of ``d`` for the outcome(s) ``Y`` (n, or n × m).

    Returns:
        ``(treatment fit, control fit, adjuster names)``.
    """
    A, names = adjusters(d)
    Y2 = Y if Y.ndim == 2 else Y[:, None]
    fit_t = fit_arm(Y2[d.t], A[d.t], "treatment", names, where)
    fit_c = fit_arm(Y2[~d.t], A[~d.t], "control", names, where)
    return fit_t, fit_c, names
