"""The report runner: checked parameters, publication, failure safety, lock, decisions, CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

import supportlab as sl
from helpers import delivered_workspace
from supportlab.cli.app import cli
from supportlab.errors import ConfigError, WorkspaceError
from supportlab.report import notebooks, runner
from supportlab.report.page import check_self_contained
from supportlab.report.text import DECISION_WORDS


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("runner")
    exp = delivered_workspace(root, id="kit-run", n_partners=400)
    return root, exp


_CWD: dict[str, Path] = {}


@pytest.fixture(scope="module")
def published(world: tuple[Path, Path]) -> runner.RunResult:
    root, exp = world
    _CWD["before"] = Path.cwd()
    result = runner.report(root, exp, languages="all", permutations=200)
    _CWD["after"] = Path.cwd()
    return result


def test_two_languages_at_once_leave_the_working_directory(published: runner.RunResult) -> None:
    """Each language's kernel starts in the workspace; the caller's directory never changes
    (papermill's cwd= changes the process's, which two threads would interleave)."""
    assert published.ok, published.error
    assert _CWD["after"] == _CWD["before"]


def _failing_notebook(tmp: Path, body: str) -> Path:
    nb = nbformat.v4.new_notebook()
    source = "\n".join(f"{k} = {'1000' if k == 'permutations' else repr('')}"
                        for k in notebooks.ExperimentReportParameters.model_fields)
    nb.cells = [nbformat.v4.new_code_cell(source, metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path = tmp / "failing.ipynb"
    nbformat.write(nb, path)
    return path


def test_report_publishes_every_file(world: tuple[Path, Path],
                                     published: runner.RunResult) -> None:
    root, _ = world
    assert published.ok, published.error
    out = root / "reports" / "kit-run"
    assert Path(published.path) == out / "index.html"
    for name in ("index.html", "index.ja.html", "index.en.html", "result.json", "summary.md",
                 "summary.ja.md", "summary.en.md", "notebook.ipynb", "notebook.en.ipynb",
                 "manifest.json", "tables/estimates.csv", "tables/flow.csv"):
        assert (out / name).is_file(), name
    assert not (out / "failed").exists()
    assert list((root / "reports" / ".staging").iterdir()) == []
    # the default language is the experiment's (ja): index.html is the Japanese page
    assert (out / "index.html").read_bytes() == (out / "index.ja.html").read_bytes()
    for lang in ("ja", "en"):
        page = (out / f"index.{lang}.html").read_text(encoding="utf-8")
        assert check_self_contained(page) == []
        assert f'<html lang="{lang}">' in page
        assert "Traceback" not in page and "<script" not in page
        # the title once, in the header; the first section is headed by what it is
        assert page.count("<h1>") == 1 and ("<h2>Decision</h2>" in page
                                             or "<h2>判定</h2>" in page)
        other = "en" if lang == "ja" else "ja"
        assert f'href="index.{other}.html"' in page
    result = json.loads((out / "result.json").read_text(encoding="utf-8"))
    decision_ja = DECISION_WORDS["ja"][result["decision"]]
    assert decision_ja in (out / "index.ja.html").read_text(encoding="utf-8")
    summary = (out / "summary.md").read_text(encoding="utf-8").strip().splitlines()
    assert 3 <= len(summary) <= 5 and all(line.startswith("- ") for line in summary)


def test_manifest_and_result(world: tuple[Path, Path], published: runner.RunResult) -> None:
    root, _ = world
    out = root / "reports" / "kit-run"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["id"] == "kit-run" and manifest["kind"] == "report"
    assert set(manifest["parameters"]) == {"ja", "en"}
    assert manifest["parameters"]["en"]["permutations"] == 200
    assert manifest["versions"]["papermill"] and manifest["versions"]["supportlab"]
    assert len(manifest["data_fingerprint"]) == 64
    assert manifest["files"]["result.json"] == runner._sha256(out / "result.json")
    result = json.loads((out / "result.json").read_text(encoding="utf-8"))
    for key in ("experiment_id", "decision", "primary", "evidence", "flow", "sentence", "lang"):
        assert key in result
    assert result["decision"] == published.decision


def test_decision_is_recorded_once(world: tuple[Path, Path],
                                   published: runner.RunResult) -> None:
    root, _exp = world
    assert published.recorded
    with sl.Workspace.open(root, read_only=True) as ws, ws.connection() as con:
        rows = con.execute("SELECT decision, report FROM decisions WHERE experiment_id = "
                           "'kit-run'").fetchall()
    assert rows == [(published.decision, "reports/kit-run/index.html")]
    log = [json.loads(line) for line in
           (root / "reports" / "runs.jsonl").read_text(encoding="utf-8").splitlines()]
    assert log[0]["id"] == "kit-run" and log[0]["status"] == "ok"


def _failed_report(world: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                   body: str, *, languages: str) -> tuple[runner.RunResult, Path]:
    """A report run on a notebook whose last cell is ``body``: failed, the previous page kept,
    nothing left in staging."""
    root, exp = world
    out = root / "reports" / "kit-run"
    before = (out / "index.html").read_bytes()
    bad = _failing_notebook(tmp_path, body)
    monkeypatch.setattr(notebooks, "notebook_path", lambda name: bad)
    res = runner.report(root, exp, languages=languages, record=False)
    assert not res.ok
    assert (out / "index.html").read_bytes() == before
    assert list((root / "reports" / ".staging").iterdir()) == []
    return res, out


def test_failed_run_keeps_the_previous_report(world: tuple[Path, Path],
                                              published: runner.RunResult,
                                              monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    root, _ = world
    res, out = _failed_report(world, monkeypatch, tmp_path,
                              'raise RuntimeError("the <b>data</b> broke")', languages="en")
    assert "RuntimeError: the <b>data</b> broke" in (res.error or "")
    page = (out / "failed" / "index.html").read_text(encoding="utf-8")
    assert "the &lt;b&gt;data&lt;/b&gt; broke" in page and "Traceback" not in page
    assert "cell: 4" in page and "../index.html" in page
    failed_nb = nbformat.read(out / "failed" / "notebook.ipynb", as_version=4)
    assert any(o.get("output_type") == "error" for c in failed_nb.cells
               for o in c.get("outputs", []))
    assert list((root / "reports" / ".staging").iterdir()) == []
    last = json.loads((root / "reports" / "runs.jsonl").read_text(
        encoding="utf-8").splitlines()[-1])
    assert last["status"] == "failed" and "broke" in last["error"]


def test_timeout_fails_the_run(world: tuple[Path, Path], published: runner.RunResult,
                               monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    root, exp = world
    slow = _failing_notebook(tmp_path, "import time\ntime.sleep(60)")
    monkeypatch.setattr(notebooks, "notebook_path", lambda name: slow)
    t0 = time.monotonic()
    res = runner.report(root, exp, languages="en", timeout=2, record=False)
    assert not res.ok and time.monotonic() - t0 < 45
    assert "timeout" in (res.error or "").lower() or "timed out" in (res.error or "").lower()
    assert (root / "reports" / "kit-run" / "index.html").exists()


def test_a_second_run_of_the_same_experiment_is_refused(world: tuple[Path, Path],
                                                       published: runner.RunResult) -> None:
    root, exp = world
    lock = root / "reports" / ".locks" / "kit-run.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'a+b'); "
         "fcntl.flock(f, fcntl.LOCK_EX); f.write(b'pid test'); f.flush(); print('held', "
         "flush=True); time.sleep(60)", str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(WorkspaceError, match="already in progress"):
            runner.report(root, exp, languages="en")
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_run_leaves_the_report_and_no_lock(world: tuple[Path, Path],
                                                   published: runner.RunResult) -> None:
    root, exp = world
    out = root / "reports" / "kit-run"
    before = (out / "index.html").read_bytes()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "supportlab.cli", "-C", str(root), "report",
                             str(exp), "--lang", "en", "--no-record"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    staging = root / "reports" / ".staging"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(staging.glob("kit-run-*")):
        time.sleep(0.1)
    assert any(staging.glob("kit-run-*")), "the run never started"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (out / "index.html").read_bytes() == before
    # a run of another experiment whose id starts with "kit-run-" is not a leftover of this one
    other = staging / "kit-run-b2-0123456789"
    other.mkdir()
    res = runner.report(root, exp, languages="en", record=False, permutations=50)
    assert res.ok, res.error
    assert [p.name for p in staging.glob("kit-run-*")] == [other.name]
    other.rmdir()  # (the other experiment's run "ends")


def test_bad_parameters_fail_before_anything_runs(world: tuple[Path, Path],
                                                  tmp_path: Path) -> None:
    root, exp = world
    with pytest.raises(ConfigError, match="as_of"):
        runner.report(root, exp, as_of="June first")
    with pytest.raises(ConfigError, match="--lang"):
        runner.report(root, exp, languages="fr")
    with pytest.raises(ConfigError, match="unknown parameter"):
        notebooks.parameters("experiment_report", workspace=".", experiment="e.yaml",
                             lang="en", colour="red")
    with pytest.raises(ConfigError, match="permutations"):
        notebooks.parameters("experiment_report", workspace=".", experiment="e.yaml",
                             lang="en", permutations="many")
    other = exp.with_name("kit-unassigned.yaml")
    other.write_text(exp.read_text(encoding="utf-8").replace("id: kit-run",
                                                             "id: kit-unassigned"),
                     encoding="utf-8")
    with pytest.raises(WorkspaceError, match="not assigned"):
        runner.report(root, other)
    other.unlink()
    assert not (root / "reports" / "kit-unassigned").exists()


@pytest.mark.parametrize("name", sorted(notebooks.NOTEBOOKS))
def test_parameter_models_match_the_notebooks(name: str) -> None:
    import papermill

    path = Path(__file__).resolve().parents[2] / "notebooks" / f"{name}.ipynb"
    if not path.exists():
        pytest.fail(f"notebooks/{name}.ipynb is missing")
    declared = set(papermill.inspect_notebook(str(path)))
    assert declared == set(notebooks.NOTEBOOKS[name].model_fields)


def test_cli_report_and_its_exit_codes(world: tuple[Path, Path],
                                       published: runner.RunResult,
                                       monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    root, exp = world
    ok = CliRunner().invoke(cli, ["-C", str(root), "report", str(exp), "--lang", "en",
                                  "--no-record", "--permutations", "50", "--format", "json"])
    assert ok.exit_code == 0, ok.output
    payload = json.loads(ok.stdout)
    assert payload["status"] == "ok" and payload["languages"] == ["en"]
    bad = _failing_notebook(tmp_path, "1 / 0")
    monkeypatch.setattr(notebooks, "notebook_path", lambda name: bad)
    failed = CliRunner().invoke(cli, ["-C", str(root), "report", str(exp), "--lang", "en"])
    assert failed.exit_code == 1
    assert "FAILED" in failed.output and "ZeroDivisionError" in failed.output


def test_run_all_adds_the_views_links_every_page_and_records_once(
        world: tuple[Path, Path], published: runner.RunResult) -> None:
    root, exp = world
    results = runner.run_all(root, experiments=[exp], workers=2, languages="en")
    kinds = [(r.kind, r.id, r.status) for r in results]
    assert kinds == [("report", "kit-run", "ok"), ("view", "targeting", "ok"),
                     ("view", "support-score", "ok"), ("portfolio", "portfolio", "ok")], kinds
    assert not results[0].recorded and "decision already in the log" in results[0].notes
    with sl.Workspace.open(root, read_only=True) as ws, ws.connection() as con:
        assert con.execute("SELECT count(*) FROM decisions WHERE experiment_id = 'kit-run'"
                           ).fetchone() == (1,)
    reports = root / "reports"
    for folder in ("targeting", "support-score"):
        for name in ("index.html", "result.json", "summary.md", "manifest.json"):
            assert (reports / folder / name).is_file(), (folder, name)
        page = (reports / folder / "index.html").read_text(encoding="utf-8")
        assert check_self_contained(page) == [] and 'href="../index.html"' in page
    report_page = (reports / "kit-run" / "index.html").read_text(encoding="utf-8")
    assert 'href="../targeting/index.html"' in report_page
    assert 'href="../support-score/index.html"' in report_page
    portfolio_page = (reports / "index.html").read_text(encoding="utf-8")
    assert 'href="targeting/index.html"' in portfolio_page
    assert 'href="support-score/index.html"' in portfolio_page


def test_cli_run_portfolio_only(world: tuple[Path, Path], published: runner.RunResult) -> None:
    root, _ = world
    before = (root / "reports" / "kit-run" / "index.html").stat().st_mtime_ns
    r = CliRunner().invoke(cli, ["-C", str(root), "run", "--portfolio-only", "--lang", "en",
                                 "--format", "json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["kind"] == "portfolio"
    assert (root / "reports" / "kit-run" / "index.html").stat().st_mtime_ns == before
    clash = CliRunner().invoke(cli, ["-C", str(root), "run", "--portfolio-only",
                                     "--no-portfolio"])
    assert clash.exit_code == 2 and "exclude each other" in clash.output


def test_a_failure_in_one_of_two_parallel_languages_fails_the_run(
        world: tuple[Path, Path], published: runner.RunResult, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    res, _ = _failed_report(world, monkeypatch, tmp_path,
                            'if lang == "en":\n    raise ValueError("english broke")',
                            languages="all")
    assert "ValueError: english broke" in (res.error or "")


def test_cli_report_explore_reaches_the_notebook(world: tuple[Path, Path],
                                                 published: runner.RunResult,
                                                 tmp_path: Path) -> None:
    root, exp = world
    out = tmp_path / "explored"
    r = CliRunner().invoke(cli, ["-C", str(root), "report", str(exp), "--lang", "en",
                                 "--no-record", "--permutations", "0", "--explore", "rank",
                                 "--out", str(out)])
    assert r.exit_code == 0, r.output
    result = json.loads((out / "kit-run" / "result.json").read_text(encoding="utf-8"))
    assert result["exploratory_segments"] == ["rank"]
    manifest = json.loads((out / "kit-run" / "manifest.json").read_text(encoding="utf-8"))
    assert "rank" in json.dumps(manifest["parameters"])
