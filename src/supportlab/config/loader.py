"""The one loader of configuration files: read, validate, report every problem at once.

:func:`load_file` reads a YAML file (``yaml.safe_load`` rules: no tags, no code) or a TOML file
(``tomllib``), validates it against the model of its kind (:mod:`supportlab.config.models`)
and raises one :class:`~supportlab.config.problems.ConfigFileError` listing every problem, each
as ``file: key.path``, what is wrong, what is allowed and a did-you-mean::

    experiments/x.yaml: 2 problems:
      experiments/x.yaml: decision.alpha: must be a number, got 'five' (line 9). Fix: ...
      experiments/x.yaml: report: must be a mapping like {lang: ja}, got 'ja' (line 10). ...

Dates stay text until the model reads them, so that ``start: 2026-02-30`` is reported at its key
instead of failing the whole file; a key written twice in a mapping is a problem too (YAML would
silently keep the second). :func:`validate` does the same for data already in Python.

Example:
    >>> try:
    ...     validate("package", {"id": "Kit A", "version": "2", "steps": []}, source="kit.yaml")
    ... except ConfigFileError as exc:
    ...     print([p.key_path for p in exc.problems])
    ['id', 'version', 'steps']
"""

from __future__ import annotations

import json
import tomllib
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, overload

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from supportlab.config.models import FILE_KINDS, FileModel
from supportlab.config.problems import ConfigFileError, Loc, Problem, did_you_mean
from supportlab.errors import ConfigError

__all__ = ["Check", "ConfigFileError", "Document", "json_schema", "load_file", "read_document",
           "validate"]

M = TypeVar("M", bound=FileModel)
#: a check of the raw data of a file, returning problems (key paths relative to the file)
Check = Callable[[Any], Iterable[Problem]]


# -- reading ----------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that keeps dates as text (the models read them, naming the key)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class Document:
    """A parsed file: its data, the line of each key, and problems found while reading.

    Attributes:
        source: the file name as given.
        data: the parsed content (a mapping for every file kind).
        lines: line of each key path (YAML only).
        problems: keys written twice.
    """

    def __init__(self, source: str, data: Any, lines: dict[tuple[str, ...], int] | None = None,
                 problems: Sequence[Problem] = ()) -> None:
        self.source = source
        self.data = data
        self.lines = lines or {}
        self.problems = list(problems)

    def line(self, loc: Loc) -> int | None:
        """The line of the key at ``loc`` (or of the nearest key above it)."""
        key = tuple(str(k) for k in loc)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return None


def read_document(path: str | Path) -> Document:
    """Read a YAML or TOML configuration file (by its suffix) without validating it.

    Raises:
        ConfigError: the file is missing, not UTF-8, not valid YAML/TOML, or not a mapping.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError("file not found", where=str(p), fix="check the path") from None
    except UnicodeDecodeError:
        raise ConfigError("the file is not UTF-8 text", where=str(p),
                          fix="save it as UTF-8 (most editors: 'Save with encoding')") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the file ({exc.strerror or exc})", where=str(p),
                          fix="check the path and its permissions") from None
    if p.suffix.lower() == ".toml":
        try:
            doc = Document(str(p), tomllib.loads(text))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"not valid TOML ({exc})", where=str(p),
                              fix="correct the syntax (strings in quotes, [section] headers)"
                              ) from None
    else:
        doc = _read_yaml(text, str(p))
    if doc.data is None:
        doc.data = {}
    if not isinstance(doc.data, dict):
        raise ConfigError(f"the file must hold a mapping of keys, not {_kind(doc.data)}",
                          where=str(p), fix="write 'key: value' lines at the top level")
    return doc


def _read_yaml(text: str, source: str) -> Document:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"not valid YAML{loc}: {exc.problem or exc}", where=source,
                          fix="check the indentation (spaces, not tabs) and quote text holding "
                              "': ' or '#'") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML ({exc})", where=source,
                          fix="check the indentation and quoting") from None
    finally:
        loader.dispose()
    lines: dict[tuple[str, ...], int] = {}
    dups: list[Problem] = []
    if node is not None:
        _index(node, (), lines, dups)
    return Document(source, data, lines, dups)


def _index(node: yaml.Node, loc: tuple[str, ...], lines: dict[tuple[str, ...], int],
           dups: list[Problem]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            line = key_node.start_mark.line + 1
            if key in seen and key != "<<":
                dups.append(Problem((*loc, key), f"key '{key}' is written twice (first at line "
                                    f"{seen[key]}); only the last one would count",
                                    "keep one of them", line=line))
            seen.setdefault(key, line)
            lines.setdefault((*loc, key), line)
            _index(value_node, (*loc, key), lines, dups)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.setdefault((*loc, str(i)), item.start_mark.line + 1)
            _index(item, (*loc, str(i)), lines, dups)


# -- validating ------------------------------------------------------------------------------------


def _model(kind: str | type[M]) -> type[FileModel]:
    if isinstance(kind, str):
        try:
            return FILE_KINDS[kind]
        except KeyError:
            raise ConfigError(f"unknown file kind '{kind}'",
                              fix=did_you_mean(kind, list(FILE_KINDS), label="kinds")) from None
    return kind


@overload
def validate(kind: type[M], data: Any, *, source: str | None = ..., prefix: Loc = ...,
             checks: Sequence[Check] = ..., document: Document | None = ...) -> M: ...
@overload
def validate(kind: str, data: Any, *, source: str | None = ..., prefix: Loc = ...,
             checks: Sequence[Check] = ..., document: Document | None = ...) -> FileModel: ...
def validate(kind: str | type[M], data: Any, *, source: str | None = None, prefix: Loc = (),
             checks: Sequence[Check] = (), document: Document | None = None) -> FileModel:
    """Validate parsed data against the model of a file kind; raise every problem at once.

    Args:
        kind: a file kind (``"experiment"``, ``"package"``, ... see
            :data:`~supportlab.config.models.FILE_KINDS`) or a model class.
        data: the parsed content.
        source: the file, for messages.
        prefix: key path of ``data`` inside its file (e.g. ``("metrics", "webinar")``).
        checks: further checks of the raw data (cross-file checks), run with the model's.
        document: the parsed file, for line numbers and problems found while reading.

    Returns:
        The validated model.

    Raises:
        ConfigFileError: with every problem.
    """
    model = _model(kind)
    problems = list(document.problems) if document else []
    result: FileModel | None = None
    try:
        result = model.model_validate(data)
    except ValidationError as exc:
        problems.extend(translate(exc, model, data))
    if result is not None:
        problems.extend(result.problems())
    for check in checks:
        problems.extend(check(data))
    if problems:
        problems = _dedupe(problems)
        located = [p if p.source else
                   Problem((*prefix, *p.loc), p.what, p.fix, None,
                           p.line or (document.line(p.loc) if document else None))
                   for p in problems]
        raise ConfigFileError(located, source=source)
    assert result is not None
    return result


def load_file(path: str | Path, kind: str | type[M], *, checks: Sequence[Check] = ()) -> Any:
    """Read and validate a configuration file; raise every problem of it at once.

    Args:
        path: the file (``.yaml``/``.yml`` or ``.toml``).
        kind: its kind: ``experiment``, ``package``, ``metrics``, ``segments``, ``mapping``,
            ``workspace`` or ``score`` (or a model class).
        checks: further checks of the raw data, reported together with the model's problems.

    Returns:
        The validated model (:class:`~supportlab.config.models.ExperimentFile`, ...).

    Raises:
        ConfigError: the file cannot be read or parsed.
        ConfigFileError: the content is invalid (``.problems`` lists each problem).
    """
    model = _model(kind)
    doc = read_document(path)
    return validate(model, doc.data, source=str(path), checks=checks, document=doc)


def json_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of a file kind, for editors (``supportlab schema KIND``).

    Example:
        >>> json_schema("experiment")["required"]
        ['id', 'package', 'design', 'metrics']
    """
    schema = _model(kind).model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[str, str]] = set()
    out = []
    for p in problems:
        key = (p.key_path, p.what)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


# -- translating pydantic's errors ------------------------------------------------------------------


class _Spot:
    """What the model expects at an error's location."""

    def __init__(self) -> None:
        self.loc: list[str | int] = []
        self.field: FieldInfo | None = None
        self.parent: type[BaseModel] | None = None
        self.annotation: Any = None
        self.is_key = False


def _strip(ann: Any) -> Any:
    while typing.get_origin(ann) is typing.Annotated:
        ann = typing.get_args(ann)[0]
    return ann


def _tags(ann: Any) -> dict[str, Any]:
    out = {}
    for member in typing.get_args(ann):
        for meta in getattr(member, "__metadata__", ()):
            tag = getattr(meta, "tag", None)
            if isinstance(tag, str) and type(meta).__name__ == "Tag":
                out[tag] = member
    return out


def _is_union(ann: Any) -> bool:
    return typing.get_origin(ann) in (typing.Union, types.UnionType)


def _walk(model: type[BaseModel], loc: Sequence[str | int]) -> _Spot:
    spot = _Spot()
    ann: Any = model
    key_type: Any = None
    for elem in loc:
        if elem == "[key]":  # the key before it is wrong, not its value
            spot.is_key = True
            ann = key_type
            continue
        ann = _strip(ann)
        while _is_union(ann):
            tags = _tags(ann)
            if isinstance(elem, str) and elem in tags:
                break
            members = [a for a in typing.get_args(ann) if a is not type(None)]
            if len(members) != 1:
                break
            ann = _strip(members[0])
        if _is_union(ann):
            tags = _tags(ann)
            if isinstance(elem, str) and elem in tags:
                ann = tags[elem]
                continue
        if isinstance(ann, type) and issubclass(ann, BaseModel) and isinstance(elem, str):
            spot.parent = ann
            field = ann.model_fields.get(elem) or next(
                (f for f in ann.model_fields.values() if f.alias == elem), None)
            spot.loc.append(elem)
            spot.field = field
            ann = field.annotation if field else None
            continue
        origin = typing.get_origin(ann)
        args = typing.get_args(ann)
        if origin in (list, tuple, Sequence) and isinstance(elem, int):
            spot.loc.append(elem)
            spot.field = None
            ann = args[0] if args else None
        elif origin in (dict, Mapping) and args:
            spot.loc.append(elem)
            spot.field = None
            key_type, ann = args[0], args[1]
        else:
            spot.loc.append(elem)
    spot.annotation = ann
    return spot


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (int, float)):
        return "a number"
    if value is None:
        return "empty"
    return "text"


def _show(value: Any) -> str:
    if value is None:
        return "nothing (empty)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, default=str)
        return text if len(text) <= 60 else text[:57] + "..."
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"


def _example(spot: _Spot) -> str:
    target = _strip(spot.annotation)
    if _is_union(target):
        members = [_strip(a) for a in typing.get_args(target) if a is not type(None)]
        target = next((m for m in members if isinstance(m, type) and issubclass(m, BaseModel)),
                      members[0] if members else None)
    if isinstance(target, type) and issubclass(target, FileModel):
        return target.example
    return "{key: value}"


def _hint(spot: _Spot) -> str | None:
    return spot.field.description if spot.field is not None else None


def _write(thing: str, hint: str | None) -> str:
    return f"write {thing}" + (f" ({hint})" if hint else "")


def translate(exc: ValidationError, model: type[BaseModel], data: Any = None) -> list[Problem]:
    """pydantic's errors as problems in the house style (key path, what, what is allowed).

    Args:
        exc: the validation error.
        model: the model that was validated.
        data: the data that was validated (unused; kept for checks that need the input).
    """
    out = []
    for err in exc.errors(include_url=False):
        spot = _walk(model, err["loc"])
        out.append(_problem(err, spot))
    return out


def _problem(err: Any, spot: _Spot) -> Problem:
    kind: str = err["type"]
    value = err.get("input")
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    loc = tuple(spot.loc)
    key = str(loc[-1]) if loc else "(top level)"
    hint = _hint(spot)
    got = f", got {_show(value)}"
    if kind == "missing":
        return Problem(loc[:-1], f"missing required key '{key}'",
                       f"add {key}: ..." + (f" ({hint})" if hint else ""))
    if kind == "extra_forbidden":
        owner = spot.parent
        noun = getattr(owner, "noun", "key")
        allowed = [f.alias or n for n, f in owner.model_fields.items()] if owner else []
        return Problem(loc, f"unknown {noun} '{key}'",
                       did_you_mean(key, allowed, label=f"allowed {noun}s" if noun != "key"
                                    else "allowed keys"))
    if kind == "not_allowed":
        allowed = list(ctx.get("allowed", ()))
        plural = ctx.get("plural", "values")
        what = (f"{key} == {_show(value)} is not allowed" if not spot.is_key
                else f"{_show(value)} is not allowed")
        return Problem(loc, what, did_you_mean(value, allowed, label=f"allowed {plural}"))
    if spot.is_key and "fix" not in ctx:
        return Problem(loc, f"the key {_show(value)} is not allowed here: {_lower(err['msg'])}",
                       hint)
    if kind in ("float_type", "float_parsing"):
        what = "must be a number" + got
        if isinstance(value, bool):
            what += " (true/false is not a number)"
        return Problem(loc, what, _write("a number", hint))
    if kind in ("int_type", "int_parsing", "int_from_float"):
        what = "must be a whole number" + got
        if isinstance(value, bool):
            what += " (true/false is not a number)"
        return Problem(loc, what, _write("a whole number", hint))
    if kind in ("string_type", "str_type"):
        return Problem(loc, "must be text" + got, _write('text, in quotes if it looks like a '
                                                         'number: "..."', hint))
    if kind == "bool_type":
        return Problem(loc, "must be true or false" + got, _write("true or false", hint))
    if kind in ("list_type", "tuple_type"):
        return Problem(loc, "must be a list like [a, b]" + got, hint)
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return Problem(loc, f"must be a mapping like {_example(spot)}" + got, hint)
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        sign = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<",
                "less_than_equal": "<="}[kind]
        bound = next(iter(ctx.values()), "")
        return Problem(loc, f"{key} == {_show(value)}, must be {sign} {bound}", hint)
    if kind in ("too_short", "string_too_short"):
        what = "must not be empty" if not value else f"needs at least {ctx.get('min_length')} items"
        return Problem(loc, what, hint)
    if kind == "string_pattern_mismatch":
        return Problem(loc, f"{_show(value)} is not allowed here", hint)
    text = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        text = text.removeprefix(prefix)
    return Problem(loc, text, ctx.get("fix") or hint)


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:]
