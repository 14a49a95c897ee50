"""Reports: parameterized notebooks, the papermill runner, the pages leadership reads.

Nothing here re-computes statistics: the pages render the typed results of
:func:`supportlab.design.evaluate.evaluate`, the registry and the support score.

* ``experiment.py``: :func:`~supportlab.report.experiment.experiment_report`, one experiment's
  report (first screen, trust gate, evidence rating (``evidence.py``), CONSORT flow
  (``flow.py``), effects, segments, guardrails, looks, heavy tails (``tails.py``), appendix).
  Start here.
* ``portfolio.py``: every package and experiment for leadership, with reproduction credits;
  ``views.py``: roll-out targeting and the support score for sales and marketing.
* ``page.py`` (the self-contained page: nbconvert with the project's template, CSS, escaping),
  ``text.py`` (numbers and dates in ja/en), ``charts.py`` (matplotlib SVG charts).
* ``runner.py``: ``supportlab report`` / ``supportlab run``: papermill execution, locks, atomic
  publication, manifests, the run log; ``notebooks.py``: the notebooks and their parameters.

May import: :mod:`supportlab.design`, :mod:`supportlab.features`, :mod:`supportlab.sim`,
:mod:`supportlab.stats`, :mod:`supportlab.data`, :mod:`supportlab.config` and the base modules.
"""
