"""Experiment design and delivery: plans, randomization, the assignment ledger and PRM tasks.

This layer sits between eligible partners (:mod:`supportlab.features`) and estimates
(:mod:`supportlab.stats`).

* ``spec.py``: the stored design (:class:`~supportlab.design.spec.DesignSpec`) every later
  analysis reads;
* ``randomize.py``: the draws (stratified, blocked, rerandomized), pure and re-derivable bit for
  bit; ``redraw`` for randomization inference;
* ``ledger.py``: ``assign`` (eligibility, exclusions, the immutable ledger in one
  transaction), ``verify``, ``read_ledger``, ``running_experiments``. Start here.
* ``evaluate.py``: the evaluation of an experiment from its ledger and the logs;
  ``inputs.py``: what it reads from the logs, read once for a run's many experiments.

May import: :mod:`supportlab.features`, :mod:`supportlab.stats`, :mod:`supportlab.data`,
:mod:`supportlab.config` and the base modules.
"""
