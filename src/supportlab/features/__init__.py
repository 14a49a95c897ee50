"""Per-partner features: metrics, segments, the rule language, target lists and the support score.

What lives here: declarative metrics compiled for the engine (:mod:`.metrics`), partner attributes
and segments (:mod:`.segments`), the one condition language (:mod:`.rules`, a package: lexer,
parser, tree, kinds, compile, explain, sugar), target lists (:mod:`.targeting`) and the support
score (:mod:`.score`). Everything compiles to ibis expressions, so a target list is one engine
query. Start with :func:`supportlab.select_targets`.

May import: :mod:`supportlab.data`, :mod:`supportlab.config` and the base modules.
"""
