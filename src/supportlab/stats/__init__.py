"""Statistics: estimators, design checks, power, sequential looks and the decision.

What lives here: intention-to-treat estimators (:mod:`.estimation`), SRM/balance/guardrail checks
(:mod:`.checks`), power and minimum detectable effects (:mod:`.power`), always-valid looks
(:mod:`.sequential`), the promote/revise call (:mod:`.decision`) and inference that follows a
stored randomization design (:mod:`.designs`: stratified, blocked, rerandomized). Start with
:func:`supportlab.analyze`; for an experiment's stored design, :func:`.designs.analyze_design`.

Pandas in, results out: may import only the base modules (``errors``, ``vocab``, ``results``),
never workspaces, engines, features, design or reports.
"""
