"""Support packages and the experiments that deliver them, read from reviewable YAML.

A *package* (支援パッケージ) binds a support template to a target segment with a week-by-week plan;
an *experiment* delivers one version of a package to eligible partners with a control group.
See DESIGN §5 for the format and :mod:`supportlab.config.models` for every key. Files are read by
the one loader (:mod:`supportlab.config.loader`): every problem of a file is reported at once,
each as ``file: key.path``, with what is allowed and a did-you-mean.

Package and experiment ids become directory names, so they are restricted to lowercase letters,
digits, ``.``, ``_`` and ``-`` (:data:`~supportlab.config.models.SAFE_ID_PATTERN`). Two package
files with the same id and version are refused.

Example:
    >>> pkg = Package.from_dict({"id": "p", "version": 1, "steps": [
    ...     {"week": 1, "items": [{"content": "video-a-intro", "done_when": "video_complete"}]}]})
    >>> [i.content for i in pkg.items]
    ['video-a-intro']
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supportlab.config.loader import read_document, validate
from supportlab.config.models import PACKAGE_REF_PATTERN, ExperimentFile, PackageFile, plain
from supportlab.config.problems import ConfigFileError, Problem, did_you_mean
from supportlab.display import Bullets, Field, Section, Table, check_lang, label, render_html, render_text
from supportlab.errors import ConfigError

__all__ = ["Design", "Experiment", "Guardrail", "Metrics", "Package", "PackageItem", "PackageStep",
           "Rerandomize", "find_package", "load_experiment", "load_package", "package_files", "segment_text"]


# -- packages -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageItem:
    """One deliverable of a step and the event that marks it done."""

    content: str
    done_when: str


@dataclass(frozen=True)
class PackageStep:
    """The items delivered in one week of the plan."""

    week: int
    items: tuple[PackageItem, ...]


@dataclass(frozen=True)
class Package:
    """A support package: template × target segment × weekly plan, at one version.

    Attributes:
        segment: the target segment as written: a rule (text) or the mapping sugar
            (``{product: A, rank: [B, C]}``); ``{}`` means every partner.
        path: the file it was read from (for messages such as ``file: segment``).
    """

    id: str
    version: int
    steps: tuple[PackageStep, ...]
    owner: str | None = None
    title: str | None = None
    segment: str | Mapping[str, Any] = field(default_factory=dict)
    path: str | None = None
    description: str | None = None
    revises: str | None = None

    @property
    def ref(self) -> str:
        """``id@version``."""
        return f"{self.id}@{self.version}"

    @property
    def items(self) -> list[PackageItem]:
        """Every item of the plan, week by week."""
        return [i for s in self.steps for i in s.items]

    def to_section(self, lang: str = "en") -> Section:
        """The package as a :class:`~supportlab.display.Section`: id@version, owner, segment and
        the weekly plan (rendered by ``str()``, ``_repr_html_`` and reports)."""
        ja = check_lang(lang) == "ja"
        items: list[Field | Bullets | Table | Section] = [
            Field(label("owner", lang), self.owner or "—"),
            Field(label("segment", lang), segment_text(self.segment)
                  or ("全パートナー" if ja else "every partner")),
        ]
        if self.description:
            items.append(Field("説明" if ja else "description", self.description))
        rows = tuple((str(s.week), i.content, i.done_when) for s in self.steps for i in s.items)
        items.append(Table(label("steps", lang),
                           ("週", "コンテンツ", "完了の条件") if ja else ("week", "content", "done when"),
                           rows, ("right", "left", "left")))
        headline = self.ref + (f" — {self.title}" if self.title else "")
        return Section(label("package", lang) if ja else "Package", tuple(items), headline)

    def __str__(self) -> str:
        return render_text(self.to_section())

    def _repr_html_(self) -> str:
        return render_html(self.to_section())

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], path: str | None = None) -> Package:
        """Build a package from parsed YAML, checking every key (all problems at once)."""
        return cls.from_model(validate(PackageFile, d, source=path), path)

    @classmethod
    def from_model(cls, m: PackageFile, path: str | None = None) -> Package:
        """Build a package from its validated file model."""
        steps = tuple(PackageStep(s.week, tuple(PackageItem(i.content, i.done_when)
                                                for i in s.items)) for s in m.steps)
        segment = plain(m.segment) if m.segment is not None else {}
        return cls(m.id, m.version, steps, m.owner, m.title, segment, path, m.description,
                   m.revises)


def load_package(path: str | Path) -> Package:
    """Read a package YAML file."""
    doc = read_document(path)
    return Package.from_model(validate(PackageFile, doc.data, source=str(path), document=doc),
                              str(path))


def package_files(directories: Iterable[str | Path]) -> dict[tuple[str, int], list[Path]]:
    """The package files of some folders, by ``(id, version)`` as written (unvalidated).

    A key with two or more files is a duplicate (:func:`find_package` refuses it). Files whose
    ``id`` or ``version`` cannot be read are left out; loading them reports why.
    """
    out: dict[tuple[str, int], list[Path]] = {}
    seen: set[Path] = set()
    for d in directories:
        root = Path(d)
        if not root.is_dir() or root.resolve() in seen:
            continue
        seen.add(root.resolve())
        for f in sorted([*root.glob("*.yaml"), *root.glob("*.yml")]):
            data = read_document(f).data
            pid, ver = data.get("id"), data.get("version")
            if isinstance(pid, str) and isinstance(ver, int) and not isinstance(ver, bool):
                out.setdefault((pid, ver), []).append(f)
    return out


def segment_text(segment: str | Mapping[str, Any]) -> str:
    """A segment as one line: the rule as written, or the mapping sugar as ``key: value`` pairs.

    Example:
        >>> segment_text({"product": "A", "rank": ["B", "C"], "tenure_days": {"max": 365}})
        'product: A, rank: [B, C], tenure_days: {max: 365}'
    """
    if isinstance(segment, str):
        return segment

    def one(v: Any) -> str:
        if isinstance(v, Mapping):
            return "{" + ", ".join(f"{k}: {one(x)}" for k, x in v.items()) + "}"
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(one(x) for x in v) + "]"
        return str(v)

    return ", ".join(f"{k}: {one(v)}" for k, v in segment.items())


class _NotFound(Exception):
    def __init__(self, what: str, fix: str) -> None:
        super().__init__(what)
        self.what, self.fix = what, fix


def _locate(ref: str, directories: Sequence[str | Path]) -> Path:
    pid, _, ver = ref.partition("@")
    index = package_files(directories)
    versions = sorted(v for (i, v) in index if i == pid)
    if not versions:
        ids = sorted({i for i, _ in index})
        where = ", ".join(str(d) for d in directories) or "(no folder)"
        raise _NotFound(f"package '{ref}' not found in {where}",
                        did_you_mean(pid, ids, label="packages there") if ids
                        else "add a package file to experiments/packages/")
    if ver and int(ver) not in versions:
        raise _NotFound(f"package '{pid}' has no version {ver}",
                        f"versions that exist: {', '.join(map(str, versions))}")
    version = int(ver) if ver else versions[-1]
    files = index[(pid, version)]
    if len(files) > 1:
        raise ConfigError(f"package '{pid}@{version}' is defined by {len(files)} files: "
                          + ", ".join(map(str, files)), where=str(files[0]),
                          fix="give each version one file: raise 'version' in the newer one, "
                              "or delete the copy")
    return files[0]


def find_package(ref: str, directory: str | Path | Sequence[str | Path]) -> Package:
    """Find ``id@version`` (or ``id`` for the highest version) among the YAML files of folders.

    Raises:
        ConfigError: not found (listing the versions that exist, or the packages there), or two
            files define the same id and version.
    """
    dirs = [directory] if isinstance(directory, (str, Path)) else list(directory)
    try:
        return load_package(_locate(ref, dirs))
    except _NotFound as exc:
        raise ConfigError(exc.what, where=", ".join(map(str, dirs)), fix=exc.fix) from None


# -- experiments ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rerandomize:
    """The balance criterion of a rerandomized design (Morgan & Rubin 2012).

    Attributes:
        covariates: pre-period metrics balanced (empty: the primary metric).
        acceptance: share of random draws accepted; the Mahalanobis threshold is the
            chi-square quantile of this share with one degree of freedom per covariate.
        max_draws: draws tried before giving up.
    """

    covariates: tuple[str, ...] = ()
    acceptance: float = 0.1
    max_draws: int = 1000


@dataclass(frozen=True)
class Design:
    """Randomization design of an experiment, as configured (see
    :class:`~supportlab.config.models.DesignSection` for each key)."""

    start: dt.date
    control_share: float = 0.5
    stratify_by: tuple[str, ...] = ()
    seed: int = 0
    horizon_days: int = 90
    pre_days: int = 90
    max_partners: int | None = None
    arms: tuple[str, ...] = ("control", "treatment")
    method: str = "stratified"
    small_strata: str = "pool"
    block_on: str | None = None
    block_size: int | None = None
    rerandomize: Rerandomize | None = None
    balance_on: tuple[str, ...] = ()
    phase: int = 1
    placebo: bool = False
    exclude_running: str = "same_package"
    expected_uptake: float | None = None
    rollout: bool = False
    waitlist: bool = False

    @property
    def arm_shares(self) -> dict[str, float]:
        """Each arm's share: control its ``control_share``, the others the rest equally.

        Example:
            >>> Design(dt.date(2026, 1, 5), control_share=0.4,
            ...        arms=("control", "a", "b")).arm_shares
            {'control': 0.4, 'a': 0.3, 'b': 0.3}
        """
        rest = (1 - self.control_share) / (len(self.arms) - 1)
        return {a: (self.control_share if a == self.arms[0] else round(rest, 12))
                for a in self.arms}


@dataclass(frozen=True)
class Guardrail:
    """A metric that must not get worse by more than a margin."""

    metric: str
    max_drop: float = 0.1


@dataclass(frozen=True)
class Metrics:
    """Which metrics an experiment measures."""

    primary: str
    secondary: tuple[str, ...] = ()
    guardrails: tuple[Guardrail, ...] = ()

    @property
    def names(self) -> list[str]:
        """Every metric named, primary first, without repeats."""
        return list(dict.fromkeys([self.primary, *self.secondary,
                                   *(g.metric for g in self.guardrails)]))


@dataclass(frozen=True)
class Experiment:
    """An experiment delivering one package version, as configured in YAML.

    Attributes:
        eligibility: the eligibility rule as written (compiled by the rule language).
        priority: the feature eligible partners are ranked by (``None``: the support score).
        priority_order: ``asc`` (lowest first) or ``desc``.
        path: the file it was read from (for messages such as ``file: eligibility``).
    """

    id: str
    package: Package
    design: Design
    metrics: Metrics
    eligibility: str | None = None
    priority: str | None = None
    priority_order: str = "asc"
    min_effect: float = 0.0
    alpha: float = 0.05
    language: str | None = None
    path: str | None = None
    description: str | None = None
    power: float = 0.8
    looks: int = 1
    segments: tuple[str, ...] = ()
    reproduction: str | None = None
    weekend: str = "previous_friday"
    title: str | None = None

    def to_section(self, lang: str = "en") -> Section:
        """The experiment as a :class:`~supportlab.display.Section`: package, targeting,
        design, metrics and decision settings, with the package's own section nested."""
        ja = check_lang(lang) == "ja"
        d, m = self.design, self.metrics
        guards = ", ".join(f"{g.metric} (max drop {g.max_drop * 100:g}%)" for g in m.guardrails)
        order = {"asc": "昇順" if ja else "lowest first",
                 "desc": "降順" if ja else "highest first"}.get(self.priority_order,
                                                                self.priority_order)
        rows: list[tuple[str, str]] = [
            ("package", self.package.ref),
            ("eligibility", self.eligibility or "—"),
            ("priority", f"{self.priority or 'support_score'} ({order})"),
            ("start", d.start.isoformat()), ("horizon_days", f"{d.horizon_days:,}"),
            ("control_share", f"{d.control_share * 100:g}%"),
            ("arms", ", ".join(f"{a} {v * 100:g}%" for a, v in d.arm_shares.items())),
            ("method", d.method + (f" on {d.block_on}" if d.block_on else "")),
            ("stratify_by", ", ".join(d.stratify_by) or "—"), ("seed", str(d.seed)),
            ("max_partners", "—" if d.max_partners is None else f"{d.max_partners:,}"),
            ("primary", m.primary), ("secondary", ", ".join(m.secondary) or "—"),
            ("guardrails", guards or "—"), ("min_effect", f"{self.min_effect:g}"),
            ("alpha", f"{self.alpha:g}"), ("report", self.language or "—"),
        ]
        items: list[Field | Bullets | Table | Section] = [Field(label(k, lang), v)
                                                          for k, v in rows]
        if self.description:
            items.append(Field("説明" if ja else "description", self.description))
        items.append(self.package.to_section(lang))
        return Section("実験" if ja else "Experiment", tuple(items), self.id)

    def __str__(self) -> str:
        return render_text(self.to_section())

    def _repr_html_(self) -> str:
        return render_html(self.to_section())

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], package: Package,
                  path: str | None = None) -> Experiment:
        """Build an experiment from parsed YAML (the package already resolved)."""
        return cls.from_model(validate(ExperimentFile, d, source=path), package, path)

    @classmethod
    def from_model(cls, m: ExperimentFile, package: Package,
                   path: str | None = None) -> Experiment:
        """Build an experiment from its validated file model."""
        des = m.design
        rr = des.rerandomize
        design = Design(
            des.start, des.control_share, tuple(des.stratify_by), des.seed, des.horizon_days,
            des.pre_days, des.max_partners, tuple(des.arms), des.method, des.small_strata,
            des.block_on, des.block_size,
            None if rr is None else Rerandomize(tuple(rr.covariates), rr.acceptance,
                                                rr.max_draws),
            tuple(des.balance_on), des.phase, des.placebo, des.exclude_running,
            des.expected_uptake, des.rollout, des.waitlist)
        metrics = Metrics(m.metrics.primary, tuple(m.metrics.secondary),
                          tuple(Guardrail(g.metric, g.max_drop) for g in m.metrics.guardrails))
        priority, order = None, "asc"
        if m.priority is not None:
            name, _, rest = m.priority.strip().partition(" ")
            priority, order = name, (rest.strip().lower() or "asc")
        dec = m.decision
        return cls(m.id, package, design, metrics, m.eligibility, priority, order,
                   dec.min_effect, dec.alpha, m.report.lang, path, m.description, dec.power,
                   dec.looks, tuple(dec.segments), dec.reproduction, m.tasks.weekend, m.title)


def load_experiment(path: str | Path, packages_dir: str | Path | None = None) -> Experiment:
    """Read an experiment YAML file and resolve its package.

    Every problem of the file is reported at once, including a package reference that does not
    resolve (with the versions that exist).

    Args:
        path: the experiment file.
        packages_dir: another folder of packages, searched with ``packages/`` next to the file.
    """
    p = Path(path)
    doc = read_document(p)
    dirs = [d for d in (p.parent / "packages", packages_dir) if d is not None]
    package: list[Package] = []

    def resolve(data: Any) -> list[Problem]:
        ref = data.get("package")
        if not isinstance(ref, str) or not re.fullmatch(PACKAGE_REF_PATTERN, ref):
            return []  # the model reports it
        try:
            package.append(load_package(_locate(ref, dirs)))
        except _NotFound as exc:
            return [Problem(("package",), exc.what, exc.fix)]
        except ConfigFileError as exc:  # the package file is invalid: report it here too
            return list(exc.problems)
        return []

    model = validate(ExperimentFile, doc.data, source=str(p), document=doc, checks=[resolve])
    return Experiment.from_model(model, package[0], str(p))
