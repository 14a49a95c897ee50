"""Workspace configuration: ``supportlab.toml``.

A workspace is a directory with a ``supportlab.toml``. It names the data source (by default the
embedded DuckDB file ``data/supportlab.duckdb``), the timezone in which timestamps without a zone
are read (default ``Asia/Tokyo``) and the language of reports (``ja`` or ``en``).

Example:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> cfg = init_workspace(d, language="en")
    >>> load_config(d).timezone
    'Asia/Tokyo'
"""

from __future__ import annotations

import tomllib
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path

from supportlab.errors import ConfigError, WorkspaceError
from supportlab.vocab import LANGUAGES

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
    """Settings of one workspace, read from ``supportlab.toml``."""

    root: Path
    database: str = "data/supportlab.duckdb"
    timezone: str = "Asia/Tokyo"
    language: str = "ja"
    memory_limit: str = "1536MB"
    experiments_dir: str = "experiments"
    reports_dir: str = "reports"
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def database_path(self) -> Path:
        return (self.root / self.database).resolve()

    @property
    def reports_path(self) -> Path:
        return (self.root / self.reports_dir).resolve()

    @property
    def experiments_path(self) -> Path:
        return (self.root / self.experiments_dir).resolve()


def _check(cfg: WorkspaceConfig, where: str) -> WorkspaceConfig:
    try:
        zoneinfo.ZoneInfo(cfg.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"unknown timezone '{cfg.timezone}'", where=f"{where} [workspace] timezone",
            fix="use an IANA zone name such as 'Asia/Tokyo' or 'UTC'",
        ) from None
    if cfg.language not in LANGUAGES:
        raise ConfigError(
            f"language == '{cfg.language}', must be one of {', '.join(LANGUAGES)}",
            where=f"{where} [workspace] language", fix="set language = \"ja\" or \"en\"",
        )
    return cfg


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
    cfg = _check(WorkspaceConfig(root, database, timezone, language, memory_limit),
                 str(path))
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
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML ({exc})", where=str(path),
                          fix="correct the syntax or recreate it with 'supportlab init'") from None
    ws = data.get("workspace", {})
    paths = data.get("paths", {})
    known = {"database", "timezone", "language", "memory_limit"}
    unknown = set(ws) - known
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(sorted(unknown))} in [workspace]",
                          where=str(path), fix=f"allowed keys: {', '.join(sorted(known))}")
    cfg = WorkspaceConfig(
        root=found,
        database=str(ws.get("database", "data/supportlab.duckdb")),
        timezone=str(ws.get("timezone", "Asia/Tokyo")),
        language=str(ws.get("language", "ja")),
        memory_limit=str(ws.get("memory_limit", "1536MB")),
        experiments_dir=str(paths.get("experiments", "experiments")),
        reports_dir=str(paths.get("reports", "reports")),
        extra={k: v for k, v in data.items() if k not in ("workspace", "paths")},
    )
    return _check(cfg, str(path))
