"""``supportlab report`` and ``supportlab run``: notebooks executed into published reports.

One report is the ``experiment_report`` notebook executed by papermill (in this process's
kernel manager; the kernel is the ``python3`` of this environment) once per language, rendered
by :func:`supportlab.report.page.render_notebook` and published under
``reports/<experiment-id>/``:

* ``index.html`` (the experiment's report language) and ``index.<lang>.html`` per language;
* ``result.json``, ``tables/*.csv``, ``summary.md`` (and ``summary.<lang>.md``), written by the
  notebook's ``save()``;
* ``notebook.ipynb`` (and ``notebook.<lang>.ipynb``): the executed notebooks;
* ``manifest.json``: parameters, package versions, git revision, data fingerprint, seed, the
  files' SHA-256.

Safety: parameters are checked before anything runs; a lock (``reports/.locks/<id>.lock``, an
OS file lock released when the process ends, even when killed) keeps two runs of one
experiment apart; everything is written in ``reports/.staging/`` and moved into place only
when every language succeeded, so a failed run keeps the previous good report and writes
``reports/<id>/failed/`` (an error page naming the failing cell, and the executed notebook),
and returns a failed :class:`RunResult` (the command exits non-zero). Each successful report's
decision is appended to the registry's decision log (not for placebo runs). Every run appends
one line to ``reports/runs.jsonl``.

:func:`view` publishes the roll-out targeting and support-score views the same way
(``reports/targeting/``, ``reports/support-score/``). :func:`run_all` reports every active
experiment and the views in worker processes (which only read the workspace), records the
decisions in the order the experiments started, then writes the portfolio
(``reports/index.html``). Every page links to the others that exist.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any

from supportlab.data.workspace import data_fingerprint
from supportlab.errors import ConfigError, SupportlabError, WorkspaceError
from supportlab.report import notebooks
from supportlab.report.page import (
    LANGUAGES,
    check_self_contained,
    esc,
    language_pages,
    render_notebook,
    standalone_page,
)
from supportlab.report.provenance import git_revision, versions

__all__ = ["VIEWS", "RunResult", "active_experiments", "data_fingerprint", "portfolio",
           "record_result", "report", "run_all", "view"]

RUN_LOG = "runs.jsonl"
PORTFOLIO_DIR = "_portfolio"
"""Where the portfolio's result.json, tables, notebook and manifest go (its page is
``reports/index.html``)."""


@dataclass(frozen=True)
class RunResult:
    """One notebook run: what ran, how it ended, where its page is.

    Attributes:
        kind: ``report`` (one experiment) or ``portfolio``.
        id: the experiment id (``portfolio`` for the portfolio).
        status: ``ok`` or ``failed``.
        path: the published page (``index.html``) or, on failure, the error page.
        languages: the languages rendered.
        started: ISO timestamp (UTC).
        finished: ISO timestamp (UTC).
        seconds: wall time.
        error: why it failed (``None`` when ok).
        decision: the computed decision (reports).
        recorded: whether a decision row was appended to the log.
    """

    kind: str
    id: str
    status: str
    path: str
    languages: tuple[str, ...]
    started: str
    finished: str
    seconds: float
    error: str | None = None
    decision: str | None = None
    recorded: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """Whether the run succeeded."""
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON values."""
        d = asdict(self)
        d["languages"] = list(self.languages)
        d["notes"] = list(self.notes)
        return d

    def line(self) -> str:
        """One line for a terminal."""
        if self.ok:
            extra = f" ({self.decision})" if self.decision else ""
            return f"{self.kind} {self.id}: ok in {self.seconds:.1f} s{extra} -> {self.path}"
        return f"{self.kind} {self.id}: FAILED after {self.seconds:.1f} s: {self.error} -> {self.path}"


# ---- small helpers ------------------------------------------------------------------------------
def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _lock_file(f: IO[bytes]) -> bool:
    """Take an exclusive lock on ``f`` without waiting (``False``: another process holds it)."""
    if sys.platform == "win32":  # pragma: no cover - Windows
        import msvcrt

        try:
            msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextmanager
def _run_lock(reports: Path, key: str) -> Iterator[None]:
    """Hold ``reports/.locks/<key>.lock``; refuse when another run holds it."""
    locks = reports / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    path = locks / f"{key}.lock"
    with path.open("a+b") as f:
        if not _lock_file(f):
            f.seek(0)
            holder = f.read().decode("utf-8", "replace").strip() or "another process"
            raise WorkspaceError(f"a run of '{key}' is already in progress ({holder})",
                                 where=str(path),
                                 fix="wait for it to finish; the lock is released when that "
                                     "process ends")
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} since {_now().isoformat()}".encode())
        f.flush()
        # with the lock held, a staging folder of this key is a killed run's leftover
        # (only this key's own folders: <key>-<10 hex>[-failed]; another experiment's id may
        # start with this one's and a hyphen)
        own = re.compile(re.escape(key) + r"-[0-9a-f]{10}(?:-failed)?")
        for stale in (reports / ".staging").glob(f"{key}-*"):
            if own.fullmatch(stale.name):
                shutil.rmtree(stale, ignore_errors=True)
        try:
            yield
        finally:
            f.seek(0)
            f.truncate()


def _append_run_log(reports: Path, result: RunResult) -> None:
    """Append one JSON line to ``reports/runs.jsonl`` (under a lock: runs may be parallel)."""
    reports.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"kind": result.kind, "id": result.id, "lang": ",".join(result.languages),
                       "status": result.status, "started": result.started,
                       "finished": result.finished, "seconds": round(result.seconds, 3),
                       "error": result.error, "path": result.path,
                       "decision": result.decision}, ensure_ascii=False)
    with (reports / RUN_LOG).open("a", encoding="utf-8") as f:
        if os.name != "nt":
            import fcntl

            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        f.write(line + "\n")


def _execute(name: str, output: Path, params: dict[str, Any], *, cwd: Path,
             timeout: float) -> Any:
    """Run notebook ``name`` with ``params`` into ``output``; the whole notebook gets ``timeout``
    seconds (each cell waits at most for what remains).

    The kernel starts in ``cwd`` (nbclient's ``resources.metadata.path``). papermill's own
    ``cwd=`` argument is not used: it changes the whole process's directory and back, which two
    languages run in threads at once would interleave, leaving the caller in another folder."""
    import papermill

    deadline = time.monotonic() + timeout

    def remaining(cell: Any) -> int:
        return max(1, int(deadline - time.monotonic()))

    return papermill.execute_notebook(
        str(notebooks.notebook_path(name)), str(output), parameters=params,
        kernel_name="python3", progress_bar=False, log_output=False,
        resources={"metadata": {"path": str(cwd)}}, timeout_func=remaining,
        extra_arguments=["--IPKernelApp.log_level=CRITICAL"])


def _failure_text(exc: BaseException, *, timeout: float) -> tuple[str, int | None]:
    """What went wrong, in one line, and the failing cell's position in the executed notebook,
    counted from 1 with papermill's injected-parameters cell included (when known)."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        evalue = str(exc.evalue).strip().splitlines()
        return f"{exc.ename}: {evalue[0] if evalue else ''}".strip(), exc.cell_index + 1
    text = str(exc).strip().splitlines()
    if "timeout" in type(exc).__name__.lower() or "timed out" in str(exc).lower():
        return f"the notebook ran longer than its {timeout:g}-second timeout", None
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip(), None


def _publish(stage: Path, target: Path) -> None:
    """Move ``stage`` to ``target``, replacing a previous version (kept until the swap is done)."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        target.rename(old)
    try:
        stage.rename(target)
    except OSError:
        if old is not None:
            old.rename(target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_failure(reports: Path, key: str, stage: Path, *, title: str, lang: str, error: str,
                   cell: int | None, notebook_file: Path | None, had_previous: bool) -> Path:
    """``reports/<key>/failed/``: an error page and the executed notebook; the previous good
    report stays where it was."""
    failed_stage = stage.parent / f"{stage.name}-failed"
    failed_stage.mkdir(parents=True, exist_ok=True)
    if notebook_file is not None and notebook_file.exists():
        shutil.copy2(notebook_file, failed_stage / "notebook.ipynb")
    ja = lang == "ja"
    cell_text = ""
    if cell is not None:
        cell_text = (f"失敗したセル: {cell} 番目（notebook.ipynb の該当セルにエラーが残っています）。" if ja
                     else f"Failing cell: {cell} (counted from 1 in notebook.ipynb, which keeps the cell "
                     "with its error).")
    previous = (("前回の正常なレポートは残っています: <a href=\"../index.html\">../index.html</a>"
                 if ja else "The previous good report is kept: "
                 "<a href=\"../index.html\">../index.html</a>") if had_previous else
                ("正常なレポートはまだありません。" if ja else "There is no good report yet."))
    body = (f'<section class="sl-section"><p class="sl-badge sl-untrusted">⚠ '
            f'{"レポートを作成できませんでした" if ja else "The report could not be produced"}</p>'
            f'<p class="sl-sentence">{esc(error)}</p><p>{esc(cell_text)}</p><p>{previous}</p>'
            f'<p class="sl-muted">{"実行日時" if ja else "Run at"} {esc(_now().isoformat())}</p>'
            "</section>")
    (failed_stage / "index.html").write_text(
        standalone_page(body, lang=lang, title=title), encoding="utf-8")
    target = reports / key / "failed"
    target.parent.mkdir(parents=True, exist_ok=True)
    _publish(failed_stage, target)
    return target / "index.html"


def _record(root: Path, result: dict[str, Any], exp: Any, report_path: str) -> tuple[bool, str]:
    """Append the report's computed decision to the log (from ``result.json``)."""
    from supportlab.data.workspace import Workspace
    from supportlab.design.registry import record_decision

    if result.get("placebo"):
        return False, "placebo (A/A) run: no decision is recorded"
    primary = result.get("primary") or {}
    evaluation = SimpleNamespace(
        experiment_id=result["experiment_id"], package_id=result["package_id"],
        version=result["version"], decision=result["decision"],
        reasons=tuple(result.get("reasons_en") or result.get("reasons") or ()),
        primary=SimpleNamespace(**{k: primary.get(k) for k in
                                   ("effect", "se", "ci_lower", "ci_upper")}),
        metric=result.get("metric"), cohort=result.get("cohort"), placebo=False)
    with Workspace.open(root) as ws:
        rec = record_decision(ws, evaluation, experiment=exp, report=report_path)
    added = not rec.already_recorded
    return added, ("decision recorded" if added else "decision already in the log")


def record_result(root: str | Path, experiment: str | Path, *,
                  reports_dir: str | Path | None = None) -> tuple[bool, str]:
    """Append the computed decision of a published report (its ``result.json``) to the log.

    What :func:`report` does after publishing, for callers that ran reports with
    ``record=False`` (:func:`run_all` records in the order the experiments started, so the
    registry's reproductions follow the calendar and no two processes write the workspace).

    Returns:
        ``(added, note)``: ``added`` is False for a decision already in the log or a placebo run.
    """
    from supportlab.config.experiment import load_experiment
    from supportlab.config.workspace import load_config

    config = load_config(root)
    root_path = config.root.resolve()
    exp = load_experiment(Path(experiment).resolve(), config.experiments_path / "packages")
    reports = Path(reports_dir).resolve() if reports_dir else config.reports_path
    target = reports / exp.id
    result_file = target / "result.json"
    if not result_file.is_file():
        raise WorkspaceError(f"no published report for {exp.id!r}", where=str(result_file),
                             fix=f"run 'supportlab report {experiment}' first")
    result = json.loads(result_file.read_text(encoding="utf-8"))
    return _record(root_path, result, exp, os.path.relpath(target / "index.html", root_path))


def _languages(languages: Sequence[str] | str | None, default: str) -> list[str]:
    if languages is None or languages == "":
        return [default]
    if isinstance(languages, str):
        languages = [default, *[x for x in LANGUAGES if x != default]] if languages == "all" \
            else [languages]
    out: list[str] = []
    for lang in languages:
        if lang not in LANGUAGES:
            raise ConfigError(f"language {lang!r} is not supported", where="--lang",
                              fix="use ja, en or all")
        if lang not in out:
            out.append(lang)
    return out


def _assemble(stage: Path, outs: dict[str, Path], nbs: dict[str, Path], langs: list[str]) -> None:
    """Lay the staged outputs out as published: the first language's files at the top."""
    first = langs[0]
    for item in outs[first].iterdir():
        shutil.move(str(item), str(stage / item.name))
    for lang in langs:
        summary = outs[lang] / "summary.md" if lang != first else stage / "summary.md"
        if summary.exists():
            shutil.copy2(summary, stage / f"summary.{lang}.md")
        shutil.move(str(nbs[lang]), str(stage / (f"notebook.{lang}.ipynb")))
    shutil.copy2(stage / f"notebook.{first}.ipynb", stage / "notebook.ipynb")
    (stage / f"notebook.{first}.ipynb").unlink()
    shutil.rmtree(stage / "_out", ignore_errors=True)


def _manifest(stage: Path, *, kind: str, key: str, params: dict[str, dict[str, Any]],
              root: Path, fingerprint: str | None, seed: Any, started: dt.datetime) -> None:
    files = {str(p.relative_to(stage)): _sha256(p) for p in sorted(stage.rglob("*"))
             if p.is_file()}
    manifest = {"kind": kind, "id": key, "parameters": params, "started": started.isoformat(),
                "finished": _now().isoformat(), "versions": versions(),
                "git": git_revision(root), "data_fingerprint": fingerprint, "seed": seed,
                "notebook": str(notebooks.notebook_path(
                    "experiment_report" if kind == "report" else "portfolio").name),
                "files": files}
    (stage / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2,
                                                    default=str) + "\n", encoding="utf-8")


def _execute_pages(name: str, stage: Path, langs: list[str], params_of: Any, *, root: Path,
                   timeout: float, title_of: Any, meta_of: Any, pages_at: dict[str, str],
                   nav: dict[str, str] | None = None, parallel: bool = False
                   ) -> tuple[dict[str, Path], dict[str, Path]]:
    """Execute ``name`` once per language into ``stage`` and render the pages there; with
    ``parallel`` the languages run at once (one kernel each, in threads: papermill waits on its
    kernel's process), else one after the other. One deadline covers them all."""
    import nbformat

    outs: dict[str, Path] = {}
    nbs: dict[str, Path] = {}
    deadline = time.monotonic() + timeout

    def one(lang: str) -> None:
        out_dir, nb_file = outs[lang], nbs[lang]
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"the notebook ran longer than its {timeout:g}-second timeout")
        _execute(name, nb_file, params_of(lang, out_dir), cwd=root, timeout=left)
        result_file = out_dir / "result.json"
        result = json.loads(result_file.read_text(encoding="utf-8")) if result_file.exists() \
            else {}
        page = render_notebook(nbformat.read(nb_file, as_version=4),  # type: ignore[no-untyped-call]
                               lang=lang,
                               title=title_of(lang, result), meta=meta_of(lang, result),
                               languages=pages_at, nav=nav)
        problems = check_self_contained(page)
        if problems:
            raise SupportlabError("the page is not self-contained: " + "; ".join(problems[:3]),
                                  where=f"{name}.ipynb ({lang})",
                                  fix="a section emits a script or an external reference")
        (stage / f"index.{lang}.html").write_text(page, encoding="utf-8")

    for lang in langs:
        outs[lang] = stage / "_out" / lang
        outs[lang].mkdir(parents=True, exist_ok=True)
        nbs[lang] = stage / f"notebook.{lang}.ipynb"
    if parallel and len(langs) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=len(langs)) as pool:
            futures = [pool.submit(one, lang) for lang in langs]
        for f in futures:  # the first language's failure first, as when run in turn
            f.result()
    else:
        for lang in langs:
            one(lang)
    return outs, nbs


def _staged_run(reports: Path, key: str, *, kind: str, langs: list[str], timeout: float,
                failure_title: str, failure_folder: str, previous_page: Path,
                build: Callable[[Path, dt.datetime], tuple[Path, dict[str, Any]]],
                after: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> RunResult:
    """One locked, staged run: ``build(stage, started)`` executes and publishes, returning the
    published page and the :class:`RunResult` fields it adds; any failure writes
    ``reports/<failure_folder>/failed/`` (the previous good page, ``previous_page``, is kept)
    and returns a failed result. ``after`` runs on success, outside the failure handling (a
    published report stays published). Either way the run is logged in ``runs.jsonl``."""
    with _run_lock(reports, key):
        started = _now()
        t0 = time.monotonic()
        stage = reports / ".staging" / f"{key}-{uuid.uuid4().hex[:10]}"
        stage.mkdir(parents=True)
        had_previous = previous_page.exists()
        try:
            page, extra = build(stage, started)
        except KeyboardInterrupt:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        except Exception as exc:
            error, cell = _failure_text(exc, timeout=timeout)
            tried = sorted(stage.glob("notebook.*.ipynb"))
            page = _write_failure(reports, failure_folder, stage, title=failure_title,
                                  lang=langs[0], error=error, cell=cell,
                                  notebook_file=tried[-1] if tried else None,
                                  had_previous=had_previous)
            shutil.rmtree(stage, ignore_errors=True)
            res = RunResult(kind=kind, id=key, status="failed", path=str(page),
                            languages=tuple(langs), started=started.isoformat(),
                            finished=_now().isoformat(), seconds=time.monotonic() - t0,
                            error=error)
        else:
            if after is not None:
                extra = after(extra)
            res = RunResult(kind=kind, id=key, status="ok", path=str(page),
                            languages=tuple(langs), started=started.isoformat(),
                            finished=_now().isoformat(), seconds=time.monotonic() - t0,
                            **extra)
        _append_run_log(reports, res)
        return res


def _publish_folder(stage: Path, target: Path, outs: dict[str, Path], nbs: dict[str, Path],
                    langs: list[str], *, kind: str, key: str, root: Path,
                    params: dict[str, dict[str, Any]], started: dt.datetime,
                    seed: Any = None) -> Path:
    """A report's or a view's files assembled in ``stage`` (``index.html`` in the first
    language), its manifest with the data fingerprint, then moved to ``target``."""
    from supportlab.data.workspace import Workspace

    _assemble(stage, outs, nbs, langs)
    shutil.copy2(stage / f"index.{langs[0]}.html", stage / "index.html")
    with Workspace.open(root, read_only=True) as ws:
        fingerprint = data_fingerprint(ws)
    _manifest(stage, kind=kind, key=key, root=root, fingerprint=fingerprint, seed=seed,
              params=params, started=started)
    _publish(stage, target)
    return target / "index.html"


#: the published views: notebook name -> folder under reports/
VIEWS: dict[str, str] = {"targeting": "targeting", "support_score": "support-score"}


def _nav(reports: Path, *, here: str, coming: Sequence[str] = ()) -> dict[str, str]:
    """Links from a page (``here``: ``"portfolio"``, a view's name, or ``"experiment"`` for a
    report one folder down) to the published pages that exist or that this run writes."""
    up = "" if here == "portfolio" else "../"
    targets = {"portfolio": "index.html", **{k: f"{v}/index.html" for k, v in VIEWS.items()}}
    return {key: up + rel for key, rel in targets.items()
            if key != here and (key in coming or (reports / rel).exists())}


# ---- the experiment report ------------------------------------------------------------------------
def report(root: str | Path, experiment: str | Path, *,
           languages: Sequence[str] | str | None = None, as_of: str | dt.date | None = None,
           timeout: float = 600, reports_dir: str | Path | None = None, record: bool = True,
           permutations: int = 1000, coming: Sequence[str] = (),
           parallel: bool = True, explore: Sequence[str] = (),
           inputs: str | Path | None = None) -> RunResult:
    """Execute ``experiment_report`` for one experiment and publish ``reports/<id>/``.

    Args:
        root: the workspace folder.
        experiment: the experiment's YAML file.
        languages: ``ja``, ``en``, ``all`` or a list (default: the experiment's report.lang,
            else the workspace's language); the first is the one of ``index.html``.
        as_of: the evaluation date (default: the evaluation's).
        timeout: seconds for all of the report's notebook runs together.
        reports_dir: where reports are published (default: the workspace's ``reports/``).
        record: append the computed decision to the decision log.
        permutations: redraws of the randomization test.
        explore: exploratory segments besides the pre-declared ones (partner attributes).
        coming: published pages (``"portfolio"``, view names) this run will write, linked from
            the page even before they exist.
        parallel: run the languages at once (one kernel each); :func:`run_all`'s workers,
            already one per core, run them in turn.
        inputs: a folder of evaluation inputs read ahead (:func:`run_all` reads them once for
            all its experiments); the notebook reads the logs itself without one.

    Returns:
        The run's :class:`RunResult`; a failed run has ``status == "failed"`` and has written
        ``reports/<id>/failed/`` while keeping the previous good report.

    Raises:
        ConfigError: bad parameters or experiment file (nothing is run or written).
        WorkspaceError: no workspace or no data, or a run of the same experiment in progress.
    """
    from supportlab.config.experiment import load_experiment
    from supportlab.config.workspace import load_config

    config = load_config(root)
    root_path = config.root.resolve()
    if not config.database_path.exists():
        raise WorkspaceError("the workspace holds no data yet", where=str(config.database_path),
                             fix="load data first with 'supportlab ingest' or 'supportlab "
                                 "simulate'")
    exp_path = Path(experiment).resolve()
    exp = load_experiment(exp_path, config.experiments_path / "packages")
    langs = _languages(languages, exp.language or config.language or "en")
    as_of_text = "" if as_of in (None, "") else str(as_of)
    base = {"workspace": str(root_path), "experiment": str(exp_path), "as_of": as_of_text,
            "permutations": permutations, "explore": ",".join(explore),
            "inputs": str(inputs or "")}
    checked = {lang: notebooks.parameters("experiment_report", **base, lang=lang,
                                          output_dir="-") for lang in langs}
    if timeout <= 0:
        raise ConfigError(f"timeout == {timeout}, must be > 0", where="--timeout")
    from supportlab.data.workspace import Workspace
    from supportlab.design.ledger import read_ledger

    with Workspace.open(root_path, read_only=True, config=config) as ws:
        read_ledger(ws, exp.id)  # not assigned: a WorkspaceError now, before a kernel starts
    reports = Path(reports_dir).resolve() if reports_dir else config.reports_path
    key = exp.id
    title = exp.title or exp.package.title or exp.package.id

    def params_of(lang: str, out_dir: Path) -> dict[str, Any]:
        return {**checked[lang], "output_dir": str(out_dir)}

    def meta_of(lang: str, result: dict[str, Any]) -> str:
        word = "評価日" if lang == "ja" else "as of"
        return f"{exp.package.id} v{exp.package.version} · {word} {result.get('as_of', '')}"

    target = reports / key

    def build(stage: Path, started: dt.datetime) -> tuple[Path, dict[str, Any]]:
        outs, nbs = _execute_pages("experiment_report", stage, langs, params_of,
                                   root=root_path, timeout=timeout,
                                   title_of=lambda lang, result: f"{title} — {key}",
                                   meta_of=meta_of, pages_at=language_pages(langs)
                                   if len(langs) > 1 else {},
                                   nav=_nav(reports, here="experiment", coming=coming),
                                   parallel=parallel)
        result = json.loads((outs[langs[0]] / "result.json").read_text(encoding="utf-8"))
        page = _publish_folder(stage, target, outs, nbs, langs, kind="report", key=key,
                               root=root_path, started=started,
                               params={lang: params_of(lang, Path(".")) for lang in langs},
                               seed=getattr(exp.design, "seed", None))
        return page, {"decision": result.get("decision"), "result": result}

    def after(extra: dict[str, Any]) -> dict[str, Any]:
        result = extra.pop("result")
        if record:
            rel = os.path.relpath(target / "index.html", root_path)
            recorded, note = _record(root_path, result, exp, rel)
            extra.update(recorded=recorded, notes=(note,))
        return extra

    return _staged_run(reports, key, kind="report", langs=langs, timeout=timeout,
                       failure_title=f"{title} — {key}", failure_folder=key,
                       previous_page=target / "index.html", build=build, after=after)


# ---- the portfolio ----------------------------------------------------------------------------------
def portfolio(root: str | Path, *, languages: Sequence[str] | str | None = None,
              as_of: str | dt.date | None = None, timeout: float = 600,
              reports_dir: str | Path | None = None,
              packages_dir: str | Path | None = None) -> RunResult:
    """Execute ``portfolio`` and publish ``reports/index.html`` (``index.<lang>.html`` per
    language; result.json, tables, notebook and manifest in ``reports/_portfolio/``)."""
    from supportlab.config.workspace import load_config

    config = load_config(root)
    root_path = config.root.resolve()
    reports = Path(reports_dir).resolve() if reports_dir else config.reports_path
    packages = Path(packages_dir).resolve() if packages_dir else config.experiments_path / \
        "packages"
    langs = _languages(languages, config.language or "en")
    as_of_text = "" if as_of in (None, "") else str(as_of)
    checked = {lang: notebooks.parameters(
        "portfolio", workspace=str(root_path), packages_dir=str(packages),
        reports_dir=str(reports), lang=lang, as_of=as_of_text, output_dir="-")
        for lang in langs}
    key = "portfolio"

    def params_of(lang: str, out_dir: Path) -> dict[str, Any]:
        return {**checked[lang], "output_dir": str(out_dir)}

    def title_of(lang: str, result: dict[str, Any]) -> str:
        return "支援パッケージのポートフォリオ" if lang == "ja" else "Support package portfolio"

    def meta_of(lang: str, result: dict[str, Any]) -> str:
        return ("更新 " if lang == "ja" else "updated ") + _now().strftime("%Y-%m-%d %H:%M UTC")

    pages = {lang: f"index.{lang}.html" for lang in langs} if len(langs) > 1 else {}

    def build(stage: Path, started: dt.datetime) -> tuple[Path, dict[str, Any]]:
        outs, nbs = _execute_pages("portfolio", stage, langs, params_of, root=root_path,
                                   timeout=timeout, title_of=title_of, meta_of=meta_of,
                                   pages_at=pages, nav=_nav(reports, here="portfolio"),
                                   parallel=True)
        _assemble(stage, outs, nbs, langs)
        _manifest(stage, kind="portfolio", key=key, root=root_path, fingerprint=None,
                  seed=None, params={lang: params_of(lang, Path(".")) for lang in langs},
                  started=started)
        # the pages go to reports/ itself, the rest to reports/_portfolio/
        for lang in langs:
            os.replace(stage / f"index.{lang}.html", reports / f".index.{lang}.html.tmp")
        _publish(stage, reports / PORTFOLIO_DIR)
        for lang in langs:
            os.replace(reports / f".index.{lang}.html.tmp", reports / f"index.{lang}.html")
        shutil.copy2(reports / f"index.{langs[0]}.html", reports / ".index.html.tmp")
        os.replace(reports / ".index.html.tmp", reports / "index.html")
        return reports / "index.html", {}

    return _staged_run(reports, key, kind="portfolio", langs=langs, timeout=timeout,
                       failure_title=title_of(langs[0], {}), failure_folder=PORTFOLIO_DIR,
                       previous_page=reports / "index.html", build=build)


def view(root: str | Path, name: str, *, languages: Sequence[str] | str | None = None,
         as_of: str | dt.date | None = None, timeout: float = 600,
         reports_dir: str | Path | None = None, packages_dir: str | Path | None = None,
         top: int = 20, coming: Sequence[str] = (), parallel: bool = True) -> RunResult:
    """Execute a view notebook (``targeting`` or ``support_score``) and publish
    ``reports/targeting/`` or ``reports/support-score/`` (the same files as a report, without a
    decision); a failure keeps the previous good page, like :func:`report`."""
    from supportlab.config.workspace import load_config

    if name not in VIEWS:
        raise ConfigError(f"unknown view {name!r}", where="view",
                          fix="one of " + ", ".join(sorted(VIEWS)))
    config = load_config(root)
    root_path = config.root.resolve()
    if not config.database_path.exists():
        raise WorkspaceError("the workspace holds no data yet", where=str(config.database_path),
                             fix="load data first with 'supportlab ingest' or 'supportlab "
                                 "simulate'")
    reports = Path(reports_dir).resolve() if reports_dir else config.reports_path
    langs = _languages(languages, config.language or "en")
    as_of_text = "" if as_of in (None, "") else str(as_of)
    base: dict[str, Any] = {"workspace": str(root_path), "as_of": as_of_text, "top": top}
    if name == "targeting":
        base["packages_dir"] = str(Path(packages_dir).resolve() if packages_dir
                                   else config.experiments_path / "packages")
    checked = {lang: notebooks.parameters(name, **base, lang=lang, output_dir="-")
               for lang in langs}
    key = VIEWS[name]
    titles = {"targeting": {"ja": "ロールアウト対象", "en": "Roll-out targeting"},
              "support_score": {"ja": "支援スコア", "en": "Support score"}}[name]

    def params_of(lang: str, out_dir: Path) -> dict[str, Any]:
        return {**checked[lang], "output_dir": str(out_dir)}

    def title_of(lang: str, result: dict[str, Any]) -> str:
        return titles.get(lang, titles["en"])

    def meta_of(lang: str, result: dict[str, Any]) -> str:
        word = "基準日" if lang == "ja" else "as of"
        return f"{word} {result.get('as_of', '')}".strip()

    target = reports / key

    def build(stage: Path, started: dt.datetime) -> tuple[Path, dict[str, Any]]:
        outs, nbs = _execute_pages(name, stage, langs, params_of, root=root_path,
                                   timeout=timeout, title_of=title_of, meta_of=meta_of,
                                   pages_at=language_pages(langs) if len(langs) > 1 else {},
                                   nav=_nav(reports, here=name, coming=coming),
                                   parallel=parallel)
        page = _publish_folder(stage, target, outs, nbs, langs, kind="view", key=key,
                               root=root_path, started=started,
                               params={lang: params_of(lang, Path(".")) for lang in langs})
        return page, {}

    return _staged_run(reports, key, kind="view", langs=langs, timeout=timeout,
                       failure_title=title_of(langs[0], {}), failure_folder=key,
                       previous_page=target / "index.html", build=build)


# ---- every active experiment ------------------------------------------------------------------------
def active_experiments(root: str | Path, experiments_dir: str | Path | None = None, *,
                       include_decided: bool = False) -> list[Path]:
    """The experiment files to report: assigned in the workspace and, unless
    ``include_decided``, without a final decision (promote, revise, stop) in the log yet."""
    from supportlab.config.experiment import load_experiment
    from supportlab.config.workspace import load_config
    from supportlab.data.workspace import Workspace

    config = load_config(root)
    folder = Path(experiments_dir) if experiments_dir else config.experiments_path
    files = sorted(p for p in folder.glob("*.y*ml") if p.suffix in (".yaml", ".yml"))
    if not files:
        raise ConfigError("no experiment files", where=str(folder),
                          fix="put EXPERIMENT.yaml files there or pass --experiments DIR")
    with Workspace.open(config.root, read_only=True, config=config) as ws, ws.connection() as con:
        tables = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables").fetchall()}
        assigned = {r[0] for r in con.execute(
            "SELECT DISTINCT experiment_id FROM assignments").fetchall()} \
            if "assignments" in tables else set()
        final: set[str] = set()
        if "decisions" in tables and not include_decided:
            final = {r[0] for r in con.execute(
                "SELECT experiment_id FROM decisions WHERE decision IN "
                "('promote', 'revise', 'stop')").fetchall()}
    out = []
    for f in files:
        exp = load_experiment(f, config.experiments_path / "packages")
        if exp.id in assigned and exp.id not in final:
            out.append(f.resolve())
    return out


def _inputs_stream(root: str | Path, files: Sequence[Path], as_of: str | dt.date | None,
                   folder: Path) -> Generator[str, None, None]:
    """For each of ``files`` in turn, as soon as it is read: a folder under ``folder`` holding
    its evaluation inputs (:func:`supportlab.design.inputs.iter_inputs`, one engine session for
    all), or "" when they could not be read (its report then reads the logs itself, and fails
    with its own message if it must)."""
    from supportlab.config.experiment import load_experiment
    from supportlab.config.workspace import load_config
    from supportlab.data.workspace import Workspace
    from supportlab.design.inputs import EvaluationInputs, SharedInputs, iter_inputs

    config = load_config(root)
    loaded = {}
    for i, f in enumerate(files):
        with contextlib.suppress(SupportlabError):
            loaded[i] = load_experiment(f, config.experiments_path / "packages")
    done = 0
    try:
        with Workspace.open(config.root, read_only=True, config=config) as ws:
            read = iter_inputs(ws, list(loaded.values()), as_of=as_of or None)
            for i in range(len(files)):
                out = ""
                if i in loaded:
                    _, got = next(read)
                    if isinstance(got, EvaluationInputs):
                        out = str(SharedInputs({got.experiment_id: got}, {}, 0.0, 0)
                                  .save(folder / str(i)))
                done += 1
                yield out
    except SupportlabError:  # no workspace, a locked file: every report reads its own
        pass
    except Exception as exc:  # reading ahead only saves time: a failure must not stop the run
        import warnings

        warnings.warn(f"supportlab run: the evaluations' inputs could not be read ahead "
                      f"({type(exc).__name__}: {exc}); each report reads its own",
                      RuntimeWarning, stacklevel=2)
    for _ in range(done, len(files)):
        yield ""


def _report_in_worker(args: tuple[str, str, Any, Any, float, bool, int, tuple[str, ...], str]
                      ) -> RunResult:
    root, target, languages, as_of, timeout, record, permutations, coming, inputs = args
    try:
        if target.startswith("view:"):
            return view(root, target.removeprefix("view:"), languages=languages, as_of=as_of,
                        timeout=timeout, coming=coming, parallel=False)
        return report(root, target, languages=languages, as_of=as_of, timeout=timeout,
                      record=record, permutations=permutations, coming=coming, parallel=False,
                      inputs=inputs or None)
    except SupportlabError as exc:  # a lock held elsewhere, a bad file: a failed line
        now = _now().isoformat()
        return RunResult(kind="view" if target.startswith("view:") else "report",
                         id=Path(target).stem, status="failed", path=str(target),
                         languages=tuple(languages or ()), started=now, finished=now,
                         seconds=0.0, error=str(exc))


def _start_of(path: Path, packages: Path) -> str:
    from supportlab.config.experiment import load_experiment

    try:
        return str(load_experiment(path, packages).design.start)
    except SupportlabError:
        return "9999"


def _record_in_order(root: str | Path, files: Sequence[Path],
                     results: list[RunResult]) -> list[RunResult]:
    """Record the decisions of the successful reports, earliest start first."""
    from supportlab.config.workspace import load_config

    packages = load_config(root).experiments_path / "packages"
    order = sorted(range(len(files)), key=lambda i: (_start_of(files[i], packages), i))
    out = list(results)
    for i in order:
        res = out[i]
        if not res.ok:
            continue
        try:
            added, note = record_result(root, files[i])
        except SupportlabError as exc:
            added, note = False, f"decision not recorded: {exc}"
        out[i] = replace(res, recorded=added, notes=(*res.notes, note))
    return out


def run_all(root: str | Path, *, experiments: Sequence[str | Path] | None = None,
            experiments_dir: str | Path | None = None, workers: int = 2,
            languages: Sequence[str] | str | None = None, as_of: str | dt.date | None = None,
            timeout: float = 600, record: bool = True, permutations: int = 1000,
            include_decided: bool = False, with_portfolio: bool = True,
            with_views: bool = True, share: bool = True) -> list[RunResult]:
    """Report every active experiment and the views (``workers`` processes in parallel),
    record the decisions in the order the experiments started, then the portfolio.

    With ``share`` (and two experiments or more), what the evaluations read from the logs is
    read here, in one engine session for all of them
    (:func:`supportlab.design.inputs.iter_inputs`), and handed to each report notebook as a
    folder of Parquet files as soon as it is read (removed after the run): the notebooks never
    open the engine.

    Returns:
        One :class:`RunResult` per report, then the views', then the portfolio's; failures do
        not stop the others.
    """
    files = [Path(e).resolve() for e in experiments] if experiments is not None else \
        active_experiments(root, experiments_dir, include_decided=include_decided)
    if workers < 1:
        raise ConfigError(f"workers == {workers}, must be >= 1", where="--workers")
    root_s = str(Path(root).resolve())
    views = [f"view:{name}" for name in VIEWS] if with_views else []
    coming = tuple((["portfolio"] if with_portfolio else []) + (list(VIEWS) if with_views else []))
    # workers never write the workspace: decisions are recorded here, one process, in the order
    # the experiments started (a reproduction is a later experiment of the same template)
    def job(target: str, inputs: str) -> tuple[Any, ...]:
        return (root_s, target, languages, as_of, timeout, False, permutations, coming, inputs)

    results: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="supportlab-inputs-") as tmp:
        stream = _inputs_stream(root, files, as_of, Path(tmp)) if share and len(files) > 1 \
            else (s for s in [""] * len(files))
        if workers == 1 or len(files) + len(views) <= 1:
            with contextlib.closing(stream) as read:
                inputs = list(read)  # read first: the reports run here, one after another
            results = [_report_in_worker(job(str(f), i)) for f, i in zip(files, inputs,
                                                                         strict=True)]
            results += [_report_in_worker(job(v, "")) for v in views]
        else:
            with ProcessPoolExecutor(max_workers=min(workers, len(files) + len(views)),
                                     mp_context=get_context("spawn")) as pool:
                # each report starts as soon as its inputs are read, while the next are read
                with contextlib.closing(stream) as read:
                    futures = [pool.submit(_report_in_worker, job(str(f), i))
                               for f, i in zip(files, read, strict=True)]
                futures += [pool.submit(_report_in_worker, job(v, "")) for v in views]
                results = [f.result() for f in futures]
    if record:
        results = _record_in_order(root, files, results[:len(files)]) + results[len(files):]
    if with_portfolio:
        results.append(portfolio(root, languages=languages, as_of=as_of, timeout=timeout))
    return results
