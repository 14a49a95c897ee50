"""Workspace configuration: ``supportlab.toml``.

A workspace is a directory with a ``supportlab.toml``. It names the data source (by default the
embedded DuckDB file ``data/supportlab.duckdb``), the timezone in which timestamps without a zone
are read (default ``Asia/Tokyo``) and the language of reports (``ja`` or ``en``); optional
sections choose the engine (``[engine]``, see :mod:`supportlab.data.engine`) and tune the
support score (``[score]``, see :mod:`supportlab.features.score`). The whole file is validated by
the one loader (:class:`~supportlab.config.models.WorkspaceFile`): every problem at once.

Example:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> cfg = init_workspace(d, language="en")
    >>> load_config(d).timezone
    'Asia/Tokyo'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supportlab.config.loader import read_document, validate
from supportlab.config.models import EngineSection, ScoreSection, WorkspaceFile, WorkspaceSection
from supportlab.errors import WorkspaceError

CONFIG_NAME = "supportlab.toml"

_TEMPLATE = """\
# supportlab workspace configuration
[workspace]
# the workspace database: an embedded DuckDB file, relative to this file
database = "{database}"
# timestamps without a zone in imported files are read in this zone
timezone = "{timezone}"
# language of reports: "ja" or "en"
language = "{language}"
# memory the database engine may use before spilling to disk (DuckDB syntax, e.g. "2GB")
memory_limit = "{memory_limit}"

[paths]
experiments = "experiments"
reports = "reports"
"""


@dataclass(frozen=True)
class WorkspaceConfig:
    """Settings of one workspace, read from ``supportlab.toml``.

    Attributes:
        root: the workspace directory.
        engine: the validated ``[engine]`` section.
        score: the validated ``[score]`` section.
        extra: the sections other than ``[workspace]`` and ``[paths]``, as written.
    """

    root: Path
    database: str = "data/supportlab.duckdb"
    timezone: str = "Asia/Tokyo"
    language: str = "ja"
    memory_limit: str = "1536MB"
    experiments_dir: str = "experiments"
    reports_dir: str = "reports"
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    engine: EngineSection = field(default_factory=EngineSection, compare=False, repr=False)
    score: ScoreSection = field(default_factory=ScoreSection, compare=False, repr=False)

    @property
    def path(self) -> Path:
        """The ``supportlab.toml`` file."""
        return self.root / CONFIG_NAME

    @property
    def database_path(self) -> Path:
        return (self.root / self.database).resolve()

    @property
    def reports_path(self) -> Path:
        return (self.root / self.reports_dir).resolve()

    @property
    def experiments_path(self) -> Path:
        return (self.root / self.experiments_dir).resolve()


def init_workspace(directory: str | Path, *, timezone: str = "Asia/Tokyo", language: str = "ja",
                   database: str = "data/supportlab.duckdb", memory_limit: str = "1536MB",
                   exist_ok: bool = False) -> WorkspaceConfig:
    """Create a workspace: ``supportlab.toml`` plus ``data/``, ``experiments/`` and ``reports/``.

    Args:
        directory: where to create it (created if missing).
        timezone: zone for timestamps given without one.
        language: report language, ``ja`` or ``en``.
        database: DuckDB file, relative to the workspace.
        memory_limit: DuckDB memory limit.
        exist_ok: keep an existing ``supportlab.toml`` instead of failing.

    Returns:
        The configuration now on disk.
    """
    root = Path(directory).resolve()
    path = root / CONFIG_NAME
    validate(WorkspaceSection, {"database": database, "timezone": timezone, "language": language,
                                "memory_limit": memory_limit}, source=str(path), prefix=("workspace",))
    cfg = WorkspaceConfig(root, database, timezone, language, memory_limit)
    if path.exists():
        if exist_ok:
            return load_config(root)
        raise WorkspaceError(
            "a workspace already exists here", where=str(path),
            fix="use this workspace as it is, or choose another directory",
        )
    try:
        for sub in ("data", "experiments/packages", "reports"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".toml.tmp")
        tmp.write_text(_TEMPLATE.format(database=database, timezone=timezone, language=language,
                                        memory_limit=memory_limit), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise WorkspaceError(f"cannot create the workspace ({exc.strerror or exc})",
                             where=str(root), fix="choose a directory you can write to") from None
    return cfg


def find_root(start: str | Path | None = None) -> Path | None:
    """Return the nearest directory at or above ``start`` holding ``supportlab.toml``."""
    here = Path(start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / CONFIG_NAME).is_file():
            return d
    return None


def load_config(root: str | Path | None = None) -> WorkspaceConfig:
    """Load the configuration of the workspace at (or above) ``root``.

    Raises:
        WorkspaceError: when there is no workspace.
        ConfigError: when the file is malformed.
    """
    found = find_root(root)
    if found is None:
        where = str(Path(root or Path.cwd()).resolve())
        raise WorkspaceError(
            f"no {CONFIG_NAME} found here or in any parent directory", where=where,
            fix="run 'supportlab init DIR' to create a workspace, or cd into one",
        )
    path = found / CONFIG_NAME
    doc = read_document(path)
    m = validate(WorkspaceFile, doc.data, source=str(path), document=doc)
    return WorkspaceConfig(
        root=found, database=m.workspace.database, timezone=m.workspace.timezone,
        language=m.workspace.language, memory_limit=m.workspace.memory_limit.strip(),
        experiments_dir=m.paths.experiments, reports_dir=m.paths.reports,
        extra={k: v for k, v in doc.data.items() if k not in ("workspace", "paths")},
        engine=m.engine, score=m.score,
    )
