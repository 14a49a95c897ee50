"""The stored design of an experiment: what every later analysis reads.

A :class:`DesignSpec` is declared from the experiment file (:func:`design_spec`) and stored
with the assignment ledger (the ``designs`` table, one row per experiment phase). It names the
unit, the arms and their probabilities, the method (stratified, blocked, rerandomized), the
strata and blocks, the rerandomization acceptance rule, the covariates, the seed and the
algorithm version, so that

* the seed and algorithm version re-derive the ledger bit for bit (``assign --verify``);
* a changed design after assignment is detected (:attr:`DesignSpec.design_hash` covers the
  declared parts only, never what the run found);
* the analysis follows the design: strata or block effects, and randomization inference that
  permutes within strata, blocks or the accepted rerandomization set.

Example:
    >>> import datetime as dt
    >>> from supportlab.config.experiment import Design
    >>> spec = DesignSpec.from_design("exp-1", "pkg", 1, Design(dt.date(2026, 10, 1), seed=7))
    >>> spec.probabilities
    {'control': 0.5, 'treatment': 0.5}
    >>> DesignSpec.from_json(spec.to_json()) == spec
    True
    >>> three = Design(dt.date(2026, 10, 1), control_share=0.4, arms=("control", "b", "a"))
    >>> DesignSpec.from_json(DesignSpec.from_design("e", "p", 1, three).to_json()).arms
    ('control', 'b', 'a')
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from supportlab.config.experiment import Design, Experiment
from supportlab.errors import ConfigError

__all__ = ["ALGORITHM_VERSION", "ALGORITHM_VERSIONS", "DesignSpec", "design_spec"]

#: version of the randomization algorithm; a change of the draws needs a new version, so that
#: an old ledger is still re-derived by the algorithm that made it. ``/2`` balances a
#: rerandomized design on the normal scores of its covariates (``/1``: their raw values, whose
#: distance is far from chi-square for heavy-tailed metrics); the random streams are ``/1``'s,
#: so stratified and blocked draws are the same under both.
ALGORITHM_VERSION = "supportlab-randomize/2"

#: every version this release re-derives
ALGORITHM_VERSIONS = ("supportlab-randomize/1", "supportlab-randomize/2")


@dataclass(frozen=True)
class DesignSpec:
    """A declared, stored randomization design (one experiment phase).

    Attributes:
        unit: the unit of randomization and analysis (always ``partner``).
        probabilities: each arm's assignment probability, control first.
        method: ``stratified``, ``blocked`` or ``rerandomized``.
        strata: partner columns randomized within (empty: one stratum).
        small_strata: ``pool``, ``exclude`` or ``error`` for a stratum too small to split.
        block_on / block_size: the pre-period metric of a blocked design and partners per block.
        rerandomize: the acceptance rule of a rerandomized design: ``covariates``,
            ``acceptance`` (share of draws accepted) and ``max_draws``; the threshold found
            and the draws used are run results, kept in :attr:`outcome`.
        covariates: pre-period metrics of the balance table and the regression adjustment.
        start / end: the first day of delivery and the end of the horizon (exclusive).
        pre_days: days before the start measured as baseline.
        placebo: an A/A run on history; every later output says so.
        exclude_running: ``same_package`` or ``any_package``.
        outcome: what the run found (e.g. ``threshold``, ``draws``, ``distance``, excluded
            counts); not part of :attr:`design_hash`.
    """

    experiment_id: str
    package_id: str
    version: int
    phase: int
    probabilities: dict[str, float]
    method: str
    start: dt.date
    end: dt.date
    seed: int
    strata: tuple[str, ...] = ()
    small_strata: str = "pool"
    block_on: str | None = None
    block_size: int | None = None
    rerandomize: dict[str, Any] | None = None
    covariates: tuple[str, ...] = ()
    pre_days: int = 90
    placebo: bool = False
    exclude_running: str = "same_package"
    unit: str = "partner"
    algorithm: str = ALGORITHM_VERSION
    outcome: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def arms(self) -> tuple[str, ...]:
        """Arm names, control first."""
        return tuple(self.probabilities)

    @property
    def control(self) -> str:
        """The control arm's name."""
        return self.arms[0]

    @classmethod
    def from_design(cls, experiment_id: str, package_id: str, version: int, design: Design,
                    covariates: tuple[str, ...] = ()) -> DesignSpec:
        """The spec an experiment's ``design:`` section declares."""
        rr = None
        if design.method == "rerandomized":
            r = design.rerandomize
            rr = {"covariates": list(r.covariates if r and r.covariates else covariates[:1]),
                  "acceptance": r.acceptance if r else 0.1,
                  "max_draws": r.max_draws if r else 1000}
        block_size = design.block_size
        if design.method == "blocked" and block_size is None:
            block_size = _smallest_block(design.arm_shares)
        return cls(
            experiment_id=experiment_id, package_id=package_id, version=version,
            phase=design.phase, probabilities=dict(design.arm_shares), method=design.method,
            start=design.start, end=design.start + dt.timedelta(days=design.horizon_days),
            seed=design.seed, strata=tuple(design.stratify_by), small_strata=design.small_strata,
            block_on=design.block_on if design.method == "blocked" else None,
            block_size=block_size if design.method == "blocked" else None, rerandomize=rr,
            covariates=tuple(design.balance_on or covariates), pre_days=design.pre_days,
            placebo=design.placebo, exclude_running=design.exclude_running)

    def declared(self) -> dict[str, Any]:
        """The declared parts as plain data (what :attr:`design_hash` covers)."""
        d = asdict(self)
        d.pop("outcome")
        d["start"], d["end"] = self.start.isoformat(), self.end.isoformat()
        d["strata"], d["covariates"] = list(self.strata), list(self.covariates)
        # pairs, not a mapping: the order of the arms (control first) survives sorted JSON
        d["probabilities"] = [[a, p] for a, p in self.probabilities.items()]
        return d

    @property
    def design_hash(self) -> str:
        """SHA-256 of the declared design (canonical JSON): equal hashes, equal designs."""
        text = json.dumps(self.declared(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def differences(self, other: DesignSpec) -> list[str]:
        """The declared keys whose values differ, as ``key: stored -> now`` lines."""
        a, b = self.declared(), other.declared()
        return [f"{k}: {a[k]!r} -> {b[k]!r}" for k in a if a[k] != b[k]]

    def with_outcome(self, **found: Any) -> DesignSpec:
        """A copy with run results added to :attr:`outcome`."""
        return replace(self, outcome={**self.outcome, **found})

    def to_json(self) -> str:
        """The spec as one JSON object (declared parts and ``outcome``)."""
        return json.dumps({**self.declared(), "outcome": self.outcome}, sort_keys=True,
                          ensure_ascii=False, default=str)

    @classmethod
    def from_json(cls, text: str) -> DesignSpec:
        """Read a spec written by :meth:`to_json`."""
        d = json.loads(text)
        d["start"], d["end"] = dt.date.fromisoformat(d["start"]), dt.date.fromisoformat(d["end"])
        d["strata"], d["covariates"] = tuple(d["strata"]), tuple(d["covariates"])
        d["probabilities"] = {a: float(p) for a, p in d["probabilities"]}
        return cls(**d)


def _smallest_block(shares: dict[str, float]) -> int:
    """The smallest block size that holds every arm in its share (2 for 50/50, 3 for thirds)."""
    for size in range(2, 101):
        counts = [s * size for s in shares.values()]
        if all(abs(c - round(c)) < 1e-9 and round(c) >= 1 for c in counts):
            return size
    raise ConfigError(f"arm shares {shares} need blocks of more than 100 partners",
                      fix="set design.block_size, or use shares such as 0.5 or 1/3")


def design_spec(exp: Experiment) -> DesignSpec:
    """The :class:`DesignSpec` an experiment declares; balance covariates default to its
    metrics (primary, secondary, guardrails)."""
    return DesignSpec.from_design(exp.id, exp.package.id, exp.package.version, exp.design,
                                  tuple(exp.metrics.names))
