"""supportlab: randomized experiments for partner enablement.

Import as ``import supportlab as sl``. The pieces:

* :mod:`supportlab.schemas` — the data model (pandera models) and validation reports;
* :mod:`supportlab.workspace`, :mod:`supportlab.ingest` — the DuckDB workspace and loading exports;
* :mod:`supportlab.simulate` — a seeded, believable PRM world with ground truth;
* :mod:`supportlab.engine`, :mod:`supportlab.metrics` — per-partner metrics on DuckDB, Parquet or Spark;
* :mod:`supportlab.segments`, :mod:`supportlab.rules`, :mod:`supportlab.targeting`,
  :mod:`supportlab.score` — segments, the safe rule language, target lists, the support score;
* :mod:`supportlab.experiment` — support packages and experiments from YAML.
"""

from supportlab.config import WorkspaceConfig, init_workspace, load_config
from supportlab.engine import Engine, connect
from supportlab.errors import (
    ConfigError,
    DataValidationError,
    InputFileError,
    SupportlabError,
    WorkspaceError,
)
from supportlab.experiment import Experiment, Package, load_experiment, load_package
from supportlab.ingest import ColumnMapping, IngestSummary, ingest, load_mapping
from supportlab.metrics import (
    Metric,
    Window,
    builtin_metrics,
    compute_metrics,
    experiment_windows,
    load_metrics,
    window_asof,
)
from supportlab.rules import Rule, RuleError, infer_feature_kinds, parse_rule
from supportlab.schemas import TABLES, ValidationReport, validate_frame
from supportlab.score import ScoreConfig, support_score
from supportlab.segments import in_segment, partner_attributes
from supportlab.targeting import TargetList, partner_features, select_targets
from supportlab.workspace import Workspace

__version__ = "0.1.0"

__all__ = [
    "TABLES", "ColumnMapping", "ConfigError", "DataValidationError", "Engine", "Experiment",
    "IngestSummary", "InputFileError", "Metric", "Package", "Rule", "RuleError", "ScoreConfig",
    "SupportlabError", "TargetList", "ValidationReport", "Window", "Workspace", "WorkspaceConfig",
    "WorkspaceError", "__version__", "builtin_metrics", "compute_metrics", "connect",
    "experiment_windows", "in_segment", "infer_feature_kinds", "ingest", "init_workspace",
    "load_config", "load_experiment", "load_mapping", "load_metrics", "load_package",
    "parse_rule", "partner_attributes", "partner_features", "select_targets", "support_score",
    "validate_frame", "window_asof",
]
