"""Configuration a user edits: ``supportlab.toml``, packages, experiments and the other YAML files.

What lives here: the model of every file kind (:mod:`.models`), the one loader that reads and
validates them, reporting every problem of a file at once as ``file: key.path`` with what is
allowed and a did-you-mean (:mod:`.loader`, :mod:`.problems`), the objects the library uses —
packages and experiments (:mod:`.experiment`), the workspace configuration (:mod:`.workspace`)
— and the checks across files where the workspace is known (:mod:`.checks`). Start with
:func:`supportlab.load_experiment`; ``supportlab schema KIND`` prints a kind's JSON Schema.

May import: :mod:`supportlab.errors`, :mod:`supportlab.vocab` and the standard library, pydantic
and yaml; never pandas, pandera or any other supportlab subpackage, so that reading a
configuration file stays fast and free of data concerns.
"""
