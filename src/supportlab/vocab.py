"""The product's vocabulary: the fixed words of the data model and configuration files.

Plain tuples of strings, importable without pandas or pandera, so that configuration models
(:mod:`supportlab.config`) and schemas (:mod:`supportlab.data.schemas`) share one list each.

Example:
    >>> "video_complete" in DONE_WHEN and "test_pass" in DONE_WHEN
    True
"""

from __future__ import annotations

#: partner ranks, best first
RANKS: tuple[str, ...] = ("S", "A", "B", "C")
CONTENT_TYPES: tuple[str, ...] = ("video", "template", "training", "test", "campaign", "material")
EVENT_TYPES: tuple[str, ...] = (
    "login", "view", "video_progress", "video_complete", "download", "training_complete",
    "test_submit", "material_use", "campaign_view",
)
#: event types whose ``value`` is a percentage or score within 0–100
PERCENT_EVENT_TYPES: tuple[str, ...] = ("video_progress", "test_submit")
DEAL_STAGES: tuple[str, ...] = ("registered", "qualified", "proposal", "negotiation", "won", "lost")
#: a PRM task's status; tasks are the one table whose rows change, and every change is kept
TASK_STATUSES: tuple[str, ...] = ("pending", "sent", "done", "overdue", "skipped", "cancelled")
#: what an experiment's evaluation can decide about a package version
DECISIONS: tuple[str, ...] = ("promote", "revise", "continue", "stop")
#: what the decision log records: a decision, or a package version taken out of use
LOGGED_DECISIONS: tuple[str, ...] = (*DECISIONS, "retire")
#: a package version's status in the registry, derived from the decision log
PACKAGE_STATUSES: tuple[str, ...] = ("draft", "piloting", "promoted", "revise", "stopped",
                                     "retired")
#: how an experiment randomizes: complete randomization within strata (``stratified``, also
#: without strata), matched pairs or small blocks on a pre-period covariate (``blocked``), or
#: rerandomization until covariate balance is acceptable (``rerandomized``, Morgan & Rubin 2012)
DESIGN_METHODS: tuple[str, ...] = ("stratified", "blocked", "rerandomized")
#: what to do with a stratum too small to split across the arms
SMALL_STRATA_POLICIES: tuple[str, ...] = ("pool", "exclude", "error")
#: which running experiments exclude a partner from a new one
CONTAMINATION_POLICIES: tuple[str, ...] = ("same_package", "any_package")
#: where a task's due date goes when it falls on a Saturday or Sunday
WEEKEND_RULES: tuple[str, ...] = ("previous_friday", "next_monday", "keep")
#: the arms of a two-arm experiment
CONTROL_ARM = "control"
TREATMENT_ARM = "treatment"
#: what "done" can mean for a package item: an event type, or ``test_pass`` (a test submission
#: scoring at least :data:`PASS_SCORE`)
DONE_WHEN: tuple[str, ...] = (*EVENT_TYPES, "test_pass")
PASS_SCORE = 70.0
#: languages of reports and messages
LANGUAGES: tuple[str, ...] = ("ja", "en")
