"""supportlab: randomized experiments for partner enablement.

Import as ``import supportlab as sl``. The data model lives in :mod:`supportlab.schemas`, the
workspace database in :mod:`supportlab.workspace`, loading exports in :mod:`supportlab.ingest` and
the simulated PRM world in :mod:`supportlab.simulate`.
"""

from supportlab.config import WorkspaceConfig, init_workspace, load_config
from supportlab.errors import (
    ConfigError,
    DataValidationError,
    InputFileError,
    SupportlabError,
    WorkspaceError,
)
from supportlab.ingest import ColumnMapping, IngestSummary, ingest, load_mapping
from supportlab.schemas import TABLES, ValidationReport, validate_frame
from supportlab.workspace import Workspace

__version__ = "0.1.0"

__all__ = [
    "TABLES", "ColumnMapping", "ConfigError", "DataValidationError", "IngestSummary",
    "InputFileError", "SupportlabError", "ValidationReport", "Workspace", "WorkspaceConfig",
    "WorkspaceError", "__version__", "ingest", "init_workspace", "load_config", "load_mapping",
    "validate_frame",
]
