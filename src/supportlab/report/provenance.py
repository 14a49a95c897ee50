"""Where a report comes from: the code's revision, the library versions, the data's fingerprint
and quality.

The run manifest (:mod:`supportlab.report.runner`) and the experiment report's appendix both
say it, from these functions.

Example:
    >>> sorted(versions())[:2]
    ['duckdb', 'ibis-framework']
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from supportlab.data.workspace import Workspace

__all__ = ["data_quality", "git_revision", "provenance", "versions"]

#: the libraries whose versions a report records
LIBRARIES = ("supportlab", "duckdb", "pandas", "numpy", "statsmodels", "scipy", "ibis-framework",
             "papermill", "nbconvert", "matplotlib")


def git_revision(root: str | Path) -> dict[str, Any] | None:
    """``{"revision": sha, "dirty": bool}`` of the git checkout holding ``root`` (tracked
    files changed count as dirty), or None outside one or without git."""
    try:
        rev = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=10, check=True).stdout.strip() != ""
    except (OSError, subprocess.SubprocessError):
        return None
    return {"revision": rev, "dirty": dirty}


def versions() -> dict[str, str]:
    """Python's and :data:`LIBRARIES`' versions (``not installed`` when missing)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for name in LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def data_quality(ws: Workspace) -> dict[str, Any]:
    """What the workspace's data went through: simulated or ingested; for ingested data the
    files loaded and their rows read, loaded, quarantined (kept aside, not lost) and skipped
    as duplicates; the rows each table holds and those still in quarantine."""
    with ws.connection() as con:
        counts = ws.counts()
        present = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables").fetchall()}
        ingested = None
        if "ingest_log" in present:
            row = con.execute(
                "SELECT count(*), coalesce(sum(rows_read), 0), coalesce(sum(rows_loaded), 0), "
                "coalesce(sum(rows_quarantined), 0), coalesce(sum(duplicates_skipped), 0), "
                "max(loaded_at) FROM ingest_log").fetchone()
            if row and row[0]:
                ingested = {"files": int(row[0]), "rows_read": int(row[1]),
                            "rows_loaded": int(row[2]), "rows_quarantined": int(row[3]),
                            "duplicates_skipped": int(row[4]),
                            "last_loaded_at": None if row[5] is None else str(row[5])}
        simulated = "sim_partners" in present and ingested is None
    return {"source": "simulated" if simulated else "ingested" if ingested else "unknown",
            "ingested": ingested, "quarantined": int(counts.pop("quarantine", 0)),
            "tables": counts}


def provenance(ws: Workspace) -> dict[str, Any]:
    """The data fingerprint, the git revision of the workspace, and :func:`data_quality`."""
    from supportlab.data.workspace import data_fingerprint

    return {"data_fingerprint": data_fingerprint(ws), "git": git_revision(ws.config.root),
            "data_quality": data_quality(ws)}
