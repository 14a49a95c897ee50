"""Design-aware inference: the analysis follows the stored randomization design.

A :class:`DesignInfo` is the plain description of a design that statistics understands (the
design layer builds it from its stored spec, :meth:`DesignInfo.from_spec`; statistics never
reads workspaces or configuration). :func:`analyze_design` returns the same
:class:`~supportlab.stats.estimation.Estimate` as :func:`supportlab.analyze`, with the
estimator the design calls for:

* ``stratified`` -> method ``stratified-regression``: Lin (2013) regression with the
  randomization strata as centred dummies interacted with the arm and HC2 errors. Without
  covariates it is the post-stratified difference ``Σ_s (n_s/n)(ȳ_ts − ȳ_cs)``: strata are
  weighted by their size, so arm probabilities that differ between strata are handled.
* ``blocked`` (matched pairs or small blocks) -> method ``blocked``: within-block differences
  weighted by block size, ``τ̂ = Σ_j w_j τ̂_j`` with ``w_j = n_j/n``. When a block has a single
  unit in an arm the variance is the between-block one, ``V̂ = Σ_j w_j² (τ̂_j − τ̂)² / (1 − w_j)``
  (HC2 of the weighted regression of ``τ̂_j`` on a constant); for pairs it is exactly the
  paired-difference variance ``Σ_j (τ̂_j − τ̂)² / (J(J − 1))`` of Imai (2008) and Athey &
  Imbens (2017, §6.2), conservative under effect heterogeneity, and equal to OLS with pair
  dummies and HC2. Covariates enter as within-block arm differences ``Δx̄_j`` in that
  regression (Fogarty 2018). When every block has at least 2 units per arm, the within-block
  (Neyman) variance is used: the stratified regression with blocks as strata.
* ``rerandomized`` -> method ``rerandomized-regression``: Lin regression on the
  rerandomization covariates (and strata, if any). Under rerandomization the unadjusted
  difference is not normal (Li, Ding & Rubin 2018); adjusting for the covariates of the
  acceptance rule restores the normal limit and the HC2 interval is valid (Li & Ding 2020).

Randomization inference follows the design too (:func:`randomization_test`): the caller's
``redraw`` (``rng -> arms``, e.g. the design layer's redraw of the accepted rerandomization
set) or, by default, permutations of the observed arms within strata or blocks. The p-value
``(1 + #extreme) / (1 + R)`` never underflows to 0.

An analysis that ignores the design is corrected or refused, never silently wrong
(:func:`follow_design`): requests of a method family that has a design-aware form (``welch``,
``regression``, ``proportion``, ``permutation``) are **corrected** to it, with a note; requests
that contradict the design (other strata or blocks, another design's estimator), the bootstrap
(it resamples units independently, breaking pairs and the acceptance set), and a permutation
test of a rerandomized design without its redraws are **refused** with a :class:`ConfigError`.

Example:
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(3)
    >>> x = np.sort(rng.gamma(2.0, 1.0, 200))
    >>> arm = np.ravel([rng.permutation(["control", "treatment"]) for _ in range(100)])
    >>> df = pd.DataFrame({"arm": arm, "pair": np.repeat(np.arange(100), 2), "x": x})
    >>> df["y"] = 2 * df["x"] + rng.normal(0, 1, 200) + 0.5 * (df["arm"] == "treatment")
    >>> design = DesignInfo("blocked", {"control": 0.5, "treatment": 0.5}, blocks="pair")
    >>> est = analyze_design(df, arm="arm", outcome="y", design=design, seed=1)
    >>> est.method, est.df, est.ci_lower < 0.5 < est.ci_upper
    ('blocked', 99.0, True)
    >>> est.details["randomization_p_value"] < 0.05
    True
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from supportlab.errors import ConfigError, DataValidationError
from supportlab.results import ResultMixin, fmt_p
from supportlab.stats.checks import srm_check
from supportlab.stats.estimation import Estimate, estimate_comparison
from supportlab.stats.inputs import (
    Comparison,
    examples,
    is_binary,
    numeric_column,
    prepare,
    require_columns,
    thin_warnings,
)
from supportlab.stats.num import (
    SeedLike,
    check_level,
    critical_value,
    invert_test,
    make_rng,
    relative_interval,
    t_interval,
)

__all__ = [
    "DESIGN_METHODS",
    "DesignChoice",
    "DesignInfo",
    "RandomizationTest",
    "Redraw",
    "analyze_design",
    "follow_design",
    "randomization_test",
]

#: the randomization designs statistics knows
DESIGN_METHODS = ("stratified", "blocked", "rerandomized")

#: the design-aware estimator of each design (``method`` of the estimate)
_ESTIMATOR = {"stratified": "stratified-regression", "blocked": "blocked",
              "rerandomized": "rerandomized-regression"}

#: a design's redraws: ``rng -> arms`` (one draw of n labels, or a batch k × n), or the
#: draws themselves as an R × n array of arm labels
Redraw = Callable[[np.random.Generator], Any] | np.ndarray

_WHERE = "analyze_design"


# -- the design ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DesignInfo:
    """A randomization design, as statistics needs to know it.

    Attributes:
        method: ``stratified`` (complete randomization within strata; no strata: one
            stratum), ``blocked`` (matched pairs or small blocks) or ``rerandomized``.
        probabilities: each arm's assignment probability, control first.
        strata: the column holding each unit's randomization stratum, if any.
        blocks: the column holding each unit's pair or block (``blocked`` only).
        covariates: the covariate columns of the rerandomization acceptance rule
            (``rerandomized`` only).

    Example:
        >>> DesignInfo("stratified", {"control": 0.5, "treatment": 0.5}, strata="rank").control
        'control'
        >>> DesignInfo("blocked", {"control": 0.5, "treatment": 0.5})
        Traceback (most recent call last):
        ...
        supportlab.errors.ConfigError: a blocked design needs the column of its blocks. Fix: ...
    """

    method: str
    probabilities: Mapping[str, float]
    strata: str | None = None
    blocks: str | None = None
    covariates: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.method not in DESIGN_METHODS:
            raise ConfigError(f"design method {self.method!r} is not known",
                              fix=f"use one of {', '.join(DESIGN_METHODS)}")
        probs = dict(self.probabilities)
        if len(probs) < 2 or any(not 0 < float(p) < 1 for p in probs.values()):
            raise ConfigError(f"design probabilities {probs} need at least two arms, each with "
                              "a probability in (0, 1)", fix="give the design's arm shares")
        if abs(sum(float(p) for p in probs.values()) - 1) > 1e-6:
            raise ConfigError(f"design probabilities {probs} do not sum to 1",
                              fix="give every arm's share of the design")
        object.__setattr__(self, "probabilities", {str(k): float(v) for k, v in probs.items()})
        covs = (self.covariates,) if isinstance(self.covariates, str) else tuple(self.covariates)
        object.__setattr__(self, "covariates", covs)
        if self.method == "blocked" and not self.blocks:
            raise ConfigError("a blocked design needs the column of its blocks",
                              fix="pass blocks='block', the ledger's block column")
        if self.method != "blocked" and self.blocks:
            raise ConfigError(f"a {self.method} design has no blocks (blocks={self.blocks!r})",
                              fix="drop blocks=, or use method 'blocked'")
        if self.method == "rerandomized" and not covs:
            raise ConfigError("a rerandomized design needs the covariates of its acceptance rule",
                              fix="pass covariates=(...), the design's rerandomize.covariates")

    @property
    def arms(self) -> tuple[str, ...]:
        """Arm names, control first."""
        return tuple(self.probabilities)

    @property
    def control(self) -> str:
        """The control arm."""
        return self.arms[0]

    @property
    def groups(self) -> str | None:
        """The column randomization is restricted within (blocks, else strata)."""
        return self.blocks if self.method == "blocked" else self.strata

    @classmethod
    def from_spec(cls, spec: Any, *, strata_column: str = "stratum",
                  block_column: str = "block",
                  covariate_column: Callable[[str], str] | None = None) -> DesignInfo:
        """The description of a stored design spec (read by attribute: ``method``,
        ``probabilities``, ``strata``, ``rerandomize``), for per-unit frames whose stratum
        and block labels are in ``strata_column`` and ``block_column`` (the ledger's names)
        and whose rerandomization covariates are in ``covariate_column(metric)`` (default:
        the metric's name; the design layer's frames use ``<metric>_pre``).

        Example:
            >>> from types import SimpleNamespace
            >>> spec = SimpleNamespace(method="rerandomized", strata=("rank",),
            ...     probabilities={"control": 0.5, "treatment": 0.5},
            ...     rerandomize={"covariates": ["deals_registered"], "acceptance": 0.1})
            >>> DesignInfo.from_spec(spec).covariates
            ('deals_registered',)
        """
        method = str(spec.method)
        rr = getattr(spec, "rerandomize", None) or {}
        return cls(method=method, probabilities=dict(spec.probabilities),
                   strata=strata_column if tuple(getattr(spec, "strata", ()) or ()) else None,
                   blocks=block_column if method == "blocked" else None,
                   covariates=tuple(map(covariate_column or str, rr.get("covariates", ())))
                   if method == "rerandomized" else ())

    def describe(self) -> str:
        """One line saying what the design is.

        Example:
            >>> DesignInfo("stratified", {"control": 0.3, "treatment": 0.7}, "rank").describe()
            "stratified randomization within 'rank' (control 30%, treatment 70%)"
        """
        shares = ", ".join(f"{a} {p * 100:g}%" for a, p in self.probabilities.items())
        if self.method == "blocked":
            what = f"randomization within the pairs/blocks of {self.blocks!r}"
        elif self.method == "rerandomized":
            what = ("rerandomization on " + ", ".join(self.covariates)
                    + (f" within {self.strata!r}" if self.strata else ""))
        else:
            what = ("stratified randomization within " + repr(self.strata) if self.strata
                    else "complete randomization")
        return f"{what} ({shares})"


# -- which analysis ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DesignChoice(ResultMixin):
    """What a requested analysis becomes on a design (:func:`follow_design`).

    Attributes:
        design: the design method.
        requested: the method asked for.
        method: the design-aware method used (``method`` of the estimate).
        randomization: whether the randomization test is the primary inference.
        corrected: whether the request was changed to follow the design.
        notes: what was changed and why.
    """

    _title: ClassVar[str] = "Analysis that follows the design"
    _title_ja: ClassVar[str] = "割付デザインに従う分析"

    design: str
    requested: str
    method: str
    randomization: bool
    corrected: bool
    notes: tuple[str, ...] = ()


#: requests that have a design-aware form
_FAMILIES = ("auto", "design", "welch", "regression", "proportion", "permutation")


def follow_design(design: DesignInfo, method: str = "auto", *, strata: str | None = None,
                  blocks: str | None = None, has_redraw: bool = False) -> DesignChoice:
    """Correct or refuse an analysis that would ignore the design.

    Corrected, with a note (the request's family has a design-aware form, and the answer
    keeps its intent):

    * ``welch`` / ``proportion`` (a difference of means or proportions that ignores strata,
      pairs or the acceptance rule) -> the design's estimator (the stratified difference, the
      within-block difference, the regression on the rerandomization covariates);
    * ``regression`` without the strata, blocks or rerandomization covariates -> with them;
    * ``permutation`` (free permutation) -> redraws that follow the design: within strata,
      within pairs/blocks, or the caller's redraws of the accepted rerandomization set.

    Refused with a :class:`ConfigError` (no correction would be what was asked for):

    * ``strata``/``blocks`` naming columns other than the design's: analysing within other
      groups than those randomized within would mislabel the randomization distribution;
    * ``bootstrap``: it resamples units independently, which breaks pairs and blocks, and
      draws assignments outside the rerandomization set; supportlab has no design-aware
      bootstrap (use the design's estimator, or ``permutation``);
    * ``permutation`` on a rerandomized design without ``redraw``: a free permutation draws
      assignments the acceptance rule would have rejected;
    * another design's estimator (e.g. ``blocked`` on a stratified design).

    Args:
        design: the stored design.
        method: the requested method (``auto``/``design`` = the design's estimator; a method
            of :func:`supportlab.analyze`; or a design-aware name such as ``blocked``,
            ``stratified-regression`` or ``rerandomized-permutation``).
        strata: the strata column the request names, if any.
        blocks: the blocks column the request names, if any.
        has_redraw: whether the design's redraws are available.

    Returns:
        A :class:`DesignChoice`.

    Example:
        >>> d = DesignInfo("blocked", {"control": 0.5, "treatment": 0.5}, blocks="pair")
        >>> c = follow_design(d, "welch")
        >>> c.method, c.corrected
        ('blocked', True)
        >>> try:
        ...     follow_design(d, "bootstrap")
        ... except ConfigError as e:
        ...     print(str(e).split(":")[1].strip())
        method 'bootstrap' ignores a blocked design
    """
    req = str(method).strip().lower()
    kind = design.method
    estimator = _ESTIMATOR[kind]
    own = {estimator, f"{kind}-permutation"}
    others = {m for k in DESIGN_METHODS if k != kind
              for m in (_ESTIMATOR[k], f"{k}-permutation")}
    if strata is not None and strata != design.strata and not (
            kind == "blocked" and strata == design.blocks):
        raise ConfigError(
            f"strata {strata!r} are not the design's ("
            + (repr(design.strata) if design.strata else "it has no strata") + ")",
            where=_WHERE, fix="drop strata=: the design's own strata are used; to look at "
                              "other groups, use per-segment effects")
    if blocks is not None and blocks != design.blocks:
        raise ConfigError(
            f"blocks {blocks!r} are not the design's ("
            + (repr(design.blocks) if design.blocks else f"a {kind} design has no blocks") + ")",
            where=_WHERE, fix="drop blocks=: the design's own blocks are used")
    if req in others:
        raise ConfigError(f"method {req!r} is another design's estimator; this experiment was "
                          f"assigned by {design.describe()}", where=_WHERE,
                          fix=f"use method 'auto' ({estimator}) or '{kind}-permutation'")
    if req == "bootstrap":
        why = {"blocked": f"breaks the pairs/blocks of {design.blocks!r}",
               "rerandomized": "draws assignments the rerandomization acceptance rule rejects",
               "stratified": "is not the randomization distribution of the design and "
                             "under-covers at partner-program sizes"}[kind]
        raise ConfigError(f"method 'bootstrap' ignores a {kind} design: it resamples units "
                          f"independently, which {why}; there is no design-aware bootstrap",
                          where=_WHERE,
                          fix="use method 'auto' (the design's estimator) or 'permutation'")
    if req not in _FAMILIES and req not in own:
        raise ConfigError(f"method {method!r} is not known for a {kind} design", where=_WHERE,
                          fix=f"use one of auto, {estimator}, {kind}-permutation, welch, "
                              "regression, proportion, permutation")
    randomization = req in ("permutation", f"{kind}-permutation")
    if randomization and kind == "rerandomized" and not has_redraw:
        raise ConfigError(
            "a permutation test of a rerandomized design needs the design's redraws: free "
            "permutations draw assignments the acceptance rule would have rejected",
            where=_WHERE, fix="pass redraw= (the design layer's redraw of the accepted set), "
                              "or use method 'auto' (regression on the rerandomization "
                              "covariates, valid without redraws)")
    used = f"{kind}-permutation" if randomization else estimator
    notes: list[str] = []
    corrected = req not in ("auto", "design") and req not in own
    if corrected:
        what = {"welch": "a difference in means that ignores",
                "proportion": "a difference of proportions that ignores",
                "regression": "a regression that leaves out",
                "permutation": "free permutations that ignore"}[req]
        part = {"stratified": f"the strata {design.strata!r}" if design.strata
                else "nothing (one stratum)",
                "blocked": f"the pairs/blocks of {design.blocks!r}",
                "rerandomized": "the rerandomization covariates ("
                                + ", ".join(design.covariates) + ")"}[kind]
        notes.append(f"corrected: method {req!r} asked for {what} {part}; the experiment was "
                     f"assigned by {design.describe()}, so {used!r} was used")
    return DesignChoice(design=kind, requested=req, method=used, randomization=randomization,
                        corrected=corrected, notes=tuple(notes))


# -- randomization inference ------------------------------------------------------------------


@dataclass(frozen=True)
class RandomizationTest(ResultMixin):
    """Fisher randomization test that follows the design, and its interval.

    Attributes:
        redrawn: how the assignments were redrawn.
        effect: the statistic's effect estimate (design-weighted difference of covariate-
            residualized outcomes).
        ci_lower: lower end of the interval by test inversion (constant additive effect).
        ci_upper: upper end of that interval.
        p_value: ``(1 + #{|S*| ≥ |S|}) / (1 + R)``, two-sided, never 0.
        n_redraws: the redraws R.
        n_extreme: redraws at least as extreme as the observed statistic.
        confidence_level: of the interval.
        p_value_mc_se: Monte Carlo standard error of ``p_value``.
        seed: the seed of the redraws (``None`` when the caller gave the draws).
        notes: what the test assumes.
    """

    _title: ClassVar[str] = "Randomization test (follows the design)"
    _title_ja: ClassVar[str] = "ランダム化検定（割付デザインに従う）"
    _hidden: ClassVar[frozenset[str]] = frozenset({"confidence_level"})

    redrawn: str
    effect: float
    ci_lower: float
    ci_upper: float
    p_value: float
    n_redraws: int
    n_extreme: int
    confidence_level: float
    p_value_mc_se: float
    seed: int | None = None
    notes: tuple[str, ...] = ()

    def _headline(self, lang: str) -> str:
        if lang == "ja":
            return f"p値 {fmt_p(self.p_value)}（再割付 {self.n_redraws:,} 回、{self.redrawn}）"
        return f"p={fmt_p(self.p_value)} over {self.n_redraws:,} redraws ({self.redrawn})"


def _codes(labels: Any, control: Any, treatment: Any, n: int) -> np.ndarray:
    """Arm labels (one draw or a batch) as codes: 1 control, 2 treatment, 0 another arm."""
    a = np.asarray(labels)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.shape[1] != n:
        raise DataValidationError(
            f"a redraw gave arms of shape {np.asarray(labels).shape}, expected {n} units "
            "(one draw) or k × " + str(n), where=_WHERE,
            fix="redraw must return one arm per row of the data, in the data's row order")
    out = np.zeros(a.shape, dtype=np.int8)
    out[_match(a, control)] = 1
    out[_match(a, treatment)] = 2
    return out


def _match(a: np.ndarray, label: Any) -> np.ndarray:
    hit = a == label
    if not np.any(hit):
        hit = a.astype(str) == str(label)
    return np.asarray(hit, dtype=bool)


def _contrast(codes: np.ndarray, V: np.ndarray, groups: np.ndarray, n_g: int,
              fixed: np.ndarray | None = None) -> np.ndarray:
    """The design contrast of each draw (rows of ``codes``) on each column of ``V``:
    ``Σ_g w_g (mean of V over treated units in g − mean over control units in g)``, with
    ``w_g`` the group's share of the two arms' units (groups missing an arm get no weight).
    ``fixed``: the treated count of every group when every draw has it and no unit is in
    another arm (the draws permute the observed arms)."""
    R, n = codes.shape
    flat = codes.ravel()
    if fixed is None:
        off = (np.arange(R)[:, None] * n_g + groups[None, :]).ravel()
        size = R * n_g
        is_t = (flat == 2).astype(float)  # float weights: bincount is slow with boolean ones
        nt = np.bincount(off, weights=is_t, minlength=size).reshape(R, n_g)
        if np.all(flat != 0) and np.all(nt == nt[0]):
            fixed = nt[0]
    if fixed is not None:
        # every unit in the two arms and the same treated count per group in every draw (as
        # in complete randomization within groups): the contrast is linear in the draw,
        # S = T·(k ⊙ V) − c with k_i = w_g (1/n_tg + 1/n_cg); one matrix product
        n_s = np.bincount(groups, minlength=n_g).astype(float)
        nt0 = fixed
        nc0 = n_s - nt0
        ok0 = (nt0 > 0) & (nc0 > 0)
        w0 = np.where(ok0, n_s, 0.0) / np.where(ok0, n_s, 0.0).sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            k_g = np.where(ok0, w0 * (1 / nt0 + 1 / nc0), 0.0)
            c_g = np.where(ok0, w0 / nc0, 0.0)
        kv = V * k_g[groups][:, None]
        const = (V * c_g[groups][:, None]).sum(axis=0)
        return (codes == 2).astype(float) @ kv - const
    is_c = (flat == 1).astype(float)
    nc = np.bincount(off, weights=is_c, minlength=size).reshape(R, n_g)
    ok = (nt > 0) & (nc > 0)
    w = np.where(ok, nt + nc, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):  # a draw without both arms: NaN
        w /= w.sum(axis=1, keepdims=True)
    out = np.empty((R, V.shape[1]))
    for k in range(V.shape[1]):
        v = np.broadcast_to(V[:, k], (R, n)).ravel()
        st = np.bincount(off, weights=v * is_t, minlength=size).reshape(R, n_g)
        sc = np.bincount(off, weights=v * is_c, minlength=size).reshape(R, n_g)
        with np.errstate(invalid="ignore", divide="ignore"):
            diff = np.where(ok, st / np.where(ok, nt, 1) - sc / np.where(ok, nc, 1), 0.0)
        out[:, k] = (w * diff).sum(axis=1)
    return out


def _permute_within(codes: np.ndarray, groups: np.ndarray, m: int,
                    rng: np.random.Generator) -> np.ndarray:
    """``m`` permutations of the observed codes within groups (vectorized: random keys
    offset by the group, sorted per row)."""
    order = np.argsort(groups, kind="stable")
    g = groups[order].astype(float)
    keys = g[None, :] + rng.random((m, len(g)))
    idx = np.argsort(keys, axis=1)
    out = np.empty((m, len(g)), dtype=codes.dtype)
    out[:, order] = codes[order][idx]
    return out


def _residualize(X: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Residuals of the columns of ``V`` on ``[1, X]`` (pooled over arms)."""
    if not X.shape[1]:
        return V - V.mean(axis=0)
    Z = np.column_stack([np.ones(len(V)), X - X.mean(axis=0)])
    coef, *_ = np.linalg.lstsq(Z, V, rcond=None)
    return V - Z @ coef


def randomization_test(df: pd.DataFrame, *, arm: str, outcome: str, design: DesignInfo,
                       control: Any = None, treatment: Any = None,
                       covariates: Sequence[str] | str = (), redraw: Redraw | None = None,
                       permutations: int = 2000, seed: SeedLike = None,
                       confidence_level: float = 0.95) -> RandomizationTest:
    """Fisher randomization test of "no unit's outcome depends on its arm", drawing
    assignments as the design did, and its interval by test inversion.

    Statistic: the design contrast (strata or blocks weighted by their share of units) of
    ``u = M(y − τ·T)``, the outcome shifted by a constant effect τ and residualized on
    ``[1, covariates]`` (pooled; a rerandomized design's covariates are always included;
    Rosenbaum 2002). It is linear in τ, so every τ is tested on the same redraws.

    Args:
        df: one row per randomized unit (every row: all arms, in the order of the redraws).
        arm: the arm column.
        outcome: the outcome column.
        design: the stored design.
        control: control label (default: the design's first arm).
        treatment: treatment label (default: the other arm of a two-arm design).
        covariates: extra covariate columns to residualize on.
        redraw: the design's redraws, ``rng -> arms`` (one draw of ``len(df)`` labels, or a
            batch of them) or an R × n array of drawn arms. Default: permutations of the
            observed arms within strata or blocks (the design's draws when each group's arm
            counts are fixed); a rerandomized design needs it.
        permutations: redraws R (ignored when ``redraw`` is an array).
        seed: seed of the redraws (``None``: fresh entropy, recorded).
        confidence_level: of the interval.

    Returns:
        A :class:`RandomizationTest`.

    Raises:
        ConfigError: a rerandomized design without ``redraw``; too few redraws.
        DataValidationError: bad columns, or redraws of the wrong shape.

    Example:
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(0)
        >>> df = pd.DataFrame({"arm": np.tile(["control", "treatment"], 50),
        ...                    "s": np.repeat(["a", "b"], 50)})
        >>> df["y"] = rng.normal(0, 1, 100) + (df["s"] == "b") * 3
        >>> d = DesignInfo("stratified", {"control": 0.5, "treatment": 0.5}, strata="s")
        >>> r = randomization_test(df, arm="arm", outcome="y", design=d, seed=2)
        >>> r.n_redraws, r.p_value > 0.05, r.ci_lower < 0 < r.ci_upper
        (2000, True, True)
    """
    level = check_level(confidence_level)
    alpha = 1 - level
    if not isinstance(design, DesignInfo):
        raise ConfigError(f"design must be a DesignInfo, got {type(design).__name__}",
                          where="randomization_test", fix="describe the design with DesignInfo")
    covs = _covariates(design, covariates)
    control, treatment = _arm_labels(df, arm, design, control, treatment)
    require_columns(df, [arm, outcome, design.groups, *covs], "randomization_test")
    n = len(df)
    arms = df[arm].to_numpy()
    obs = _codes(arms, control, treatment, n)[0]
    for code, role, label in ((1, "control", control), (2, "treatment", treatment)):
        if not np.any(obs == code):
            raise DataValidationError(f"no {role} unit ({arm} == {label!r}) in the data",
                                      where="randomization_test", fix="check the arm labels")
    y = numeric_column(df[outcome], outcome, "outcome", "randomization_test")
    X = (np.column_stack([numeric_column(df[c], c, "covariate", "randomization_test")
                          for c in covs]) if covs else np.zeros((n, 0)))
    groups, _ = _group_codes(df, design, "randomization_test")
    n_g = int(groups.max()) + 1 if n else 1
    V = _residualize(X, np.column_stack([y, (obs == 2).astype(float)]))
    a0, b0 = _contrast(obs[None, :], V, groups, n_g)[0]
    rng, used_seed = make_rng(seed)
    notes: list[str] = []
    need = math.ceil(1 / alpha)
    fixed: np.ndarray | None = None
    block = max(1, 1_000_000 // max(n, 1))  # draws per chunk: memory stays ~10 MB
    chunks: Iterator[np.ndarray]
    if isinstance(redraw, np.ndarray):
        given = redraw if redraw.ndim == 2 else redraw[None, :]
        if len(given) < need:
            raise ConfigError(f"{len(given)} given draws are too few for a {level * 100:g}% "
                              "interval", where="randomization_test",
                              fix=f"give at least {need} draws; 2000 is usual")
        chunks = (_codes(given[s:s + block], control, treatment, n)
                  for s in range(0, len(given), block))
        used_seed = None
        how = f"{len(given):,} given draws of the design"
    else:
        if permutations < need:
            raise ConfigError(f"permutations == {permutations}, too few for a "
                              f"{level * 100:g}% interval", where="randomization_test",
                              fix=f"use at least {need}; 2000 is the default")
        if redraw is not None:
            chunks = _called(redraw, rng, permutations, block, control, treatment, n)
            how = "the design's redraws"
        elif design.method == "rerandomized":
            raise ConfigError(
                "a randomization test of a rerandomized design needs the design's redraws: "
                "free permutations draw assignments its acceptance rule would have rejected",
                where="randomization_test",
                fix="pass redraw= (the design layer's redraw of the accepted set)")
        else:
            chunks = (_permute_within(obs, groups, min(block, permutations - s), rng)
                      for s in range(0, permutations, block))
            if np.all(obs != 0):
                fixed = np.bincount(groups, weights=(obs == 2).astype(float), minlength=n_g)
            how = ("permutations within the pairs/blocks of " + repr(design.blocks)
                   if design.method == "blocked" else
                   "permutations within the strata of " + repr(design.strata)
                   if design.strata else "permutations")
            notes.append("redraws permute the observed arms within each group: the design's "
                         "draws when its arm counts per group are fixed")
    S = np.concatenate([_contrast(c, V, groups, n_g, fixed) for c in chunks])
    R = len(S)
    a, b = S[:, 0], S[:, 1]

    def count(tau: float) -> int:
        o = abs(a0 - tau * b0)
        tol = 1e-9 * max(o, abs(a0), abs(tau * b0), 1e-300)
        return int(np.count_nonzero(np.abs(a - tau * b) >= o - tol))

    def pval(tau: float) -> float:
        return (1 + count(tau)) / (R + 1)

    est = a0 / b0 if b0 != 0 else math.nan
    k0 = count(0.0)
    p0 = (1 + k0) / (R + 1)
    step = float(np.std(a)) if np.std(a) > 0 else max(abs(est), 1.0)
    lo, hi = invert_test(pval, est, step, alpha)
    notes.append("p = (1 + #{|S*| ≥ |S|}) / (1 + R) under the sharp null (no unit's outcome "
                 "depends on its arm); interval by test inversion assuming a constant additive "
                 "effect" + (f"; outcomes residualized on {', '.join(covs)}" if covs else ""))
    if len(design.arms) > 2:
        notes.append("with more than two arms the sharp null covers every arm: units redrawn "
                     "into other arms leave the statistic")
    return RandomizationTest(redrawn=how, effect=float(est), ci_lower=float(lo),
                             ci_upper=float(hi),
                             p_value=float(p0), n_redraws=R, n_extreme=k0,
                             confidence_level=level,
                             p_value_mc_se=math.sqrt(p0 * (1 - p0) / R), seed=used_seed,
                             notes=tuple(notes))


def _called(redraw: Callable[[np.random.Generator], Any], rng: np.random.Generator,
            total: int, block: int, control: Any, treatment: Any, n: int
            ) -> Iterator[np.ndarray]:
    """Chunks of ``total`` draws from a callable redraw (one draw or a batch per call)."""
    have, buf, size = 0, [], 0
    while have < total:
        c = _codes(redraw(rng), control, treatment, n)[:total - have]
        have += len(c)
        buf.append(c)
        size += len(c)
        if size >= block:
            yield np.concatenate(buf)
            buf, size = [], 0
    if buf:
        yield np.concatenate(buf)


# -- the blocked estimator --------------------------------------------------------------------


def _wls_hc2(Y: np.ndarray, Z: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares of each column of ``Y`` on ``Z`` with HC2 influence terms.

    Returns:
        ``(coef p × m, influence J × p × m)``; the HC2 covariance of coefficients of outcomes
        a and b is ``Σ_j IF[j, :, a] IF[j, :, b]'`` (the same as statsmodels' WLS with
        ``cov_type="HC2"``).
    """
    sw = np.sqrt(w)
    Zw = Z * sw[:, None]
    Ginv = np.linalg.inv(Zw.T @ Zw)
    B = Ginv @ (Zw.T @ (Y * sw[:, None]))
    E = Y - Z @ B
    h = np.einsum("ij,jk,ik->i", Zw, Ginv, Zw)
    if np.any(h > 1 - 1e-10):
        raise DataValidationError("a block has leverage 1 in the block-level regression (it "
                                  "alone determines a covariate's coefficient)", where=_WHERE,
                                  fix="use fewer covariates with a blocked design")
    scale = w / np.sqrt(1 - h)
    IF = (Z @ Ginv)[:, :, None] * (E * scale[:, None])[:, None, :]
    return B, IF


@dataclass
class _BlockFit:
    effect: float
    mean_c: float
    var_eff: float
    var_c: float
    cov_eff_c: float
    df: float
    n_blocks: int


def _block_fit(d: Comparison, blocks: np.ndarray, n_b: int) -> _BlockFit:
    """Within-block differences weighted by block size, between-block HC2 variance."""
    t = d.t
    nt = np.bincount(blocks[t], minlength=n_b).astype(float)
    nc = np.bincount(blocks[~t], minlength=n_b).astype(float)
    w = (nt + nc) / (nt + nc).sum()

    def arm_means(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (np.bincount(blocks[t], weights=v[t], minlength=n_b) / nt,
                np.bincount(blocks[~t], weights=v[~t], minlength=n_b) / nc)

    yt, yc = arm_means(d.y)
    k = d.X.shape[1]
    dx = np.zeros((n_b, k))
    xc = np.zeros((n_b, k))
    for j in range(k):
        xt_j, xc_j = arm_means(d.X[:, j])
        dx[:, j], xc[:, j] = xt_j - xc_j, xc_j - d.X[:, j].mean()
    if n_b < k + 2:
        raise DataValidationError(
            f"{n_b} block(s) with both arms are too few for a blocked analysis"
            + (f" with {k} covariate(s)" if k else ""), where=_WHERE,
            fix="a blocked design needs at least " + str(k + 2) + " blocks; use fewer covariates")
    Z = np.column_stack([np.ones(n_b), dx - (w @ dx)]) if k else np.ones((n_b, 1))
    B, IF = _wls_hc2((yt - yc)[:, None], Z, w)
    effect = float(B[0, 0] - (B[1:, 0] @ (w @ dx) if k else 0.0))
    psi = IF[:, 0, 0]
    if k:
        # the intercept is at the weighted mean of Δx̄; the effect is at Δx̄ = 0: add the
        # slope's contribution to the influence, IF_0 − (wΔx̄)'IF_β
        psi = psi - IF[:, 1:, 0] @ (w @ dx)
    c = yc - (xc @ B[1:, 0] if k else 0.0)
    Bc, IFc = _wls_hc2(c[:, None], np.ones((n_b, 1)), w)
    phi = IFc[:, 0, 0]
    return _BlockFit(effect=effect, mean_c=float(Bc[0, 0]), var_eff=float(psi @ psi),
                     var_c=float(phi @ phi), cov_eff_c=float(psi @ phi),
                     df=float(n_b - 1 - k), n_blocks=n_b)


# -- the estimate -----------------------------------------------------------------------------


def _covariates(design: DesignInfo, covariates: Sequence[str] | str) -> tuple[str, ...]:
    extra = (covariates,) if isinstance(covariates, str) else tuple(covariates or ())
    return tuple(dict.fromkeys((*design.covariates, *extra)))


def _arm_labels(df: pd.DataFrame, arm: str, design: DesignInfo, control: Any,
                treatment: Any) -> tuple[Any, Any]:
    """Default arms from the design: control its first arm, treatment the other of two."""
    require_columns(df, [arm], _WHERE)
    if control is None:
        control = design.control
    if treatment is None:
        rest = [a for a in design.arms if a != str(control)]
        if len(rest) != 1:
            raise ConfigError(f"the design has {len(design.arms)} arms "
                              f"({', '.join(design.arms)}): which is the treatment?",
                              where=_WHERE, fix="pass treatment=")
        treatment = rest[0]
    for role, label in (("control", control), ("treatment", treatment)):
        if str(label) not in design.arms:
            raise ConfigError(f"{role} arm {label!r} is not an arm of the design "
                              f"({', '.join(design.arms)})", where=_WHERE,
                              fix="use the design's arm names")
    return control, treatment


def _group_codes(df: pd.DataFrame, design: DesignInfo, where: str
                 ) -> tuple[np.ndarray, list[Any]]:
    col = design.groups
    if col is None:
        return np.zeros(len(df), dtype=np.int64), [None]
    require_columns(df, [col], where)
    s = df[col]
    if s.isna().any():
        bad = s.index[s.isna().to_numpy()]
        raise DataValidationError(
            f"{'block' if design.method == 'blocked' else 'strata'} column '{col}' has "
            f"{len(bad)} missing value(s) ({examples(bad)})", where=where,
            fix="every unit needs the stratum or block it was randomized in (the ledger's)")
    codes, uniq = pd.factorize(s, sort=True)
    return codes.astype(np.int64), list(uniq)


def analyze_design(df: pd.DataFrame, *, arm: str, outcome: str, design: DesignInfo,
                   control: Any = None, treatment: Any = None,
                   covariates: Sequence[str] | str = (), method: str = "auto",
                   redraw: Redraw | None = None, permutations: int = 2000,
                   seed: SeedLike = None, confidence_level: float = 0.95) -> Estimate:
    """Estimate the effect of assignment with the estimator and randomization distribution
    the design calls for.

    Args:
        df: one row per randomized unit, with the design's strata/blocks and covariates.
        arm: the arm column.
        outcome: the outcome column.
        design: the stored design.
        control: control label (default: the design's first arm).
        treatment: treatment label (default: the other arm of a two-arm design).
        covariates: pre-period covariates to adjust for besides the design's.
        method: ``auto`` (the design's estimator), a method of :func:`supportlab.analyze`
            or a design-aware name; corrected or refused by :func:`follow_design`.
        redraw: the design's redraws (see :func:`randomization_test`).
        permutations: redraws of the randomization test (0: no test).
        seed: seed of the redraws.
        confidence_level: of every interval.

    Returns:
        An :class:`~supportlab.stats.estimation.Estimate` whose ``method`` names the design
        estimator (``stratified-regression``, ``blocked``, ``rerandomized-regression``, or
        ``<design>-permutation`` when the randomization test is the primary inference);
        ``details`` hold the design, the randomization p-value and its interval, and the
        sample-ratio check against the design's probabilities.

    Raises:
        ConfigError: an analysis that contradicts the design (see :func:`follow_design`).
        DataValidationError: bad columns or too few units, strata or blocks.

    Example:
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(5)
        >>> df = pd.DataFrame({"arm": np.tile(["control", "treatment"], 100),
        ...                    "rank": np.repeat(list("ABCD"), 50)})
        >>> df["y"] = rng.normal(0, 1, 200) + df["rank"].map({"A": 0, "B": 1, "C": 2, "D": 4})
        >>> d = DesignInfo("stratified", {"control": 0.5, "treatment": 0.5}, strata="rank")
        >>> est = analyze_design(df, arm="arm", outcome="y", design=d, method="welch", seed=1)
        >>> est.method, any(n.startswith("corrected: method 'welch'") for n in est.notes)
        ('stratified-regression', True)
    """
    level = check_level(confidence_level)
    if not isinstance(design, DesignInfo):
        raise ConfigError(f"design must be a DesignInfo, got {type(design).__name__}",
                          where=_WHERE, fix="describe the design with DesignInfo")
    choice = follow_design(design, method, has_redraw=redraw is not None)
    covs = _covariates(design, covariates)
    control, treatment = _arm_labels(df, arm, design, control, treatment)
    require_columns(df, [arm, outcome, design.groups, *covs], _WHERE)
    notes: list[str] = list(choice.notes)
    details: dict[str, Any] = {"design": design.method, "design_description": design.describe()}
    if design.method == "blocked":
        est = _blocked_estimate(df, arm, outcome, design, control, treatment, covs, level,
                                notes, details)
    else:
        d, _ = prepare(df, arm=arm, outcome=outcome, control=control, treatment=treatment,
                       covariates=covs, strata=design.strata, where=_WHERE)
        base = estimate_comparison(d, "regression", level, seed=None, permutations=0,
                                   resamples=0, where=_WHERE)
        if design.method == "stratified":
            notes.append("stratified-regression: Lin (2013) with the randomization strata as "
                         "centred dummies interacted with the arm; strata weighted by their "
                         "size (the post-stratified difference when there are no covariates)"
                         if design.strata else
                         "one stratum (complete randomization): Lin (2013) regression")
        else:
            notes.append("rerandomized-regression: regression on the rerandomization "
                         f"covariates ({', '.join(design.covariates)}), which makes the "
                         "normal HC2 interval valid under rerandomization (Li, Ding & Rubin "
                         "2018; Li & Ding 2020)")
        est = dataclasses.replace(base, method=_ESTIMATOR[design.method],
                                  notes=(*base.notes, *notes), details={**base.details,
                                                                        **details})
    warnings = list(est.warnings)
    shares = design.probabilities
    p_c, p_t = shares[str(control)], shares[str(treatment)]
    srm = srm_check(est.n_control, est.n_treatment, control_share=p_c / (p_c + p_t))
    extra: dict[str, Any] = {"srm_p_value": srm.p_value,
                             "expected_control_share": srm.expected_control_share}
    if srm.mismatch:
        warnings.append(f"sample-ratio mismatch against the design's probabilities (p="
                        f"{fmt_p(srm.p_value)}): units were lost or the ledger is not the "
                        "design's; the estimate cannot be trusted")
    test: RandomizationTest | None = None
    run_test = permutations > 0 or isinstance(redraw, np.ndarray)
    if choice.randomization or (run_test and (design.method != "rerandomized"
                                              or redraw is not None)):
        test = randomization_test(df, arm=arm, outcome=outcome, design=design,
                                  control=control, treatment=treatment, covariates=covs,
                                  redraw=redraw, permutations=max(permutations, 0) or 2000,
                                  seed=seed, confidence_level=level)
        extra.update({"randomization_p_value": test.p_value,
                      "randomization_ci": (test.ci_lower, test.ci_upper),
                      "randomization_redraws": test.n_redraws,
                      "randomization_redrawn": test.redrawn,
                      "randomization_seed": test.seed,
                      "randomization_p_value_mc_se": test.p_value_mc_se})
    elif run_test:
        est = dataclasses.replace(est, notes=(*est.notes, "no randomization p-value: a "
                                              "rerandomized design needs its redraws (redraw=)"))
    if choice.randomization and test is not None:
        return _as_permutation(est, test, choice.method, warnings, extra)
    return dataclasses.replace(est, warnings=tuple(dict.fromkeys(warnings)),
                               details={**est.details, **extra})


def _as_permutation(ref: Estimate, test: RandomizationTest, method: str,
                    warnings: list[str], extra: dict[str, Any]) -> Estimate:
    """The estimate with the randomization test as its inference: the test's effect, interval
    and p-value; the relative effect keeps the design estimator's delta-method standard error
    (never the rescaled absolute interval)."""
    effect = test.effect
    mc = ref.mean_control
    rel, rlo, rhi = math.nan, math.nan, math.nan
    if math.isfinite(ref.rel_effect) and mc != 0:
        rel = effect / mc
        half = ref.critical_value() * ref.rel_se
        rlo, rhi = rel - half, rel + half
    return dataclasses.replace(
        ref, method=method, mean_treatment=mc + effect, effect=effect, ci_lower=test.ci_lower,
        ci_upper=test.ci_upper, p_value=test.p_value, rel_effect=rel, rel_ci_lower=rlo,
        rel_ci_upper=rhi, warnings=tuple(dict.fromkeys(warnings)),
        notes=(*ref.notes, *test.notes, "the effect, interval and p-value are the randomization "
               "test's; se, df and the relative interval are the design estimator's, for "
               "reference"), details={**ref.details, **extra})


def _blocked_estimate(df: pd.DataFrame, arm: str, outcome: str, design: DesignInfo,
                      control: Any, treatment: Any, covs: tuple[str, ...], level: float,
                      notes: list[str], details: dict[str, Any]) -> Estimate:
    """The blocked estimate (see the module docstring), within-block variance when every
    block has 2 units per arm, else between-block."""
    d, _ = prepare(df, arm=arm, outcome=outcome, control=control, treatment=treatment,
                   covariates=covs, where=_WHERE)
    sub = df.iloc[d.pos] if d.pos is not None else df
    codes, labels = _group_codes(sub, design, _WHERE)
    n_b = len(labels)
    nt = np.bincount(codes[d.t], minlength=n_b)
    nc = np.bincount(codes[~d.t], minlength=n_b)
    warnings: list[str] = []
    one_armed = (nt == 0) | (nc == 0)
    if one_armed.any():
        drop = one_armed[codes]
        names = [labels[i] for i in np.flatnonzero(one_armed)]
        warnings.append(f"{len(names)} block(s) of '{design.blocks}' "
                        f"({', '.join(map(repr, names[:5]))}{', ...' if len(names) > 5 else ''}"
                        f") have units of one arm only; their {int(drop.sum())} unit(s) are "
                        "left out")
        keep = ~drop
        sub = sub.loc[keep]
        d, _ = prepare(sub, arm=arm, outcome=outcome, control=control, treatment=treatment,
                       covariates=covs, where=_WHERE)
        codes, labels = _group_codes(sub.iloc[d.pos] if d.pos is not None else sub, design,
                                     _WHERE)
        n_b = len(labels)
        nt = np.bincount(codes[d.t], minlength=n_b)
        nc = np.bincount(codes[~d.t], minlength=n_b)
    details.update({"blocks": n_b, "block_sizes": sorted({int(v) for v in nt + nc})})
    if np.all((nt >= 2) & (nc >= 2)):
        dd, _ = prepare(sub, arm=arm, outcome=outcome, control=control, treatment=treatment,
                        covariates=covs, strata=design.blocks, where=_WHERE)
        # without covariates the post-stratified difference (the same effect and standard
        # error as the saturated regression with HC2, without fitting a dummy per block)
        base = estimate_comparison(dd, "regression" if covs else "welch", level, seed=None,
                                   permutations=0, resamples=0, where=_WHERE)
        if not covs:
            # t with the saturated regression's n − 2·blocks degrees of freedom: Satterthwaite's
            # collapses when cells of 2 units carry heavy-tailed variances
            df_b = float(len(dd.y) - 2 * len(dd.strata_labels))
            ci_b, p_b = t_interval(base.effect, base.se, df_b, 1 - level)
            half = critical_value(1 - level, df_b) * base.rel_se
            base = dataclasses.replace(base, df=df_b, ci_lower=float(ci_b[0]),
                                       ci_upper=float(ci_b[1]), p_value=float(p_b),
                                       rel_ci_lower=base.rel_effect - half,
                                       rel_ci_upper=base.rel_effect + half)
        notes.append(f"blocked: every one of the {n_b} blocks has at least 2 units per arm, so "
                     "the within-block (Neyman) variance is used: "
                     + ("Lin (2013) regression with the blocks as centred dummies interacted "
                        "with the arm, HC2" if covs else
                        "the post-stratified difference on the blocks (equal to the regression "
                        "with block dummies interacted with the arm and HC2), t with n − 2·blocks "
                        "degrees of freedom")
                     + "; blocks weighted by their size")
        details["variance"] = "within-block"
        return dataclasses.replace(base, method="blocked",
                                   warnings=(*base.warnings, *warnings),
                                   notes=(*base.notes, *notes),
                                   details={**base.details, **details})
    fit = _block_fit(d, codes, n_b)
    alpha = 1 - level
    se = math.sqrt(max(fit.var_eff, 0.0))
    ci, p = t_interval(fit.effect, se, fit.df, alpha)
    rel, rel_se, rlo, rhi = relative_interval(fit.effect, fit.mean_c, fit.var_eff, fit.var_c,
                                              fit.cov_eff_c, critical_value(alpha, fit.df))
    k = d.X.shape[1]
    notes.append(
        f"blocked: within-block differences of {n_b} blocks weighted by block size; variance "
        "between blocks, Σ w_j²(τ_j − τ)²/(1 − w_j) (for pairs the paired-difference variance "
        "of Imai 2008 / Athey & Imbens 2017, conservative)"
        + (f"; covariates ({', '.join(d.covariates)}) adjusted as within-block arm differences "
           "(Fogarty 2018)" if k else "")
        + f"; t with J − 1 − k = {fit.df:g} degrees of freedom")
    details["variance"] = "between-block"
    binary = is_binary(d.y)
    warnings += thin_warnings(d, binary)
    if not se > 0:
        warnings.append("the effect has no sampling variation (constant outcome): no interval")
    return Estimate(
        method="blocked", outcome=d.outcome, arm=d.arm, control=str(d.control),
        treatment=str(d.treatment), n_control=d.n_c, n_treatment=d.n_t,
        mean_control=fit.mean_c, mean_treatment=fit.mean_c + fit.effect, effect=fit.effect,
        ci_lower=float(ci[0]), ci_upper=float(ci[1]), p_value=float(p), rel_effect=rel,
        rel_ci_lower=rlo, rel_ci_upper=rhi, confidence_level=level, se=se, rel_se=rel_se,
        df=fit.df, raw_mean_control=float(d.y_c.mean()), raw_mean_treatment=float(d.y_t.mean()),
        covariates=d.covariates, strata=design.blocks,
        warnings=tuple(dict.fromkeys([*d.warnings, *warnings])),
        notes=tuple([*d.notes, *notes]), details=dict(details))

