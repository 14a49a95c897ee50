"""Problems found in configuration files, and the one error that reports them all.

A :class:`Problem` says where (the file and the key path, ``design.stratify_by.0``), what is wrong
and how to fix it. The loader collects every problem of a file before it raises, so a user fixes
a file in one pass; :class:`ConfigFileError` is a :class:`~supportlab.errors.ConfigError` (hence a
:class:`ValueError`) whose ``problems`` attribute lists them.

Example:
    >>> err = ConfigFileError([Problem(("decision", "alpha"), "must be a number, got 'five'",
    ...                                 "write e.g. alpha: 0.05", source="exp.yaml")])
    >>> print(err)
    exp.yaml: decision.alpha: must be a number, got 'five'. Fix: write e.g. alpha: 0.05.
    >>> err.problems[0].key_path
    'decision.alpha'
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from supportlab.errors import ConfigError

__all__ = ["ConfigFileError", "Loc", "Problem", "did_you_mean"]

#: a key path inside a file: mapping keys and list positions
Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a configuration file.

    Attributes:
        loc: the key path, e.g. ``("design", "stratify_by", 0)``; ``()`` for the whole file.
        what: what is wrong, in one sentence without a final full stop.
        fix: what is allowed, or how to fix it (with a did-you-mean when there is one).
        source: the file (``None`` for a mapping given in Python).
        line: the line of the key in the file, when known.
    """

    loc: Loc
    what: str
    fix: str | None = None
    source: str | None = None
    line: int | None = None

    @property
    def key_path(self) -> str:
        """The key path written with dots: ``metrics.guardrails.0.metric``."""
        return ".".join(str(k) for k in self.loc) or "(top level)"

    @property
    def where(self) -> str:
        """``file: key.path`` (or only the key path when there is no file)."""
        return f"{self.source}: {self.key_path}" if self.source else self.key_path

    def located(self, source: str | None, line: int | None = None) -> Problem:
        """The same problem, placed in ``source`` (keeping a source it already has)."""
        return replace(self, source=self.source or source, line=self.line or line)

    def __str__(self) -> str:
        text = f"{self.where}: {self.what}"
        if self.line:
            text += f" (line {self.line})"
        text = _stop(text)
        return f"{text} Fix: {_stop(self.fix)}" if self.fix else text


def _stop(text: str) -> str:
    return text if text.endswith((".", "?", "!", ":")) else text + "."


class ConfigFileError(ConfigError):
    """Every problem of a configuration file (or of files checked together), reported at once.

    Args:
        problems: what is wrong, at least one.
        source: the file the problems are in, for problems that do not name one.

    Attributes:
        problems: the problems, in file order.
        source: the file.
    """

    def __init__(self, problems: Iterable[Problem], *, source: str | None = None) -> None:
        self.problems: tuple[Problem, ...] = tuple(p.located(source) for p in problems)
        if not self.problems:
            raise ValueError("ConfigFileError needs at least one problem")
        self.source = source
        first = self.problems[0]
        if len(self.problems) == 1:
            what = first.what + (f" (line {first.line})" if first.line else "")
            super().__init__(what, where=first.where, fix=first.fix)
        else:
            files = {p.source for p in self.problems}
            place = f" in {source or first.source}" if len(files) == 1 and first.source else ""
            lines = "\n".join(f"  {p}" for p in self.problems)
            super().__init__(f"{len(self.problems)} problems{place}:\n{lines}")

    def _compose(self) -> str:
        if len(getattr(self, "problems", ())) > 1:
            return self.what
        return super()._compose()


def did_you_mean(word: object, choices: Sequence[str], *, label: str = "allowed") -> str:
    """A hint naming the closest choice (if any) and listing the choices.

    Example:
        >>> did_you_mean("alpah", ["alpha", "min_effect"])
        "did you mean 'alpha'? allowed: alpha, min_effect"
    """
    near = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    shown = ", ".join(choices[:25]) + (", ..." if len(choices) > 25 else "")
    listing = f"{label}: {shown}" if choices else f"{label}: none"
    return f"did you mean '{near[0]}'? {listing}" if near else listing
