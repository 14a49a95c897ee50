"""Evaluation inputs read once for many evaluations give the same evaluations."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import supportlab as sl
from supportlab.design.evaluate import SHARED_NOTE, evaluate
from supportlab.design.inputs import EvaluationInputs, load_inputs, read_inputs, shared_inputs
from supportlab.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[sl.Experiment]]:
    """The demo's four experiments (three packages, three start dates), assigned and delivered
    in a small simulated world."""
    from supportlab.cli.demo import demo_experiments, demo_world_end, run_demo_loop
    from supportlab.cli.sim import run_simulation
    from supportlab.config.workspace import init_workspace, load_config

    root = tmp_path_factory.mktemp("inputs")
    init_workspace(root)
    config = load_config(root)
    folder = config.experiments_path
    for f in (REPO / "experiments").glob("*.yaml"):
        shutil.copy(f, folder)
    for f in (REPO / "experiments" / "packages").glob("*.yaml"):
        shutil.copy(f, folder / "packages")
    plan = demo_experiments(folder)
    with sl.Workspace.open(root, config=config) as ws:
        run_simulation(ws, n_partners=1000, seed=11, days=200, end=demo_world_end(folder),
                       events=None, replace=True)
        list(run_demo_loop(ws, plan, folder / "packages"))
    return root, [sl.load_experiment(e.path, folder / "packages") for e in plan]


def _same(a: sl.Evaluation, b: sl.Evaluation) -> None:
    """Equal in everything but the note saying the inputs were read ahead."""
    da, db = a.to_dict(), b.to_dict()
    for d in (da, db):
        d["notes"] = [n for n in d.get("notes", []) if n != SHARED_NOTE]
    assert json.dumps(da, sort_keys=True, default=str) == json.dumps(db, sort_keys=True,
                                                                     default=str)
    pd.testing.assert_frame_equal(a.partner_outcomes, b.partner_outcomes)


def test_shared_inputs_give_the_same_evaluations(demo: tuple[Path, list[sl.Experiment]],
                                                 tmp_path: Path) -> None:
    root, exps = demo
    assert len({e.design.start for e in exps}) >= 2 and len({e.package.id for e in exps}) >= 2
    with sl.Workspace.open(root, read_only=True) as ws:
        shared = shared_inputs(ws, exps)
        assert sorted(shared) == sorted(e.id for e in exps) and not shared.failed
        # the last event day once, one query for the metrics no package changes, one per
        # experiment for its package's columns, the attributes once per start date
        assert shared.queries == 1 + 1 + len(exps) + len({e.design.start for e in exps})
        folder = shared.save(tmp_path / "shared")
        for exp in exps:
            own = evaluate(ws, exp, permutations=50)
            _same(evaluate(ws, exp, permutations=50, inputs=shared[exp.id]), own)
            ahead = evaluate(ws, exp, permutations=50, inputs=folder)
            _same(ahead, own)
            assert SHARED_NOTE in ahead.notes and SHARED_NOTE not in own.notes
        # the partner attributes serve segments the experiment did not declare (explore)
        seg = dataclasses.replace(exps[0], segments=("rank",))
        with_attrs = evaluate(ws, seg, permutations=0, inputs=folder)
        _same(with_attrs, evaluate(ws, seg, permutations=0))
        assert with_attrs.segments and with_attrs.segments[0].segment == "rank"


def test_inputs_of_other_data_or_dates_are_not_used(demo: tuple[Path, list[sl.Experiment]],
                                                    tmp_path: Path) -> None:
    root, exps = demo
    exp = exps[-1]
    with sl.Workspace.open(root, read_only=True) as ws:
        inp = read_inputs(ws, exp)
        own = evaluate(ws, exp, permutations=0)
        stale = dataclasses.replace(inp, fingerprint="0" * 64)
        again = evaluate(ws, exp, permutations=0, inputs=stale)
        assert any("the logs were read again" in n and "data changed" in n for n in again.notes)
        assert again.primary == own.primary
        # inputs that were read wrongly would show: the check is what keeps them out
        broken = dataclasses.replace(inp, columns=inp.columns * 0)
        assert evaluate(ws, exp, permutations=0, inputs=broken).primary != own.primary
        other = dataclasses.replace(inp, as_of=exp.design.start.isoformat())
        assert any("as of" in n for n in evaluate(ws, exp, permutations=0,
                                                  inputs=other).notes if "read again" in n)
        wrong = dataclasses.replace(inp, experiment_id="someone-else")
        assert evaluate(ws, exp, permutations=0, inputs=wrong).primary == own.primary
        # an experiment without segments read on its own holds no attributes
        assert inp.attributes is None or exp.segments


def test_an_experiment_that_cannot_be_read_is_recorded_not_raised(
        demo: tuple[Path, list[sl.Experiment]], tmp_path: Path) -> None:
    root, exps = demo
    first = min(exps, key=lambda e: e.design.start)
    late = max(exps, key=lambda e: e.design.start)
    # as of the day after the first start, the later experiments have no post-period data
    day = first.design.start + pd.Timedelta(days=10).to_pytimedelta()
    with sl.Workspace.open(root, read_only=True) as ws:
        shared = shared_inputs(ws, exps, as_of=day)
        assert late.id in shared.failed and "no post-period data" in shared.failed[late.id]
        assert first.id in shared
        assert "not read" in str(shared)
        # an interim look: the earlier looks' windows are read too
        looked = dataclasses.replace(first, looks=3)
        inp = shared_inputs(ws, [looked, late], as_of=first.design.start
                            + pd.Timedelta(days=50).to_pytimedelta())[first.id]
        assert any(c.endswith("_look1") for c in inp.columns.columns)
        _same(evaluate(ws, looked, permutations=0, as_of=inp.as_of, inputs=inp),
              evaluate(ws, looked, permutations=0, as_of=inp.as_of))
    folder = shared.save(tmp_path / "s")
    assert load_inputs(folder, late.id) is None
    assert isinstance(load_inputs(folder, first.id), EvaluationInputs)
    with pytest.raises(ConfigError, match="not a folder of shared evaluation inputs"):
        load_inputs(tmp_path, first.id)


def test_run_reads_the_logs_once_for_its_reports(demo: tuple[Path, list[sl.Experiment]],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """supportlab run hands every report the inputs it read once; the reports equal those that
    read the logs themselves, and the folder is gone after the run."""
    from supportlab.report import runner

    root, exps = demo
    files = [Path(e.path) for e in exps[:2]]
    seen: list[str] = []
    real = runner._inputs_stream

    def spy(*args: object) -> Iterator[str]:
        for folder in real(*args):  # type: ignore[arg-type]
            seen.append(folder)
            yield folder

    monkeypatch.setattr(runner, "_inputs_stream", spy)
    kw = dict(experiments=files, languages="en", record=False, permutations=50,
              with_portfolio=False, with_views=False)
    reports = root / "reports"
    got: dict[str, dict[str, object]] = {}
    for workers in (2, 1):  # two: each report starts when its inputs are read; one: after all
        seen.clear()
        shared = runner.run_all(root, workers=workers, **kw)  # type: ignore[arg-type]
        assert [r.status for r in shared] == ["ok", "ok"], [r.error for r in shared]
        assert len(seen) == 2 and all(seen) and not any(Path(f).exists() for f in seen)
        for exp, folder in zip(exps[:2], seen, strict=True):
            manifest = json.loads((reports / exp.id / "manifest.json").read_text("utf-8"))
            assert manifest["parameters"]["en"]["inputs"] == folder
            got[exp.id] = json.loads((reports / exp.id / "result.json").read_text("utf-8"))
            assert SHARED_NOTE in got[exp.id]["notes"]  # type: ignore[operator]
    seen.clear()
    alone = runner.run_all(root, workers=2, share=False, **kw)  # type: ignore[arg-type]
    assert [r.status for r in alone] == ["ok", "ok"] and seen == []
    for exp in exps[:2]:
        mine = json.loads((reports / exp.id / "result.json").read_text(encoding="utf-8"))
        assert SHARED_NOTE not in mine["notes"]
        for k in ("decision", "primary", "secondary", "guardrails", "srm", "uptake", "funnel"):
            assert mine[k] == got[exp.id][k], k


def test_a_report_given_its_inputs_never_opens_the_engine(
        demo: tuple[Path, list[sl.Experiment]], monkeypatch: pytest.MonkeyPatch) -> None:
    """What lets a run on Spark spare each report notebook a Spark session of its own."""
    import supportlab.data.engine as engine_module
    from supportlab.errors import WorkspaceError

    root, exps = demo
    exp = exps[0]
    with sl.Workspace.open(root, read_only=True) as ws:
        inp = shared_inputs(ws, exps[:2])[exp.id]
        own = evaluate(ws, exp, permutations=0)

    def refuse(*args: object, **kwargs: object) -> None:
        raise WorkspaceError("the engine was opened", fix="hand the evaluation its inputs")

    monkeypatch.setattr(engine_module, "connect", refuse)
    with sl.Workspace.open(root, read_only=True) as ws:
        _same(evaluate(ws, exp, permutations=0, inputs=inp), own)
        with pytest.raises(WorkspaceError, match="the engine was opened"):
            evaluate(ws, exp, permutations=0)


@pytest.mark.spark
def test_inputs_read_on_spark_give_the_same_evaluations(
        demo: tuple[Path, list[sl.Experiment]], tmp_path: Path) -> None:
    from helpers import require
    from supportlab.data.engine import connect_spark

    require("java", shutil.which("java") is not None, "Spark needs a Java runtime")
    root, exps = demo
    with sl.Workspace.open(root, read_only=True) as ws:
        ws.export_parquet(tmp_path / "pq")
        spark = connect_spark(tmp_path / "pq", ws.config.timezone)
        shared = shared_inputs(ws, exps, engine=spark)
        assert sorted(shared) == sorted(e.id for e in exps)
        for exp in exps:
            _same(evaluate(ws, exp, permutations=50, inputs=shared[exp.id]),
                  evaluate(ws, exp, permutations=50))


def test_a_failure_to_read_ahead_does_not_stop_the_run(demo: tuple[Path, list[sl.Experiment]],
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    """Reading ahead only saves time: when it breaks, every report reads its own."""
    import supportlab.design.inputs as inputs_module
    from supportlab.report import runner

    root, exps = demo

    def broken(*args: object, **kwargs: object) -> Iterator[object]:
        raise KeyError("a bug in reading ahead")
        yield  # a generator, as the real one

    monkeypatch.setattr(inputs_module, "iter_inputs", broken)
    files = [Path(e.path) for e in exps[:2]]
    with pytest.warns(RuntimeWarning, match="could not be read ahead"):
        got = list(runner._inputs_stream(root, files, None, tmp_path))
    assert got == ["", ""]
