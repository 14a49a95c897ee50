"""Benchmark: per-partner feature computation for one experiment (pre and post windows).

Compares, on the same simulated logs and in the same run:

* supportlab's ``compute_metrics`` (ibis, compiled for the engine),
* a hand-written DuckDB SQL query computing the same values (the practical floor),
* a straightforward pandas implementation, including reading the Parquet files,
* supportlab on Spark in local mode (optional, ``--spark``).

Storage: the workspace DuckDB file, and the same tables exported as Parquet.

    .venv/bin/python benchmarks/bench_metrics.py --events 10000000 [--spark]
    .venv/bin/python benchmarks/bench_metrics.py --tiny        # seconds: what the test suite runs

Every measurement runs in a fresh subprocess (its own peak memory); the three implementations'
results are checked to be equal before any figure is printed. The hand-written references follow
the documented semantics of :mod:`supportlab.features.metrics`: a partner who never logged in has
``days_since_last_login`` = whole days since joining, and no value (NaN) before joining.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

METRICS = ["logins", "days_since_last_login", "video_completed", "template_downloaded",
           "latest_test_score", "material_uses", "deals_registered", "pipeline_amount",
           "won_revenue", "win_rate", "package_completion"]
START = "2026-07-01"
MODES = ("sl-duckdb", "sql-duckdb", "sl-parquet", "sql-parquet", "pandas-parquet", "sl-spark")

SETUP = """
import sys
import supportlab as sl
from supportlab.sim.simulate import SimulationConfig, simulate_world
from supportlab.data.workspace import write_simulation
root, n_events, n_partners = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sl.init_workspace(root)
cfg = SimulationConfig(n_partners=n_partners, events_per_partner_per_day=n_events / n_partners / 365)
with sl.Workspace.open(root) as ws:
    write_simulation(ws, simulate_world(cfg))
    ws.export_parquet(root + "/parquet", ["partners", "contents", "events", "deals"])
"""

COMMON = """
import json, resource, sys, time
import pandas as pd
root, mode, out = sys.argv[1], sys.argv[2], sys.argv[3]
START = pd.Timestamp("%(start)s", tz="Asia/Tokyo")
PRE0, POST1 = START - pd.Timedelta(days=90), START + pd.Timedelta(days=90)
from supportlab.config.experiment import load_experiment
PKG = load_experiment("experiments/product-a-launch-2026q2.yaml").package
def done(t0, df):
    df = df.sort_index()
    df.to_parquet(out)
    print(json.dumps({"seconds": time.perf_counter() - t0,
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""" % {"start": START}

SUPPORTLAB = COMMON + """
import supportlab as sl
from supportlab.data.engine import connect, connect_parquet, connect_spark
from supportlab.features.metrics import Window, compute_metrics
METRICS = %(metrics)r
kind = mode.split("-")[1]
ws = sl.Workspace.open(root, read_only=True)
if kind == "spark":
    eng = connect_spark(root + "/parquet", "Asia/Tokyo")
    eng.execute(eng.table("partners").count())  # start the JVM before the clock
t0 = time.perf_counter()
eng = {"duckdb": lambda: connect(ws), "parquet": lambda: connect_parquet(root + "/parquet", "Asia/Tokyo"),
       "spark": lambda: eng}[kind]()
df = compute_metrics(eng, METRICS, [Window("pre", START, PRE0), Window("post", POST1, START)],
                     package=PKG)
done(t0, df)
""" % {"metrics": METRICS}

HAND_SQL = COMMON + """
import duckdb
src = mode.split("-")[1]
if src == "duckdb":
    con = duckdb.connect(root + "/data/supportlab.duckdb", read_only=True)
    T = {t: t for t in ("partners", "contents", "events", "deals")}
else:
    con = duckdb.connect()
    T = {t: f"read_parquet('{root}/parquet/{t}.parquet')" for t in ("partners", "contents", "events", "deals")}
con.execute("SET TimeZone = 'Asia/Tokyo'")
con.execute("SET enable_progress_bar = false")
con.execute("SET memory_limit = '1536MB'")  # the workspace's setting: same engine, same budget
t0 = time.perf_counter()
items = [(i.content, i.done_when) for i in PKG.items]
def lit(ts): return "TIMESTAMPTZ '" + ts.isoformat() + "'"
W = {"pre": (lit(PRE0), lit(START)), "post": (lit(START), lit(POST1))}
ev, dl = [], []
for w, (a, b) in W.items():
    inw = f"e.ts >= {a} AND e.ts < {b}"
    ev += [f"count(*) FILTER (WHERE {inw} AND e.event_type = 'login') AS logins_{w}",
           f"max(e.ts) FILTER (WHERE e.ts < {b} AND e.event_type = 'login') AS last_login_{w}",
           f"count(*) FILTER (WHERE {inw} AND e.event_type = 'video_complete') > 0 AS video_completed_{w}",
           f"count(*) FILTER (WHERE {inw} AND e.event_type = 'download' AND c.content_type = 'template') > 0 AS template_downloaded_{w}",
           f"arg_max(e.value, e.ts) FILTER (WHERE e.ts < {b} AND e.event_type = 'test_submit' AND e.value IS NOT NULL) AS latest_test_score_{w}",
           f"count(*) FILTER (WHERE {inw} AND e.event_type = 'material_use') AS material_uses_{w}"]
    parts = []
    for cid, dw in items:
        cond = "e.event_type = 'test_submit' AND e.value >= 70" if dw == "test_pass" else f"e.event_type = '{dw}'"
        parts.append(f"(count(*) FILTER (WHERE {inw} AND e.content_id = '{cid}' AND {cond}) > 0)::INT")
    ev.append("(" + " + ".join(parts) + f") / {len(items)}.0 AS package_completion_{w}")
    rin = f"d.registered_at >= {a} AND d.registered_at < {b}"
    cin = f"d.closed_at >= {a} AND d.closed_at < {b}"
    dl += [f"count(*) FILTER (WHERE {rin}) AS deals_registered_{w}",
           f"coalesce(sum(d.amount) FILTER (WHERE {rin}), 0) AS pipeline_amount_{w}",
           f"coalesce(sum(d.amount) FILTER (WHERE {cin} AND d.won), 0) AS won_revenue_{w}",
           f"count(*) FILTER (WHERE {cin} AND d.won) / nullif(count(*) FILTER (WHERE {cin} AND d.won IS NOT NULL), 0) AS win_rate_{w}"]
sql = f'''
WITH e AS (SELECT e.partner_id, {", ".join(ev)} FROM {T["events"]} e
           LEFT JOIN {T["contents"]} c ON e.content_id = c.content_id GROUP BY e.partner_id),
     d AS (SELECT d.partner_id, {", ".join(dl)} FROM {T["deals"]} d GROUP BY d.partner_id)
SELECT p.partner_id, p.joined_at, e.*, d.* EXCLUDE (partner_id) FROM {T["partners"]} p
LEFT JOIN e USING (partner_id) LEFT JOIN d USING (partner_id)'''
r = con.execute(sql).df().set_index("partner_id")
df = pd.DataFrame(index=r.index)
import numpy as np
joined = pd.to_datetime(r["joined_at"]).dt.tz_localize("Asia/Tokyo")
for w, end in (("pre", START), ("post", POST1)):
    df[f"logins_{w}"] = r[f"logins_{w}"].fillna(0).astype("int64")
    last = pd.to_datetime(r[f"last_login_{w}"]).dt.tz_convert("UTC")
    days = np.floor((end - last) / pd.Timedelta(days=1))
    since = np.floor((end - joined) / pd.Timedelta(days=1))
    df[f"days_since_last_login_{w}"] = days.fillna(since.where(since >= 0)).astype("float64")
    df[f"video_completed_{w}"] = r[f"video_completed_{w}"].fillna(False).astype(bool)
    df[f"template_downloaded_{w}"] = r[f"template_downloaded_{w}"].fillna(False).astype(bool)
    df[f"latest_test_score_{w}"] = r[f"latest_test_score_{w}"].astype("float64")
    df[f"material_uses_{w}"] = r[f"material_uses_{w}"].fillna(0).astype("int64")
    df[f"deals_registered_{w}"] = r[f"deals_registered_{w}"].fillna(0).astype("int64")
    df[f"pipeline_amount_{w}"] = r[f"pipeline_amount_{w}"].fillna(0).astype("float64")
    df[f"won_revenue_{w}"] = r[f"won_revenue_{w}"].fillna(0).astype("float64")
    df[f"win_rate_{w}"] = r[f"win_rate_{w}"].astype("float64")
    df[f"package_completion_{w}"] = r[f"package_completion_{w}"].fillna(0).astype("float64")
done(t0, df)
"""

PANDAS = COMMON + """
import numpy as np
t0 = time.perf_counter()
P = pd.read_parquet(root + "/parquet/partners.parquet", columns=["partner_id", "joined_at"]).set_index("partner_id")
C = pd.read_parquet(root + "/parquet/contents.parquet", columns=["content_id", "content_type"])
E = pd.read_parquet(root + "/parquet/events.parquet", columns=["partner_id", "ts", "event_type", "content_id", "value"])
D = pd.read_parquet(root + "/parquet/deals.parquet")
E = E.merge(C, on="content_id", how="left")
items = [(i.content, i.done_when) for i in PKG.items]
df = pd.DataFrame(index=P.index)
joined = pd.to_datetime(P["joined_at"]).dt.tz_localize("Asia/Tokyo")
def per(s, fill=0):
    return s.reindex(P.index).fillna(fill)
for w, a, b in (("pre", PRE0, START), ("post", START, POST1)):
    inw = E[(E.ts >= a) & (E.ts < b)]
    hist = E[E.ts < b]
    g = lambda m: inw[m].groupby("partner_id").size()
    df[f"logins_{w}"] = per(g(inw.event_type == "login")).astype("int64")
    last = hist[hist.event_type == "login"].groupby("partner_id").ts.max().reindex(P.index)
    days = np.floor((b - last) / pd.Timedelta(days=1))
    since = np.floor((b - joined) / pd.Timedelta(days=1))
    df[f"days_since_last_login_{w}"] = days.fillna(since.where(since >= 0)).astype("float64")
    df[f"video_completed_{w}"] = per(g(inw.event_type == "video_complete")) > 0
    df[f"template_downloaded_{w}"] = per(g((inw.event_type == "download") & (inw.content_type == "template"))) > 0
    t = hist[(hist.event_type == "test_submit") & hist.value.notna()].sort_values("ts")
    df[f"latest_test_score_{w}"] = t.groupby("partner_id").value.last().reindex(P.index).astype("float64")
    df[f"material_uses_{w}"] = per(g(inw.event_type == "material_use")).astype("int64")
    reg = D[(D.registered_at >= a) & (D.registered_at < b)]
    clo = D[(D.closed_at >= a) & (D.closed_at < b)]
    df[f"deals_registered_{w}"] = per(reg.groupby("partner_id").size()).astype("int64")
    df[f"pipeline_amount_{w}"] = per(reg.groupby("partner_id").amount.sum()).astype("float64")
    won = clo[clo.won == True]  # noqa: E712
    df[f"won_revenue_{w}"] = per(won.groupby("partner_id").amount.sum()).astype("float64")
    n_won = per(won.groupby("partner_id").size())
    n_closed = per(clo[clo.won.notna()].groupby("partner_id").size())
    df[f"win_rate_{w}"] = (n_won / n_closed.where(n_closed != 0)).astype("float64")
    done_ = 0
    for cid, dw in items:
        m = (inw.content_id == cid) & ((inw.event_type == "test_submit") & (inw.value >= 70) if dw == "test_pass" else (inw.event_type == dw))
        done_ = done_ + (per(g(m)) > 0).astype("float64")
    df[f"package_completion_{w}"] = done_ / len(items)
done(t0, df)
"""


def run(code: str, root: Path, mode: str) -> tuple[dict, Path]:
    out = root / f"result-{mode}.parquet"
    p = subprocess.run([sys.executable, "-c", code, str(root), mode, str(out)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{p.stderr[-3000:]}")
    line = [x for x in p.stdout.splitlines() if x.startswith("{")][-1]
    return json.loads(line), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--partners", type=int, default=None, help="default: events / 500")
    ap.add_argument("--spark", action="store_true", help="also run on Spark (local mode)")
    ap.add_argument("--no-pandas", action="store_true", help="skip pandas (very large data)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--workdir", help="keep the data here (default: a temporary directory)")
    ap.add_argument("--only", help="comma-separated runs to do, of: " + ", ".join(MODES)
                    + " (the first is the reference the others are checked against)")
    ap.add_argument("--tiny", action="store_true",
                    help="20,000 events, one run each: checks that the benchmark works, in seconds")
    args = ap.parse_args()
    if args.tiny:
        args.events, args.repeat = 20_000, 1
    import pandas as pd

    partners = args.partners or max(args.events // 500, 100)
    with tempfile.TemporaryDirectory(dir=args.workdir) as d:
        root = Path(d)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", SETUP, str(root), str(args.events), str(partners)],
                       check=True)
        print(f"data: {args.events:,} events target, {partners:,} partners "
              f"(simulated in {time.perf_counter() - t:.0f} s); metrics: {len(METRICS)} "
              f"x pre/post windows")
        runs = [("supportlab", SUPPORTLAB, "sl-duckdb"), ("hand-written SQL", HAND_SQL, "sql-duckdb"),
                ("supportlab", SUPPORTLAB, "sl-parquet"), ("hand-written SQL", HAND_SQL, "sql-parquet")]
        if not args.no_pandas:
            runs.append(("pandas (incl. reading)", PANDAS, "pandas-parquet"))
        if args.spark:
            runs.append(("supportlab on Spark", SUPPORTLAB, "sl-spark"))
        if args.only:
            wanted = args.only.split(",")
            unknown = sorted(set(wanted) - set(MODES))
            if unknown:
                raise SystemExit(f"--only: unknown run(s) {', '.join(unknown)}; choose from {', '.join(MODES)}")
            runs = sorted((r for r in runs if r[2] in wanted), key=lambda r: wanted.index(r[2]))
        results, reference = {}, None
        print(f"{'implementation':28s}{'storage':>9s}{'seconds':>9s}{'peak MB':>9s}", flush=True)
        for label, code, mode in runs:
            best = None
            for _ in range(args.repeat if mode != "sl-spark" else 1):
                r, out = run(code, root, mode)
                best = r if best is None or r["seconds"] < best["seconds"] else best
            df = pd.read_parquet(out)
            if reference is None:
                reference = df
            else:
                pd.testing.assert_frame_equal(reference, df[reference.columns], check_dtype=False,
                                              check_exact=False, rtol=1e-9)
            results[mode] = (label, best)
            print(f"{label:28s}{mode.split('-')[1]:>9s}{best['seconds']:9.2f}"
                  f"{best['peak_mb']:9.0f}", flush=True)
        for storage in ("duckdb", "parquet"):
            if f"sl-{storage}" not in results or f"sql-{storage}" not in results:
                continue
            ratio = results[f"sl-{storage}"][1]["seconds"] / results[f"sql-{storage}"][1]["seconds"]
            print(f"supportlab / hand SQL on {storage}: {ratio:.2f}x (goal <= 1.2x)")
        if "pandas-parquet" in results and "sl-parquet" in results:
            sp = results["pandas-parquet"][1]["seconds"] / results["sl-parquet"][1]["seconds"]
            print(f"pandas / supportlab on parquet: {sp:.1f}x (goal >= 3x)")
        print("all implementations returned identical per-partner values")


if __name__ == "__main__":
    main()
