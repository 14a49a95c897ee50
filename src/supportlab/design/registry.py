"""The package registry: the append-only decision log, each package's status, and credits.

Three things live here, all read from the workspace's ``decisions`` log (never from what
people say about themselves):

* :func:`record_decision` appends one decision on an experiment's package version: the
  evaluation's computed decision, or a person's decision, which needs a written reason when it
  differs from the computed one (an *override*); ``retire`` takes a package version out of use.
  Placebo (A/A) runs are never package decisions. No row is ever updated or deleted, and the
  same decision on the same experiment twice is recorded once.
* :func:`packages` lists every package version found in the package files and in the log with
  its owner, segment, lineage (``v1 -> v2``, or the ``revises`` key), experiments and status
  (``draft -> piloting -> promoted / revise / stopped / retired``), whether each promotion was
  reproduced ("reproduced in N of M", by the criterion stated when it was promoted), and the
  pooled estimate across its experiments: a DerSimonian–Laird random-effects meta-analysis
  (``statsmodels.stats.meta_analysis.combine_effects``), shown raw and shrunk towards the
  registry mean (empirical Bayes), so that a lucky small experiment does not look like a star.
* :func:`credits` gives each person what the seed's culture asks for: package versions
  designed, promoted and reproduced by others' deliveries, the reproductions of other people's
  packages they delivered, and the overrides on their packages.

Example:
    >>> d = empirical_bayes([0.9, 0.1, 0.2], [0.4, 0.1, 0.1])
    >>> round(d.tau2, 4), [round(x, 3) for x in d.shrunk]
    (0.0175, [0.273, 0.138, 0.201])
    >>> d.effect[0] > d.shrunk[0]  # the noisy large estimate is pulled towards the mean
    True
"""

from __future__ import annotations

import datetime as dt
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from supportlab.config.experiment import Experiment, Package, load_package, package_files, segment_text
from supportlab.config.problems import ConfigFileError, did_you_mean
from supportlab.errors import ConfigError, WorkspaceError
from supportlab.results import ResultMixin
from supportlab.vocab import LOGGED_DECISIONS

if TYPE_CHECKING:  # pragma: no cover
    from supportlab.data.workspace import Workspace

__all__ = ["DEFAULT_REPRODUCTION", "Credits", "DecisionRecord", "Pooled", "Registry",
           "credits", "empirical_bayes", "packages", "pool_effects", "record_decision"]

#: the reproduction criterion of a promotion when the experiment states none
DEFAULT_REPRODUCTION = ("a later experiment of the same package in another cohort shows an "
                        "effect of the same sign whose interval excludes zero")
#: how the criterion stated at a promotion is kept among the row's reasons (the log is the record)
CRITERION_PREFIX = "reproduction criterion: "
#: decisions an evaluation reaches at the horizon: the ones a reproduction is judged by
_FINAL = ("promote", "revise", "stop")
_STATUS_OF = {"promote": "promoted", "revise": "revise", "stop": "stopped", "retire": "retired"}
_STATUS_JA = {"draft": "下書き", "piloting": "試行中", "promoted": "昇格", "revise": "改訂",
              "stopped": "中止", "retired": "廃止"}
_DECISION_JA = {"promote": "昇格", "revise": "改訂", "continue": "継続", "stop": "中止",
                "retire": "廃止"}
_Z95 = 1.959963984540054
_COLUMNS = ("package_id", "version", "experiment_id", "decision", "reasons", "decided_at",
            "report", "computed", "override_reason", "decided_by", "metric", "effect",
            "std_error", "ci_lower", "ci_upper", "cohort")


# -- pooling and shrinkage ------------------------------------------------------------------------


@dataclass(frozen=True)
class Pooled:
    """A DerSimonian–Laird random-effects pool and the empirical-Bayes shrinkage of its inputs.

    Attributes:
        effect / std_error: the inputs (one estimate and its standard error per experiment).
        mean / mean_se: the random-effects mean and its standard error.
        tau2: the between-experiment variance (DerSimonian–Laird, truncated at zero).
        q: Cochran's Q.
        shrunk / shrunk_se: each input shrunk towards the mean by its precision,
            ``mean + B (effect - mean)`` with ``B = tau2 / (tau2 + se^2)``, and its
            approximate posterior standard error ``sqrt(B se^2 + (1 - B)^2 mean_se^2)``
            (the uncertainty of the mean included, that of ``tau2`` not).
    """

    effect: tuple[float, ...]
    std_error: tuple[float, ...]
    mean: float
    mean_se: float
    tau2: float
    q: float
    shrunk: tuple[float, ...]
    shrunk_se: tuple[float, ...]

    @property
    def k(self) -> int:
        """Number of estimates pooled."""
        return len(self.effect)

    def ci(self, z: float = _Z95) -> tuple[float, float]:
        """The interval of the random-effects mean (normal reference)."""
        return self.mean - z * self.mean_se, self.mean + z * self.mean_se

    def shrink(self, effect: float, se: float) -> tuple[float, float]:
        """Shrink another estimate towards :attr:`mean` with this pool's ``tau2``."""
        b = self.tau2 / (self.tau2 + se * se) if self.tau2 + se * se > 0 else 0.0
        return (self.mean + b * (effect - self.mean),
                math.sqrt(b * se * se + (1 - b) ** 2 * self.mean_se ** 2))


def pool_effects(effect: Sequence[float], std_error: Sequence[float]) -> Pooled:
    """Pool estimates by a DerSimonian–Laird random-effects meta-analysis.

    Uses ``statsmodels.stats.meta_analysis.combine_effects(method_re="dl")``; when Cochran's
    Q falls below its degrees of freedom DerSimonian–Laird sets ``tau2`` to zero, which
    statsmodels leaves negative, so the fixed-effect pool it also returns is used then. One
    estimate is its own pool.

    Raises:
        ValueError: no estimates, lengths differ, or a standard error is not positive.

    Example:
        >>> p = pool_effects([0.5, 0.1, 0.3], [0.2, 0.1, 0.3])
        >>> round(p.mean, 4), round(p.tau2, 4)
        (0.2482, 0.0236)
    """
    y = np.asarray(effect, dtype=float)
    s = np.asarray(std_error, dtype=float)
    if len(y) == 0 or len(y) != len(s):
        raise ValueError(f"{len(y)} effects and {len(s)} standard errors: give one of each, "
                         "at least one")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(s)) and np.all(s > 0)):
        raise ValueError("effects must be finite and standard errors positive")
    v = s ** 2
    if len(y) == 1:
        mean, mean_se, tau2, q = float(y[0]), float(s[0]), 0.0, 0.0
    else:
        from statsmodels.stats.meta_analysis import combine_effects

        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            res = combine_effects(y, v, method_re="dl", use_t=False)
        q = float(res.q)
        if float(res.tau2) > 0:
            mean, mean_se, tau2 = float(res.mean_effect_re), float(res.sd_eff_w_re), float(res.tau2)
        else:
            mean, mean_se, tau2 = float(res.mean_effect_fe), float(res.sd_eff_w_fe), 0.0
    b = tau2 / (tau2 + v)
    shrunk = mean + b * (y - mean)
    shrunk_se = np.sqrt(b * v + (1 - b) ** 2 * mean_se ** 2)
    return Pooled(tuple(map(float, y)), tuple(map(float, s)), mean, mean_se, tau2, q,
                  tuple(map(float, shrunk)), tuple(map(float, shrunk_se)))


def empirical_bayes(effect: Sequence[float], std_error: Sequence[float]) -> Pooled:
    """Shrink each estimate towards the mean of all of them (empirical Bayes on
    :func:`pool_effects`): a noisy estimate moves most, a precise one least."""
    return pool_effects(effect, std_error)


# -- the log --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DecisionRecord(ResultMixin):
    """One row of the decision log, as recorded (or as found, when it was there already).

    Attributes:
        decision: the decision in effect (``promote``, ``revise``, ``continue``, ``stop`` or
            ``retire``).
        computed: the evaluation's decision (``None``: recorded without an evaluation).
        override: a person decided differently from the evaluation (the reason is in
            ``override_reason``).
        reproduction: the criterion a promotion states for its reproduction.
        already_recorded: the experiment's latest row holds this decision already (or, for an
            evaluation recorded as computed, a person's decision on the same computed one,
            which stands); nothing was added.
    """

    _title: ClassVar[str] = "Decision recorded"
    _title_ja: ClassVar[str] = "記録した判定"
    _bullets: ClassVar[frozenset[str]] = frozenset({"reasons"})
    _labels: ClassVar[Mapping[str, Mapping[str, str]]] = {
        "en": {"experiment_id": "experiment", "package_id": "package", "decided_at": "decided at",
               "decided_by": "decided by", "computed": "computed decision",
               "override_reason": "reason for the override", "std_error": "standard error",
               "already_recorded": "already in the log"},
        "ja": {"experiment_id": "実験", "package_id": "支援パッケージ", "decided_at": "判定日時",
               "decided_by": "判定者", "computed": "評価による判定", "override": "人による変更",
               "override_reason": "変更の理由", "effect": "効果", "std_error": "標準誤差",
               "cohort": "対象", "reasons": "理由", "reproduction": "再現の基準",
               "already_recorded": "記録済み", "report": "レポート"}}

    experiment_id: str
    package_id: str
    version: int
    decision: str
    computed: str | None
    override: bool
    decided_at: str
    decided_by: str | None = None
    override_reason: str | None = None
    metric: str | None = None
    effect: float | None = None
    std_error: float | None = None
    ci_lower: float | None = None
    ci_upper: float | None = None
    cohort: str | None = None
    report: str | None = None
    reproduction: str | None = None
    reasons: tuple[str, ...] = ()
    already_recorded: bool = False

    def _headline(self, lang: str) -> str:
        ref = f"{self.package_id}@{self.version}"
        if lang == "ja":
            word = _DECISION_JA.get(self.decision, self.decision)
            return f"{self.experiment_id}: {ref} を{word}" + ("（記録済み）" if self.already_recorded
                                                          else "")
        return f"{self.experiment_id}: {self.decision} {ref}" + (
            " (already in the log)" if self.already_recorded else "")


def _json_list(text: Any) -> list[str]:
    if not isinstance(text, str) or not text:
        return []
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return [text]
    return [str(x) for x in value] if isinstance(value, list) else [str(value)]


def _criterion(reasons: Sequence[str]) -> str | None:
    for r in reasons:
        if r.startswith(CRITERION_PREFIX):
            return r[len(CRITERION_PREFIX):]
    return None


def _float(v: Any) -> float | None:
    if v is None or v is pd.NA:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _text(v: Any) -> str | None:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    return str(v)


def _record_from_row(row: Mapping[str, Any], *, already: bool) -> DecisionRecord:
    reasons = _json_list(row.get("reasons"))
    computed = _text(row.get("computed"))
    decision = str(row["decision"])
    return DecisionRecord(
        experiment_id=str(row["experiment_id"]), package_id=str(row["package_id"]),
        version=int(row["version"]), decision=decision, computed=computed,
        override=computed is not None and decision not in (computed, "retire"),
        decided_at=pd.Timestamp(row["decided_at"]).isoformat(),
        decided_by=_text(row.get("decided_by")), override_reason=_text(row.get("override_reason")),
        metric=_text(row.get("metric")), effect=_float(row.get("effect")),
        std_error=_float(row.get("std_error")), ci_lower=_float(row.get("ci_lower")),
        ci_upper=_float(row.get("ci_upper")), cohort=_text(row.get("cohort")),
        report=_text(row.get("report")), reproduction=_criterion(reasons),
        reasons=tuple(r for r in reasons if not r.startswith(CRITERION_PREFIX)),
        already_recorded=already)


def _designs(ws: Workspace) -> pd.DataFrame:
    """One row per experiment of the ``designs`` table (phases merged)."""
    cols = ["experiment_id", "package_id", "version", "start_date", "end_date", "placebo",
            "n_assigned"]
    if not ws.exists or not ws.has_table("designs"):
        return pd.DataFrame(columns=cols)
    return ws.query(
        "SELECT experiment_id, any_value(package_id) AS package_id, any_value(version) AS version,"
        " min(start_date) AS start_date, max(end_date) AS end_date, bool_or(placebo) AS placebo,"
        " sum(n_assigned) AS n_assigned, count(DISTINCT package_id || '@' || version) AS n_refs "
        "FROM designs GROUP BY experiment_id ORDER BY min(start_date), experiment_id")


def _log(ws: Workspace) -> pd.DataFrame:
    if not ws.exists or not ws.has_table("decisions"):
        return pd.DataFrame(columns=list(_COLUMNS))
    return ws.query("SELECT * FROM decisions ORDER BY decided_at, experiment_id")


def record_decision(ws: Workspace, evaluation: Any = None, *,
                    experiment: Experiment | str | None = None, decision: str | None = None,
                    reason: str | None = None, decided_by: str | None = None,
                    report: str | None = None, at: dt.datetime | pd.Timestamp | None = None,
                    ) -> DecisionRecord:
    """Append the decision on an experiment's package version to the ``decisions`` log.

    With an evaluation (the object :func:`supportlab.design.evaluate.evaluate` returns, read by
    its attributes ``experiment_id``, ``package_id``, ``version``, ``decision``, ``reasons``,
    ``primary`` (an estimate with ``effect``, ``se``, ``ci_lower``, ``ci_upper``), ``metric``,
    ``cohort`` and ``placebo``) its computed decision is recorded with the primary estimate.
    A person's ``decision`` that differs from the computed one needs a written ``reason`` and
    is kept as an override (both decisions and the reason); a decision without an evaluation
    needs a reason too. ``retire`` takes the package version out of use. A promotion states
    its reproduction criterion (the experiment's ``decision.reproduction``, else
    :data:`DEFAULT_REPRODUCTION`). The log is append-only: no row is ever changed, and when
    the experiment's latest row already holds the same decision nothing is added; nor when an
    evaluation's computed decision is recorded again after a person overrode that same
    computed decision (a scheduled run does not undo the override).

    Args:
        ws: the workspace.
        evaluation: the experiment's evaluation, or ``None``.
        experiment: the experiment (its object or id); needed without an evaluation.
        decision: the decision taken (default: the computed one).
        reason: why, in the decider's words (required for an override, a decision without an
            evaluation, and ``retire``).
        decided_by: who decided (default: ``None``, the evaluation).
        report: the report the decision was taken on (a path or URL).
        at: when it was decided (default: now); never before the experiment's last decision.

    Raises:
        ConfigError: no decision, an unknown decision word, an override or manual decision
            without a reason, a placebo (A/A) run, an evaluation of another experiment or
            package version, a time before the last decision or in the future.
        WorkspaceError: the experiment has not been assigned in this workspace.
    """
    exp_obj = experiment if isinstance(experiment, Experiment) else None
    eid = getattr(evaluation, "experiment_id", None) if evaluation is not None else None
    given = exp_obj.id if exp_obj is not None else experiment
    if eid is None:
        eid = given
    elif given is not None and given != eid:
        raise ConfigError(f"the evaluation is of experiment '{eid}', not '{given}'",
                          fix="pass the evaluation of the experiment the decision is about")
    if not isinstance(eid, str) or not eid:
        raise ConfigError("record_decision needs an evaluation or an experiment",
                          fix="pass the evaluation (sl.evaluate(ws, exp)) or experiment=")
    computed = None if evaluation is None else str(evaluation.decision)
    final = decision if decision is not None else computed
    if final is None:
        raise ConfigError(f"no decision to record for experiment '{eid}'",
                          fix="pass decision= (promote, revise, continue, stop or retire), or "
                              "the experiment's evaluation")
    if final not in LOGGED_DECISIONS:
        raise ConfigError(f"unknown decision '{final}'", where=f"experiment {eid}",
                          fix=did_you_mean(final, list(LOGGED_DECISIONS), label="decisions"))
    reason = reason.strip() if isinstance(reason, str) and reason.strip() else None
    if final != computed and reason is None:
        if final == "retire":
            why = "retiring a package version needs a written reason"
        elif computed is None:
            why = f"a decision without an evaluation ('{final}') needs a written reason"
        else:
            why = (f"the decision '{final}' overrides the computed '{computed}' and needs a "
                   "written reason")
        raise ConfigError(why, where=f"experiment {eid}",
                          fix="give the reason (reason= or --reason TEXT); it is kept in the log")

    designs = _designs(ws)
    found = designs[designs["experiment_id"] == eid]
    if found.empty:
        known = designs["experiment_id"].astype(str).tolist()
        raise WorkspaceError(f"experiment '{eid}' has no assignment in this workspace",
                             where=str(ws.path),
                             fix=(did_you_mean(eid, known, label="assigned experiments")
                                  if known else "assign it first: supportlab assign "
                                                "EXPERIMENT.yaml"))
    d = found.iloc[0]
    package_id, version = str(d["package_id"]), int(d["version"])
    for src, pid, ver in (("evaluation", getattr(evaluation, "package_id", None),
                           getattr(evaluation, "version", None)),
                          ("experiment file", exp_obj.package.id if exp_obj else None,
                           exp_obj.package.version if exp_obj else None)):
        if pid is not None and (str(pid), int(ver or 0)) != (package_id, version):
            raise ConfigError(f"the {src} names package {pid}@{ver}, but experiment '{eid}' "
                              f"delivered {package_id}@{version}", where=f"experiment {eid}",
                              fix="a new package version is a new experiment: decide on the "
                                  "version that was assigned")
    if int(d.get("n_refs", 1) or 1) > 1:
        raise WorkspaceError(f"experiment '{eid}' has phases of different package versions",
                             where="designs", fix="give each package version its own experiment")
    placebo = bool(d["placebo"]) or bool(getattr(evaluation, "placebo", False)) or (
        exp_obj is not None and exp_obj.design.placebo)
    if placebo:
        raise ConfigError(f"experiment '{eid}' is a placebo (A/A) run on history: it checks the "
                          "method and says nothing about the package", where=f"experiment {eid}",
                          fix="decide on the package from an experiment that delivered it")

    primary = getattr(evaluation, "primary", None)
    effect = _float(getattr(primary, "effect", None))
    se = _float(getattr(primary, "se", getattr(primary, "std_error", None)))
    lo, hi = _float(getattr(primary, "ci_lower", None)), _float(getattr(primary, "ci_upper", None))
    metric = getattr(evaluation, "metric", None) or (
        exp_obj.metrics.primary if exp_obj is not None else None)
    cohort = getattr(evaluation, "cohort", None)
    reasons = [str(r) for r in (getattr(evaluation, "reasons", ()) or ())]
    override_reason = None
    if final != computed:
        override_reason = reason
    elif reason is not None:
        reasons.append(f"note{f' ({decided_by})' if decided_by else ''}: {reason}")
    criterion = None
    if final == "promote":
        criterion = (exp_obj.reproduction if exp_obj is not None and exp_obj.reproduction
                     else None) or getattr(evaluation, "reproduction", None) or DEFAULT_REPRODUCTION
        reasons.append(CRITERION_PREFIX + str(criterion))

    now = pd.Timestamp.now(tz="UTC")
    when = now if at is None else pd.Timestamp(at)
    if when.tzinfo is None:
        when = when.tz_localize(ws.config.timezone)
    if when > now + pd.Timedelta(minutes=5):
        raise ConfigError(f"decided_at {when.isoformat()} is in the future",
                          where=f"experiment {eid}", fix="give the time the decision was taken")

    row = {"package_id": package_id, "version": version, "experiment_id": eid,
           "decision": final, "reasons": json.dumps(reasons, ensure_ascii=False),
           "decided_at": when, "report": report, "computed": computed,
           "override_reason": override_reason, "decided_by": decided_by,
           "metric": None if metric is None else str(metric), "effect": effect,
           "std_error": se, "ci_lower": lo, "ci_upper": hi,
           "cohort": None if cohort is None else str(cohort)}
    with ws.transaction() as con:
        last = con.execute("SELECT * FROM decisions WHERE experiment_id = ? "
                           "ORDER BY decided_at DESC LIMIT 1", [eid]).df()
        if len(last):
            prev = last.iloc[0].to_dict()
            if str(prev["decision"]) == final or (
                    decision is None and computed is not None
                    and _text(prev["computed"]) == computed):
                # the same decision, or the same computed one a person already decided on
                return _record_from_row(prev, already=True)
            if pd.Timestamp(prev["decided_at"]) >= when:
                raise ConfigError(
                    f"experiment '{eid}' has a decision at {pd.Timestamp(prev['decided_at'])}, "
                    f"not before {when.isoformat()}", where="decisions",
                    fix="the log is append-only and in time order: record the decision as of "
                        "now (leave out at=)")
        cols = ", ".join(_COLUMNS)
        con.execute(f"INSERT INTO decisions ({cols}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                    [row[c] for c in _COLUMNS])
    return _record_from_row(row, already=False)


# -- the registry ---------------------------------------------------------------------------------


def _read_packages(packages_dir: str | Path | Sequence[str | Path]) -> tuple[
        dict[tuple[str, int], Package], list[str]]:
    dirs = [packages_dir] if isinstance(packages_dir, (str, Path)) else list(packages_dir)
    missing = [str(d) for d in dirs if not Path(d).is_dir()]
    if missing:
        raise ConfigError(f"package folder {', '.join(missing)} does not exist",
                          fix="name the folder of package files (experiments/packages/)")
    out: dict[tuple[str, int], Package] = {}
    problems: list[str] = []
    for key, files in sorted(package_files(dirs).items()):
        if len(files) > 1:
            problems.append(f"{key[0]}@{key[1]} is defined by {len(files)} files: "
                            + ", ".join(map(str, files)))
        try:
            out[key] = load_package(files[0])
        except ConfigFileError as exc:
            problems.append(f"{files[0]}: not read ({exc.what if hasattr(exc, 'what') else exc})")
    return out, problems


@dataclass(frozen=True)
class Registry(ResultMixin):
    """Every package version with its status, lineage, experiments and reproduction.

    Attributes:
        frame: one row per package version (``package_id``, ``version``, ``ref``, ``title``,
            ``owner``, ``segment``, ``status``, ``revises``, ``revised_by``, ``lineage``,
            ``experiments``, ``n_experiments``, ``last_decision``, ``promoted_in``,
            ``reproduction`` (the criterion), ``n_reproduced`` of ``n_reproduction_tries``,
            ``reproduced`` (the sentence), ``metric``, ``pooled_effect`` with its interval and
            ``pooled_std_error``, ``tau2``, ``shrunk_effect`` with its interval).
        experiments: one row per experiment (package, cohort, start, placebo, latest decision,
            computed decision, override, the primary estimate raw and shrunk, whether it
            confirmed an earlier promotion).
        registry_means: per metric, the mean and ``tau2`` of every experiment's estimate that
            the shrinkage pulls towards.
    """

    _title: ClassVar[str] = "Package registry"
    _title_ja: ClassVar[str] = "支援パッケージの台帳"
    _hidden: ClassVar[frozenset[str]] = frozenset({"frame", "experiments", "registry_means"})
    _bullets: ClassVar[frozenset[str]] = frozenset({"notes_ja"})
    _labels: ClassVar[Mapping[str, Mapping[str, str]]] = {
        "en": {"n_packages": "package versions", "n_promoted": "promoted",
               "n_piloting": "piloting", "n_reproduced": "promotions reproduced"},
        "ja": {"n_packages": "パッケージの版", "n_promoted": "昇格", "n_piloting": "試行中",
               "n_reproduced": "再現された昇格", "warnings": "注意", "notes_ja": "注記"}}

    frame: pd.DataFrame
    experiments: pd.DataFrame
    registry_means: pd.DataFrame
    n_packages: int
    n_promoted: int
    n_piloting: int
    n_reproduced: int
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    notes_ja: tuple[str, ...] = ()

    def _hidden_fields(self, lang: str) -> frozenset[str]:
        return self._hidden | {"notes" if lang == "ja" else "notes_ja"}

    def _headline(self, lang: str) -> str:
        if lang == "ja":
            return (f"{self.n_packages} 版、昇格 {self.n_promoted}、試行中 {self.n_piloting}、"
                    f"再現された昇格 {self.n_reproduced}")
        return (f"{self.n_packages} package versions: {self.n_promoted} promoted, "
                f"{self.n_piloting} piloting, {self.n_reproduced} promotions reproduced")

    def _tables(self, lang: str) -> list[tuple[str, pd.DataFrame]]:
        ja = lang == "ja"
        f = self.frame
        if f.empty:
            return []
        status = f["status"].map(lambda s: _STATUS_JA.get(s, s)) if ja else f["status"]
        t = pd.DataFrame({
            "package": f["ref"], "owner": f["owner"].fillna("—"), "registry_status": status,
            "lineage": f["lineage"], "experiments": f["experiments"],
            "reproduced": f["reproduced"].map(lambda x: _reproduced_ja(x) if ja else x),
            "pooled_effect": f["pooled_effect"], "pooled_ci_lower": f["pooled_ci_lower"],
            "pooled_ci_upper": f["pooled_ci_upper"], "shrunk_effect": f["shrunk_effect"]})
        out = [("パッケージの版" if ja else "package versions", t)]
        e = self.experiments
        if not e.empty:
            x = pd.DataFrame({
                "experiment": e["experiment_id"] + e["placebo"].astype(bool).map(
                    {True: " (A/A)", False: ""}),
                "package": e["ref"],
                "decision": e["decision"].map(lambda s: _DECISION_JA.get(s, s) if ja else s),
                "effect": e["effect"], "ci_lower": e["ci_lower"], "ci_upper": e["ci_upper"],
                "shrunk_effect": e["shrunk_effect"], "shrunk_ci_lower": e["shrunk_ci_lower"],
                "shrunk_ci_upper": e["shrunk_ci_upper"]})
            out.append(("実験" if ja else "experiments", x))
        return out


def _reproduced_ja(text: str) -> str:
    if not isinstance(text, str) or not text.startswith("reproduced in "):
        return text
    n, _, m = text[len("reproduced in "):].partition(" of ")
    return f"{m} 件中 {n} 件で再現"


_EXP_COLUMNS = ["experiment_id", "package_id", "version", "ref", "cohort", "start_date",
                "end_date", "placebo", "n_assigned", "assigned", "decision", "computed",
                "override", "decided_by", "decided_at", "final", "promoted_at", "reproduction",
                "metric", "effect", "std_error", "ci_lower", "ci_upper", "shrunk_effect",
                "shrunk_std_error", "shrunk_ci_lower", "shrunk_ci_upper", "confirmed"]


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame's rows as dicts with missing values as ``None``."""
    return [{k: (None if v is pd.NaT or v is pd.NA or (isinstance(v, float) and math.isnan(v))
                 else v) for k, v in r.items()} for r in df.to_dict(orient="records")]


def _experiment_records(designs: pd.DataFrame, log: list[dict[str, Any]]
                        ) -> dict[str, dict[str, Any]]:
    """One record per experiment: its package, start, placebo flag, latest decision and the
    primary estimate it was decided on (the last final one, else the latest)."""
    rows: dict[str, dict[str, Any]] = {}
    for r in _records(designs):
        rows[str(r["experiment_id"])] = {
            "experiment_id": str(r["experiment_id"]), "package_id": str(r["package_id"]),
            "version": int(r["version"]), "start_date": r["start_date"],
            "end_date": r["end_date"], "placebo": bool(r["placebo"]),
            "n_assigned": None if r["n_assigned"] is None else int(r["n_assigned"]),
            "assigned": True}
    by_exp: dict[str, list[dict[str, Any]]] = {}
    for r in log:  # the log is read in time order
        by_exp.setdefault(str(r["experiment_id"]), []).append(r)
    for eid, g in by_exp.items():
        last = g[-1]
        base = rows.setdefault(eid, {
            "experiment_id": eid, "package_id": str(last["package_id"]),
            "version": int(last["version"]), "start_date": None, "end_date": None,
            "placebo": False, "n_assigned": None, "assigned": False})
        est = [r for r in g if _float(r["effect"]) is not None
               and _float(r["std_error"]) is not None]
        final = [r for r in est if r["decision"] in _FINAL]
        pick = final[-1] if final else (est[-1] if est else None)
        promos = [r for r in g if r["decision"] == "promote"]
        computed = _text(last["computed"])
        base.update({
            "decision": str(last["decision"]), "computed": computed,
            "decided_by": _text(last["decided_by"]), "decided_at": last["decided_at"],
            "first_decided": g[0]["decided_at"],
            "override": computed is not None and last["decision"] not in (computed, "retire"),
            "final": bool(final),
            "promoted_at": promos[0]["decided_at"] if promos else None,
            "reproduction": next((c for c in (_criterion(_json_list(r["reasons"]))
                                              for r in promos) if c), None),
            "cohort": (_text(pick["cohort"]) if pick else None) or _text(last["cohort"])})
        for k in ("metric",):
            base[k] = None if pick is None else _text(pick[k])
        for k in ("effect", "std_error", "ci_lower", "ci_upper"):
            base[k] = None if pick is None else _float(pick[k])
    for r in rows.values():
        r["ref"] = f"{r['package_id']}@{r['version']}"
        r["cohort"] = r.get("cohort") or r["experiment_id"]
        for c in _EXP_COLUMNS:
            r.setdefault(c, None)
        r["confirmed"] = False
    return rows


def _confirms(first: Mapping[str, Any], e: Mapping[str, Any]) -> bool:
    """The default criterion: same sign as the promotion, interval excluding zero."""
    lo, hi, ref = e["ci_lower"], e["ci_upper"], first["effect"]
    if lo is None or hi is None or ref is None:
        return False
    return bool((ref > 0 and lo > 0) or (ref < 0 and hi < 0))


def _later(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether experiment ``b`` is later than ``a``: it starts after it (or, without start
    dates, was first decided after it)."""
    if a["start_date"] is not None and b["start_date"] is not None:
        return bool(pd.Timestamp(b["start_date"]) > pd.Timestamp(a["start_date"]))
    return bool(pd.Timestamp(b.get("first_decided")) > pd.Timestamp(a.get("first_decided")))


def _reproduction(exps: list[dict[str, Any]]) -> dict[str, Any]:
    """The first promotion of one package version and the later experiments that judge it."""
    promos = sorted((e for e in exps if e["promoted_at"] is not None),
                    key=lambda e: pd.Timestamp(e["promoted_at"]))
    if not promos:
        return {"promoted_in": None, "reproduction": None, "n_reproduced": 0,
                "n_reproduction_tries": 0, "confirming": [], "judged": [], "metric": None}
    p = promos[0]
    judged, confirming = [], []
    for e in exps:
        if e is p or not e["final"] or e["effect"] is None or e["cohort"] == p["cohort"] \
                or (p["metric"] is not None and e["metric"] != p["metric"]) or not _later(p, e):
            continue
        judged.append(e["experiment_id"])
        if _confirms(p, e):
            confirming.append(e["experiment_id"])
    return {"promoted_in": p["experiment_id"],
            "reproduction": p["reproduction"] or DEFAULT_REPRODUCTION,
            "n_reproduced": len(confirming), "n_reproduction_tries": len(judged),
            "confirming": confirming, "judged": judged, "metric": p["metric"]}


def _status(exps: list[dict[str, Any]], log: Mapping[str, list[dict[str, Any]]]
            ) -> tuple[str, str | None]:
    """``(status, latest decision)`` of a package version from its experiments' log rows."""
    real = [e["experiment_id"] for e in exps if not e["placebo"]]
    rows = sorted((r for eid in real for r in log.get(eid, [])),
                  key=lambda r: pd.Timestamp(r["decided_at"]))
    terminal = [r for r in rows if r["decision"] in _STATUS_OF]
    last = str(rows[-1]["decision"]) if rows else None
    if terminal:
        return _STATUS_OF[str(terminal[-1]["decision"])], last
    return ("piloting" if real else "draft"), last


def _ref(key: tuple[str, int] | None) -> str | None:
    return None if key is None else f"{key[0]}@{key[1]}"


def _lineage(keys: Sequence[tuple[str, int]], files: Mapping[tuple[str, int], Package]
             ) -> dict[tuple[str, int], tuple[str, int] | None]:
    """Each version's predecessor: its ``revises`` key, else the same id's version before."""
    versions: dict[str, list[int]] = {}
    for pid, ver in sorted(keys):
        versions.setdefault(pid, []).append(ver)
    prev: dict[tuple[str, int], tuple[str, int] | None] = {}
    for pid, ver in keys:
        pkg = files.get((pid, ver))
        before: tuple[str, int] | None = None
        if pkg is not None and pkg.revises:
            rid, _, rver = pkg.revises.partition("@")
            if rver:
                before = (rid, int(rver))
            elif versions.get(rid):
                before = (rid, versions[rid][-1])
        else:
            older = [v for v in versions.get(pid, []) if v < ver]
            before = (pid, older[-1]) if older else None
        prev[(pid, ver)] = before
    return prev


def _usable(e: Mapping[str, Any]) -> bool:
    return not e["placebo"] and e["effect"] is not None and (e["std_error"] or 0) > 0


def packages(ws: Workspace, packages_dir: str | Path | Sequence[str | Path], *,
             package: str | None = None) -> Registry:
    """Every package version with its status, lineage, experiments and reproduction.

    Package versions come from the package files in ``packages_dir`` and from the workspace
    (``designs`` and the ``decisions`` log). Status follows the log: ``draft`` (never
    assigned), ``piloting`` (assigned, no final decision yet), then the latest of ``promoted``,
    ``revise``, ``stopped`` or ``retired``; placebo (A/A) runs do not count. A promotion is
    judged by the later experiments of the same version in other cohorts with a final decision
    and an estimate on the same metric: "reproduced in N of M" counts those whose interval
    excludes zero on the promotion's side. Pooled estimates: :func:`pool_effects` over the
    version's experiments, and shrunk towards the mean of every experiment in the registry on
    that metric (:func:`empirical_bayes`).

    Args:
        ws: the workspace (an empty one lists the package files as drafts).
        packages_dir: the folder (or folders) of package files.
        package: list only this package id (every version).

    Raises:
        ConfigError: the folder does not exist, or ``package`` is unknown.
    """
    files, problems = _read_packages(packages_dir)
    log = _records(_log(ws))
    by_exp: dict[str, list[dict[str, Any]]] = {}
    for r in log:
        by_exp.setdefault(str(r["experiment_id"]), []).append(r)
    exps = _experiment_records(_designs(ws), log)
    of_version: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for e in exps.values():
        of_version.setdefault((e["package_id"], e["version"]), []).append(e)
    keys = sorted(set(files) | set(of_version))
    warns = list(problems)
    warns += [f"{pid}@{ver} is in the workspace but has no package file: owner and segment "
              "unknown" for pid, ver in keys if (pid, ver) not in files]
    if package is not None and package not in {k[0] for k in keys}:
        raise ConfigError(f"unknown package '{package}'", where=", ".join(
            map(str, [packages_dir] if isinstance(packages_dir, (str, Path)) else packages_dir)),
            fix=did_you_mean(package, sorted({k[0] for k in keys}), label="packages"))

    # shrinkage: every experiment's estimate on a metric, pooled across the registry
    means: dict[str, Pooled] = {}
    notes: list[tuple[str, str]] = []  # (en, ja)
    on_metric: dict[str, list[dict[str, Any]]] = {}
    for e in exps.values():
        if _usable(e):
            on_metric.setdefault(e["metric"] or "(no metric)", []).append(e)
    for metric_name, group in on_metric.items():
        pool = empirical_bayes([e["effect"] for e in group], [e["std_error"] for e in group])
        means[metric_name] = pool
        for e, sh, sse in zip(group, pool.shrunk, pool.shrunk_se, strict=True):
            e.update(shrunk_effect=sh, shrunk_std_error=sse, shrunk_ci_lower=sh - _Z95 * sse,
                     shrunk_ci_upper=sh + _Z95 * sse)
        if pool.k < 3:
            notes.append((f"{metric_name}: {pool.k} experiment(s) in the registry; shrinkage needs "
                          "about three or more to say much",
                          f"{metric_name}: 台帳の実験は {pool.k} 件。縮小推定が意味を持つには 3 件以上が"
                          "目安です"))

    rows = []
    prev = _lineage(keys, files)
    nxt: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for k, p in prev.items():
        if p is not None:
            nxt.setdefault(p, []).append(k)
    for pid, ver in keys:
        if package is not None and pid != package:
            continue
        pkg = files.get((pid, ver))
        mine = sorted(of_version.get((pid, ver), []),
                      key=lambda e: (e["start_date"] is None, str(e["start_date"]),
                                     e["experiment_id"]))
        status, last = _status(mine, by_exp)
        rep = _reproduction([e for e in mine if not e["placebo"]])
        for e in mine:
            e["confirmed"] = e["experiment_id"] in rep["confirming"]
        chain, cur, seen = [f"{pid}@{ver}"], prev.get((pid, ver)), {(pid, ver)}
        while cur is not None and cur not in seen:
            seen.add(cur)
            chain.insert(0, f"{cur[0]}@{cur[1]}")
            cur = prev.get(cur)
        est = [e for e in mine if _usable(e)]
        metric = rep["metric"]
        if metric is None and est:
            named = [e["metric"] for e in est if e["metric"]]
            metric = max(set(named), key=named.count) if named else None
        pooled: dict[str, Any] = dict.fromkeys(
            ("pooled_effect", "pooled_std_error", "pooled_ci_lower", "pooled_ci_upper", "tau2",
             "shrunk_effect", "shrunk_ci_lower", "shrunk_ci_upper"))
        use = [e for e in est if e["metric"] == metric]
        if len(use) < len(est):
            warns.append(f"{pid}@{ver}: {len(est) - len(use)} experiment(s) on another metric "
                         f"than {metric} are left out of its pooled estimate")
        if use:
            pool = pool_effects([e["effect"] for e in use], [e["std_error"] for e in use])
            lo, hi = pool.ci()
            sh, sse = means[metric or "(no metric)"].shrink(pool.mean, pool.mean_se)
            pooled = {"pooled_effect": pool.mean, "pooled_std_error": pool.mean_se,
                      "pooled_ci_lower": lo, "pooled_ci_upper": hi, "tau2": pool.tau2,
                      "shrunk_effect": sh, "shrunk_ci_lower": sh - _Z95 * sse,
                      "shrunk_ci_upper": sh + _Z95 * sse}
        m, n = rep["n_reproduction_tries"], rep["n_reproduced"]
        rows.append({
            "package_id": pid, "version": ver, "ref": f"{pid}@{ver}",
            "title": pkg.title if pkg else None, "owner": pkg.owner if pkg else None,
            "segment": (segment_text(pkg.segment) or "every partner") if pkg else None,
            "status": status, "revises": _ref(prev.get((pid, ver))),
            "revised_by": ", ".join(f"{a}@{b}" for a, b in sorted(nxt.get((pid, ver), [])))
            or None,
            "lineage": " → ".join(chain),
            "experiments": ", ".join(e["experiment_id"] + (" (A/A)" if e["placebo"] else "")
                                     for e in mine) or "—",
            "n_experiments": sum(not e["placebo"] for e in mine),
            "last_decision": last, "promoted_in": rep["promoted_in"],
            "reproduction": rep["reproduction"], "n_reproduced": n, "n_reproduction_tries": m,
            "reproduced": (f"reproduced in {n} of {m}" if rep["promoted_in"] else "—"),
            "confirmed_by": ", ".join(rep["confirming"]) or None, "metric": metric, **pooled})
        if rep["promoted_in"] and rep["reproduction"] != DEFAULT_REPRODUCTION:
            notes.append((f"{pid}@{ver} states its own reproduction criterion "
                          f"(\"{rep['reproduction']}\"); the count applies the default rule, "
                          "people judge the stated one",
                          f"{pid}@{ver} は独自の再現基準（「{rep['reproduction']}」）を定めて"
                          "います。件数は既定の基準で数え、定めた基準は人が判断します"))
    frame = pd.DataFrame(rows, columns=[
        "package_id", "version", "ref", "title", "owner", "segment", "status", "revises",
        "revised_by", "lineage", "experiments", "n_experiments", "last_decision", "promoted_in",
        "reproduction", "n_reproduced", "n_reproduction_tries", "reproduced", "confirmed_by",
        "metric", "pooled_effect", "pooled_std_error", "pooled_ci_lower", "pooled_ci_upper",
        "tau2", "shrunk_effect", "shrunk_ci_lower", "shrunk_ci_upper"])
    shown = sorted((e for e in exps.values() if package is None or e["package_id"] == package),
                   key=lambda e: (e["start_date"] is None, str(e["start_date"]),
                                  e["experiment_id"]))
    experiments = pd.DataFrame(shown, columns=_EXP_COLUMNS)
    for c in ("effect", "std_error", "ci_lower", "ci_upper", "shrunk_effect",
              "shrunk_std_error", "shrunk_ci_lower", "shrunk_ci_upper"):
        experiments[c] = experiments[c].astype(float)
    reg = pd.DataFrame([{"metric": k, "mean": p.mean, "mean_std_error": p.mean_se,
                         "tau2": p.tau2, "n_experiments": p.k} for k, p in means.items()],
                       columns=["metric", "mean", "mean_std_error", "tau2", "n_experiments"])
    if any(e["placebo"] for e in shown):
        notes.append(("placebo (A/A) runs are listed as (A/A) and never count as package "
                      "experiments", "プラセボ（A/A）の実行は (A/A) と表示し、パッケージの実験には"
                                     "数えません"))
    notes.append(("shrunk: each estimate pulled towards the registry mean on its metric by its "
                  "precision (empirical Bayes on a DerSimonian–Laird random-effects pool)",
                  "縮小した効果: 各推定を、その精度に応じて同じ指標の台帳全体の平均に近づけた値"
                  "（DerSimonian–Laird のランダム効果モデルによる経験ベイズ）"))
    return Registry(
        frame=frame, experiments=experiments, registry_means=reg, n_packages=len(frame),
        n_promoted=int((frame["status"] == "promoted").sum()),
        n_piloting=int((frame["status"] == "piloting").sum()),
        n_reproduced=int((frame["n_reproduced"] > 0).sum()), warnings=tuple(warns),
        notes=tuple(dict.fromkeys(n[0] for n in notes)),
        notes_ja=tuple(dict.fromkeys(n[1] for n in notes)))


# -- credits --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Credits(ResultMixin):
    """Credit per person, from the decision log: the seed's culture of reproduced support.

    Attributes:
        frame: one row per person: ``designed`` (package versions they own), ``promoted``
            (of those, promoted at least once), ``reproduced`` (promoted versions confirmed by
            a later experiment delivered by others), ``reproductions`` (those confirming
            experiments), ``spread`` (confirming experiments of other people's packages whose
            tasks they delivered), ``overrides`` (decisions on their packages taken against
            the computed one) and ``packages``.
        overrides: every override in the log (experiment, package, computed and recorded
            decision, reason, who, when).
    """

    _title: ClassVar[str] = "Credits"
    _title_ja: ClassVar[str] = "支援モデルの設計と再現の実績"
    _hidden: ClassVar[frozenset[str]] = frozenset({"frame", "overrides"})
    _bullets: ClassVar[frozenset[str]] = frozenset({"notes_ja"})
    _labels: ClassVar[Mapping[str, Mapping[str, str]]] = {
        "en": {"n_owners": "people credited"},
        "ja": {"n_owners": "対象者", "warnings": "注意", "notes_ja": "注記"}}

    frame: pd.DataFrame
    overrides: pd.DataFrame
    n_owners: int
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    notes_ja: tuple[str, ...] = ()

    def _hidden_fields(self, lang: str) -> frozenset[str]:
        return self._hidden | {"notes" if lang == "ja" else "notes_ja"}

    def _headline(self, lang: str) -> str:
        top = self.frame[self.frame["reproduced"] > 0]
        if lang == "ja":
            return (f"{self.n_owners} 人、再現された支援モデルを持つ人 {len(top)}"
                    + (f"（最多: {top['owner'].iloc[0]}）" if len(top) else ""))
        return (f"{self.n_owners} people, {len(top)} with reproduced packages"
                + (f" (most: {top['owner'].iloc[0]})" if len(top) else ""))

    def _tables(self, lang: str) -> list[tuple[str, pd.DataFrame]]:
        ja = lang == "ja"
        out = []
        if not self.frame.empty:
            out.append(("担当者ごとの実績" if ja else "per person", self.frame))
        if not self.overrides.empty:
            o = self.overrides.rename(columns={"experiment_id": "experiment"})
            out.append(("判定の変更" if ja else "overrides", o))
        return out


def credits(ws: Workspace, packages_dir: str | Path | Sequence[str | Path]) -> Credits:
    """Credit each person with package versions designed, promoted and reproduced.

    Everything is computed from the package files (who owns what) and the workspace's log
    (decisions, designs and task owners), never self-reported. A reproduction counts for the
    owner when the confirming experiment (see :func:`packages`) was delivered by others: its
    tasks name someone besides the owner, or no tasks were recorded (the PRM delivered it).
    The people who delivered a confirming experiment of someone else's package are credited
    with ``spread`` (the seed: those who spread a template deserve credit too).

    Raises:
        ConfigError: the package folder does not exist.
    """
    reg = packages(ws, packages_dir)
    f = reg.frame
    deliverers: dict[str, set[str]] = {}
    if ws.exists and ws.has_table("tasks"):
        t = ws.query("SELECT DISTINCT experiment_id, owner FROM tasks WHERE owner IS NOT NULL")
        for eid, owner in t.itertuples(index=False):
            deliverers.setdefault(str(eid), set()).add(str(owner))
    people: dict[str, dict[str, Any]] = {}

    def person(name: str) -> dict[str, Any]:
        return people.setdefault(name, {"owner": name, "designed": 0, "promoted": 0,
                                        "reproduced": 0, "reproductions": 0, "spread": 0,
                                        "overrides": 0, "packages": []})

    log = _log(ws)
    ov = log[log["computed"].notna() & (log["decision"] != log["computed"])
             & (log["decision"] != "retire")]
    owner_of = {r["ref"]: r["owner"] for r in f.to_dict(orient="records")}
    for r in f.to_dict(orient="records"):
        if not _text(r["owner"]):
            continue
        p = person(str(r["owner"]))
        p["designed"] += 1
        p["packages"].append(r["ref"])
        if _text(r["promoted_in"]):
            p["promoted"] += 1
        confirming = [e for e in (_text(r["confirmed_by"]) or "").split(", ") if e]
        by_others = [e for e in confirming
                     if not deliverers.get(e) or deliverers[e] - {r["owner"]}]
        if by_others:
            p["reproduced"] += 1
            p["reproductions"] += len(by_others)
        for e in confirming:
            for who in sorted(deliverers.get(e, set()) - {r["owner"]}):
                person(who)["spread"] += 1
    for r in ov.to_dict(orient="records"):
        owner = owner_of.get(f"{r['package_id']}@{int(r['version'])}")
        if owner:
            person(str(owner))["overrides"] += 1
    frame = pd.DataFrame(list(people.values()), columns=[
        "owner", "designed", "promoted", "reproduced", "reproductions", "spread", "overrides",
        "packages"])
    frame["packages"] = frame["packages"].map(lambda x: ", ".join(x) or "—")
    frame = frame.sort_values(["reproduced", "promoted", "spread", "designed", "owner"],
                              ascending=[False, False, False, False, True]).reset_index(drop=True)
    over = pd.DataFrame({
        "experiment_id": ov["experiment_id"].astype(str),
        "package": ov["package_id"].astype(str) + "@" + ov["version"].astype(int).astype(str),
        "computed": ov["computed"], "decision": ov["decision"],
        "override_reason": ov["override_reason"], "decided_by": ov["decided_by"],
        "decided_at": ov["decided_at"]}).reset_index(drop=True)
    warns = [w for w in reg.warnings if "no package file" in w]
    return Credits(frame=frame, overrides=over, n_owners=len(frame), warnings=tuple(warns),
                   notes=("computed from the package files and the decision log, never "
                          "self-reported; a reproduction counts when a later experiment in "
                          "another cohort, delivered by others, confirmed the promotion",),
                   notes_ja=("パッケージのファイルと判定ログから計算し、自己申告は使いません。"
                             "再現は、後から別の対象で行われ、他者が展開した実験が昇格を裏付け"
                             "たときに数えます",))
