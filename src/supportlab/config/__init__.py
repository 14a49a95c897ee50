"""Configuration a user edits: ``supportlab.toml``, packages, experiments and the other YAML files.

What lives here: the workspace configuration (:mod:`.workspace`) and support packages and
experiments (:mod:`.experiment`). Start with :func:`supportlab.load_experiment`.

May import: :mod:`supportlab.errors`, :mod:`supportlab.vocab` and the standard library, pydantic
and yaml; never pandas, pandera or any other supportlab subpackage, so that reading a
configuration file stays fast and free of data concerns.
"""
