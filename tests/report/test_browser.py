"""Every generated page (experiment reports, the portfolio, the two views) opened in a real
headless Chromium (Debian's ``chromium``, driven by Playwright): no failed and no external
requests, no console errors, no "Traceback", every image and chart loaded, Japanese text in a
``ja`` report, and hostile titles and partner names shown as text (no dialog opens). A
screenshot of each page is kept in ``$SUPPORTLAB_ARTIFACTS`` (default ``.artifacts/screenshots``
at the repository root) for CI to collect.

Chromium is optional on a laptop (the tests skip) and required under ``CI=true`` (they fail).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import supportlab as sl
from helpers import delivered_workspace, require

pytestmark = pytest.mark.slow

HOSTILE = "<script>alert(1)</script>"
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("SUPPORTLAB_ARTIFACTS", REPO / ".artifacts" / "screenshots"))


def _chromium() -> str:
    path = os.environ.get("SUPPORTLAB_CHROMIUM") or shutil.which("chromium") \
        or shutil.which("chromium-browser")
    require("chromium", path is not None, "install it with 'apt-get install chromium' (.ci/run "
            "does), or point SUPPORTLAB_CHROMIUM at a Chromium binary")
    assert path is not None
    return path


@dataclass
class PageVisit:
    """What a browser saw while loading one page."""

    url: str
    text: str
    html: str
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    broken_images: int = 0
    images: int = 0
    svgs: int = 0


@pytest.fixture(scope="module")
def browser():
    path = _chromium()
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True,
                              args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def visit(browser, page_path: Path, shot: str) -> PageVisit:
    """Open ``page_path`` (a file) and record requests, console errors, dialogs and images."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    seen = PageVisit(url=page_path.resolve().as_uri(), text="", html="")
    page.on("request", lambda r: seen.requests.append(r.url))
    page.on("requestfailed", lambda r: seen.failed.append(f"{r.url} ({r.failure})"))
    page.on("console", lambda m: seen.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen.console_errors.append(str(e)))

    def _dialog(d) -> None:
        seen.dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", _dialog)
    page.goto(seen.url, wait_until="load")
    page.wait_for_timeout(200)
    seen.text = page.inner_text("body")
    seen.html = page.content()
    seen.images = page.evaluate("document.images.length")
    seen.broken_images = page.evaluate(
        "Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).length")
    seen.svgs = page.evaluate("document.querySelectorAll('svg').length")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{shot}.png"), full_page=True)
    page.close()
    return seen


def assert_clean(seen: PageVisit) -> None:
    external = [u for u in seen.requests if not u.startswith(("file://", "data:", "about:"))]
    assert not external, f"{seen.url} made external requests: {external[:5]}"
    assert not seen.failed, f"{seen.url}: failed requests {seen.failed[:5]}"
    assert not seen.console_errors, f"{seen.url}: console errors {seen.console_errors[:5]}"
    assert not seen.dialogs, f"{seen.url} opened a dialog: {seen.dialogs}"
    assert "Traceback" not in seen.text, f"{seen.url} shows a traceback"
    assert seen.broken_images == 0, f"{seen.url}: {seen.broken_images} images did not load"


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A workspace whose package is titled with a script tag, its report in both languages and
    the portfolio, all made by the real commands in a child process."""
    root = tmp_path_factory.mktemp("browser")
    exp = delivered_workspace(root, title=HOSTILE)
    with sl.Workspace.open(root) as ws, ws.transaction() as con:  # every partner's name, too
        con.execute("UPDATE partners SET name = ? || ' ' || partner_id", [HOSTILE])
    cli = [sys.executable, "-m", "supportlab.cli", "-C", str(root)]
    for args in (["report", str(exp), "--lang", "all"], ["run"]):
        done = subprocess.run([*cli, *args], capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"supportlab {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return root / "reports", exp.stem


def test_experiment_report_pages_are_clean_in_both_languages(browser, published):
    reports, eid = published
    pages = sorted((reports / eid).glob("index*.html"))
    # index.html (the experiment's language) and one page per language
    assert [p.name for p in pages] == ["index.en.html", "index.html", "index.ja.html"], pages
    langs = set()
    for path in pages:
        seen = visit(browser, path, f"{eid}-{path.stem}")
        assert_clean(seen)
        assert seen.svgs >= 2, f"{path}: expected its charts as SVG, found {seen.svgs}"
        assert HOSTILE in seen.text, "the hostile package title must appear as text"
        lang = "ja" if '<html lang="ja"' in seen.html else "en"
        langs.add(lang)
        if lang == "ja":
            assert any("\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff"
                       for ch in seen.text), f"{path}: no Japanese text in a ja report"
        other = "en" if lang == "ja" else "ja"
        assert f"index.{other}.html" in seen.html, f"{path}: no link to the {other} page"
    assert langs == {"ja", "en"}


def test_portfolio_pages_are_clean(browser, published):
    reports, _ = published
    pages = sorted(reports.glob("index*.html"))
    assert pages, "the portfolio page was not written"
    for path in pages:
        seen = visit(browser, path, f"portfolio-{path.stem}")
        assert_clean(seen)
        assert HOSTILE in seen.text


def test_view_pages_are_clean_and_show_hostile_partner_names_as_text(browser, published):
    reports, _ = published
    for folder in ("targeting", "support-score"):
        pages = sorted((reports / folder).glob("index*.html"))
        assert pages, f"reports/{folder} was not written"
        for path in pages:
            seen = visit(browser, path, f"{folder}-{path.stem}")
            assert_clean(seen)
            assert seen.svgs >= 1, f"{path}: expected its charts as SVG"
    score = (reports / "support-score" / "index.html")
    seen = visit(browser, score, "support-score-partners")
    assert HOSTILE in seen.text, "partner names must appear, as text"
