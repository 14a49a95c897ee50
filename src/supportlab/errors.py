"""One error hierarchy for the whole library.

Every error says *what* went wrong, *where* (file, table, column, line) and *how to fix it*.
The command line prints ``str(error)`` as one short paragraph and exits non-zero.
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

    def _compose(self) -> str:
        parts = []
        if self.where:
            parts.append(f"{self.where}: {self.what}")
        else:
            parts.append(self.what)
        if self.fix:
            parts.append(f"Fix: {self.fix}")
        return " ".join(p if p.endswith((".", ":", "?", "!")) else p + "." for p in parts)


class ConfigError(SupportlabError):
    """A configuration file or argument is wrong."""

    exit_code = 2


class InputFileError(SupportlabError):
    """An input file cannot be read as a table (encoding, format, structure)."""

    exit_code = 3


class DataValidationError(SupportlabError):
    """Data do not satisfy a schema or a cross-table rule.

    Attributes:
        report: The :class:`~supportlab.data.schemas.ValidationReport` with every failure, if any.
    """

    exit_code = 4

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None,
                 report: object | None = None) -> None:
        self.report = report
        super().__init__(what, where=where, fix=fix)


class WorkspaceError(SupportlabError):
    """The workspace database or its layout is missing or unusable."""

    exit_code = 5
