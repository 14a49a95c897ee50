"""Sharing a workspace: notebooks (Jupyter kernels) and scheduled commands in other processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import supportlab as sl
from helpers import PARTNERS, require

PARTNERS_CSV = "partner_id,name,rank,region\nQ1,Delta KK,B,関東\nQ2,Epsilon,C,\n"


def cli(root: Path, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "supportlab.cli", "-C", str(root), *args],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **env})


def start(code: str, *args: str) -> subprocess.Popen[str]:
    """A Python process that prints 'ready' when it holds what the test needs."""
    p = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], text=True,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout is not None
    line = p.stdout.readline().strip()
    if line != "ready":
        p.kill()
        raise AssertionError(f"helper process failed: {line} {p.stderr.read() if p.stderr else ''}")
    return p


def stop(p: subprocess.Popen[str]) -> None:
    p.kill()
    p.wait(timeout=30)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    sl.init_workspace(tmp_path)
    ws = sl.Workspace.open(tmp_path)
    ws.append("partners", PARTNERS)
    return tmp_path


NOTEBOOK = """
    import sys
    import supportlab as sl
    ws = sl.Workspace.open(sys.argv[1])          # a notebook cell keeping its workspace
    eng = sl.connect(ws)
    n = len(eng.execute(eng.table("partners").select("partner_id")))
    print("ready", flush=True)
    sys.stdin.readline()                           # ... a later cell
    print(ws.count("partners"), len(eng.execute(eng.table("partners").select("partner_id"))),
          flush=True)
"""


def test_a_notebook_keeping_a_workspace_does_not_block_commands(root, tmp_path):
    nb = start(NOTEBOOK, str(root))
    try:
        r = cli(root, "validate", SUPPORTLAB_LOCK_TIMEOUT="2")
        assert r.returncode == 0, r.stderr
        assert "workspace valid" in r.stdout
        (tmp_path / "more.csv").write_text(PARTNERS_CSV, encoding="utf-8")
        r = cli(root, "ingest", "partners", str(tmp_path / "more.csv"), SUPPORTLAB_LOCK_TIMEOUT="2")
        assert r.returncode == 0, r.stderr
        assert "loaded 2" in r.stdout
        out, _ = nb.communicate("\n", timeout=60)
        assert out.split() == ["5", "5"]  # the notebook sees the new rows in its next cell
    finally:
        stop(nb)


WRITER = """
    import sys, time
    import supportlab as sl
    ws = sl.Workspace.open(sys.argv[1])
    with ws.transaction() as con:                  # a long write under way
        con.execute("DELETE FROM partners WHERE partner_id = 'P3'")
        print("ready", flush=True)
        time.sleep(float(sys.argv[2]))
"""


def test_a_command_waits_for_a_short_write_then_runs(root):
    writer = start(WRITER, str(root), "1.5")
    try:
        t0 = time.monotonic()
        r = cli(root, "validate", SUPPORTLAB_LOCK_TIMEOUT="30")
        assert r.returncode == 0, r.stderr
        assert time.monotonic() - t0 > 1.0  # it waited for the writer, then read its commit
        assert "partners 2" in r.stdout
    finally:
        stop(writer)


def test_a_held_database_is_named_with_what_to_do(root):
    writer = start(WRITER, str(root), "60")
    try:
        r = cli(root, "validate", SUPPORTLAB_LOCK_TIMEOUT="0.5")
        assert r.returncode != 0
        assert "Traceback" not in r.stderr
        assert "in use by another process" in r.stderr
        assert f"process {writer.pid}" in r.stderr
        assert "ws.close()" in r.stderr
        with pytest.raises(sl.WorkspaceError, match=r"waited 0\.2 s"):
            sl.Workspace.open(root, lock_timeout=0.2).count("partners")
    finally:
        stop(writer)


HOLDER = """
    import sys
    import supportlab as sl
    ws = sl.Workspace.open(sys.argv[1])
    ws.con                                         # low-level access holds the file ...
    print("ready", flush=True)
    sys.stdin.readline()
    ws.close()                                     # ... until ws.close()
    print("closed", flush=True)
    sys.stdin.readline()
"""


def test_ws_close_releases_a_held_connection(root, tmp_path):
    holder = start(HOLDER, str(root))
    try:
        (tmp_path / "more.csv").write_text(PARTNERS_CSV, encoding="utf-8")
        r = cli(root, "ingest", "partners", str(tmp_path / "more.csv"), SUPPORTLAB_LOCK_TIMEOUT="0.5")
        assert r.returncode != 0 and "ws.close()" in r.stderr
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "closed"
        r = cli(root, "ingest", "partners", str(tmp_path / "more.csv"), SUPPORTLAB_LOCK_TIMEOUT="5")
        assert r.returncode == 0, r.stderr
    finally:
        stop(holder)


# -- Jupyter kernels ---------------------------------------------------------------------------

IN_KERNEL = """
import pathlib
import supportlab as sl
root = pathlib.Path({root!r})
ws = sl.Workspace.open(root)
summary = sl.ingest(ws, "partners", root / "more.csv", on_progress=lambda name, p: None)
print("opened", ws.count("partners"), summary.rows_loaded)
"""

#: what DuckDB looks at to decide it runs in a Jupyter kernel: a ``__main__`` without a file and
#: an IPython shell whose config has an ``IPKernelApp`` section; ``ipywidgets`` is then required
#: for any change of the progress bar setting
FAKE_KERNEL = """
import sys, types
sys.modules["ipywidgets"] = None                 # not installed
ipython = types.ModuleType("IPython")
class ZMQInteractiveShell:
    config = {{"IPKernelApp": {{}}}}
ipython.get_ipython = lambda: ZMQInteractiveShell()
sys.modules["IPython"] = ipython
import duckdb
assert "jupyter" in duckdb.connect().execute("SELECT current_setting('duckdb_api')").fetchall()[0][0]
"""


def test_opens_where_duckdb_believes_it_is_in_a_kernel_without_ipywidgets(root):
    (root / "more.csv").write_text(PARTNERS_CSV, encoding="utf-8")
    code = FAKE_KERNEL.format() + IN_KERNEL.format(root=str(root))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["opened", "5", "2"]


def test_opens_in_a_real_jupyter_kernel(root):
    try:
        import ipykernel  # noqa: F401
        import jupyter_client  # noqa: F401
        have = True
    except ImportError:
        have = False
    require("ipykernel and jupyter_client", have, "install the notebook dependencies")
    from jupyter_client.manager import start_new_kernel

    (root / "more.csv").write_text(PARTNERS_CSV, encoding="utf-8")
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        out: list[str] = []
        errors: list[str] = []

        def hook(msg: dict) -> None:
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                errors.append("\n".join(msg["content"]["traceback"]))

        reply = kc.execute_interactive(IN_KERNEL.format(root=str(root)), timeout=120,
                                       output_hook=hook)
        assert reply["content"]["status"] == "ok", errors
        assert "".join(out).split() == ["opened", "5", "2"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
