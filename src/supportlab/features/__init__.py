"""Per-partner features: metrics, segments, the rule language, target lists and the support score.

What lives here: declarative metrics compiled for the engine (:mod:`.metrics`), segments
(:mod:`.segments`), the safe rule language (:mod:`.rules`), target lists (:mod:`.targeting`) and
the support score (:mod:`.score`). Start with :func:`supportlab.select_targets`.

May import: :mod:`supportlab.data`, :mod:`supportlab.config` and the base modules.
"""
