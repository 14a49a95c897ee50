"""Randomization of partners into arms, re-derivable bit for bit from the stored design.

:func:`randomize` assigns the units of a :class:`~supportlab.design.spec.DesignSpec`;
:func:`redraw` gives fresh assignments of the same design over the same units, for
randomization inference. Pure: pandas and numpy in, a frame out; no workspace.

**Reproducible.** The units are sorted by ``partner_id`` (then grouped by stratum or block)
before anything is drawn, and every random number comes from the raw 64-bit output of a
``PCG64`` bit generator seeded by ``SeedSequence(spec.seed, spawn_key=<sha-256 of the
experiment id, phase and algorithm version>)``. Raw PCG64 output and ``SeedSequence`` are
stable across numpy versions and machines (numpy's NEP 19), and the draws use only integer
operations and exact float conversions on it, so the same seed, algorithm version and set of
units give the same assignment everywhere (``supportlab assign --verify`` checks it).

**The designs** (``spec.method``):

* ``stratified``: complete randomization within each stratum (the ``spec.strata`` columns;
  none: one stratum). Each arm gets ``floor(n·p)`` units of a stratum of ``n``; the ``r``
  units left over go to arms by systematic sampling on the fractional parts (one uniform
  point per stratum), so that every unit's probability of each arm is exactly ``p``. A
  stratum too small to give every arm one unit (``n·p < 1`` for some arm) follows
  ``spec.small_strata``: ``pool`` (all such strata form one ``(pooled)`` stratum; when even
  that is too small, the smallest regular stratum joins it), ``exclude`` (their units are not
  assigned; reported) or ``error``.
* ``blocked``: within each stratum, units are sorted on the ``block_on`` pre-period
  covariate (``<metric>_pre``; missing values last, ties by ``partner_id``) and cut into
  consecutive blocks of ``block_size``; arms are randomized within each block as within a
  stratum. A last, incomplete block that can hold one unit per arm is its own block; a smaller
  one joins the stratum's last full block.
* ``rerandomized`` (Morgan & Rubin 2012): stratified draws, one after the other, until the
  Mahalanobis distance ``M = d' [S (1/n_a + 1/n_c)]⁻¹ d`` of the covariate mean differences
  ``d`` (each non-control arm against control; with several arms the largest ``M``) is at most
  the chi-square quantile of ``acceptance`` with ``k`` degrees of freedom. The covariates enter
  as their normal scores (:func:`normal_scores`; algorithm ``/2``), on which ``M`` follows its
  chi-square law closely even for heavy-tailed metrics (``/1`` ledgers used the raw values).
  The threshold, the draws used and the accepted distance are returned in the outcome; after
  ``max_draws`` draws without one accepted, a :class:`~supportlab.errors.ConfigError` says what
  to change.

One draw consumes, for ``G`` groups and ``n`` units, ``G`` raw words (the remainders' points)
then ``ceil(n / 2)`` (two 32-bit sort keys each; units rank by key, ties by position): draw
``i`` is the same whatever the batch it is made in.

Example:
    >>> import datetime as dt
    >>> import pandas as pd
    >>> from supportlab.config.experiment import Design
    >>> from supportlab.design.spec import DesignSpec
    >>> spec = DesignSpec.from_design("exp-1", "pkg", 1, Design(dt.date(2026, 10, 1), seed=7,
    ...                               stratify_by=("rank",)))
    >>> units = pd.DataFrame({"rank": list("AAAABBB")},
    ...                      index=pd.Index([f"P{i}" for i in range(7)], name="partner_id"))
    >>> frame, outcome = randomize(units, spec)
    >>> frame.groupby("stratum")["arm"].value_counts().unstack().to_numpy().tolist()
    [[2, 2], [2, 1]]
    >>> frame.equals(randomize(units.iloc[::-1], spec)[0])  # the units' order does not matter
    True
"""

from __future__ import annotations

import hashlib
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from supportlab.design.spec import ALGORITHM_VERSION, ALGORITHM_VERSIONS, DesignSpec
from supportlab.errors import ConfigError, DataValidationError

__all__ = ["ALL_STRATUM", "POOLED_STRATUM", "covariate_column", "mahalanobis", "normal_scores",
           "randomize", "redraw", "stratum_labels"]

#: the stratum label of a design without strata
ALL_STRATUM = "all"
#: the stratum label of small strata pooled together
POOLED_STRATUM = "(pooled)"
#: the label of a missing stratum value
MISSING = "(none)"
#: raw words generated per batch (bounded memory: 8 bytes each)
_BATCH_WORDS = 4_000_000
#: above this many groups the draws sort the keys instead of selecting per group
_SELECT_MAX_GROUPS = 64
#: half-width of the selection window around a rank's expected key, in standard deviations
_WINDOW_SD = 6.0
#: tolerance of the floor of n·p (probabilities are stored with 12 digits)
_EPS = 1e-9


def covariate_column(metric: str) -> str:
    """The units' column of a pre-period covariate: ``<metric>_pre``.

    Example:
        >>> covariate_column("deals_registered")
        'deals_registered_pre'
    """
    return metric if metric.endswith("_pre") else f"{metric}_pre"


def stratum_labels(units: pd.DataFrame, strata: tuple[str, ...] | list[str]) -> pd.Series:
    """Each unit's stratum label: the strata columns' values joined with `` / ``.

    Missing values read ``(none)``; without strata every unit is in stratum ``all``.

    Raises:
        DataValidationError: a strata column is missing from ``units``.

    Example:
        >>> df = pd.DataFrame({"rank": ["A", None], "band": ["<1y", "1-3y"]})
        >>> stratum_labels(df, ["rank", "band"]).tolist()
        ['A / <1y', '(none) / 1-3y']
    """
    cols = list(strata)
    if not cols:
        return pd.Series(ALL_STRATUM, index=units.index, dtype=object)
    missing = [c for c in cols if c not in units.columns]
    if missing:
        raise DataValidationError(f"the units have no strata column '{missing[0]}'",
                                  where="randomize: units",
                                  fix="pass the design's strata columns (design.stratify_by)")
    out: pd.Series | None = None
    for c in cols:
        v = units[c].astype(object)
        v = v.where(v.notna(), MISSING).astype(str).astype(object)
        out = v if out is None else out + " / " + v
    assert out is not None
    return out


# -- the seed -------------------------------------------------------------------------------------


def _bit_generator(spec: DesignSpec) -> np.random.PCG64:
    if spec.algorithm not in ALGORITHM_VERSIONS:
        raise ConfigError(f"the design was drawn by {spec.algorithm}; this version of supportlab "
                          f"draws with {ALGORITHM_VERSION}", where=f"design of {spec.experiment_id}",
                          fix="re-derive it with the supportlab version that made it")
    # every version so far draws from the streams of /1 (only the rerandomization criterion
    # changed), so the stream name stays /1's
    text = f"{spec.experiment_id}\x00{spec.phase}\x00{ALGORITHM_VERSIONS[0]}".encode()
    digest = hashlib.sha256(text).digest()
    key = tuple(int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4))
    return np.random.PCG64(np.random.SeedSequence(int(spec.seed), spawn_key=key))


# -- the layout: units in groups ------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """Units grouped (stratum or block) in the order the draws use."""

    order: np.ndarray        # internal position -> row of the units sorted by partner_id
    codes: np.ndarray        # group code of each internal position
    starts: np.ndarray       # (G + 1,) group offsets
    base: np.ndarray         # (G, A) floor of n·p
    cum_frac: np.ndarray     # (G, A + 1) cumulative fractional parts, ending at the remainder
    index: np.ndarray        # internal position as uint64 (ties of keys break on it)

    @property
    def n(self) -> int:
        return len(self.order)

    @property
    def n_groups(self) -> int:
        return len(self.starts) - 1


def _layout(groups: np.ndarray, probs: np.ndarray) -> _Layout:
    """The layout of units (already sorted by partner_id) with group labels ``groups``."""
    labels, codes = np.unique(groups.astype(str), return_inverse=True)
    order = np.argsort(codes, kind="stable")
    codes = codes[order]
    sizes = np.bincount(codes, minlength=len(labels))
    starts = np.concatenate([[0], np.cumsum(sizes)])
    exact = sizes[:, None] * probs[None, :]
    base = np.floor(exact + _EPS).astype(np.int64)
    frac = np.clip(exact - base, 0.0, None)
    rem = sizes - base.sum(axis=1)
    tot = frac.sum(axis=1)
    scale = np.divide(rem, tot, out=np.zeros(len(sizes)), where=tot > 0)
    cum = np.concatenate([np.zeros((len(sizes), 1)), np.cumsum(frac * scale[:, None], axis=1)],
                         axis=1)
    cum[:, -1] = rem
    return _Layout(order, codes, starts, base, cum, np.arange(len(order), dtype=np.uint64))


def _counts(lay: _Layout, u: np.ndarray) -> np.ndarray:
    """(m, G, A) units per arm and group, from the remainders' uniform points ``u`` (m, G)."""
    points = np.maximum(np.ceil(lay.cum_frac[None, :, :] - u[:, :, None]), 0.0)
    counts: np.ndarray = lay.base[None, :, :] + np.diff(points, axis=2).astype(np.int64)
    return counts


def _keys(words: np.ndarray, n: int) -> np.ndarray:
    """(m, h) raw words -> (m, n) 32-bit sort keys: word ``j`` gives unit ``2j`` its low half
    and unit ``2j + 1`` its high half (on any byte order)."""
    if sys.byteorder == "little" and words.strides[-1] == 8:
        return words.view(np.uint32)[:, :n]
    k = np.empty((words.shape[0], 2 * words.shape[1]), dtype=np.uint32)
    k[:, 0::2] = words & np.uint64(0xFFFFFFFF)
    k[:, 1::2] = words >> np.uint64(32)
    return k[:, :n]


def _order_stat(k: np.ndarray, b: np.ndarray, base: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the pair ``(key, position)`` of rank ``b`` (0-based) in ``(key, position)``
    order (positions ``base + column``); rows with ``b >= ncols`` get key ``2**32`` (none).

    Exact: the keys below a window around the expected quantile are counted and the window's
    keys sorted; a row whose rank falls outside the window (about once in 10⁹) or whose key
    at that rank is tied is selected from all its pairs. ``t_pos`` is ``-1`` when the key is
    not tied (the key alone decides).
    """
    m, ng = k.shape
    t_key = np.full(m, 1 << 32, dtype=np.int64)
    t_pos = np.full(m, -1, dtype=np.int64)
    live = b < ng
    if not live.any():
        return t_key, t_pos
    b_lo, b_hi = int(b[live].min()), int(b[live].max())
    q_lo, q_hi = b_lo / ng, (b_hi + 1) / ng
    sd = math.sqrt(max(q_lo * (1 - q_lo), q_hi * (1 - q_hi)) / ng) + 2.0 / ng
    lo = np.uint32(min(max(math.floor((q_lo - _WINDOW_SD * sd) * 2.0 ** 32), 0), 2 ** 32 - 1))
    hi = np.uint32(min(max(math.ceil((q_hi + _WINDOW_SD * sd) * 2.0 ** 32), 0), 2 ** 32 - 1))
    under = k < lo
    below = np.count_nonzero(under, axis=1)
    window = k <= hi
    window ^= under  # under implies k <= hi: this is window & ~under
    counts = np.count_nonzero(window, axis=1)
    need = b - below
    ok = live & (need >= 0) & (need < counts)
    rows = np.repeat(np.arange(m, dtype=np.uint64), counts)
    vals = np.sort((rows << np.uint64(32)) | k[window].astype(np.uint64))
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    at = first[ok] + need[ok]
    pick = vals[at]
    # a tie at the rank: the position decides, from all the row's pairs
    tied = np.zeros(m, dtype=bool)
    nxt = np.minimum(at + 1, len(vals) - 1)
    prv = np.maximum(at - 1, 0)
    tied[ok] = ((vals[nxt] == pick) & (nxt != at)) | ((vals[prv] == pick) & (prv != at))
    t_key[ok] = (pick & np.uint64(0xFFFFFFFF)).astype(np.int64)
    for r in np.flatnonzero(live & (~ok | tied)):
        full = (k[r].astype(np.uint64) << np.uint64(32)) | np.arange(base, base + ng,
                                                                    dtype=np.uint64)
        v = np.partition(full, int(b[r]))[int(b[r])]
        t_key[r], t_pos[r] = int(v >> np.uint64(32)), int(v & np.uint64(0xFFFFFFFF))
    return t_key, t_pos


def _draw(lay: _Layout, bitgen: np.random.BitGenerator, m: int) -> np.ndarray:
    """``m`` draws: the arm index (m, n) of each unit in internal order.

    Draw ``i`` reads ``G + ceil(n / 2)`` raw words: the groups' remainder points, then the
    units' 32-bit keys. Within a group, units are ranked by ``(key, position)`` and the ranks
    are cut at the arms' counts.
    """
    G, n = lay.n_groups, lay.n
    h = (n + 1) // 2
    raw = np.asarray(bitgen.random_raw(m * (G + h)), dtype=np.uint64).reshape(m, G + h)
    u = (raw[:, :G] >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    cum = np.cumsum(_counts(lay, u), axis=2)[:, :, :-1]  # rank where each later arm starts
    keys = _keys(raw[:, G:], n)
    out = np.zeros((m, n), dtype=np.int8)
    if G <= _SELECT_MAX_GROUPS:
        for g in range(G):
            s, e = int(lay.starts[g]), int(lay.starts[g + 1])
            k, dest = keys[:, s:e], out[:, s:e]
            for a in range(cum.shape[2]):
                t_key, t_pos = _order_stat(k, cum[:, g, a], s)
                none = t_key > 0xFFFFFFFF
                tk = np.minimum(t_key, 0xFFFFFFFF).astype(np.uint32)[:, None]
                dest += k >= tk
                for r in np.flatnonzero(none | (t_pos >= 0)):  # rare: no later arm, or a tie
                    at = np.flatnonzero(k[r] == tk[r, 0])
                    dest[r, at] -= 1
                    if not none[r]:
                        dest[r, at[at + s >= t_pos[r]]] += 1
    else:
        pairs = (keys.astype(np.uint64) << np.uint64(32)) | lay.index[None, :]
        by_key = np.argsort(pairs, axis=1)
        grouped = np.take_along_axis(by_key, np.argsort(lay.codes[by_key], axis=1, kind="stable"),
                                     axis=1)
        rank = np.empty_like(grouped)
        np.put_along_axis(rank, grouped, np.arange(n)[None, :] - lay.starts[lay.codes][None, :],
                          axis=1)
        bounds = cum[:, lay.codes, :]  # (m, n, A - 1)
        out[:] = (rank[:, :, None] >= bounds).sum(axis=2)
    return out


# -- the rerandomization criterion ----------------------------------------------------------------


@dataclass(frozen=True)
class _Criterion:
    X: np.ndarray            # (n, k) centred covariates, internal order
    X32: np.ndarray          # the same in single precision (the screen)
    inv: np.ndarray          # (k, k) inverse covariance
    threshold: float
    covariates: tuple[str, ...]
    dropped: tuple[str, ...]


def mahalanobis(arms: np.ndarray, X: np.ndarray, inv: np.ndarray, n_arms: int, *,
                dtype: type = np.float64) -> np.ndarray:
    """Morgan & Rubin's distance of each draw: the largest over non-control arms of
    ``d' [S (1/n_a + 1/n_c)]⁻¹ d``, ``d`` the covariate mean difference against arm 0.

    Args:
        arms: (m, n) arm indices (0 = control).
        dtype: the precision of the masked sums (single precision only to screen).
        X: (n, k) covariates.
        inv: inverse of their covariance ``S``.
        n_arms: arms in the design.

    Example:
        >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
        >>> inv = np.linalg.inv(np.atleast_2d(np.cov(X, rowvar=False)))
        >>> mahalanobis(np.array([[0, 1, 0, 1], [0, 0, 1, 1]]), X, inv, 2).round(3).tolist()
        [0.6, 2.4]
    """
    n = arms.shape[1]
    total = X.sum(axis=0)
    masks = [(arms == a).astype(dtype) for a in range(1, n_arms)]
    sums = [(mk @ X).astype(np.float64) for mk in masks]
    counts = [np.count_nonzero(arms == a, axis=1).astype(np.float64) for a in range(1, n_arms)]
    n_c = n - np.sum(counts, axis=0)
    mean_c = (total[None, :] - np.sum(sums, axis=0)) / np.maximum(n_c, 1)[:, None]
    worst = np.zeros(arms.shape[0])
    for s_a, n_a in zip(sums, counts, strict=True):
        d = s_a / np.maximum(n_a, 1)[:, None] - mean_c
        ok = (n_a > 0) & (n_c > 0)
        scale = np.where(ok, 1 / np.maximum(n_a, 1) + 1 / np.maximum(n_c, 1), 1.0)
        dist = np.einsum("ij,jk,ik->i", d, inv, d) / scale
        worst = np.maximum(worst, np.where(ok, dist, np.inf))
    return worst


def _distances(arms: np.ndarray, crit: _Criterion, n_arms: int) -> np.ndarray:
    """:func:`mahalanobis` of each draw against the criterion: screened in single precision,
    computed exactly (double) for the draws the screen leaves near or under the threshold;
    the others get ``inf``."""
    if not crit.X.shape[1]:
        return np.zeros(arms.shape[0])
    rough = mahalanobis(arms, crit.X32, crit.inv, n_arms, dtype=np.float32)
    near = np.flatnonzero(~(rough > crit.threshold * 1.05 + 1e-6))
    out = np.full(arms.shape[0], np.inf)
    if near.size:
        out[near] = mahalanobis(arms[near], crit.X, crit.inv, n_arms)
    return out


def normal_scores(X: np.ndarray) -> np.ndarray:
    """Each column's rank-based normal scores ``Φ⁻¹((rank - ½) / n)`` (ties share their mean
    rank): the scale on which a rerandomized design balances its covariates (``/2``).

    Heavy-tailed metrics (deals, pipeline) make the raw covariates' Mahalanobis distance far
    from its chi-square law at a few hundred partners, so a chi-square threshold could accept
    almost nothing; on normal scores the mean differences are close to normal and the
    threshold accepts close to ``acceptance`` of the draws (Morgan & Rubin 2012 assume that
    normality; normal scores: Bliss 1967, the rank-based inverse normal transformation).

    Example:
        >>> normal_scores(np.array([[1.0], [100.0], [5.0], [5.0]])).round(3).ravel().tolist()
        [-1.15, 1.15, 0.0, 0.0]
    """
    from scipy import stats

    ranks = stats.rankdata(X, axis=0)
    return np.asarray(stats.norm.ppf((ranks - 0.5) / X.shape[0]), dtype=np.float64)


def _criterion(units: pd.DataFrame, lay: _Layout, spec: DesignSpec) -> _Criterion:
    from scipy import stats

    rr = spec.rerandomize or {}
    names = tuple(rr.get("covariates") or ())
    if not names:
        raise ConfigError("a rerandomized design needs the covariates of its criterion",
                          where=f"design of {spec.experiment_id}: rerandomize.covariates",
                          fix="name pre-period metrics, e.g. [deals_registered]")
    cols = [covariate_column(c) for c in names]
    missing = [c for c in cols if c not in units.columns]
    if missing:
        raise DataValidationError(f"the units have no covariate column '{missing[0]}'",
                                  where="randomize: units",
                                  fix="pass the pre-period metrics of the rerandomization")
    X = units[cols].to_numpy(dtype=np.float64)[lay.order]
    means = np.nanmean(X, axis=0) if len(X) else np.zeros(len(cols))
    X = np.where(np.isnan(X), np.nan_to_num(means)[None, :], X)
    if spec.algorithm != ALGORITHM_VERSIONS[0] and len(X):
        X = normal_scores(X)
    keep = X.std(axis=0) > 0 if len(X) > 1 else np.zeros(len(cols), dtype=bool)
    dropped = tuple(n for n, k in zip(names, keep, strict=True) if not k)
    X = X[:, keep] - X[:, keep].mean(axis=0)
    k = X.shape[1]
    inv = np.linalg.pinv(np.atleast_2d(np.cov(X, rowvar=False))) if k else np.zeros((0, 0))
    acceptance = float(rr.get("acceptance", 0.1))
    threshold = float(stats.chi2.ppf(acceptance, k)) if k and acceptance < 1 else math.inf
    kept = tuple(n for n, k_ in zip(names, keep, strict=True) if k_)
    return _Criterion(X, X.astype(np.float32), inv, threshold, kept, dropped)


# -- the units ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Prepared:
    units: pd.DataFrame      # the randomized units, sorted by partner_id
    strata: np.ndarray       # their randomization stratum
    groups: np.ndarray       # their group (stratum, or block for blocked designs)
    blocks: np.ndarray | None
    excluded: dict[str, str]
    outcome: dict[str, Any]


def _small(sizes: pd.Series, probs: np.ndarray) -> pd.Series:
    """Whether each stratum is too small to give every arm one unit."""
    return (sizes.to_numpy()[:, None] * probs[None, :] < 1 - _EPS).any(axis=1)


def _sorted_units(units: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(units, pd.DataFrame):
        raise DataValidationError(f"units must be a DataFrame, got {type(units).__name__}",
                                  where="randomize", fix="pass one row per partner")
    df = units.copy()
    if df.index.name != "partner_id" and "partner_id" in df.columns:
        df = df.set_index("partner_id")
    df.index = df.index.astype(str)
    df.index.name = "partner_id"
    dup = df.index[df.index.duplicated()]
    if len(dup):
        raise DataValidationError(f"partner {dup[0]} appears {int((df.index == dup[0]).sum())} "
                                  "times among the units", where="randomize: units",
                                  fix="pass each partner once")
    return df.sort_index(kind="stable")


def _prepare(units: pd.DataFrame, spec: DesignSpec) -> _Prepared:
    df = _sorted_units(units)
    probs = np.array(list(spec.probabilities.values()), dtype=np.float64)
    if len(probs) < 2 or abs(probs.sum() - 1) > 1e-6 or (probs <= 0).any():
        raise ConfigError(f"arm probabilities {spec.probabilities} must be positive and sum to 1",
                          where=f"design of {spec.experiment_id}",
                          fix="set design.control_share between 0 and 1 (exclusive)")
    if df.empty:
        raise DataValidationError(f"no partner to randomize for {spec.experiment_id}",
                                  where="randomize: units", fix="check the eligibility rule")
    strata = stratum_labels(df, spec.strata)
    sizes = strata.value_counts().sort_index()
    small = sizes[_small(sizes, probs)]
    excluded: dict[str, str] = {}
    outcome: dict[str, Any] = {}
    if len(small):
        listing = ", ".join(f"{s} ({n:,})" for s, n in small.items())
        need = math.ceil(1 / probs.min() - _EPS)
        if spec.small_strata == "error":
            raise DataValidationError(
                f"{len(small)} stratum(s) too small to put a partner in every arm (each needs "
                f"{need}): {listing}", where=f"design of {spec.experiment_id}: stratify_by",
                fix="set design.small_strata: pool (or exclude), or stratify on fewer columns")
        if spec.small_strata == "exclude":
            gone = strata.isin(small.index)
            excluded = dict.fromkeys(df.index[gone],
                                     f"stratum too small to split (policy exclude, needs {need})")
            outcome["excluded_strata"] = {str(s): int(n) for s, n in small.items()}
            df, strata = df[~gone], strata[~gone]
            if df.empty:
                raise DataValidationError(
                    f"every stratum is too small to put a partner in every arm: {listing}",
                    where=f"design of {spec.experiment_id}: stratify_by",
                    fix="set design.small_strata: pool, or stratify on fewer columns")
        else:  # pool
            pooled = list(small.index)
            regular = sizes.drop(small.index)
            if _small(pd.Series([small.sum()]), probs)[0]:
                if regular.empty:
                    raise DataValidationError(
                        f"{len(df):,} partner(s) cannot fill {len(probs)} arms", where=
                        f"design of {spec.experiment_id}", fix="widen the eligibility rule")
                pooled.append(regular.sort_values(kind="stable").index[0])
            strata = strata.where(~strata.isin(pooled), POOLED_STRATUM)
            outcome["pooled_strata"] = {str(s): int(sizes[s]) for s in pooled}
    strata_arr = strata.to_numpy(dtype=object).astype(str)
    blocks = None
    groups = strata_arr
    if spec.method == "blocked":
        blocks = _blocks(df, strata_arr, spec, probs)
        groups = blocks
        outcome["n_blocks"] = len(np.unique(blocks))
    return _Prepared(df, strata_arr, groups, blocks, excluded, outcome)


def _blocks(df: pd.DataFrame, strata: np.ndarray, spec: DesignSpec,
            probs: np.ndarray) -> np.ndarray:
    if not spec.block_on or not spec.block_size:
        raise ConfigError("a blocked design needs block_on and block_size",
                          where=f"design of {spec.experiment_id}", fix="set design.block_on")
    col = covariate_column(spec.block_on)
    if col not in df.columns:
        raise DataValidationError(f"the units have no column '{col}' to block on",
                                  where="randomize: units",
                                  fix="pass the pre-period metric of design.block_on")
    x = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64)
    size = int(spec.block_size)
    n = len(df)
    # by stratum, then the covariate (missing last), then partner_id (the frame's order)
    order = np.lexsort((np.arange(n), np.isnan(x), np.nan_to_num(x), strata))
    s_sorted = strata[order]
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
    ends = np.r_[starts[1:], n]
    block = np.empty(n, dtype=np.int64)
    label = 0
    for s, e in zip(starts, ends, strict=True):
        ng = e - s
        full, left = divmod(ng, size)
        pos = np.arange(ng) // size
        if left and full and _small(pd.Series([left]), probs)[0]:
            pos = np.minimum(pos, full - 1)  # a leftover too small joins the last full block
        block[order[s:e]] = label + pos
        label += int(pos.max()) + 1
    width = len(str(label))
    return np.array([str(b + 1).zfill(width) for b in block], dtype=object).astype(str)


# -- randomize ------------------------------------------------------------------------------------


def randomize(units: pd.DataFrame, spec: DesignSpec) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Assign each unit to an arm under the stored design (see the module for the methods).

    Args:
        units: one row per partner (index or column ``partner_id``), with the strata columns
            of ``spec.strata`` and the pre-period covariates (``<metric>_pre``) the design
            uses (``block_on``, the rerandomization covariates).
        spec: the design.

    Returns:
        ``(frame, outcome)``: the frame indexed by ``partner_id`` (sorted) with ``arm``,
        ``stratum`` (the randomization stratum), ``block`` (``None`` unless blocked) and
        ``probability`` (of the unit's arm); the outcome holds what the run found
        (``excluded``: partner -> reason; ``pooled_strata``/``excluded_strata``; for
        rerandomized designs ``threshold``, ``draws``, ``distance``).

    Raises:
        DataValidationError: no units, a missing column, a stratum too small under policy
            ``error``, or too few units for the arms.
        ConfigError: a rerandomized design without an accepted draw in ``max_draws``.
    """
    prep = _prepare(units, spec)
    lay = _layout(prep.groups, np.array(list(spec.probabilities.values()), dtype=np.float64))
    bitgen = _bit_generator(spec)
    arms = spec.arms
    outcome = dict(prep.outcome)
    if spec.method == "rerandomized":
        crit = _criterion(prep.units, lay, spec)
        rr = spec.rerandomize or {}
        max_draws = int(rr.get("max_draws", 1000))
        acceptance = float(rr.get("acceptance", 0.1))
        per = max(1, _BATCH_WORDS // (lay.n + lay.n_groups))
        step = max(1, min(per, math.ceil(3 / acceptance)))
        used = 0
        found: tuple[np.ndarray, float] | None = None
        while used < max_draws and found is None:
            m = min(step, max_draws - used)
            draws = _draw(lay, bitgen, m)
            dist = _distances(draws, crit, len(arms))
            ok = np.flatnonzero(dist <= crit.threshold)
            if ok.size:
                found = (draws[ok[0]], float(dist[ok[0]]))
                used += int(ok[0]) + 1
            else:
                used += m
            step = min(per, step * 2)
        if found is None:
            raise ConfigError(
                f"no rerandomization of {spec.experiment_id} met the balance criterion in "
                f"{max_draws:,} draws (Mahalanobis distance <= {crit.threshold:.4g}, the "
                f"{acceptance:g} quantile of chi-square with {len(crit.covariates)} df)",
                where=f"design of {spec.experiment_id}: rerandomize",
                fix="raise rerandomize.max_draws or rerandomize.acceptance, or balance on "
                    "fewer covariates")
        internal, distance = found
        outcome.update(threshold=crit.threshold, draws=used, distance=distance,
                       acceptance=acceptance, criterion_covariates=list(crit.covariates))
        if crit.dropped:
            outcome["constant_covariates"] = list(crit.dropped)
    else:
        internal = _draw(lay, bitgen, 1)[0]
    arm_idx = np.empty(lay.n, dtype=np.int8)
    arm_idx[lay.order] = internal
    names = np.array(arms, dtype=object)[arm_idx]
    probs = np.array(list(spec.probabilities.values()))[arm_idx]
    frame = pd.DataFrame({"arm": names, "stratum": prep.strata,
                          "block": prep.blocks if prep.blocks is not None else None,
                          "probability": probs}, index=prep.units.index)
    frame["block"] = frame["block"].astype(object)
    outcome["excluded"] = prep.excluded
    return frame, outcome


# -- redraw ---------------------------------------------------------------------------------------


def redraw(units: pd.DataFrame, spec: DesignSpec
           ) -> Callable[[np.random.Generator], np.ndarray]:
    """Fresh assignments of the same design over the same units, for randomization inference.

    The groups are the units' ``stratum`` (and, for a blocked design, ``block``) columns when
    given (a ledger's rows), else derived as :func:`randomize` derives them. Each group keeps
    its arm counts (an incomplete group's remainder is placed at random, as the design placed
    it); for a rerandomized design only draws that meet the stored criterion are returned
    (``spec.outcome['threshold']``, else the one ``acceptance`` gives).

    Returns:
        ``draw(rng) -> labels``: a (k, n) array of arm names, one row per draw, the columns in
        the row order of ``units``.

    Example:
        >>> import datetime as dt
        >>> from supportlab.config.experiment import Design
        >>> spec = DesignSpec.from_design("e", "p", 1, Design(dt.date(2026, 1, 5)))
        >>> units = pd.DataFrame({"stratum": list("aabbbb")},
        ...                      index=pd.Index(list("uvwxyz"), name="partner_id"))
        >>> draws = redraw(units, spec)(np.random.default_rng(1))
        >>> bool((draws[:, :2] == "treatment").sum(axis=1).tolist() == [1] * len(draws))
        True
    """
    df = units.copy()
    if df.index.name != "partner_id" and "partner_id" in df.columns:
        df = df.set_index("partner_id")
    ids = df.index.astype(str)
    position = pd.Series(np.arange(len(df)), index=ids)
    probs = np.array(list(spec.probabilities.values()), dtype=np.float64)
    if "stratum" in df.columns and (spec.method != "blocked" or "block" in df.columns):
        col = "block" if spec.method == "blocked" else "stratum"
        sorted_df = df.set_axis(ids).sort_index(kind="stable")
        groups = sorted_df[col].astype(str).to_numpy()
        kept = sorted_df
    else:
        prep = _prepare(df.set_axis(ids), spec)
        groups, kept = prep.groups, prep.units
        if len(kept) != len(df):
            raise DataValidationError(
                f"{len(df) - len(kept):,} unit(s) are excluded by the design's small-strata "
                "policy: a redraw needs the randomized units only", where="redraw",
                fix="pass the ledger's rows (with their stratum and block)")
    lay = _layout(groups, probs)
    cols = position[kept.index].to_numpy()[lay.order]  # internal position -> row of units
    arms = np.array(spec.arms, dtype=object)
    crit = _criterion(kept, lay, spec) if spec.method == "rerandomized" else None
    if crit is not None and "threshold" in spec.outcome:
        crit = replace(crit, threshold=float(spec.outcome["threshold"]))
    batch = max(1, min(1000, 1_000_000 // max(lay.n, 1)))

    def draw(rng: np.random.Generator) -> np.ndarray:
        bitgen = rng.bit_generator
        for _ in range(1000):
            internal = _draw(lay, bitgen, batch)
            if crit is not None:
                internal = internal[_distances(internal, crit, len(arms)) <= crit.threshold]
            if len(internal):
                out = np.empty((len(internal), len(df)), dtype=object)
                out[:, cols] = arms[internal]
                return out
        raise ConfigError("no redraw met the rerandomization criterion in 1,000 batches",
                          where="redraw", fix="check the stored threshold and covariates")

    return draw
