"""``make lab``: JupyterLab starts on ``notebooks/`` with the project's kernel, serves the lab
page, lists the four notebooks, and a kernel it starts is this environment's Python with
supportlab importable."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = ["experiment_report.ipynb", "portfolio.ipynb", "support_score.ipynb",
             "targeting.ipynb"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, token: str, *, method: str = "GET", body: bytes | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method,
                                 headers={"Authorization": f"token {token}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, resp.read()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    """The Makefile's lab target, on a free port, with a token and no browser."""
    token = secrets.token_hex(16)
    port = _free_port()
    home = tmp_path_factory.mktemp("lab-home")
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTERLAB_SETTINGS_DIR":
           str(home / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces")}
    args = (f"LAB_ARGS=--no-browser --port={port} --ServerApp.port_retries=0 "
            f"--IdentityProvider.token={token} --ServerApp.ip=127.0.0.1")
    proc = subprocess.Popen(["make", "-s", "lab", args], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            _get(f"{base}/api/status", token)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                err = proc.stderr.read() if proc.stderr else ""
                pytest.fail(f"JupyterLab did not start (exit {proc.poll()}):\n{err[-3000:]}")
            time.sleep(0.5)
    yield base, token
    os.killpg(proc.pid, 15)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)


def test_lab_serves_the_notebooks(lab: tuple[str, str]) -> None:
    base, token = lab
    status, page = _get(f"{base}/lab", token)
    assert status == 200 and b"JupyterLab" in page
    _, listing = _get(f"{base}/api/contents", token)
    names = sorted(item["name"] for item in json.loads(listing)["content"])
    assert [n for n in names if n.endswith(".ipynb")] == NOTEBOOKS
    _, nb = _get(f"{base}/api/contents/experiment_report.ipynb", token)
    cells = json.loads(nb)["content"]["cells"]
    assert any("parameters" in c["metadata"].get("tags", []) for c in cells)


def test_lab_kernel_is_the_project_environment(lab: tuple[str, str]) -> None:
    base, token = lab
    _, specs = _get(f"{base}/api/kernelspecs", token)
    spec = json.loads(specs)
    assert spec["default"] == "python3"
    argv0 = spec["kernelspecs"]["python3"]["spec"]["argv"][0]
    # the kernel runs this environment's interpreter (the kernelspec names it, or "python")
    assert argv0 in ("python", "python3", sys.executable) or \
        Path(argv0).resolve() == Path(sys.executable).resolve(), argv0
