"""The data store: table schemas, the workspace database, query engines and ingest.

What lives here:

* :mod:`.schemas` — the DESIGN §4 tables as pandera models, their checks compiled to SQL;
* :mod:`.workspace` — the DuckDB workspace (short-lived connections, shared with notebooks);
* :mod:`.engine` — engines for DuckDB, Parquet and Spark that run the metric definitions;
* :mod:`.ingestion` — loading exports in one transaction, with quarantine; it uses
  :mod:`.encoding` (detection, transcoding), :mod:`.sources` (CSV, Parquet, Excel readers) and
  :mod:`.staging` (the SQL that types, maps and checks rows).

Start with :class:`supportlab.Workspace` and :func:`supportlab.ingest`.

May import: :mod:`supportlab.config` and the base modules (``errors``, ``vocab``, ``results``).
"""
