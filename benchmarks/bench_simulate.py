"""Benchmark: simulating a PRM world of ~10 million events (generation alone, and into DuckDB).

    .venv/bin/python benchmarks/bench_simulate.py [--events 10000000] [--partners 20000]
    .venv/bin/python benchmarks/bench_simulate.py --tiny        # seconds: what the test suite runs

Goal (issue 2): 10 million events in under 60 s on a 2-core machine, memory bounded by chunks.
Each measurement runs in its own subprocess so its peak memory (max RSS) is its own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

CODE = """
import json, resource, sys, time
from supportlab.sim.simulate import SimulationConfig, simulate_world
n_events, n_partners, mode, root = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
cfg = SimulationConfig(n_partners=n_partners, events_per_partner_per_day=n_events / n_partners / 365)
t = time.perf_counter()
if mode == "generate":
    counts = {}
    for name, tbl in simulate_world(cfg):
        counts[name] = counts.get(name, 0) + tbl.num_rows
else:
    import supportlab as sl
    from supportlab.data.workspace import write_simulation
    sl.init_workspace(root)
    with sl.Workspace.open(root) as ws:
        counts = write_simulation(ws, simulate_world(cfg))
print(json.dumps({"seconds": time.perf_counter() - t, "events": counts["events"],
                  "deals": counts["deals"],
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--partners", type=int, default=20_000)
    ap.add_argument("--tiny", action="store_true",
                    help="20,000 events of 100 partners: checks that the benchmark works, in seconds")
    args = ap.parse_args()
    if args.tiny:
        args.events, args.partners = 20_000, 100
    print(f"{'':34s}{'seconds':>9s}{'events':>13s}{'peak MB':>9s}")
    for mode in ("generate", "into DuckDB"):
        with tempfile.TemporaryDirectory() as d:
            out = subprocess.run([sys.executable, "-c", CODE, str(args.events), str(args.partners),
                                  "generate" if mode == "generate" else "write", d],
                                 check=True, capture_output=True, text=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{'simulate (' + mode + ')':34s}{r['seconds']:9.1f}{r['events']:13,d}"
              f"{r['peak_mb']:9.0f}")
    print("goal: 10 million events in under 60 s")


if __name__ == "__main__":
    main()
