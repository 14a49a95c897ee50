"""Support packages and the experiments that deliver them, read from reviewable YAML.

A *package* (支援パッケージ) binds a support template to a target segment with a week-by-week plan;
an *experiment* delivers one version of a package to eligible partners with a control group.
See DESIGN §5 for the format. Files are read with ``yaml.safe_load`` and every key is checked:
an error names the file, the key path and what is allowed.

Example:
    >>> pkg = Package.from_dict({"id": "p", "version": 1, "steps": [
    ...     {"week": 1, "items": [{"content": "video-a-intro", "done_when": "video_complete"}]}]})
    >>> [i.content for i in pkg.items]
    ['video-a-intro']
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from supportlab.errors import ConfigError
from supportlab.vocab import DONE_WHEN


def _where(path: str | None, keys: list[str | int]) -> str:
    kp = ".".join(str(k) for k in keys) if keys else "(top level)"
    return f"{path or '<dict>'}: {kp}" if path else kp


def _unknown(d: Mapping[str, Any], allowed: tuple[str, ...], path: str | None,
             keys: list[str | int]) -> None:
    for k in d:
        if k not in allowed:
            near = difflib.get_close_matches(str(k), allowed, n=1)
            hint = f"did you mean '{near[0]}'? " if near else ""
            raise ConfigError(f"unknown key '{k}'", where=_where(path, keys),
                              fix=f"{hint}allowed keys: {', '.join(allowed)}")


def _need(d: Mapping[str, Any], key: str, path: str | None, keys: list[str | int]) -> Any:
    if key not in d or d[key] is None:
        raise ConfigError(f"missing required key '{key}'", where=_where(path, keys),
                          fix=f"add '{key}:' to the file")
    return d[key]


def _typed(value: Any, kind: type | tuple[type, ...], what: str, path: str | None,
           keys: list[str | int]) -> Any:
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        ok = False
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise ConfigError(f"{what} must be {_kind_name(kind)}, got {value!r}",
                          where=_where(path, keys), fix=f"write {what} as {_kind_name(kind)}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {int: "a whole number", float: "a number", str: "text", list: "a list",
             dict: "a mapping", bool: "true or false"}
    if isinstance(kind, tuple):
        return " or ".join(names.get(k, k.__name__) for k in kind)
    return names.get(kind, kind.__name__)


def _read_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError("file not found", where=str(p), fix="check the path") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        loc = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"not valid YAML{loc} ({getattr(exc, 'problem', exc)})", where=str(p),
                          fix="check indentation and quoting") from None
    except ValueError as exc:  # e.g. a date that does not exist: start: 2026-02-30
        raise ConfigError(f"a value cannot be read ({exc})", where=str(p),
                          fix="check the dates (YYYY-MM-DD, a real day) and numbers") from None
    if not isinstance(data, dict):
        raise ConfigError("the file must hold a YAML mapping", where=str(p),
                          fix="start with 'id: ...'")
    return data


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
    """A support package: template × target segment × weekly plan, at one version."""

    id: str
    version: int
    steps: tuple[PackageStep, ...]
    owner: str | None = None
    title: str | None = None
    segment: Mapping[str, Any] = field(default_factory=dict)
    path: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

    @property
    def items(self) -> list[PackageItem]:
        """Every item of the plan, week by week."""
        return [i for s in self.steps for i in s.items]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], path: str | None = None) -> Package:
        """Build a package from parsed YAML, checking every key."""
        _unknown(d, ("id", "version", "owner", "title", "segment", "steps", "description"),
                 path, [])
        pid = str(_need(d, "id", path, []))
        version = _typed(_need(d, "version", path, []), int, "version", path, ["version"])
        if version < 1:
            raise ConfigError("version must be >= 1", where=_where(path, ["version"]))
        steps_raw = _typed(_need(d, "steps", path, []), list, "steps", path, ["steps"])
        if not steps_raw:
            raise ConfigError("a package needs at least one step", where=_where(path, ["steps"]))
        steps = []
        seen: set[str] = set()
        for i, s in enumerate(steps_raw):
            keys: list[str | int] = ["steps", i]
            _typed(s, dict, "a step", path, keys)
            _unknown(s, ("week", "items"), path, keys)
            week = _typed(_need(s, "week", path, keys), int, "week", path, [*keys, "week"])
            if week < 1:
                raise ConfigError("week must be >= 1", where=_where(path, [*keys, "week"]))
            items = []
            for j, it in enumerate(_typed(_need(s, "items", path, keys), list, "items", path,
                                          [*keys, "items"])):
                ik: list[str | int] = [*keys, "items", j]
                _typed(it, dict, "an item", path, ik)
                _unknown(it, ("content", "done_when"), path, ik)
                content = str(_need(it, "content", path, ik))
                done = str(_need(it, "done_when", path, ik))
                if done not in DONE_WHEN:
                    near = difflib.get_close_matches(done, DONE_WHEN, n=1)
                    hint = f"did you mean '{near[0]}'? " if near else ""
                    raise ConfigError(f"done_when '{done}' is not an event type",
                                      where=_where(path, [*ik, "done_when"]),
                                      fix=f"{hint}allowed: {', '.join(DONE_WHEN)}")
                if content in seen:
                    raise ConfigError(f"content '{content}' appears twice in the plan",
                                      where=_where(path, [*ik, "content"]),
                                      fix="deliver each content once")
                seen.add(content)
                items.append(PackageItem(content, done))
            steps.append(PackageStep(week, tuple(items)))
        weeks = [s.week for s in steps]
        if weeks != sorted(set(weeks)):
            raise ConfigError("steps must be in increasing week order without repeats",
                              where=_where(path, ["steps"]))
        segment = d.get("segment") or {}
        _typed(segment, dict, "segment", path, ["segment"])
        return cls(pid, version, tuple(steps), d.get("owner"), d.get("title"), dict(segment),
                   path)


def load_package(path: str | Path) -> Package:
    """Read a package YAML file."""
    return Package.from_dict(_read_yaml(path), str(path))


def find_package(ref: str, directory: str | Path) -> Package:
    """Find ``id@version`` (or ``id`` for the highest version) among the YAML files of a folder."""
    pid, _, ver = ref.partition("@")
    found: list[Package] = []
    d = Path(directory)
    for f in sorted(d.glob("*.y*ml")):
        raw = _read_yaml(f)
        if str(raw.get("id")) == pid:
            found.append(Package.from_dict(raw, str(f)))
    if ver:
        found = [p for p in found if str(p.version) == ver]
    if not found:
        known = sorted({str(_read_yaml(f).get("id")) for f in d.glob("*.y*ml")})
        near = difflib.get_close_matches(pid, known, n=1)
        hint = f"did you mean '{near[0]}'? " if near else ""
        raise ConfigError(f"package '{ref}' not found", where=str(d),
                          fix=f"{hint}packages here: {', '.join(known) or 'none'}")
    return max(found, key=lambda p: p.version)


# -- experiments ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Design:
    """Randomization design of an experiment."""

    start: dt.date
    control_share: float = 0.5
    stratify_by: tuple[str, ...] = ()
    seed: int = 0
    horizon_days: int = 90
    pre_days: int = 90
    max_partners: int | None = None


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
        return list(dict.fromkeys([self.primary, *self.secondary,
                                   *(g.metric for g in self.guardrails)]))


@dataclass(frozen=True)
class Experiment:
    """An experiment delivering one package version, as configured in YAML."""

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

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], package: Package,
                  path: str | None = None) -> Experiment:
        """Build an experiment from parsed YAML (the package already resolved)."""
        _unknown(d, ("id", "package", "eligibility", "priority", "design", "metrics",
                     "decision", "report", "description"), path, [])
        eid = str(_need(d, "id", path, []))
        des = _typed(_need(d, "design", path, []), dict, "design", path, ["design"])
        _unknown(des, ("control_share", "stratify_by", "seed", "start", "horizon_days",
                       "pre_days", "max_partners"), path, ["design"])
        start = _need(des, "start", path, ["design"])
        if isinstance(start, str):
            try:
                start = dt.date.fromisoformat(start)
            except ValueError:
                start = None
        if not isinstance(start, dt.date):
            raise ConfigError("start must be a date (YYYY-MM-DD)",
                              where=_where(path, ["design", "start"]))
        share = float(_typed(des.get("control_share", 0.5), (int, float), "control_share", path,
                             ["design", "control_share"]))
        if not 0 < share < 1:
            raise ConfigError(f"control_share == {share}, must be between 0 and 1",
                              where=_where(path, ["design", "control_share"]))
        strat = des.get("stratify_by") or []
        strat = [strat] if isinstance(strat, str) else strat
        _typed(strat, list, "stratify_by", path, ["design", "stratify_by"])
        design = Design(
            start=start, control_share=share, stratify_by=tuple(map(str, strat)),
            seed=int(_typed(des.get("seed", 0), int, "seed", path, ["design", "seed"])),
            horizon_days=int(_typed(des.get("horizon_days", 90), int, "horizon_days", path,
                                    ["design", "horizon_days"])),
            pre_days=int(_typed(des.get("pre_days", 90), int, "pre_days", path,
                                ["design", "pre_days"])),
            max_partners=des.get("max_partners"),
        )
        if design.horizon_days < 1 or design.pre_days < 1:
            raise ConfigError("horizon_days and pre_days must be >= 1",
                              where=_where(path, ["design"]))
        m = _typed(_need(d, "metrics", path, []), dict, "metrics", path, ["metrics"])
        _unknown(m, ("primary", "secondary", "guardrails"), path, ["metrics"])
        guards = []
        for i, g in enumerate(m.get("guardrails") or []):
            gk: list[str | int] = ["metrics", "guardrails", i]
            if isinstance(g, str):
                g = {"metric": g}
            _typed(g, dict, "a guardrail", path, gk)
            _unknown(g, ("metric", "max_drop"), path, gk)
            guards.append(Guardrail(str(_need(g, "metric", path, gk)),
                                    float(g.get("max_drop", 0.1))))
        secondary = m.get("secondary") or []
        secondary = [secondary] if isinstance(secondary, str) else secondary
        metrics = Metrics(str(_need(m, "primary", path, ["metrics"])),
                          tuple(map(str, secondary)), tuple(guards))
        dec = d.get("decision") or {}
        _typed(dec, dict, "decision", path, ["decision"])
        _unknown(dec, ("min_effect", "alpha"), path, ["decision"])
        alpha = float(dec.get("alpha", 0.05))
        if not 0 < alpha < 1:
            raise ConfigError(f"alpha == {alpha}, must be between 0 and 1",
                              where=_where(path, ["decision", "alpha"]))
        rep = d.get("report") or {}
        _unknown(rep, ("lang",), path, ["report"])
        lang = rep.get("lang")
        if lang is not None and lang not in ("ja", "en"):
            raise ConfigError(f"report.lang == '{lang}', must be 'ja' or 'en'",
                              where=_where(path, ["report", "lang"]))
        prio = d.get("priority")
        order = "asc"
        if isinstance(prio, str) and " " in prio.strip():
            prio, _, order = prio.strip().partition(" ")
            order = order.strip().lower()
            if order not in ("asc", "desc"):
                raise ConfigError(f"priority order '{order}' must be asc or desc",
                                  where=_where(path, ["priority"]))
        return cls(eid, package, design, metrics, d.get("eligibility"), prio, order,
                   float(dec.get("min_effect", 0.0)), alpha, lang, path)


def load_experiment(path: str | Path, packages_dir: str | Path | None = None) -> Experiment:
    """Read an experiment YAML file and resolve its package.

    Args:
        path: the experiment file.
        packages_dir: another folder of packages, searched after ``packages/`` next to the file.
    """
    p = Path(path)
    raw = _read_yaml(p)
    ref = str(_need(raw, "package", str(p), []))
    beside = p.parent / "packages"
    dirs = [d for d in (beside, packages_dir) if d is not None and Path(d).is_dir()]
    pkg = None
    for d in dirs[:-1]:
        try:
            pkg = find_package(ref, d)
            break
        except ConfigError:
            continue
    if pkg is None:
        pkg = find_package(ref, dirs[-1] if dirs else beside)
    return Experiment.from_dict(raw, pkg, str(p))
