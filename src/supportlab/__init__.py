"""supportlab: randomized experiments for partner enablement.

Import as ``import supportlab as sl``; every public name is here. The package is laid out by the
stages of the loop (``docs/architecture.md``):

* :mod:`supportlab.config` — files a user edits: ``supportlab.toml``, packages, experiments;
* :mod:`supportlab.data` — schemas, the DuckDB workspace, engines (DuckDB, Parquet, Spark), ingest;
* :mod:`supportlab.sim` — a seeded, believable PRM world with ground truth;
* :mod:`supportlab.features` — metrics, segments, the rule language, target lists, support score;
* :mod:`supportlab.design` — plans, randomization and delivery;
* :mod:`supportlab.stats` — estimators, checks, power, sequential looks, the decision;
* :mod:`supportlab.report` — notebooks and reports;
* :mod:`supportlab.cli` — the ``supportlab`` command;
* base modules: :mod:`supportlab.errors`, :mod:`supportlab.vocab`, :mod:`supportlab.results`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Names are imported on first use, so that `supportlab --help` and small scripts start fast;
# `from supportlab import analyze` and `sl.analyze` work as usual.
_EXPORTS: dict[str, str] = {
    "Assignment": "supportlab.design.ledger",
    "BalanceCheck": "supportlab.stats.checks",
    "ColumnMapping": "supportlab.data.ingestion",
    "ComplierEstimate": "supportlab.stats.complier",
    "ConfigError": "supportlab.errors",
    "ConfigFileError": "supportlab.config.problems",
    "ConsortFlow": "supportlab.report.flow",
    "Credits": "supportlab.design.registry",
    "DataValidationError": "supportlab.errors",
    "Decision": "supportlab.stats.decision",
    "DecisionRecord": "supportlab.design.registry",
    "DeliveryResult": "supportlab.design.simulated",
    "DesignChoice": "supportlab.stats.designs",
    "DesignInfo": "supportlab.stats.designs",
    "DesignSpec": "supportlab.design.spec",
    "Engine": "supportlab.data.engine",
    "Estimate": "supportlab.stats.estimation",
    "Evaluation": "supportlab.design.evaluate",
    "EvidenceRating": "supportlab.report.evidence",
    "Experiment": "supportlab.config.experiment",
    "ExperimentReport": "supportlab.report.experiment",
    "GuardrailCheck": "supportlab.stats.checks",
    "IngestSummary": "supportlab.data.ingestion",
    "InputFileError": "supportlab.errors",
    "METHODS": "supportlab.stats.estimation",
    "Metric": "supportlab.features.metrics",
    "Package": "supportlab.config.experiment",
    "Plan": "supportlab.design.plan",
    "PortfolioReport": "supportlab.report.portfolio",
    "RandomizationTest": "supportlab.stats.designs",
    "Registry": "supportlab.design.registry",
    "Rule": "supportlab.features.rules",
    "RuleError": "supportlab.features.rules",
    "RunResult": "supportlab.report.runner",
    "SRMCheck": "supportlab.stats.checks",
    "ScoreConfig": "supportlab.features.score",
    "SegmentEffects": "supportlab.stats.segments",
    "StatusUpdate": "supportlab.design.tasks",
    "SupportScoreView": "supportlab.report.views",
    "SupportlabError": "supportlab.errors",
    "TABLES": "supportlab.data.schemas",
    "TargetList": "supportlab.features.targeting",
    "TargetingView": "supportlab.report.views",
    "TaskList": "supportlab.design.tasks",
    "ValidationReport": "supportlab.data.schemas",
    "Window": "supportlab.features.metrics",
    "Workspace": "supportlab.data.workspace",
    "WorkspaceConfig": "supportlab.config.workspace",
    "WorkspaceError": "supportlab.errors",
    "analyze": "supportlab.stats.estimation",
    "analyze_design": "supportlab.stats.designs",
    "assign": "supportlab.design.ledger",
    "balance_check": "supportlab.stats.checks",
    "builtin_metrics": "supportlab.features.metrics",
    "check_experiment": "supportlab.config.checks",
    "complier_effect": "supportlab.stats.complier",
    "compute_metrics": "supportlab.features.metrics",
    "confidence_sequence": "supportlab.stats.sequential",
    "connect": "supportlab.data.engine",
    "credits": "supportlab.design.registry",
    "decide": "supportlab.stats.decision",
    "design_spec": "supportlab.design.spec",
    "effect_by_consumption": "supportlab.stats.decision",
    "evaluate": "supportlab.design.evaluate",
    "experiment_report": "supportlab.report.experiment",
    "experiment_windows": "supportlab.features.metrics",
    "follow_design": "supportlab.stats.designs",
    "guardrail_check": "supportlab.stats.checks",
    "in_segment": "supportlab.features.segments",
    "infer_feature_kinds": "supportlab.features.rules",
    "ingest": "supportlab.data.ingestion",
    "init_workspace": "supportlab.config.workspace",
    "load_config": "supportlab.config.workspace",
    "load_experiment": "supportlab.config.experiment",
    "load_file": "supportlab.config.loader",
    "load_mapping": "supportlab.data.ingestion",
    "load_metrics": "supportlab.features.metrics",
    "load_package": "supportlab.config.experiment",
    "make_tasks": "supportlab.design.tasks",
    "mde": "supportlab.stats.power",
    "packages": "supportlab.design.registry",
    "parse_rule": "supportlab.features.rules",
    "partner_attributes": "supportlab.features.segments",
    "partner_features": "supportlab.features.targeting",
    "plan": "supportlab.design.plan",
    "portfolio_report": "supportlab.report.portfolio",
    "power_at": "supportlab.stats.power",
    "randomization_test": "supportlab.stats.designs",
    "randomize": "supportlab.design.randomize",
    "ratio_effect": "supportlab.stats.estimation",
    "read_ledger": "supportlab.design.ledger",
    "record_decision": "supportlab.design.registry",
    "rollout_holdout": "supportlab.design.plan",
    "run_all": "supportlab.report.runner",
    "sample_size": "supportlab.stats.power",
    "segment_effects": "supportlab.stats.segments",
    "select_targets": "supportlab.features.targeting",
    "sequential_looks": "supportlab.stats.sequential",
    "simulate_experiment_delivery": "supportlab.design.simulated",
    "srm_check": "supportlab.stats.checks",
    "step_funnel": "supportlab.stats.decision",
    "support_score": "supportlab.features.score",
    "support_score_view": "supportlab.report.views",
    "targeting_view": "supportlab.report.views",
    "update_task_status": "supportlab.design.tasks",
    "uplift_ranking": "supportlab.stats.segments",
    "validate_frame": "supportlab.data.schemas",
    "window_asof": "supportlab.features.metrics",
    "write_tasks": "supportlab.design.tasks",
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
    from supportlab.config.checks import check_experiment  # noqa: F401
    from supportlab.config.experiment import Experiment, Package, load_experiment, load_package  # noqa: F401
    from supportlab.config.loader import load_file  # noqa: F401
    from supportlab.config.problems import ConfigFileError  # noqa: F401
    from supportlab.config.workspace import WorkspaceConfig, init_workspace, load_config  # noqa: F401
    from supportlab.data.engine import Engine, connect  # noqa: F401
    from supportlab.data.ingestion import ColumnMapping, IngestSummary, ingest, load_mapping  # noqa: F401
    from supportlab.data.schemas import TABLES, ValidationReport, validate_frame  # noqa: F401
    from supportlab.data.workspace import Workspace  # noqa: F401
    from supportlab.design.evaluate import Evaluation, evaluate  # noqa: F401
    from supportlab.design.ledger import Assignment, assign, read_ledger  # noqa: F401
    from supportlab.design.plan import Plan, plan, rollout_holdout  # noqa: F401
    from supportlab.design.randomize import randomize  # noqa: F401
    from supportlab.design.registry import (  # noqa: F401
        Credits,
        DecisionRecord,
        Registry,
        credits,
        packages,
        record_decision,
    )
    from supportlab.design.simulated import DeliveryResult, simulate_experiment_delivery  # noqa: F401
    from supportlab.design.spec import DesignSpec, design_spec  # noqa: F401
    from supportlab.design.tasks import (  # noqa: F401
        StatusUpdate,
        TaskList,
        make_tasks,
        update_task_status,
        write_tasks,
    )
    from supportlab.errors import (  # noqa: F401
        ConfigError,
        DataValidationError,
        InputFileError,
        SupportlabError,
        WorkspaceError,
    )
    from supportlab.features.metrics import (  # noqa: F401
        Metric,
        Window,
        builtin_metrics,
        compute_metrics,
        experiment_windows,
        load_metrics,
        window_asof,
    )
    from supportlab.features.rules import Rule, RuleError, infer_feature_kinds, parse_rule  # noqa: F401
    from supportlab.features.score import ScoreConfig, support_score  # noqa: F401
    from supportlab.features.segments import in_segment, partner_attributes  # noqa: F401
    from supportlab.features.targeting import TargetList, partner_features, select_targets  # noqa: F401
    from supportlab.report.evidence import EvidenceRating  # noqa: F401
    from supportlab.report.experiment import ExperimentReport, experiment_report  # noqa: F401
    from supportlab.report.flow import ConsortFlow  # noqa: F401
    from supportlab.report.portfolio import PortfolioReport, portfolio_report  # noqa: F401
    from supportlab.report.runner import RunResult, run_all  # noqa: F401
    from supportlab.report.views import (  # noqa: F401
        SupportScoreView,
        TargetingView,
        support_score_view,
        targeting_view,
    )
    from supportlab.stats.checks import (  # noqa: F401
        BalanceCheck,
        GuardrailCheck,
        SRMCheck,
        balance_check,
        guardrail_check,
        srm_check,
    )
    from supportlab.stats.complier import ComplierEstimate, complier_effect  # noqa: F401
    from supportlab.stats.decision import Decision, decide, effect_by_consumption, step_funnel  # noqa: F401
    from supportlab.stats.designs import (  # noqa: F401
        DesignChoice,
        DesignInfo,
        RandomizationTest,
        analyze_design,
        follow_design,
        randomization_test,
    )
    from supportlab.stats.estimation import METHODS, Estimate, analyze, ratio_effect  # noqa: F401
    from supportlab.stats.power import mde, power_at, sample_size  # noqa: F401
    from supportlab.stats.segments import SegmentEffects, segment_effects, uplift_ranking  # noqa: F401
    from supportlab.stats.sequential import confidence_sequence, sequential_looks  # noqa: F401
