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
TASK_STATUSES: tuple[str, ...] = ("pending", "sent", "done", "skipped", "cancelled")
#: what an experiment's evaluation can decide about a package version
DECISIONS: tuple[str, ...] = ("promote", "revise", "continue", "stop")
#: what "done" can mean for a package item: an event type, or ``test_pass`` (a test submission
#: scoring at least :data:`PASS_SCORE`)
DONE_WHEN: tuple[str, ...] = (*EVENT_TYPES, "test_pass")
PASS_SCORE = 70.0
#: languages of reports and messages
LANGUAGES: tuple[str, ...] = ("ja", "en")
