"""Every benchmark runs at a tiny size, so that none can rot between two `make bench` runs.

The figures at this size mean nothing; what is checked is that each script runs to its end on the
current library and that its own checks (equal results across implementations, every row loaded)
hold.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import require

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"


def run_benchmark(script: str, *args: str, timeout: float = 240) -> str:
    """Run ``benchmarks/<script> --tiny ARGS`` from the project root; its stdout, or fail with stderr."""
    proc = subprocess.run([sys.executable, str(BENCHMARKS / script), "--tiny", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{script} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    return proc.stdout


def test_every_benchmark_has_a_tiny_run() -> None:
    scripts = sorted(p.name for p in BENCHMARKS.glob("bench_*.py"))
    tested = sorted(name for name in globals() if name.startswith("test_bench_"))
    assert scripts, "no benchmarks found"
    for script in scripts:
        assert f"test_{script.removesuffix('.py')}" in tested, f"{script} has no test in {__file__}"
        assert "--tiny" in (BENCHMARKS / script).read_text(encoding="utf-8"), f"{script} lacks --tiny"


def test_bench_ingest() -> None:
    out = run_benchmark("bench_ingest.py")
    assert "events CSV: 20,000 rows" in out
    assert "supportlab ingest" in out and "ratio ingest/floor:" in out


def test_bench_simulate() -> None:
    out = run_benchmark("bench_simulate.py")
    assert "simulate (generate)" in out and "simulate (into DuckDB)" in out


def test_bench_assign() -> None:
    out = run_benchmark("bench_assign.py")
    assert "rerandomized, all 1,000 draws evaluated" in out and "slowest case:" in out
    assert "every case re-derived the same assignment" in out


def test_bench_metrics() -> None:
    out = run_benchmark("bench_metrics.py")
    for line in ("supportlab / hand SQL on duckdb", "supportlab / hand SQL on parquet",
                 "pandas / supportlab on parquet"):
        assert line in out
    assert "all implementations returned identical per-partner values" in out


@pytest.mark.spark
def test_bench_metrics_on_spark() -> None:
    require("java", shutil.which("java") is not None, "Spark needs a Java runtime")
    out = run_benchmark("bench_metrics.py", "--spark", "--only", "sql-duckdb,sl-spark", timeout=600)
    assert "supportlab on Spark" in out
    assert "all implementations returned identical per-partner values" in out


def test_bench_estimation() -> None:
    out = run_benchmark("bench_estimation.py")
    assert "full analysis, 500 partners" in out
    assert "regression adjustment, 20,000 units" in out


def test_bench_evaluate() -> None:
    out = run_benchmark("bench_evaluate.py")
    assert "tiny: 300 partners" in out and "evaluate (tiny):" in out and "decision " in out


def test_bench_report() -> None:
    out = run_benchmark("bench_report.py", timeout=600)
    assert "workspace: 300 partners" in out and "2 experiments" in out
    for label in ("floor: papermill + nbconvert, 1 trivial notebook",
                  "floor: papermill + nbconvert, 2 trivial notebooks",
                  "supportlab report --lang ja", "supportlab report --lang all (ja, en)",
                  "ratio report/floor: ja", "slowest cells of the ja report:"):
        assert label in out, label
    assert "every page self-contained" in out
    assert "--workers 1:" in out and "--workers 2:" in out and "speed-up" in out
    assert "supportlab run, 2 experiments" in out and "os.cpu_count() =" in out
    assert "--workers 2 --no-share:" in out and "the logs read once save" in out
    assert "the evaluations' reads of the logs" in out and "engine queries" in out



def test_validation_script_runs_at_a_tiny_size(tmp_path: Path) -> None:
    """validation/validate_estimators.py (minutes at its real size) runs every section end to end."""
    out_json = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, str(ROOT / "validation" / "validate_estimators.py"),
                           "--sims", "20", "--workers", "1", "--extended", "--bootstrap-variants",
                           "--json", str(out_json)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    for section in ("repeated looks", "post-stratification", "ratio metric", "complier effect",
                    "8 segments", "guardrail non-inferiority"):
        assert section in proc.stdout, section
    hashes = json.loads(out_json.read_text(encoding="utf-8"))["library_sha256"]
    assert "stats/estimation.py" in hashes and "stats/sequential.py" in hashes
