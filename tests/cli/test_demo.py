"""``supportlab demo`` end to end on the repository's own experiment files: the simulated world,
the loop in calendar order, the reports in both languages, decisions recorded in start order,
the registry with a reproduced promotion, the portfolio; and a second run replaces it all."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import supportlab as sl

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
EXPECTED = {"product-a-launch-v1-2026q2": "revise", "product-a-launch-2026q2": "promote",
            "product-a-launch-v2-2026q3": "promote"}


def _demo(root: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "supportlab.cli", "-C", str(root), "demo"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    return done


def _decisions(root: Path) -> list[tuple[str, str]]:
    with sl.Workspace.open(root, read_only=True) as ws, ws.connection() as con:
        return [(r[0], r[1]) for r in con.execute(
            "SELECT experiment_id, decision FROM decisions ORDER BY decided_at").fetchall()]


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("demo")
    sl.init_workspace(root)
    shutil.rmtree(root / "experiments")
    shutil.copytree(REPO / "experiments", root / "experiments")
    return root, _demo(root).stdout


def test_demo_runs_the_whole_loop(demo_root: tuple[Path, str]) -> None:
    root, out = demo_root
    assert "validated: all schema, key and reference checks passed" in out
    # the world ends where the first experiment starts, and the loop goes in calendar order
    assert "events from 2025-04-01 to 2026-03-31" in out
    loop = [line.split()[1] for line in out.split("the loop, in calendar order")[1]
            .split("reports (")[0].strip().splitlines()[1:]]
    assert loop == ["partner-webinar-b-2026q2", "product-a-launch-v1-2026q2",
                    "product-a-launch-2026q2", "product-a-launch-v2-2026q3"]
    assert "Traceback" not in out and "[IPKernelApp]" not in out and "WARNING" not in out
    for eid, decision in EXPECTED.items():
        folder = root / "reports" / eid
        for page in ("index.html", "index.ja.html", "index.en.html"):
            assert (folder / page).is_file(), (eid, page)
        result = json.loads((folder / "result.json").read_text(encoding="utf-8"))
        assert result["decision"] == decision, (eid, result["decision"], result["reasons_en"])
    assert (root / "reports" / "index.html").is_file()
    assert (root / "reports" / "index.en.html").is_file()
    portfolio = (root / "reports" / "index.en.html").read_text(encoding="utf-8")
    for eid in EXPECTED:
        assert f"{eid}/index.html" in portfolio, eid


def test_decisions_are_recorded_in_start_order_and_reproduce(demo_root: tuple[Path, str]) -> None:
    root, out = demo_root
    decisions = _decisions(root)
    assert len(decisions) == 4
    order = [e for e, _ in decisions]
    assert order.index("product-a-launch-v1-2026q2") < order.index("product-a-launch-2026q2") \
        < order.index("product-a-launch-v2-2026q3")
    assert dict(decisions).items() >= EXPECTED.items()
    with sl.Workspace.open(root, read_only=True) as ws:
        reg = sl.packages(ws, root / "experiments" / "packages")
    rows = {r["ref"]: r for r in reg.frame.to_dict("records")}
    assert rows["product-a-launch@1"]["status"] == "revise"
    v2 = rows["product-a-launch@2"]
    assert v2["status"] == "promoted" and v2["n_reproduced"] == 1
    assert "product-a-launch@1 → product-a-launch@2" in out
    assert "reproduced in 1 of 1" in out


def test_a_second_demo_replaces_the_world_and_the_reports(demo_root: tuple[Path, str]) -> None:
    root, _ = demo_root
    stale = root / "reports" / "old-experiment"
    stale.mkdir()
    (stale / "index.html").write_text("<p>a report of a world that is gone</p>",
                                      encoding="utf-8")
    _demo(root)
    assert not stale.exists()
    assert len(_decisions(root)) == 4
    with sl.Workspace.open(root, read_only=True) as ws, ws.connection() as con:
        assert con.execute("SELECT count(DISTINCT experiment_id) FROM assignments"
                           ).fetchone() == (4,)
