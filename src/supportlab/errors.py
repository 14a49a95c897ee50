"""One error hierarchy for the whole library.

Every error says *what* went wrong, *where* (file, table, column, line) and *how to fix it*.
The command line prints ``str(error)`` as one short paragraph and exits non-zero.

Each class also subclasses the builtin a Python user would catch: a :class:`ConfigError` is a
:class:`ValueError`, an :class:`InputFileError` an :class:`OSError`, and so on.

Example:
    >>> try:
    ...     raise ConfigError("alpha == 1.5, must be < 1", where="exp.yaml: decision.alpha")
    ... except ValueError as exc:
    ...     print(exc)
    exp.yaml: decision.alpha: alpha == 1.5, must be < 1.
"""

from __future__ import annotations


class SupportlabError(Exception):
    """Base class of every error supportlab raises on purpose.

    Args:
        what: What went wrong, in one sentence.
        where: Where it happened (a file, table, column, line), if known.
        fix: How to fix it, if known.
    """

    exit_code = 1

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None) -> None:
        self.what = what
        self.where = where
        self.fix = fix
        super().__init__(self._compose())

    def __str__(self) -> str:  # OSError would otherwise format its own way
        return self._compose()

    def __reduce__(self) -> tuple[object, ...]:  # keyword-only arguments survive pickling
        return (_rebuild, (type(self), self.__dict__.copy()))

    def _compose(self) -> str:
        parts = []
        if self.where:
            parts.append(f"{self.where}: {self.what}")
        else:
            parts.append(self.what)
        if self.fix:
            parts.append(f"Fix: {self.fix}")
        return " ".join(p if p.endswith((".", ":", "?", "!")) else p + "." for p in parts)


class ConfigError(SupportlabError, ValueError):
    """A configuration file or argument is wrong."""

    exit_code = 2


class InputFileError(SupportlabError, OSError):
    """An input file cannot be read as a table (encoding, format, structure)."""

    exit_code = 3


class DataValidationError(SupportlabError, ValueError):
    """Data do not satisfy a schema or a cross-table rule.

    Attributes:
        report: The :class:`~supportlab.data.schemas.ValidationReport` with every failure, if any.
    """

    exit_code = 4

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None,
                 report: object | None = None) -> None:
        self.report = report
        super().__init__(what, where=where, fix=fix)


class WorkspaceError(SupportlabError, OSError):
    """The workspace database or its layout is missing or unusable."""

    exit_code = 5


def _rebuild(cls: type[SupportlabError], state: dict[str, object]) -> SupportlabError:
    err = cls.__new__(cls)
    err.__dict__.update(state)
    Exception.__init__(err, err._compose())
    return err
