"""The ``supportlab`` command line: one module per stage of the loop.

What lives here: :mod:`.app` (the click group :data:`cli`, a :class:`SupportlabGroup`; the
command table :data:`.app.COMMANDS`; error handling; :func:`main`, the console script),
:mod:`.common` (opening the workspace, dates, ``--out`` files, tables, progress bars) and the
commands by stage: :mod:`.data` (``init``, ``ingest``, ``quarantine``, ``validate``,
``export``), :mod:`.sim` (``simulate``, ``simulate-delivery``), :mod:`.demo` (``demo``: the
whole loop), :mod:`.features` (``metrics``, ``targets``, ``score``), :mod:`.plan`, :mod:`.assign`,
:mod:`.tasks`, :mod:`.evaluate`, :mod:`.registry`, :mod:`.report` (``report``, ``run``),
:mod:`.analyze` and :mod:`.schema`. Start with :mod:`.app`; a new command goes into
its stage's module and gets a line in ``COMMANDS``.

May import: everything below it (config, data, sim, features, stats and later design and
report), always inside the commands, so that ``supportlab --help`` loads neither pandas nor the
engine. Failures are :class:`~supportlab.errors.SupportlabError` s, shown as one paragraph.
"""

from supportlab.cli.app import SupportlabGroup, cli, main

__all__ = ["SupportlabGroup", "cli", "main"]
