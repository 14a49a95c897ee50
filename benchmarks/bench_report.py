"""Benchmark: ``supportlab report`` of one demo experiment beside its floor, and ``supportlab run``
over many experiments, one by one and two at a time.

The workspace is built as ``supportlab demo`` builds its own: a simulated world whose history
ends at the experiment's start, then the demo loop (:func:`supportlab.cli.demo.run_demo_loop`:
every experiment of the day assigned, then each delivered through its horizon). The experiments
are the demo's ``product-a-launch-2026q2`` and copies of it, each with its own id, seed and copy
of the package (so that ``exclude_running: same_package`` leaves every copy the same eligible
partners: each report has the size of the first).

1. ``supportlab report EXP --lang ja`` and ``--lang all`` (ja and en) of the first experiment, each
   a whole process (``python -m supportlab.cli -C ROOT report EXP --no-record``), median of
   ``--repeat`` runs; beside it the floor, in a whole process too: papermill executing a trivial
   one-cell notebook in the same kernel and nbconvert's ``HTMLExporter`` rendering it (once for
   one language, twice for two). Runs are interleaved (floor, ja, all) so a change of load hits
   all three alike.
2. What the evaluations read from the logs (:mod:`supportlab.design.inputs`), in this process:
   every experiment read on its own (``read_inputs``, as a report alone does) against all read
   at once (``shared_inputs``, as ``supportlab run`` does before its reports start), median of
   at least three rounds, with the number of engine queries.
3. ``supportlab run --workers 1``, ``--workers 2`` and ``--workers 2 --no-share`` over the
   ``--experiments`` experiments (``--no-record --no-portfolio --no-views``, ja), whole
   processes: the wall times, the speed-up of two workers over one, and what reading the logs
   once saves. The speed-up is bounded by the machine's cores (printed) and by whatever else
   runs on them (the load average is printed before each measurement).

Every run must end ``ok``, and each page it names must exist and pass
:func:`supportlab.report.page.check_self_contained`, else the script stops with an error.

    .venv/bin/python benchmarks/bench_report.py                  # 1,000 partners, 10 experiments
    .venv/bin/python benchmarks/bench_report.py --tiny           # what the tests run

Goals (issue): one report in at most 10 s of wall time, shown as a ratio to the floor; a run
that computes the shared reads once; the speed-up of two workers over one.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT = "product-a-launch-2026q2"
PACKAGE = "product-a-launch"
GOAL_SECONDS = 10.0

FLOOR = r"""
import sys
from concurrent.futures import ThreadPoolExecutor
import nbformat, papermill
from nbconvert import HTMLExporter
folder, n = sys.argv[1], int(sys.argv[2])
nb = nbformat.v4.new_notebook()
nb.cells.append(nbformat.v4.new_code_cell("print(1 + 1)"))
nbformat.write(nb, f"{folder}/floor.ipynb")
def one(i):
    out = f"{folder}/floor-{i}.ipynb"
    papermill.execute_notebook(f"{folder}/floor.ipynb", out, kernel_name="python3",
                               progress_bar=False, log_output=False,
                               extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
    done = nbformat.read(out, as_version=4)
    assert done.cells[0].outputs[0]["text"] == "2\n", "the floor notebook did not run"
    html, _ = HTMLExporter().from_notebook_node(done)
    assert "<pre>2\n</pre>" in html, "the floor page lacks the cell's output"
    with open(f"{folder}/floor-{i}.html", "w", encoding="utf-8") as f:
        f.write(html)
# as supportlab report runs its languages: at once, a kernel each
with ThreadPoolExecutor(max_workers=n) as pool:
    list(pool.map(one, range(n)))
"""


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def build(root: Path, *, n_partners: int, days: int, n_experiments: int) -> list[Path]:
    """A simulated workspace at ``root`` with ``n_experiments`` experiments assigned and
    delivered (the demo's ``product-a-launch-2026q2`` first); their files."""
    from supportlab.cli.demo import demo_experiments, demo_world_end, run_demo_loop
    from supportlab.cli.sim import run_simulation
    from supportlab.config.workspace import init_workspace, load_config
    from supportlab.data.workspace import Workspace

    init_workspace(root)
    config = load_config(root)
    folder, packages = config.experiments_path, config.experiments_path / "packages"
    for f in (ROOT / "experiments" / "packages").glob("*.yaml"):
        shutil.copy(f, packages)
    exp_text = (ROOT / "experiments" / f"{EXPERIMENT}.yaml").read_text(encoding="utf-8")
    pkg_text = (ROOT / "experiments" / "packages" / f"{PACKAGE}.yaml").read_text(encoding="utf-8")
    (folder / f"{EXPERIMENT}.yaml").write_text(exp_text, encoding="utf-8")
    found = re.search(r"seed: (\d+)", exp_text)
    assert found is not None, "the demo experiment has no seed"
    seed = int(found.group(1))
    # no id is another id followed by a hyphen: the runner clears a killed run's staging
    # folders by the pattern ``<id>-*``, which would also match such a neighbour's
    for k in range(1, n_experiments):
        pid = f"{PACKAGE}-b{k:02d}"
        eid = EXPERIMENT.replace(PACKAGE, pid, 1)
        pkg = re.sub(r"(?m)^revises:.*\n", "", pkg_text.replace(f"id: {PACKAGE}\n", f"id: {pid}\n"))
        (packages / f"{pid}.yaml").write_text(pkg, encoding="utf-8")
        text = (exp_text.replace(f"id: {EXPERIMENT}\n", f"id: {eid}\n")
                .replace(f"package: {PACKAGE}@", f"package: {pid}@")
                .replace(f"seed: {seed}", f"seed: {seed + k}"))
        (folder / f"{eid}.yaml").write_text(text, encoding="utf-8")
    plan = demo_experiments(folder)
    assert len(plan) == n_experiments, [e.id for e in plan]
    with Workspace.open(root, config=config) as ws:
        print("  " + run_simulation(ws, n_partners=n_partners, seed=20261001, days=days,
                                    end=demo_world_end(folder), events=None, replace=True),
              flush=True)
        for line in run_demo_loop(ws, plan, packages):
            print(f"  {line}", flush=True)
    first = folder / f"{EXPERIMENT}.yaml"
    return [first, *[e.path for e in plan if e.id != EXPERIMENT]]


def _timed_process(args: Sequence[str], what: str, cwd: Path) -> tuple[float, str]:
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd)
    seconds = time.perf_counter() - t0
    if p.returncode != 0:
        try:  # a command's JSON: the failed runs
            payload = json.loads(p.stdout)
            failed = [f"{r['id']}: {r['error']} ({r['path']})"
                      for r in (payload if isinstance(payload, list) else [payload])
                      if r.get("status") != "ok"]
        except (ValueError, KeyError, TypeError, AttributeError):
            failed = [p.stdout[-3000:]]
        raise SystemExit(f"{what} exited {p.returncode}:\n" + "\n".join(failed)
                         + f"\n{p.stderr[-3000:]}")
    return seconds, p.stdout


def _check_pages(results: list[dict[str, Any]], langs: Sequence[str], what: str) -> None:
    """Every run ok; its index.html and index.<lang>.html exist and are self-contained."""
    from supportlab.report.page import check_self_contained

    for r in results:
        if r["status"] != "ok":
            raise SystemExit(f"{what}: {r['id']} ended {r['status']}: {r.get('error')}")
        folder = Path(r["path"]).parent
        for name in ["index.html", *[f"index.{lang}.html" for lang in langs]]:
            page = folder / name
            if not page.is_file():
                raise SystemExit(f"{what}: {r['id']} has no {name} in {folder}")
            problems = check_self_contained(page.read_text(encoding="utf-8"))
            if problems:
                raise SystemExit(f"{what}: {page} is not self-contained: {problems[:3]}")


def _cli(root: Path, *args: str) -> list[str]:
    return ["-m", "supportlab.cli", "-C", str(root), *args, "--format", "json"]


def _notebook_times(paths: Sequence[Path]) -> tuple[float, float, list[tuple[float, str]]]:
    """Papermill's record of executed notebooks: their total duration (kernel start to stop),
    the sum of their cells' durations, and every cell's (duration, first line)."""
    import nbformat

    total, cells, each = 0.0, 0.0, []
    for path in paths:
        nb = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
        total += float(nb.metadata["papermill"]["duration"])
        for cell in nb.cells:
            seconds = (cell.metadata.get("papermill") or {}).get("duration")
            if cell.cell_type == "code" and seconds is not None:
                cells += float(seconds)
                each.append((float(seconds), cell.source.strip().splitlines()[0][:48]
                             if cell.source.strip() else "(empty)"))
    return total, cells, each


def bench_report(root: Path, experiment: Path, repeat: int, warmup: bool) -> None:
    """(1): one report, ja and both languages, beside the floor."""
    floor_dir = root / "floor"
    floor_dir.mkdir()
    cases: dict[str, tuple[list[str], int, tuple[str, ...]]] = {
        "floor1": (["-c", FLOOR, str(floor_dir), "1"], 1, ()),
        "floor2": (["-c", FLOOR, str(floor_dir), "2"], 2, ()),
        "ja": (_cli(root, "report", str(experiment), "--lang", "ja", "--no-record"), 1, ("ja",)),
        "all": (_cli(root, "report", str(experiment), "--lang", "all", "--no-record"), 2,
                ("ja", "en")),
    }
    #: per case, per run: wall, outside the notebooks, kernel start and stop, cells
    parts: dict[str, list[tuple[float, float, float, float]]] = {k: [] for k in cases}
    decision, slowest = "", []
    print(f"\n(1) supportlab report {experiment.stem}: {repeat} run(s) of each, interleaved"
          f"{' after one warm-up round' if warmup else ''}; {_load()}", flush=True)
    for i in range(repeat + warmup):
        for key, (args, n_nb, langs) in cases.items():
            wall, out = _timed_process(args, key, root)
            if langs:
                result = json.loads(out)
                _check_pages([result], langs, f"supportlab report --lang {key}")
                decision = result.get("decision") or ""
                folder = Path(result["path"]).parent
                nbs = [folder / "notebook.ipynb", *[folder / f"notebook.{lang}.ipynb"
                                                    for lang in langs[1:]]]
                total, cells, each = _notebook_times(nbs)
                if key == "ja":
                    slowest = sorted(each, reverse=True)[:3]
            else:
                total, cells, _ = _notebook_times([floor_dir / f"floor-{j}.ipynb"
                                                   for j in range(n_nb)])
            if i >= warmup:
                if n_nb > 1:  # notebooks run at once: their durations overlap, no breakdown
                    total = cells = math.nan
                parts[key].append((wall, wall - total, total - cells, cells))
    med = {k: [statistics.median(x) for x in zip(*v, strict=True)] for k, v in parts.items()}
    print(f"  {'median seconds':<56} {'wall':>6} {'runs':>18} {'/ floor':>8}  "
          f"goal <= {GOAL_SECONDS:g} s")
    rows = [("floor: papermill + nbconvert, 1 trivial notebook", "floor1", None),
            ("floor: papermill + nbconvert, 2 trivial notebooks at once", "floor2", None),
            ("supportlab report --lang ja", "ja", "floor1"),
            ("supportlab report --lang all (ja, en)", "all", "floor2")]
    for label, key, floor in rows:
        spread = ", ".join(f"{r[0]:.2f}" for r in parts[key])
        ratio = f"{med[key][0] / med[floor][0]:.2f}x" if floor else ""
        goal = ("met" if med[key][0] <= GOAL_SECONDS else "MISSED") if floor else ""
        print(f"  {label:<56} {med[key][0]:>6.2f} {spread:>18} {ratio:>8}  {goal}")
    print(f"  ratio report/floor: ja {med['ja'][0] / med['floor1'][0]:.2f}x, both languages "
          f"{med['all'][0] / med['floor2'][0]:.2f}x; decision {decision}; every page "
          "self-contained")
    print(f"  {'where the time goes (median seconds)':<56} {'outside':>8} {'kernels':>8} "
          f"{'cells':>8}")
    for label, key, _ in rows:
        _, outside, kernel, cells = med[key]
        print(f"  {label:<56} {outside:>8.2f} {kernel:>8.2f} {cells:>8.2f}")
    print("  (outside: the process less its notebooks (starting Python, imports, checks, "
          "nbconvert rendering, publication); kernels: papermill's notebook time less its "
          "cells (kernel start and stop); cells: the notebooks' code; nan where two "
          "notebooks ran at once)")
    print("  slowest cells of the ja report: " + "; ".join(f"{sec:.2f} s {src}"
                                                          for sec, src in slowest), flush=True)


def bench_inputs(root: Path, files: list[Path], repeat: int) -> None:
    """(2): what the evaluations read from the logs, one experiment at a time and shared."""
    from supportlab.config.experiment import load_experiment
    from supportlab.data.workspace import Workspace
    from supportlab.design.inputs import read_inputs, shared_inputs

    exps = [load_experiment(f, root / "experiments" / "packages") for f in files]
    alone, shared, queries = [], [], 0
    with Workspace.open(root, read_only=True) as ws:
        for _ in range(repeat):
            t = time.perf_counter()
            for e in exps:
                read_inputs(ws, e)
            alone.append(time.perf_counter() - t)
            t = time.perf_counter()
            got = shared_inputs(ws, exps)
            shared.append(time.perf_counter() - t)
            queries = got.queries
    one, both = statistics.median(alone), statistics.median(shared)
    print(f"\n(2) the evaluations' reads of the logs (design.inputs), in one process, median of "
          f"{repeat}: one experiment at a time {one:.2f} s for {len(exps)}, shared "
          f"{both:.2f} s ({queries} engine queries); {one / both:.2f}x", flush=True)


def bench_run(root: Path, files: list[Path], repeat: int) -> None:
    """(3): supportlab run over every experiment: one worker, two, two without sharing."""
    n = len(files)
    run_help = subprocess.run([sys.executable, "-m", "supportlab.cli", "run", "--help"],
                              capture_output=True, text=True, check=True).stdout
    cores = os.cpu_count() or 1
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    print(f"\n(3) supportlab run over {n} experiments (ja, --no-record, no other pages), "
          f"{repeat} run(s) each; os.cpu_count() = {cores}, usable by this process {usable}: "
          f"the speed-up cannot exceed {min(2, usable, n)}", flush=True)
    # the experiments' reports only: the other pages a run may publish are left out
    skip = [flag for flag in ("--no-portfolio", "--no-views") if flag in run_help]
    configs = {"1": (1, []), "2": (2, []), "2 --no-share": (2, ["--no-share"])}
    walls: dict[str, list[float]] = {k: [] for k in configs}
    for _ in range(repeat):
        for name, (workers, extra) in configs.items():
            load = _load()
            seconds, out = _timed_process(
                _cli(root, "run", "--experiments", str(files[0].parent), "--workers",
                     str(workers), "--lang", "ja", "--no-record", *skip, *extra),
                f"supportlab run --workers {name}", root)
            payload = json.loads(out)
            results = payload if isinstance(payload, list) else [payload]
            if sorted(r["id"] for r in results) != sorted(f.stem for f in files):
                raise SystemExit(f"supportlab run reported {[r['id'] for r in results]}, "
                                 f"not the {n} experiments")
            _check_pages(results, ("ja",), f"supportlab run --workers {name}")
            walls[name].append(seconds)
            print(f"  --workers {name}: {seconds:.2f} s wall ({load} before), reports' own "
                  f"times sum to {sum(r['seconds'] for r in results):.1f} s", flush=True)
    med = {k: statistics.median(v) for k, v in walls.items()}
    one, two, unshared = med["1"], med["2"], med["2 --no-share"]
    print(f"  supportlab run, {n} experiments: --workers 1 {one:.2f} s "
          f"({one / n:.2f} s a report), --workers 2 {two:.2f} s; speed-up {one / two:.2f}x "
          f"on os.cpu_count() = {cores}; --workers 2 --no-share {unshared:.2f} s (the logs "
          f"read once save {unshared - two:+.2f} s); every run ok, every page self-contained",
          flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--partners", type=int, default=1000, help="partners of the simulated world")
    ap.add_argument("--days", type=int, default=365, help="days of simulated history")
    ap.add_argument("--experiments", type=int, default=10,
                    help="experiments reported by supportlab run (the first is also timed alone)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each report and floor (median)")
    ap.add_argument("--run-repeat", type=int, default=1,
                    help="runs of supportlab run per worker count (median)")
    ap.add_argument("--workdir", help="build the workspace here (default: a temporary directory)")
    ap.add_argument("--tiny", action="store_true",
                    help="300 partners, 2 experiments, one run each: checks that the benchmark "
                         "works")
    args = ap.parse_args()
    if args.tiny:
        args.partners, args.days, args.experiments, args.repeat, args.run_repeat = 300, 120, 2, 1, 1
    if args.experiments < 2 or args.repeat < 1 or args.run_repeat < 1:
        raise SystemExit("--experiments must be >= 2, --repeat and --run-repeat >= 1")
    with tempfile.TemporaryDirectory(dir=args.workdir) as d:
        root = Path(d) / "ws"
        t = time.perf_counter()
        print(f"workspace: {args.partners:,} partners, {args.days} days of history, "
              f"{args.experiments} experiments; {_load()}", flush=True)
        files = build(root, n_partners=args.partners, days=args.days,
                      n_experiments=args.experiments)
        print(f"  built in {time.perf_counter() - t:.0f} s", flush=True)
        bench_report(root, files[0], args.repeat, warmup=not args.tiny)
        bench_inputs(root, files, max(args.repeat, 3))
        bench_run(root, files, args.run_repeat)


if __name__ == "__main__":
    main()
