"""supportlab: randomized experiments for partner enablement.

Import as ``import supportlab as sl``. The pieces:

* :mod:`supportlab.schemas` — the data model (pandera models) and validation reports;
* :mod:`supportlab.workspace`, :mod:`supportlab.ingestion` — the DuckDB workspace and loading exports;
* :mod:`supportlab.simulate` — a seeded, believable PRM world with ground truth;
* :mod:`supportlab.engine`, :mod:`supportlab.metrics` — per-partner metrics on DuckDB, Parquet or Spark;
* :mod:`supportlab.segments`, :mod:`supportlab.rules`, :mod:`supportlab.targeting`,
  :mod:`supportlab.score` — segments, the safe rule language, target lists, the support score;
* :mod:`supportlab.experiment` — support packages and experiments from YAML;
* :mod:`supportlab.estimation`, :mod:`supportlab.checks`, :mod:`supportlab.power`,
  :mod:`supportlab.sequential`, :mod:`supportlab.decision` — honest uplift estimates, design
  checks, power and minimum detectable effects, always-valid looks, and the promote/revise call.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Names are imported on first use, so that `supportlab --help` and small scripts start fast;
# `from supportlab import analyze` and `sl.analyze` work as usual.
_EXPORTS: dict[str, str] = {
    "BalanceCheck": "supportlab.checks",
    "ColumnMapping": "supportlab.ingestion",
    "ComplierEstimate": "supportlab.estimation",
    "ConfigError": "supportlab.errors",
    "DataValidationError": "supportlab.errors",
    "Decision": "supportlab.decision",
    "Engine": "supportlab.engine",
    "Estimate": "supportlab.estimation",
    "Experiment": "supportlab.experiment",
    "GuardrailCheck": "supportlab.checks",
    "IngestSummary": "supportlab.ingestion",
    "InputFileError": "supportlab.errors",
    "METHODS": "supportlab.estimation",
    "Metric": "supportlab.metrics",
    "Package": "supportlab.experiment",
    "Rule": "supportlab.rules",
    "RuleError": "supportlab.rules",
    "SRMCheck": "supportlab.checks",
    "ScoreConfig": "supportlab.score",
    "SegmentEffects": "supportlab.estimation",
    "SupportlabError": "supportlab.errors",
    "TABLES": "supportlab.schemas",
    "TargetList": "supportlab.targeting",
    "ValidationReport": "supportlab.schemas",
    "Window": "supportlab.metrics",
    "Workspace": "supportlab.workspace",
    "WorkspaceConfig": "supportlab.config",
    "WorkspaceError": "supportlab.errors",
    "analyze": "supportlab.estimation",
    "balance_check": "supportlab.checks",
    "builtin_metrics": "supportlab.metrics",
    "complier_effect": "supportlab.estimation",
    "compute_metrics": "supportlab.metrics",
    "confidence_sequence": "supportlab.sequential",
    "connect": "supportlab.engine",
    "decide": "supportlab.decision",
    "effect_by_consumption": "supportlab.decision",
    "experiment_windows": "supportlab.metrics",
    "guardrail_check": "supportlab.checks",
    "in_segment": "supportlab.segments",
    "infer_feature_kinds": "supportlab.rules",
    "ingest": "supportlab.ingestion",
    "init_workspace": "supportlab.config",
    "load_config": "supportlab.config",
    "load_experiment": "supportlab.experiment",
    "load_mapping": "supportlab.ingestion",
    "load_metrics": "supportlab.metrics",
    "load_package": "supportlab.experiment",
    "mde": "supportlab.power",
    "parse_rule": "supportlab.rules",
    "partner_attributes": "supportlab.segments",
    "partner_features": "supportlab.targeting",
    "power_at": "supportlab.power",
    "ratio_effect": "supportlab.estimation",
    "sample_size": "supportlab.power",
    "segment_effects": "supportlab.estimation",
    "select_targets": "supportlab.targeting",
    "sequential_looks": "supportlab.sequential",
    "srm_check": "supportlab.checks",
    "step_funnel": "supportlab.decision",
    "support_score": "supportlab.score",
    "uplift_ranking": "supportlab.estimation",
    "validate_frame": "supportlab.schemas",
    "window_asof": "supportlab.metrics",
}

__all__ = ["__version__", *sorted(_EXPORTS)]



def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'supportlab' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from supportlab.checks import (  # noqa: F401
        BalanceCheck,
        GuardrailCheck,
        SRMCheck,
        balance_check,
        guardrail_check,
        srm_check,
    )
    from supportlab.config import WorkspaceConfig, init_workspace, load_config  # noqa: F401
    from supportlab.decision import Decision, decide, effect_by_consumption, step_funnel  # noqa: F401
    from supportlab.engine import Engine, connect  # noqa: F401
    from supportlab.errors import (  # noqa: F401
        ConfigError,
        DataValidationError,
        InputFileError,
        SupportlabError,
        WorkspaceError,
    )
    from supportlab.estimation import (  # noqa: F401
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
    from supportlab.experiment import Experiment, Package, load_experiment, load_package  # noqa: F401
    from supportlab.ingestion import ColumnMapping, IngestSummary, ingest, load_mapping  # noqa: F401
    from supportlab.metrics import (  # noqa: F401
        Metric,
        Window,
        builtin_metrics,
        compute_metrics,
        experiment_windows,
        load_metrics,
        window_asof,
    )
    from supportlab.power import mde, power_at, sample_size  # noqa: F401
    from supportlab.rules import Rule, RuleError, infer_feature_kinds, parse_rule  # noqa: F401
    from supportlab.schemas import TABLES, ValidationReport, validate_frame  # noqa: F401
    from supportlab.score import ScoreConfig, support_score  # noqa: F401
    from supportlab.segments import in_segment, partner_attributes  # noqa: F401
    from supportlab.sequential import confidence_sequence, sequential_looks  # noqa: F401
    from supportlab.targeting import TargetList, partner_features, select_targets  # noqa: F401
    from supportlab.workspace import Workspace  # noqa: F401
