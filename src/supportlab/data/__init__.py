"""The data store: table schemas, the workspace database, query engines and ingest.

What lives here: the DESIGN §4 tables as pandera models (:mod:`.schemas`), the DuckDB workspace
(:mod:`.workspace`), engines for DuckDB, Parquet and Spark (:mod:`.engine`), and loading exports
with quarantine (:mod:`.ingestion`). Start with :class:`supportlab.Workspace`.

May import: :mod:`supportlab.config` and the base modules (``errors``, ``vocab``, ``results``).
"""
