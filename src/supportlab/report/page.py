"""The self-contained report page: the project's nbconvert template, the stylesheet, checks.

A report page is one HTML file that a reader can open from a disk, a mail attachment or a file
share, with no network: no scripts, no styles or fonts from elsewhere, charts as inline SVG with
glyph outlines, print CSS so the same file prints to PDF, ``lang`` set on the root element.

:func:`render_notebook` turns an executed notebook into such a page through nbconvert's
:class:`~nbconvert.HTMLExporter` with the template shipped in ``templates/supportlab`` (rich
outputs only: no code, no stdout or stderr blocks, no tracebacks, no JavaScript). Markdown cells
before the ``parameters`` cell are the notebook's own instructions and are left out of the page.
:func:`standalone_page` wraps HTML that does not come from a notebook (the error page of a
failed run). :func:`check_self_contained` lists what would make a page depend on the network.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

from supportlab.report.sections import escape

MAX_PAGE_BYTES = 1_500_000
"""A report page's size limit (1.5 MB): it must travel as a mail attachment."""

LANGUAGES = ("ja", "en")

TEMPLATE_NAME = "supportlab"

esc = escape
"""HTML-escape a data or configuration value (the same function as ``sections.escape``)."""

CSS = """
:root { --ink: #1d2330; --muted: #5d6675; --line: #d9dde4; --bg: #ffffff; --soft: #f4f6f9;
  --promote: #116b3a; --revise: #8a4b00; --continue: #3a4f7a; --stop: #8b1c1c;
  --untrusted: #8b1c1c; --accent: #2557a7; }
* { box-sizing: border-box; }
html { font-size: 15px; }
body { margin: 0; color: var(--ink); background: var(--bg);
  font-family: "Hiragino Sans", "Hiragino Kaku Gothic ProN", "Noto Sans CJK JP", "Noto Sans JP",
    "Yu Gothic", Meiryo, system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
  line-height: 1.55; }
main.sl-page { max-width: 68rem; margin: 0 auto; padding: 1.5rem 1.25rem 3rem; }
h1 { font-size: 1.6rem; margin: .2rem 0 1rem; }
h2 { font-size: 1.25rem; margin: 0 0 .6rem; }
h3 { font-size: 1.05rem; margin: .8rem 0 .4rem; }
a { color: var(--accent); }
.sl-header { display: flex; justify-content: space-between; align-items: baseline; gap: 1rem;
  border-bottom: 2px solid var(--ink); margin-bottom: 1.2rem; flex-wrap: wrap; }
.sl-header .sl-meta { color: var(--muted); font-size: .9rem; }
main.sl-page .sl-notebook-only { display: none; }  /* the header says it on a page */
.sl-lang-switch { font-size: .9rem; }
.sl-nav { font-size: .85rem; color: var(--muted); margin-bottom: .4rem; }
.sl-nav a { color: inherit; }
.sl-lang-switch a, .sl-lang-switch span { margin-left: .6rem; }
.sl-lang-switch span { font-weight: 700; }
.sl-section { border: 1px solid var(--line); border-radius: 6px; padding: 1rem 1.2rem;
  margin: 0 0 1.1rem; background: var(--bg); }
.sl-badge { display: inline-block; font-weight: 700; font-size: 1.15rem; letter-spacing: .02em;
  padding: .25rem .8rem; border-radius: 4px; color: #fff; margin: 0 0 .6rem; }
.sl-promote { background: var(--promote); }
.sl-revise { background: var(--revise); }
.sl-continue { background: var(--continue); }
.sl-stop { background: var(--stop); }
.sl-untrusted { background: var(--untrusted); }
.sl-sentence { font-size: 1.15rem; font-weight: 600; margin: .3rem 0 .8rem; }
.sl-gate { border-left: 4px solid var(--untrusted); padding: .3rem .8rem; background: #fbeeee;
  margin-bottom: .8rem; }
.sl-muted { color: var(--muted); opacity: .75; }
.sl-callout { background: var(--soft); border-left: 4px solid var(--accent); padding: .5rem .9rem;
  margin: .6rem 0; }
.sl-caveats { color: var(--muted); margin: .4rem 0 0; padding-left: 1.2rem; }
.sl-kpis { display: flex; flex-wrap: wrap; gap: .6rem; margin: .6rem 0; }
.sl-kpi { flex: 1 1 9rem; background: var(--soft); border-radius: 5px; padding: .5rem .7rem; }
.sl-kpi b { display: block; font-size: 1.2rem; font-variant-numeric: tabular-nums; }
.sl-kpi span { color: var(--muted); font-size: .85rem; }
.sl-table { border-collapse: collapse; width: 100%; margin: .4rem 0 .8rem; font-size: .92rem; }
.sl-table th, .sl-table td { border-bottom: 1px solid var(--line); padding: .3rem .5rem;
  text-align: left; vertical-align: top; }
.sl-table th { background: var(--soft); font-weight: 600; }
.sl-table td.num, .sl-table th.num { text-align: right; font-variant-numeric: tabular-nums;
  white-space: nowrap; }
.sl-figure { margin: .6rem 0 1rem; }
.sl-figure svg { width: 100%; height: auto; max-width: 52rem; display: block; }
.sl-figure img { max-width: 100%; }
.sl-figure figcaption { color: var(--muted); font-size: .85rem; }
.sl-appendix summary { cursor: pointer; font-weight: 600; }
.sl-appendix pre, pre.sl-text { white-space: pre-wrap; word-break: break-word;
  background: var(--soft); padding: .6rem; border-radius: 4px; font-size: .82rem; }
.sl-cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(19rem, 1fr));
  gap: .9rem; margin: .4rem 0 1rem; }
.sl-card { border: 1px solid var(--line); border-radius: 6px; padding: .8rem 1rem; }
.sl-card h3 { margin-top: 0; }
.sl-rating { font-weight: 700; letter-spacing: .05em; }
.sl-warn { color: var(--revise); font-weight: 600; }
.sl-ok { color: var(--promote); font-weight: 600; }
.sl-fail { color: var(--stop); font-weight: 700; }
tr.sl-fail td { background: #fbeeee; }
.sl-footer { color: var(--muted); font-size: .8rem; margin-top: 2rem;
  border-top: 1px solid var(--line); padding-top: .6rem; }
@media print {
  html { font-size: 11pt; }
  main.sl-page { max-width: none; padding: 0; }
  .sl-lang-switch, .sl-nav { display: none; }
  .sl-section, .sl-card, .sl-figure, .sl-table tr { break-inside: avoid; }
  .sl-section { border: none; padding: 0; margin-bottom: 1.2rem; }
  .sl-appendix details { display: block; }
  .sl-appendix details > *:not(summary) { display: block; }
  a { color: inherit; text-decoration: none; }
  .sl-badge, .sl-kpi, .sl-table th, tr.sl-fail td, .sl-gate
    { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""
"""The page stylesheet (screen and print); every class a report section uses is defined here."""

_LANG_NAMES = {"ja": "日本語", "en": "English"}


def _version() -> str:
    from supportlab import __version__

    return __version__


def template_dir() -> Path:
    """The folder holding the project's nbconvert templates (``supportlab/``)."""
    return Path(str(files("supportlab.report") / "templates"))


def lang_switch(current: str, pages: Mapping[str, str]) -> str:
    """Links between the language versions of one page.

    Args:
        current: the page's language.
        pages: language -> relative link (``{"ja": "index.ja.html", "en": "index.en.html"}``).

    Returns:
        HTML (empty when there is one language only).
    """
    if len(pages) < 2:
        return ""
    parts = []
    for lang, href in pages.items():
        name = _LANG_NAMES.get(lang, lang)
        if lang == current:
            parts.append(f'<span lang="{esc(lang)}">{esc(name)}</span>')
        else:
            parts.append(f'<a href="{esc(href)}" hreflang="{esc(lang)}" lang="{esc(lang)}">'
                         f"{esc(name)}</a>")
    return '<nav class="sl-lang-switch">' + "".join(parts) + "</nav>"


#: the published pages a page can link to, in the navigation line
NAV_WORDS: dict[str, dict[str, str]] = {
    "en": {"portfolio": "Portfolio", "targeting": "Roll-out targeting",
           "support_score": "Support score"},
    "ja": {"portfolio": "ポートフォリオ", "targeting": "ロールアウト対象",
           "support_score": "支援スコア"},
}


def nav_links(lang: str, links: Mapping[str, str] | None) -> str:
    """The navigation line between published pages (page key -> relative link); the keys are
    those of :data:`NAV_WORDS`, unknown keys are shown as they are."""
    if not links:
        return ""
    words = NAV_WORDS.get(lang, NAV_WORDS["en"])
    parts = [f'<a href="{esc(href)}">{esc(words.get(key, key))}</a>'
             for key, href in links.items()]
    label = "ページ" if lang == "ja" else "Pages"
    return f'<nav class="sl-nav" aria-label="{label}">' + " · ".join(parts) + "</nav>"


def page_header(title: str, *, lang: str, meta: str = "",
                languages: Mapping[str, str] | None = None,
                nav: Mapping[str, str] | None = None) -> str:
    """The page's heading line: title, a muted meta line, the language switch, and the links to
    the other published pages (``nav``)."""
    switch = lang_switch(lang, languages or {})
    meta_html = f'<div class="sl-meta">{esc(meta)}</div>' if meta else ""
    return (f"{nav_links(lang, nav)}"
            f'<header class="sl-header"><div><h1>{esc(title)}</h1>{meta_html}</div>'
            f"{switch}</header>")


def page_footer(*, lang: str, note: str = "") -> str:
    """The page's footer line (generator and version; ``note`` is escaped)."""
    word = "作成" if lang == "ja" else "Made with"
    extra = f" · {esc(note)}" if note else ""
    return f'<footer class="sl-footer">{word} supportlab {esc(_version())}{extra}</footer>'


def _page_notebook(nb: Any) -> Any:
    """A copy of ``nb`` marked for the page: cells before ``parameters`` and the parameter cells
    themselves are not rendered."""
    out = copy.deepcopy(nb)
    seen_parameters = False
    for cell in out.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "parameters" in tags or "injected-parameters" in tags:
            seen_parameters = True
            cell.metadata["sl_render"] = False
        elif not seen_parameters:
            cell.metadata["sl_render"] = False
    return out


def render_notebook(nb: Any, *, lang: str, title: str, meta: str = "",
                    languages: Mapping[str, str] | None = None, footer_note: str = "",
                    nav: Mapping[str, str] | None = None) -> str:
    """An executed notebook as one self-contained page.

    Args:
        nb: the executed notebook (an ``nbformat`` node).
        lang: ``ja`` or ``en`` (set as the root element's ``lang``).
        title: the page title (escaped).
        meta: a muted line under the title (escaped).
        languages: the other language versions, for the switch (language -> relative link).
        footer_note: appended to the footer (escaped).
        nav: links to the other published pages (see :func:`nav_links`).

    Returns:
        The page's HTML.
    """
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(  # type: ignore[no-untyped-call]
        template_name=TEMPLATE_NAME, extra_template_basedirs=[str(template_dir())])
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    resources = {"sl": {"lang": lang, "title": title, "css": CSS, "version": _version(),
                        "top": page_header(title, lang=lang, meta=meta, languages=languages,
                                           nav=nav),
                        "bottom": page_footer(lang=lang, note=footer_note)}}
    body, _ = exporter.from_notebook_node(_page_notebook(nb), resources=resources)
    return str(body)


def standalone_page(body_html: str, *, lang: str, title: str, meta: str = "",
                    languages: Mapping[str, str] | None = None) -> str:
    """A page around HTML that does not come from a notebook (``body_html`` is trusted: escape
    data values before)."""
    return ("<!DOCTYPE html>\n"
            f'<html lang="{esc(lang)}">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            f'<main class="sl-page">\n{page_header(title, lang=lang, meta=meta, languages=languages)}'
            f"\n{body_html}\n{page_footer(lang=lang)}\n</main>\n</body>\n</html>\n")


_EXTERNAL = re.compile(
    r"""(?:\b(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//)"""
    r"""|(?:url\(\s*["']?\s*(?:https?:)?//)|(?:@import\b)""", re.IGNORECASE)
_SCRIPT = re.compile(r"<script\b", re.IGNORECASE)
_LANG = re.compile(r"<html\b[^>]*\blang=\"(ja|en)\"", re.IGNORECASE)
_XLINK_OK = re.compile(r"""href\s*=\s*["']https?://www\.w3\.org/""", re.IGNORECASE)


def check_self_contained(page: str, *, max_bytes: int = MAX_PAGE_BYTES) -> list[str]:
    """What would make ``page`` depend on the network or break the page rules (empty: none).

    Checks: no ``<script>``, no reference to another host (``src``/``href``/``url()`` to
    ``http(s)://`` or ``//``, ``@import``; SVG namespace declarations are not references), the
    size limit, ``lang`` set to ``ja`` or ``en`` on the root element.
    """
    problems: list[str] = []
    size = len(page.encode("utf-8"))
    if size > max_bytes:
        problems.append(f"the page is {size:,} bytes, over the {max_bytes:,}-byte limit")
    if _SCRIPT.search(page):
        problems.append("the page holds a <script> element")
    for m in _EXTERNAL.finditer(page):
        if _XLINK_OK.match(page, m.start()):
            continue
        snippet = page[max(0, m.start() - 20): m.end() + 40].replace("\n", " ")
        problems.append(f"external reference: …{snippet}…")
        if len(problems) > 10:
            break
    if not _LANG.search(page):
        problems.append('the root element has no lang="ja" or lang="en"')
    return problems


def language_pages(languages: Sequence[str]) -> dict[str, str]:
    """The relative links of a report's language versions (``index.<lang>.html``)."""
    return {lang: f"index.{lang}.html" for lang in languages}
