"""Experiment design and delivery: plans, randomization, the assignment ledger and PRM tasks.

This layer sits between eligible partners (:mod:`supportlab.features`) and estimates
(:mod:`supportlab.stats`).

May import: :mod:`supportlab.features`, :mod:`supportlab.stats`, :mod:`supportlab.data`,
:mod:`supportlab.config` and the base modules.
"""
