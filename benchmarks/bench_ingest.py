"""Benchmark: `supportlab ingest` of a large events CSV beside DuckDB's own read_csv (the floor).

Each measurement runs in a fresh subprocess so that peak memory (max RSS) is its own.

    .venv/bin/python benchmarks/bench_ingest.py [--rows 5000000]
    .venv/bin/python benchmarks/bench_ingest.py --tiny          # seconds: what the test suite runs

Goal (issue 2): wall time within 1.5x of the floor, peak memory under 2 GB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MAKE_CSV = """
import duckdb, sys
rows, path = int(sys.argv[1]), sys.argv[2]
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
con.execute(f'''COPY (
  SELECT 'E' || lpad(i::VARCHAR, 10, '0') AS event_id,
         'P' || lpad((hash(i) % 5000)::VARCHAR, 5, '0') AS partner_id,
         'P' || lpad((hash(i) % 5000)::VARCHAR, 5, '0') || '-u' || (i % 7) AS user_id,
         strftime(TIMESTAMP '2025-11-01' + to_seconds((i * 6) % 31000000), '%Y-%m-%d %H:%M:%S') AS ts,
         (['login', 'view', 'video_progress', 'download', 'material_use'])[1 + (i % 5)] AS event_type,
         CASE WHEN i % 5 = 0 THEN NULL ELSE 'video-a-intro' END AS content_id,
         CASE WHEN i % 5 = 2 THEN (i % 100)::DOUBLE END AS value
  FROM range({rows}) t(i)) TO '{path}' (HEADER)''')
"""

FLOOR = """
import duckdb, json, resource, sys, time
db, csv = sys.argv[1], sys.argv[2]
con = duckdb.connect(db)
con.execute("SET TimeZone = 'Asia/Tokyo'")
con.execute("SET enable_progress_bar = false")
t = time.perf_counter()
con.execute(f"CREATE TABLE events AS SELECT * FROM read_csv('{csv}')")
con.close()
print(json.dumps({"seconds": time.perf_counter() - t,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

OURS = """
import json, resource, sys, time
import pandas as pd
import supportlab as sl
root, csv = sys.argv[1], sys.argv[2]
sl.init_workspace(root)
with sl.Workspace.open(root) as ws:
    ws.append("partners", pd.DataFrame({"partner_id": [f"P{i:05d}" for i in range(5000)],
                                        "name": "x", "rank": "A"}))
    ws.append("contents", pd.DataFrame({"content_id": ["video-a-intro"], "content_type": ["video"],
                                        "version": [1]}))
    t = time.perf_counter()
    s = sl.ingest(ws, "events", [csv])
    secs = time.perf_counter() - t
print(json.dumps({"seconds": secs, "loaded": s.rows_loaded,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tiny", action="store_true",
                    help="20,000 rows, one run: checks that the benchmark works, in seconds")
    args = ap.parse_args()
    if args.tiny:
        args.rows, args.repeat = 20_000, 1
    with tempfile.TemporaryDirectory() as d:
        csv = Path(d) / "events.csv"
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", MAKE_CSV, str(args.rows), str(csv)], check=True)
        size_mb = csv.stat().st_size / 1e6
        print(f"events CSV: {args.rows:,} rows, {size_mb:,.0f} MB (made in "
              f"{time.perf_counter() - t:.1f} s)")
        floors, ours = [], []
        for i in range(args.repeat):
            floors.append(run(FLOOR, str(Path(d) / f"floor{i}.duckdb"), str(csv)))
            ours.append(run(OURS, str(Path(d) / f"ws{i}"), str(csv)))
            assert ours[-1]["loaded"] == args.rows, ours[-1]
        f = min(x["seconds"] for x in floors)
        o = min(x["seconds"] for x in ours)
        print(f"{'':28s}{'best s':>8s}{'peak MB':>10s}")
        print(f"{'DuckDB read_csv (floor)':28s}{f:8.2f}{max(x['peak_mb'] for x in floors):10.0f}")
        print(f"{'supportlab ingest':28s}{o:8.2f}{max(x['peak_mb'] for x in ours):10.0f}")
        print(f"ratio ingest/floor: {o / f:.2f}x (goal <= 1.5x); "
              f"throughput {args.rows / o / 1e6:.2f} M rows/s")


if __name__ == "__main__":
    main()
