"""supportlab: randomized experiments for partner enablement.

Import as ``import supportlab as sl``. The pieces:

* :mod:`supportlab.schemas` — the data model (pandera models) and validation reports;
* :mod:`supportlab.workspace`, :mod:`supportlab.ingest` — the DuckDB workspace and loading exports;
* :mod:`supportlab.simulate` — a seeded, believable PRM world with ground truth;
* :mod:`supportlab.engine`, :mod:`supportlab.metrics` — per-partner metrics on DuckDB, Parquet or Spark;
* :mod:`supportlab.segments`, :mod:`supportlab.rules`, :mod:`supportlab.targeting`,
  :mod:`supportlab.score` — segments, the safe rule language, target lists, the support score;
* :mod:`supportlab.experiment` — support packages and experiments from YAML;
* :mod:`supportlab.estimation`, :mod:`supportlab.checks`, :mod:`supportlab.power`,
  :mod:`supportlab.sequential`, :mod:`supportlab.decision` — honest uplift estimates, design
  checks, power and minimum detectable effects, always-valid looks, and the promote/revise call.
"""

from supportlab.checks import (
    BalanceCheck,
    GuardrailCheck,
    SRMCheck,
    balance_check,
    guardrail_check,
    srm_check,
)
from supportlab.config import WorkspaceConfig, init_workspace, load_config
from supportlab.decision import Decision, decide, effect_by_consumption, step_funnel
from supportlab.engine import Engine, connect
from supportlab.errors import (
    ConfigError,
    DataValidationError,
    InputFileError,
    SupportlabError,
    WorkspaceError,
)
from supportlab.estimation import (
    METHODS,
    ComplierEstimate,
    Estimate,
    SegmentEffects,
    analyze,
    complier_effect,
    ratio_effect,
    segment_effects,
    uplift_ranking,
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
from supportlab.power import mde, power_at, sample_size
from supportlab.rules import Rule, RuleError, infer_feature_kinds, parse_rule
from supportlab.schemas import TABLES, ValidationReport, validate_frame
from supportlab.score import ScoreConfig, support_score
from supportlab.segments import in_segment, partner_attributes
from supportlab.sequential import confidence_sequence, sequential_looks
from supportlab.targeting import TargetList, partner_features, select_targets
from supportlab.workspace import Workspace

__version__ = "0.1.0"

__all__ = [
    "METHODS",
    "TABLES",
    "BalanceCheck",
    "ColumnMapping",
    "ComplierEstimate",
    "ConfigError",
    "DataValidationError",
    "Decision",
    "Engine",
    "Estimate",
    "Experiment",
    "GuardrailCheck",
    "IngestSummary",
    "InputFileError",
    "Metric",
    "Package",
    "Rule",
    "RuleError",
    "SRMCheck",
    "ScoreConfig",
    "SegmentEffects",
    "SupportlabError",
    "TargetList",
    "ValidationReport",
    "Window",
    "Workspace",
    "WorkspaceConfig",
    "WorkspaceError",
    "__version__",
    "analyze",
    "balance_check",
    "builtin_metrics",
    "complier_effect",
    "compute_metrics",
    "confidence_sequence",
    "connect",
    "decide",
    "effect_by_consumption",
    "experiment_windows",
    "guardrail_check",
    "in_segment",
    "infer_feature_kinds",
    "ingest",
    "init_workspace",
    "load_config",
    "load_experiment",
    "load_mapping",
    "load_metrics",
    "load_package",
    "mde",
    "parse_rule",
    "partner_attributes",
    "partner_features",
    "power_at",
    "ratio_effect",
    "sample_size",
    "segment_effects",
    "select_targets",
    "sequential_looks",
    "srm_check",
    "step_funnel",
    "support_score",
    "uplift_ranking",
    "validate_frame",
    "window_asof",
]
