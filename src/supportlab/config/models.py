"""The shape of every file a user edits, as pydantic models: one model per file kind.

===============  ===============================  ==========================================
kind             file                             model
===============  ===============================  ==========================================
``workspace``    ``supportlab.toml``              :class:`WorkspaceFile` (``[workspace]``,
                                                  ``[paths]``, ``[engine]``, ``[score]``)
``package``      ``experiments/packages/*.yaml``  :class:`PackageFile`
``experiment``   ``experiments/*.yaml``           :class:`ExperimentFile`
``metrics``      ``experiments/metrics.yaml``     :class:`MetricsFile`
``segments``     ``experiments/segments.yaml``    :class:`SegmentsFile`
``mapping``      ``supportlab ingest --mapping``  :class:`MappingFile`
``score``        ``[score]`` of supportlab.toml   :class:`ScoreSection`
===============  ===============================  ==========================================

The models describe the files exactly as written (their JSON Schema is what editors validate
against, ``supportlab schema KIND``); :mod:`supportlab.config.experiment` and
:mod:`supportlab.config.workspace` build the objects the rest of the library uses from them.
Scalars are strict: a number is not text, ``true`` is not a number, ``five`` is not a number.
Unknown keys are refused. Ids that become directory names (experiments, packages) must match
:data:`SAFE_ID_PATTERN`: lowercase letters, digits, ``.``, ``_`` and ``-``, starting with a
letter or digit, at most 64 characters (lowercase only, so that two ids never share a folder on
a case-insensitive file system).

Conditions on partner columns (a package ``segment``, a metric ``where``, a named segment) are
either a rule in the rule language (text) or the mapping sugar ``{rank: [B], tenure_days: {max:
365}}``; here only the mapping's shape is checked, the rule text is compiled by
:mod:`supportlab.features.rules`.

Example:
    >>> PackageFile.model_validate({"id": "kit", "version": 1, "steps": [
    ...     {"week": 1, "items": [{"content": "video-a", "done_when": "video_complete"}]}]}).version
    1
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Callable, Sequence
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    Tag,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from supportlab.config.problems import Problem
from supportlab.vocab import (
    CONTAMINATION_POLICIES,
    CONTROL_ARM,
    DESIGN_METHODS,
    DONE_WHEN,
    LANGUAGES,
    SMALL_STRATA_POLICIES,
    WEEKEND_RULES,
)

__all__ = [
    "ENGINE_KINDS", "METRIC_KINDS", "SAFE_ID_PATTERN", "SCORE_COMPONENTS", "DecisionSection",
    "DesignSection", "EngineSection", "ExperimentFile", "FileModel", "Guardrail", "MappingFile",
    "MetricSpec", "MetricsFile", "MetricsSection", "PackageFile", "PackageItemSpec",
    "PackageStepSpec", "PathsSection", "ReportSection", "ScoreCaps", "ScoreSection", "ScoreWeights",
    "SegmentsFile", "WorkspaceFile", "WorkspaceSection", "plain",
]

#: ids that become directory names: experiments and packages
SAFE_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
#: a package reference: ``id`` (the highest version) or ``id@version``
PACKAGE_REF_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}(@[1-9][0-9]*)?$"
#: names usable in rules: metrics and named segments
RULE_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
METRIC_KINDS: tuple[str, ...] = (
    "count", "sum", "mean", "min", "max", "any", "distinct_count", "days_since_last", "latest",
    "ratio", "package_completion")
#: metric kinds that aggregate a ``column``
COLUMN_KINDS: tuple[str, ...] = ("sum", "mean", "min", "max", "distinct_count", "latest")
ENGINE_KINDS: tuple[str, ...] = ("duckdb", "parquet", "spark")
SCORE_COMPONENTS: tuple[str, ...] = (
    "login_recency", "completion", "downloads", "test_results", "material_use")
WHERE_OPERATORS: tuple[str, ...] = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "is_null")


# -- base ---------------------------------------------------------------------------------------


class FileModel(BaseModel):
    """Base of the file models: frozen, unknown keys refused.

    ``noun`` names the keys of a model in messages ("unknown score component 'logins'") and
    ``example`` shows its shape ("must be a mapping like {lang: ja}").
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    noun: ClassVar[str] = "key"
    example: ClassVar[str] = "{key: value}"

    def problems(self) -> list[Problem]:
        """Problems the shape alone cannot express (order, repeats); none by default."""
        return []


def plain(value: Any) -> Any:
    """A validated value as plain data again: models become the mappings that were written.

    Example:
        >>> plain({"tenure_days": Bound(max=365)})
        {'tenure_days': {'max': 365.0}}
    """
    if isinstance(value, BaseModel):
        return {k: plain(v) for k, v in value.model_dump(by_alias=True, exclude_unset=True).items()}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _one_of(values: Sequence[str], plural: str) -> Callable[[str], str]:
    def check(v: str) -> str:
        if v not in values:
            raise PydanticCustomError("not_allowed", "'{value}' is not allowed",
                                      {"value": v, "allowed": list(values), "plural": plural})
        return v
    return check


def _choice_schema(values: Sequence[str]) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "enum": list(values)})


def _listify(v: Any) -> Any:
    return [v] if isinstance(v, str) else v


def _stringify_keys(v: Any) -> Any:
    """Mapping keys written as numbers (a header ``2024``) are text."""
    if isinstance(v, dict):
        return {(str(k) if isinstance(k, (int, float)) and not isinstance(k, bool) else k): x
                for k, x in v.items()}
    return v


def _stringify_scalars(v: Any) -> Any:
    """Mapping values written as numbers or true/false are kept as their text."""
    v = _stringify_keys(v)
    if isinstance(v, dict):
        return {k: (("true" if x else "false") if isinstance(x, bool)
                    else str(x) if isinstance(x, (int, float)) else x) for k, x in v.items()}
    return v


def _to_date(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        raise PydanticCustomError("date_kind", "must be a date without a time of day, got {value}",
                                  {"value": v.isoformat(), "fix": "write it as YYYY-MM-DD"})
    if isinstance(v, dt.date):
        return v
    if isinstance(v, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", v.strip()):
        try:
            return dt.date.fromisoformat(v.strip())
        except ValueError:
            raise PydanticCustomError(
                "date_impossible", "{value} is not a day of the calendar",
                {"value": v.strip(), "fix": "give a real day as YYYY-MM-DD (e.g. 2026-02-28)"},
            ) from None
    raise PydanticCustomError("date_format", "must be a date, got {value}",
                              {"value": v, "fix": "write it as YYYY-MM-DD, e.g. 2026-10-01"})


def _scalar(v: Any) -> Any:
    if isinstance(v, (str, int, float, bool)) or isinstance(v, dt.date):
        return v
    raise PydanticCustomError("scalar_type", "must be a single value (text, a number or true/false)",
                              {"fix": "write one value, or a list [a, b] for 'one of'"})


def _rule_name(v: str) -> str:
    if not re.fullmatch(RULE_NAME_PATTERN, v):
        raise PydanticCustomError("rule_name", "the name '{value}' cannot be used in rules",
                                  {"value": v, "fix": "use letters, digits and underscores, not "
                                                      "starting with a digit"})
    return v


Text = Annotated[str, Strict()]
RuleName = Annotated[str, Strict(), AfterValidator(_rule_name),
                     WithJsonSchema({"type": "string", "pattern": RULE_NAME_PATTERN})]
Name = Annotated[str, Strict(), Field(min_length=1)]
Number = Annotated[float, Strict()]
WholeNumber = Annotated[int, Strict()]
Flag = Annotated[bool, Strict()]
Day = Annotated[dt.date, BeforeValidator(_to_date)]
Scalar = Annotated[Any, BeforeValidator(_scalar),
                   WithJsonSchema({"type": ["string", "number", "boolean"]})]
SafeId = Annotated[str, Strict(), Field(
    pattern=SAFE_ID_PATTERN,
    description="lowercase letters, digits, '.', '_' and '-', starting with a letter or digit, "
                "at most 64 characters (it becomes a directory name), e.g. product-a-launch")]
NameList = Annotated[list[Name], BeforeValidator(_listify), WithJsonSchema(
    {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]})]
RuleText = Annotated[str, Strict(), Field(
    min_length=1, description="a rule over partner features, e.g. "
                              "\"completion_rate < 0.5 or days_since_last_login >= 30\"")]
Language = Annotated[str, Strict(), Field(description="ja or en"),
                     BeforeValidator(lambda v: _one_of(LANGUAGES, "languages")(v)
                                     if isinstance(v, str) else v),
                     _choice_schema(LANGUAGES)]


def _tag_of(shapes: dict[type, str]) -> Callable[[Any], str | None]:
    def tag(v: Any) -> str | None:
        if isinstance(v, bool):
            return shapes.get(bool, shapes.get(object))
        for kind, name in shapes.items():
            if isinstance(v, kind):
                return name
        return shapes.get(object)
    return tag


# -- conditions (segment and where sugar) --------------------------------------------------------


class Bound(FileModel):
    """Bounds of a number: ``min`` inclusive, ``max`` exclusive."""

    noun: ClassVar[str] = "bound"
    example: ClassVar[str] = "{min: 0, max: 365}"
    min: Number | None = Field(None, description="lower bound, inclusive")
    max: Number | None = Field(None, description="upper bound, exclusive")

    @model_validator(mode="after")
    def _some_bound(self) -> Bound:
        if self.min is None and self.max is None:
            raise PydanticCustomError("empty_bound", "a bound needs min or max",
                                      {"fix": "write e.g. {max: 365} (under a year)"})
        return self


class WhereOps(FileModel):
    """Operators of a metric filter on one column."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    noun: ClassVar[str] = "operator"
    example: ClassVar[str] = "{gte: 70}"
    eq: Scalar | None = None
    ne: Scalar | None = None
    gt: Scalar | None = None
    gte: Scalar | None = None
    lt: Scalar | None = None
    lte: Scalar | None = None
    in_: list[Scalar] | None = Field(None, alias="in")
    not_in: list[Scalar] | None = None
    is_null: Flag | None = None


SegmentCondition = Annotated[
    Annotated[Scalar, Tag("value")]
    | Annotated[list[Scalar], Tag("list")]
    | Annotated[Bound, Tag("bound")],
    Discriminator(_tag_of({list: "list", dict: "bound", object: "value"}))]

WhereCondition = Annotated[
    Annotated[Scalar, Tag("value")]
    | Annotated[list[Scalar], Tag("list")]
    | Annotated[WhereOps, Tag("operators")],
    Discriminator(_tag_of({list: "list", dict: "operators", object: "value"}))]

SegmentSpec = Annotated[
    Annotated[RuleText, Tag("rule")]
    | Annotated[dict[Name, SegmentCondition], Tag("mapping"), Field(min_length=1)],
    Discriminator(_tag_of({str: "rule", dict: "mapping"}), custom_error_type="condition_type",
                  custom_error_message="must be a rule (text) or a mapping of conditions like "
                                       "{rank: [B], tenure_days: {max: 365}}")]

WhereSpec = Annotated[
    Annotated[RuleText, Tag("rule")]
    | Annotated[dict[Name, WhereCondition], Tag("mapping")],
    Discriminator(_tag_of({str: "rule", dict: "mapping"}), custom_error_type="condition_type",
                  custom_error_message="must be a rule (text) or a mapping of columns to values "
                                       "like {event_type: login, value: {gte: 70}}")]


# -- packages -----------------------------------------------------------------------------------


DoneWhen = Annotated[str, Strict(), BeforeValidator(
    lambda v: _one_of(DONE_WHEN, "done_when events")(v) if isinstance(v, str) else v),
    _choice_schema(DONE_WHEN)]


class PackageItemSpec(FileModel):
    """One deliverable of a week and the event that marks it done."""

    example: ClassVar[str] = "{content: video-a-intro, done_when: video_complete}"
    content: Name = Field(description="a content_id of the contents catalogue")
    done_when: DoneWhen = Field(description="the event that marks the item done, or test_pass")


class PackageStepSpec(FileModel):
    """The items delivered in one week of the plan."""

    example: ClassVar[str] = "{week: 1, items: [{content: video-a-intro, done_when: video_complete}]}"
    week: WholeNumber = Field(ge=1, description="week of the plan, from 1")
    items: list[PackageItemSpec] = Field(min_length=1, description="what is delivered that week")


class PackageFile(FileModel):
    """A support package (``experiments/packages/*.yaml``): template × segment × weekly plan."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="supportlab package")
    example: ClassVar[str] = "{id: product-a-launch, version: 1, steps: [...]}"
    id: SafeId
    version: WholeNumber = Field(ge=1, description="version of the package, from 1")
    owner: Text | None = Field(None, description="who designed the package")
    title: Text | None = None
    description: Text | None = None
    segment: SegmentSpec | None = Field(
        None, description="the partners the package is meant for: a rule, or a mapping like "
                          "{product: A, rank: [B, C], tenure_days: {max: 365}}")
    revises: Annotated[str, Strict()] | None = Field(
        None, pattern=PACKAGE_REF_PATTERN,
        description="the package this one revises when it has a new id, as ID@VERSION (a higher "
                    "version of the same id revises the one before it)")
    steps: list[PackageStepSpec] = Field(min_length=1, description="the weekly plan")

    def problems(self) -> list[Problem]:
        out = []
        seen: dict[str, tuple[int, int]] = {}
        last_week = 0
        for i, step in enumerate(self.steps):
            if step.week <= last_week:
                out.append(Problem(("steps", i, "week"),
                                   f"week {step.week} comes after week {last_week}",
                                   "list the steps in increasing week order, each week once"))
            last_week = max(last_week, step.week)
            for j, item in enumerate(step.items):
                if item.content in seen:
                    a, b = seen[item.content]
                    out.append(Problem(("steps", i, "items", j, "content"),
                                       f"content '{item.content}' is already delivered at "
                                       f"steps.{a}.items.{b}", "deliver each content once"))
                seen.setdefault(item.content, (i, j))
        return out


# -- experiments ----------------------------------------------------------------------------------


def _in(values: Sequence[str], plural: str) -> Callable[[Any], Any]:
    return lambda v: _one_of(values, plural)(v) if isinstance(v, str) else v


DesignMethod = Annotated[str, Strict(), Field(description="stratified, blocked or rerandomized"),
                         BeforeValidator(_in(DESIGN_METHODS, "methods")),
                         _choice_schema(DESIGN_METHODS)]
SmallStrata = Annotated[str, Strict(), Field(description="pool, exclude or error"),
                        BeforeValidator(_in(SMALL_STRATA_POLICIES, "policies")),
                        _choice_schema(SMALL_STRATA_POLICIES)]
Contamination = Annotated[str, Strict(), Field(description="same_package or any_package"),
                          BeforeValidator(_in(CONTAMINATION_POLICIES, "policies")),
                          _choice_schema(CONTAMINATION_POLICIES)]
WeekendRule = Annotated[str, Strict(), Field(description="previous_friday, next_monday or keep"),
                        BeforeValidator(_in(WEEKEND_RULES, "rules")),
                        _choice_schema(WEEKEND_RULES)]


class RerandomizeSection(FileModel):
    """Rerandomization (Morgan & Rubin 2012): draw assignments until covariate balance is
    acceptable, the criterion stored with the design."""

    example: ClassVar[str] = "{covariates: [deals_registered], acceptance: 0.1, max_draws: 1000}"
    covariates: NameList = Field(
        default_factory=list, description="pre-period metrics to balance (default: the primary)")
    acceptance: Number = Field(
        0.1, gt=0, le=1, description="share of random draws accepted: the Mahalanobis distance "
                                     "threshold is its chi-square quantile")
    max_draws: WholeNumber = Field(1000, ge=1, description="draws tried before giving up")


class DesignSection(FileModel):
    """The randomization design of an experiment."""

    example: ClassVar[str] = "{start: 2026-10-01, control_share: 0.5, stratify_by: [rank], seed: 1}"
    start: Day = Field(description="first day of delivery, YYYY-MM-DD")
    control_share: Number = Field(0.5, gt=0, lt=1, description="share of partners kept as control")
    arms: NameList = Field(
        default_factory=lambda: ["control", "treatment"],
        description="arm names, 'control' first; the arms other than control share the rest "
                    "equally, e.g. [control, video, webinar]")
    method: DesignMethod = "stratified"
    stratify_by: NameList = Field(default_factory=list,
                                  description="partner columns to randomize within, e.g. [rank]")
    small_strata: SmallStrata = Field(
        "pool", description="a stratum too small to split: pool (into one remainder stratum), "
                            "exclude (its partners are not assigned) or error")
    block_on: Name | None = Field(
        None, description="blocked design: the pre-period metric partners are matched on")
    block_size: WholeNumber | None = Field(
        None, ge=2, description="blocked design: partners per block (default: the smallest "
                                "block that holds the arms in their shares, 2 for 50/50)")
    rerandomize: RerandomizeSection | None = Field(
        None, description="rerandomized design: the balance criterion")
    balance_on: NameList = Field(
        default_factory=list,
        description="pre-period metrics of the balance table (default: every metric measured)")
    seed: WholeNumber = Field(0, ge=0, description="random seed of the assignment")
    horizon_days: WholeNumber = Field(90, ge=1, description="days measured after the start")
    pre_days: WholeNumber = Field(90, ge=1, description="days before the start used as baseline")
    max_partners: WholeNumber | None = Field(None, ge=1,
                                             description="cap on the partners targeted")
    phase: WholeNumber = Field(1, ge=1, description="phase of the experiment: a new phase may "
                                                    "re-assign after a change of design")
    placebo: Flag = Field(False, description="an A/A run on history (start before the data "
                                             "ends); every output says so")
    exclude_running: Contamination = Field(
        "same_package", description="partners in a running experiment of the same package "
                                    "(or of any package) are excluded")
    expected_uptake: Number | None = Field(
        None, gt=0, le=1, description="share of assigned partners expected to open the package "
                                      "(used by plan when the package has no history)")
    rollout: Flag = Field(False, description="a roll-out of a promoted template: the control "
                                             "group is a holdout sized by power")
    waitlist: Flag = Field(False, description="control partners get the package as tasks "
                                              "after the horizon")

    def problems(self) -> list[Problem]:
        out = []
        if not self.arms or self.arms[0] != CONTROL_ARM:
            out.append(Problem(("arms",), f"the first arm is {self.arms[0] if self.arms else None!r}",
                               f"list '{CONTROL_ARM}' first, e.g. [control, treatment]"))
        if len(set(self.arms)) != len(self.arms):
            out.append(Problem(("arms",), "an arm is named twice", "give each arm one name"))
        if len(self.arms) < 2:
            out.append(Problem(("arms",), "an experiment needs at least two arms",
                               "e.g. [control, treatment]"))
        if self.method == "blocked" and self.block_on is None:
            out.append(Problem(("block_on",), "a blocked design needs the metric to match on",
                               "add block_on: deals_registered (a pre-period metric)"))
        if self.method != "blocked" and (self.block_on is not None or self.block_size is not None):
            key = "block_on" if self.block_on is not None else "block_size"
            out.append(Problem((key,), f"{key} is set but method is '{self.method}'",
                               "set method: blocked, or remove the key"))
        if self.method != "rerandomized" and self.rerandomize is not None:
            out.append(Problem(("rerandomize",), f"rerandomize is set but method is "
                               f"'{self.method}'", "set method: rerandomized, or remove it"))
        return out


def _guardrails(v: Any) -> Any:
    v = _listify(v)
    if isinstance(v, list):
        return [{"metric": g} if isinstance(g, str) else g for g in v]
    return v


class Guardrail(FileModel):
    """A metric that must not get worse by more than a margin."""

    example: ClassVar[str] = "{metric: portal_logins, max_drop: 0.1}"
    metric: Name = Field(description="a metric name")
    max_drop: Number = Field(0.1, ge=0, lt=1, description="largest relative drop accepted, e.g. 0.1")


class MetricsSection(FileModel):
    """The metrics an experiment measures."""

    example: ClassVar[str] = "{primary: deals_registered, secondary: [pipeline_amount]}"
    primary: Name = Field(description="the metric the decision is about")
    secondary: NameList = Field(default_factory=list, description="metrics reported beside")
    guardrails: Annotated[list[Guardrail], BeforeValidator(_guardrails)] = Field(
        default_factory=list, description="metrics that must not get worse: names or "
                                          "{metric: NAME, max_drop: 0.1}")


class DecisionSection(FileModel):
    """How the evaluation decides."""

    example: ClassVar[str] = "{min_effect: 0.3, alpha: 0.05}"
    min_effect: Number = Field(0.0, ge=0, description="smallest effect worth promoting, e.g. 0.3")
    alpha: Number = Field(0.05, gt=0, lt=1, description="significance level, e.g. 0.05")
    power: Number = Field(0.8, gt=0, lt=1, description="power the plan asks for, e.g. 0.8")
    looks: WholeNumber = Field(
        1, ge=1, description="planned looks including the final one; with more than one, looks "
                             "before the horizon use an always-valid confidence sequence and "
                             "may stop early only for harm")
    segments: NameList = Field(
        default_factory=list, description="pre-declared partner columns the effect is broken "
                                          "down by, e.g. [rank], with multiplicity control")
    reproduction: Text | None = Field(
        None, description="how a promotion counts as reproduced (default: a later experiment of "
                          "the same package in another cohort shows an effect of the same sign "
                          "whose interval excludes zero)")


class TasksSection(FileModel):
    """How PRM tasks are written for the treatment arm."""

    example: ClassVar[str] = "{weekend: previous_friday}"
    weekend: WeekendRule = Field("previous_friday", description="where a due date on a weekend "
                                                                "moves: previous_friday, "
                                                                "next_monday or keep")


class ReportSection(FileModel):
    """How the report is written."""

    example: ClassVar[str] = "{lang: ja}"
    lang: Language | None = Field(None, description="report language: ja or en")


class ExperimentFile(FileModel):
    """An experiment (``experiments/*.yaml``) delivering one package version with a control group."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="supportlab experiment")
    example: ClassVar[str] = "{id: product-a-launch-2026q4, package: product-a-launch@2, ...}"
    id: SafeId
    package: Annotated[str, Strict()] = Field(
        pattern=PACKAGE_REF_PATTERN,
        description="the package delivered: ID@VERSION (e.g. product-a-launch@2) or ID for its "
                    "highest version")
    title: Text | None = None
    description: Text | None = None
    eligibility: RuleText | None = None
    priority: Annotated[str, Strict()] | None = Field(
        None, pattern=r"^[^\s]+(\s+(asc|desc|ASC|DESC))?$",
        description="a feature name to rank eligible partners by, lowest first "
                    "(e.g. support_score); add ' desc' for highest first")
    design: DesignSection
    metrics: MetricsSection
    decision: DecisionSection = Field(default_factory=lambda: DecisionSection())
    tasks: TasksSection = Field(default_factory=lambda: TasksSection())
    report: ReportSection = Field(default_factory=lambda: ReportSection())

    def problems(self) -> list[Problem]:
        return [Problem(("design", *p.loc), p.what, p.fix) for p in self.design.problems()]


# -- metrics and segments -------------------------------------------------------------------------


MetricKind = Annotated[str, Strict(), BeforeValidator(
    lambda v: _one_of(METRIC_KINDS, "kinds")(v) if isinstance(v, str) else v),
    _choice_schema(METRIC_KINDS)]
IfNever = Annotated[
    Annotated[str, Strict(), BeforeValidator(
        lambda v: _one_of(("joined", "null"), "values")(v) if isinstance(v, str) else v), Tag("text")]
    | Annotated[Number, Tag("number")],
    Discriminator(_tag_of({str: "text", int: "number", float: "number"}),
                 custom_error_type="if_never_type",
                 custom_error_message="must be 'joined', 'null' or a number")]


class MetricSpec(FileModel):
    """One per-partner metric definition (see :mod:`supportlab.features.metrics`)."""

    example: ClassVar[str] = "{kind: count, table: events, where: {event_type: login}}"
    kind: MetricKind = Field(description="how rows are aggregated per partner")
    table: Name = Field("events", description="the workspace table aggregated")
    column: Name | None = Field(None, description="the column aggregated (sum, mean, ...)")
    where: WhereSpec | None = Field(None, description="which rows count: a rule, or a mapping")
    time: Name | None = Field(None, description="the time column the window applies to")
    lookback_days: WholeNumber | None = Field(None, ge=1, description="window of the last N days")
    numerator: Name | None = Field(None, description="ratio: the metric on top")
    denominator: Name | None = Field(None, description="ratio: the metric below")
    if_never: IfNever = Field("joined", description="days_since_last without a row: joined, "
                                                   "null or a number")
    description: Text = ""
    name: Name | None = Field(None, description="ignored: the key above names the metric")

    @model_validator(mode="after")
    def _parts(self) -> MetricSpec:
        if self.kind in COLUMN_KINDS and self.column is None:
            raise PydanticCustomError("needs_column", "a {kind} metric needs 'column'",
                                      {"kind": self.kind, "fix": "add column: NAME"})
        if self.kind == "ratio" and not (self.numerator and self.denominator):
            raise PydanticCustomError(
                "needs_parts", "a ratio metric needs 'numerator' and 'denominator' (metric names)",
                {"fix": "write e.g. {kind: ratio, numerator: deals_won, denominator: deals_closed}"})
        return self




class MetricsFile(FileModel):
    """Extra metric definitions (``experiments/metrics.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="supportlab metrics")
    example: ClassVar[str] = "{metrics: {webinar_views: {kind: count, where: {event_type: view}}}}"
    metrics: dict[RuleName, MetricSpec] = Field(default_factory=dict,
                                                  description="metric name: definition")


class SegmentsFile(FileModel):
    """Named segments (``experiments/segments.yaml``), each a true/false partner feature."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="supportlab segments")
    example: ClassVar[str] = "{segments: {new_b_partners: {rank: [B], tenure_days: {max: 365}}}}"
    segments: dict[RuleName, SegmentSpec] = Field(
        description="segment name: a rule or a mapping of conditions")


# -- ingest mappings ------------------------------------------------------------------------------


class MappingFile(FileModel):
    """How an export's columns (and values) map to a canonical table (``ingest --mapping``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="supportlab ingest mapping")
    example: ClassVar[str] = "{table: events, columns: {代理店ID: partner_id}}"
    table: Name | None = Field(None, description="the canonical table the export is for")
    columns: Annotated[dict[Name, Name], BeforeValidator(_stringify_keys)] = Field(
        default_factory=dict, description="export header: canonical column, e.g. {代理店ID: partner_id}")
    values: dict[Name, Annotated[dict[Name, Name], BeforeValidator(_stringify_scalars)]] = Field(
        default_factory=dict,
        description="canonical column: {export value: canonical value}, e.g. "
                    "{event_type: {ログイン: login}}")
    sheet: Annotated[str, BeforeValidator(
        lambda v: str(v) if isinstance(v, int) and not isinstance(v, bool) else v), Strict()] | None = (
        Field(None, description="the worksheet of an .xlsx file"))


# -- the workspace: supportlab.toml ---------------------------------------------------------------


def _timezone(v: Any) -> Any:
    if isinstance(v, str):
        try:
            zoneinfo.ZoneInfo(v)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise PydanticCustomError(
                "timezone", "unknown timezone '{value}'",
                {"value": v, "fix": "use an IANA zone name such as 'Asia/Tokyo' or 'UTC'"}) from None
    return v


class WorkspaceSection(FileModel):
    """``[workspace]``: the database, the timezone and the report language."""

    example: ClassVar[str] = '[workspace] database = "data/supportlab.duckdb"'
    database: Name = Field("data/supportlab.duckdb",
                           description="the DuckDB file, relative to supportlab.toml")
    timezone: Annotated[str, Strict(), BeforeValidator(_timezone)] = Field(
        "Asia/Tokyo", description="IANA zone for timestamps given without one")
    language: Language = Field("ja", description="language of reports: ja or en")
    memory_limit: Annotated[str, Strict()] = Field(
        "1536MB", pattern=r"^\s*[0-9]+(\.[0-9]+)?\s*([KMGT]i?B|B)\s*$",
        description="memory the engine may use, e.g. 1536MB or 2GB")


class PathsSection(FileModel):
    """``[paths]``: where experiments and reports live, relative to supportlab.toml."""

    example: ClassVar[str] = '[paths] experiments = "experiments"'
    experiments: Name = "experiments"
    reports: Name = "reports"


class EngineSection(FileModel):
    """``[engine]``: which engine computes metrics, and where it finds the tables."""

    example: ClassVar[str] = '[engine] kind = "parquet"'
    kind: Annotated[str, Strict(), BeforeValidator(
        lambda v: _one_of(ENGINE_KINDS, "engine kinds")(v) if isinstance(v, str) else v),
        _choice_schema(ENGINE_KINDS)] = Field("duckdb", description="duckdb, parquet or spark")
    path: Name | None = Field(None, description="parquet/spark: a directory of <table>.parquet")
    master: Name = Field("local[2]", description="spark: the master URL")
    database: Name | None = Field(None, description="spark: a catalog database to read")
    options: Annotated[dict[Name, Text], BeforeValidator(_stringify_scalars)] = Field(
        default_factory=dict, description="spark: session options")


class ScoreWeights(FileModel):
    """Points of each support-score component."""

    noun: ClassVar[str] = "score component"
    example: ClassVar[str] = "{login_recency = 25, completion = 25}"
    login_recency: Number = Field(25.0, ge=0)
    completion: Number = Field(25.0, ge=0)
    downloads: Number = Field(15.0, ge=0)
    test_results: Number = Field(20.0, ge=0)
    material_use: Number = Field(15.0, ge=0)


class ScoreCaps(FileModel):
    """Saturation caps of the support-score components that count something."""

    noun: ClassVar[str] = "score component with a cap"
    example: ClassVar[str] = "{login_recency = 60, downloads = 5}"
    login_recency: Number = Field(60.0, gt=0, description="days without a login that score 0")
    completion: Number = Field(6.0, gt=0)
    downloads: Number = Field(5.0, gt=0)
    material_use: Number = Field(4.0, gt=0)


class ScoreSection(FileModel):
    """``[score]``: weights, caps and lookback of the support score."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="supportlab score settings")
    example: ClassVar[str] = "[score] lookback_days = 90"
    lookback_days: WholeNumber = Field(90, ge=1, description="days of history scored")
    weights: ScoreWeights = Field(default_factory=lambda: ScoreWeights())
    caps: ScoreCaps = Field(default_factory=lambda: ScoreCaps())

    def problems(self) -> list[Problem]:
        if sum(self.weights.model_dump().values()) <= 0:
            return [Problem(("weights",), "the score weights sum to 0",
                            "give at least one component a positive weight")]
        return []


class WorkspaceFile(FileModel):
    """``supportlab.toml``: the workspace configuration."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="supportlab.toml")
    noun: ClassVar[str] = "section"
    example: ClassVar[str] = "[workspace] ... [paths] ..."
    workspace: WorkspaceSection = Field(default_factory=lambda: WorkspaceSection())
    paths: PathsSection = Field(default_factory=lambda: PathsSection())
    engine: EngineSection = Field(default_factory=lambda: EngineSection())
    score: ScoreSection = Field(default_factory=lambda: ScoreSection())

    def problems(self) -> list[Problem]:
        return [Problem(("score", *p.loc), p.what, p.fix) for p in self.score.problems()]


#: every file kind, by the name ``supportlab schema`` and :func:`~supportlab.config.loader.load_file` use
FILE_KINDS: dict[str, type[FileModel]] = {
    "experiment": ExperimentFile,
    "package": PackageFile,
    "metrics": MetricsFile,
    "segments": SegmentsFile,
    "mapping": MappingFile,
    "workspace": WorkspaceFile,
    "score": ScoreSection,
}
