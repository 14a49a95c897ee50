"""Charts of the report pages: deterministic matplotlib SVG that needs no font on the reader's side.

Every chart is drawn on a bare :class:`matplotlib.figure.Figure` (never pyplot, never
``matplotlib.use``) inside an ``rc_context`` that writes glyphs as outlines (``svg.fonttype =
'path'``) with a fixed hash salt and no date, so the same input gives byte-identical SVG. Text is
set in IPAexGothic, registered once from the ``matplotlib_fontja`` package's directory (its import
side effect is not relied on), so Japanese renders on any machine. The SVG loses its XML prolog,
comments and metadata and scales to its container (``width="100%"``, ``viewBox`` kept), ready to be
inlined in a page.

Each function returns a :class:`Chart`: the SVG, an ``alt`` text that carries the key numbers (for
screen readers and for readers of the page without images) and the title. Empty or all-missing
input gives a chart that says "no data" (``データなし``) instead of failing.

Example:
    >>> c = effect_chart(0.42, 0.07, 0.77, min_effect=0.2, lang="en", title="Primary effect")
    >>> c.alt
    'Effect 0.42 (95% CI 0.07 to 0.77); worth a template from 0.20.'
    >>> c.svg.startswith("<svg") and "<text" not in c.svg
    True
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import importlib.util
import io
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from supportlab.report.sections import escape
from supportlab.report.text import DECISION_WORDS, fmt_ci, fmt_date, fmt_num, fmt_pct, fmt_yen

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: the family the charts are set in (from ``matplotlib_fontja``)
FONT_FAMILY = "IPAexGothic"
#: the fallback when the font package is missing (Latin only)
FALLBACK_FAMILY = "DejaVu Sans"
#: figure width in inches (the SVG then scales to its container)
WIDTH = 7.0

#: bar colours by decision (``None``: not decided yet); colour-blind safe (Okabe–Ito)
DECISION_COLOURS: dict[str | None, str] = {
    "promote": "#009E73", "revise": "#E69F00", "continue": "#56B4E9", "stop": "#D55E00",
    None: "#999999",
}
#: arm colours (control first)
ARM_COLOURS = ("#7f7f7f", "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00")
_INK, _MUTED, _BAND = "#222222", "#666666", "#009E73"

_YEN_UNITS = frozenset({"yen", "円", "¥"})
_NO_DATA = {"en": "no data", "ja": "データなし"}
_PENDING = {"en": "not decided", "ja": "判定前"}


@dataclass(frozen=True)
class Chart:
    """An inline SVG chart with its text alternative.

    Attributes:
        svg: the ``<svg>`` element (no XML prolog), responsive.
        alt: what the chart shows, in words and numbers.
        title: the caption.
    """

    svg: str
    alt: str
    title: str

    def html(self) -> str:
        """``<figure class="sl-figure">`` with the SVG under ``role="img"`` and the caption."""
        return (f'<figure class="sl-figure"><div role="img" aria-label="{escape(self.alt)}">'
                f"{self.svg}</div><figcaption>{escape(self.title)}</figcaption></figure>")

    def _repr_html_(self) -> str:
        return self.html()

    def __str__(self) -> str:
        return self.html()


@dataclass(frozen=True)
class ForestRow:
    """One row of a forest chart.

    Attributes:
        label: the segment or experiment.
        effect: the estimate.
        lower: the interval's lower end.
        upper: the interval's upper end.
        n: units behind the row (shown beside the label).
        note: a short note shown after the label (e.g. ``exploratory``).
        emphasis: a pooled row, drawn as a diamond.
    """

    label: str
    effect: float
    lower: float
    upper: float
    n: int | None = None
    note: str = ""
    emphasis: bool = False


@dataclass(frozen=True)
class TimelineItem:
    """One bar of a timeline.

    Attributes:
        label: the experiment or package.
        start: first day.
        end: last day.
        decision: ``promote``, ``revise``, ``continue``, ``stop`` or ``None`` (not decided).
    """

    label: str
    start: dt.date
    end: dt.date
    decision: str | None


# -- rendering ----------------------------------------------------------------------------------


@functools.cache
def font_path() -> Path | None:
    """The IPAexGothic ``.ttf`` inside the ``matplotlib_fontja`` package (found without importing
    it), or ``None`` when the package is not installed."""
    spec = importlib.util.find_spec("matplotlib_fontja")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        found = sorted(Path(loc).rglob("*.ttf"))
        if found:
            return found[0]
    return None


@functools.cache
def _family() -> str:
    """Register the Japanese font once; the family to use."""
    path = font_path()
    if path is None:
        return FALLBACK_FAMILY
    from matplotlib import font_manager

    font_manager.fontManager.addfont(str(path))
    return font_manager.FontProperties(fname=str(path)).get_name()


def _rc() -> dict[str, Any]:
    return {"svg.fonttype": "path", "svg.hashsalt": "supportlab", "axes.unicode_minus": False,
            "font.family": [_family(), FALLBACK_FAMILY], "font.size": 9.0,
            "axes.edgecolor": "#bbbbbb", "axes.labelcolor": _INK, "xtick.color": _MUTED,
            "ytick.color": _INK, "axes.spines.top": False, "axes.spines.right": False,
            "svg.image_inline": True, "path.simplify": True,
            "text.parse_math": False}  # a "$" in a label is a dollar sign, not math


_PROLOG = re.compile(r"\A.*?(?=<svg\b)", re.S)
_COMMENT = re.compile(r"<!--.*?-->\s*", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_SIZE = re.compile(r'(<svg\b[^>]*?)\swidth="[^"]*"\s+height="[^"]*"')


_ID = re.compile(r'(\bid="|href="#|url\(#)([^")]+)')


def _clean_svg(raw: str) -> str:
    """Inline-ready: no prolog/DOCTYPE, comments or metadata; width 100%, viewBox kept; ids
    prefixed with a digest of the chart (several charts on one page keep unique ids) and the
    stylesheet scoped to this chart."""
    svg = _PROLOG.sub("", raw, count=1)
    svg = _COMMENT.sub("", svg)
    svg = _METADATA.sub("", svg, count=1)
    prefix = "c" + hashlib.sha1(svg.encode("utf-8")).hexdigest()[:8]
    svg = _ID.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", svg)
    svg = svg.replace("*{stroke-linejoin", f"#{prefix}-chart *{{stroke-linejoin", 1)
    svg = _SIZE.sub(rf'\1 id="{prefix}-chart" class="sl-chart" width="100%" '
                    'style="height:auto;max-width:100%"', svg, count=1)
    return svg.strip() + "\n"


def _render(height: float, draw: Callable[[Figure], None]) -> str:
    """Draw on a fresh figure inside the chart's rc context and return the cleaned SVG."""
    import matplotlib as mpl
    from matplotlib.figure import Figure

    rc: Any = _rc()
    with mpl.rc_context(rc):
        fig = Figure(figsize=(WIDTH, height), dpi=72, layout="constrained")
        draw(fig)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return _clean_svg(buf.getvalue())


def _title(ax: Axes, title: str) -> None:
    ax.set_title(title, loc="left", fontsize=11, color=_INK)


def _no_data(title: str, lang: str) -> Chart:
    word = _NO_DATA.get(lang, _NO_DATA["en"])

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        _title(ax, title)
        ax.set_axis_off()
        ax.text(0.5, 0.5, word, ha="center", va="center", fontsize=12, color=_MUTED,
                transform=ax.transAxes)

    return Chart(svg=_render(1.6, draw), alt=f"{title}: {word}", title=title)


def _ok(*xs: float | None) -> bool:
    return all(x is not None and math.isfinite(x) for x in xs)


def _span(values: Sequence[float], pad: float = 0.08) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    width = hi - lo or max(abs(hi), 1.0)
    return lo - pad * width, hi + pad * width


def _tick(x: float, _pos: int | None = None) -> str:
    """A tick label: ``1,500,000``, ``0.25``, ``-2`` (plain digits, no offset or exponent)."""
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.6g}"


def _plain_ticks(ax: Axes, axis: str = "x") -> None:
    """Plain number tick labels (matplotlib would write ``1e6`` offsets and math text)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_formatter(FuncFormatter(_tick))
    target.set_minor_formatter(NullFormatter())


def _suffix(unit: str) -> str:
    """`` partners`` after a number; Japanese units (``件``, ``円``) follow without a space."""
    if not unit:
        return ""
    return unit if not unit[0].isascii() else f" {unit}"


# -- charts -------------------------------------------------------------------------------------


def effect_chart(effect: float, lower: float, upper: float, *, min_effect: float | None,
                 lang: str = "en", title: str = "", unit: str = "", level: float = 0.95,
                 digits: int = 2) -> Chart:
    """The estimate with its interval as a bar against zero, and the band ``≥ min_effect``
    that is worth a template shaded.

    Args:
        effect: the estimate.
        lower: the interval's lower end.
        upper: the interval's upper end.
        min_effect: the smallest effect worth a template (``None``: no band).
        lang: ``en`` or ``ja``.
        title: the caption (also drawn in the chart).
        unit: appended to the numbers (``partners``, ``件``...); ``yen``, ``円`` or ``¥``
            format them as money (:func:`~supportlab.report.text.fmt_yen`).
        level: the interval's confidence level.
        digits: decimals of the numbers.

    Returns:
        The chart; its alt text gives the estimate, the interval and ``min_effect``.
    """
    if not _ok(effect, lower, upper):
        return _no_data(title, lang)
    ja = lang == "ja"
    band = min_effect if min_effect is not None and math.isfinite(min_effect) else None
    money = unit in _YEN_UNITS

    def num(x: float | None) -> str:
        return fmt_yen(x, lang) if money else fmt_num(x, digits)

    u = "" if money else _suffix(unit)
    e_txt = num(effect)
    ci = fmt_ci(lower, upper, digits, lang, level=level, fmt=num)
    if ja:
        alt = f"効果 {e_txt}{u}（{ci}）"
        alt += f"。テンプレート化の基準は{num(band)}{u}以上。" if band is not None else "。"
    else:
        alt = f"Effect {e_txt}{u} ({ci})"
        alt += f"; worth a template from {num(band)}{u}." if band is not None else "."

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        _title(ax, title)
        pts = [0.0, lower, upper, effect] + ([band] if band is not None else [])
        x0, x1 = _span(pts, 0.12)
        if band is not None:
            x1 = max(x1, band + 0.25 * (x1 - x0))
            ax.axvspan(band, x1, color=_BAND, alpha=0.12, lw=0)
            ax.axvline(band, color=_BAND, lw=1, ls="--")
            lab = (f"テンプレート化の基準（{num(band)}以上）" if ja
                   else f"worth a template (≥ {num(band)})")
            ax.text(band, 0.92, " " + lab, color="#00664a", fontsize=8, va="top",
                    transform=ax.get_xaxis_transform())
        ax.axvline(0, color=_INK, lw=1)
        ax.barh([0], [upper - lower], left=[lower], height=0.32, color="#0072B2", alpha=0.35)
        ax.plot([effect], [0], marker="o", ms=8, color="#0072B2", zorder=3)
        ax.annotate(e_txt, (effect, 0), xytext=(0, 10), textcoords="offset points",
                    ha="center", fontsize=9, color=_INK)
        for x in (lower, upper):
            ax.annotate(num(x), (x, 0), xytext=(0, -16), textcoords="offset points",
                        ha="center", fontsize=8, color=_MUTED)
        ax.set_xlim(x0, x1)
        ax.set_ylim(-0.8, 0.8)
        ax.set_yticks([])
        ax.spines["left"].set_visible(False)
        _plain_ticks(ax)
        ax.set_xlabel(("効果" if ja else "effect") + (f"（{unit}）" if ja and unit else
                                                   f" ({unit})" if unit else ""))

    return Chart(svg=_render(2.0, draw), alt=alt, title=title)


#: characters of a forest row's label per line before it wraps (a longer label would push the
#: plot out of the figure's fixed width)
LABEL_CHARS = 34


def _row_label(r: ForestRow, wrap: bool = False) -> str:
    """The row's label with its n and note; with ``wrap``, on lines of at most
    :data:`LABEL_CHARS` characters (broken at `` · ``, then spaces, then anywhere)."""
    extra = (f"(n={r.n:,})" if r.n is not None else "") + (f" [{r.note}]" if r.note else "")
    if not wrap:
        return r.label + (" " + extra.strip() if extra else "")
    import textwrap

    lines: list[str] = []
    for part in r.label.split(" · "):
        lines += textwrap.wrap(part, LABEL_CHARS, break_long_words=True) or [""]
    tail = extra.strip()
    if tail and len(lines[-1]) + 1 + len(tail) <= LABEL_CHARS:
        lines[-1] += " " + tail
    elif tail:
        lines.append(tail)
    return "\n".join(lines)


def forest_chart(rows: Sequence[ForestRow], *, lang: str = "en", title: str = "",
                 reference: float = 0.0, min_effect: float | None = None,
                 digits: int = 2, xlabel: str | None = None) -> Chart:
    """One row per segment or experiment: the estimate and its interval; pooled rows
    (``emphasis``) as a diamond; a line at ``reference`` and, if given, the ``min_effect`` band.

    Rows with a missing estimate are listed (``–``) but not drawn. ``xlabel`` defaults to
    "effect" (``効果``); say there which intervals are drawn (e.g. adjusted ones).

    Returns:
        The chart; its alt text lists every row's estimate and interval.
    """
    rows = list(rows)
    good = [r for r in rows if _ok(r.effect, r.lower, r.upper)]
    if not good:
        return _no_data(title, lang)
    ja = lang == "ja"
    parts = [f"{_row_label(r)}: {fmt_num(r.effect, digits)} ({fmt_ci(r.lower, r.upper, digits, lang)})"
             for r in rows]
    alt = ("; ".join(parts) + ".") if not ja else ("、".join(parts) + "。")
    band = min_effect if min_effect is not None and math.isfinite(min_effect) else None

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        _title(ax, title)
        n = len(rows)
        ys = list(range(n - 1, -1, -1))
        pts = [reference] + [v for r in good for v in (r.lower, r.upper)]
        if band is not None:
            pts.append(band)
        x0, x1 = _span(pts)
        if band is not None:
            x1 = max(x1, band + 0.15 * (x1 - x0))
            ax.axvspan(band, x1, color=_BAND, alpha=0.10, lw=0)
            ax.axvline(band, color=_BAND, lw=1, ls="--")
        ax.axvline(reference, color=_INK, lw=1)
        for y, r in zip(ys, rows, strict=True):
            if not _ok(r.effect, r.lower, r.upper):
                continue
            if r.emphasis:
                ax.fill([r.lower, r.effect, r.upper, r.effect], [y, y + 0.3, y, y - 0.3],
                        color="#222222", zorder=3)
            else:
                ax.plot([r.lower, r.upper], [y, y], color="#0072B2", lw=2, solid_capstyle="butt")
                ax.plot([r.effect], [y], marker="s", ms=6, color="#0072B2", zorder=3)
        ax.set_yticks(ys, [_row_label(r, wrap=True) for r in rows], fontsize=8)
        for tick, r in zip(ax.get_yticklabels(), rows, strict=True):
            tick.set_color(_INK if r.emphasis else "#444444")
        for y, r in zip(ys, rows, strict=True):
            txt = (f"{fmt_num(r.effect, digits)} [{fmt_num(r.lower, digits)}, "
                   f"{fmt_num(r.upper, digits)}]") if _ok(r.effect) else "–"
            ax.text(1.01, y, txt, transform=ax.get_yaxis_transform(), va="center", fontsize=8,
                    color=_INK if r.emphasis else "#444444")
        ax.set_xlim(x0, x1)
        ax.set_ylim(-0.7, n - 0.3)
        ax.tick_params(axis="y", length=0)
        _plain_ticks(ax)
        ax.set_xlabel(xlabel if xlabel is not None else "効果" if ja else "effect")

    lines = max(_row_label(r, wrap=True).count("\n") + 1 for r in rows)
    return Chart(svg=_render(1.2 + 0.32 * len(rows) * max(1.0, 0.75 * lines), draw), alt=alt,
                 title=title)


def funnel_chart(steps: Sequence[str], shares: Mapping[str, Sequence[float]], *,
                 lang: str = "en", title: str = "",
                 counts: Mapping[str, Sequence[int]] | None = None) -> Chart:
    """Per-arm share (0–1) of the assigned partners reaching each step, as grouped bars.

    Args:
        steps: step names, first at the top.
        shares: per arm, one share per step (missing values are not drawn).
        lang: ``en`` or ``ja``.
        title: the caption.
        counts: per arm, the partners at each step; each bar then reads "23% (22/94)", the
            count beside the share (the first step's count is the base).

    Returns:
        The chart; its alt text gives every arm's share at the last step.
    """
    steps = list(steps)
    arms = [a for a, v in shares.items() if len(v) == len(steps) and any(_ok(x) for x in v)]
    if not steps or not arms:
        return _no_data(title, lang)
    ja = lang == "ja"
    last = steps[-1]
    counted = {a: list(counts[a]) for a in arms
               if counts is not None and len(counts.get(a, ())) == len(steps)}

    def label(a: str, j: int) -> str:
        text = fmt_pct(shares[a][j], 0)
        if a in counted:
            text += f" ({counted[a][j]:,}/{counted[a][0]:,})"
        return text

    parts = [f"{a} {label(a, len(steps) - 1)}" for a in arms]
    alt = (f"「{last}」に到達した割合：" + "、".join(parts) + "。") if ja else (
        f"Share reaching '{last}': " + ", ".join(parts) + ".")

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        _title(ax, title)
        k = len(arms)
        h = 0.8 / k
        for i, a in enumerate(arms):
            col = ARM_COLOURS[i % len(ARM_COLOURS)]
            for j, v in enumerate(shares[a]):
                y = len(steps) - 1 - j + 0.4 - h * (i + 0.5)
                if not _ok(v):
                    ax.text(0.005, y, "–", va="center", fontsize=7, color=_MUTED)
                    continue
                ax.barh([y], [v], height=h * 0.9, color=col,
                        label=a if j == 0 else None)
                ax.text(v + 0.01, y, label(a, j), va="center", fontsize=7, color=_INK)
        ax.set_yticks([len(steps) - 1 - j for j in range(len(steps))], steps)
        ax.set_xlim(0, 1.25 if counted else 1.12)
        ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0%", "25%", "50%", "75%", "100%"])
        ax.set_xlabel("割付に対する割合" if ja else "share of assigned")
        ax.tick_params(axis="y", length=0)
        ax.legend(loc="lower right", fontsize=8, frameon=False)

    return Chart(svg=_render(1.3 + 0.22 * len(steps) * max(len(arms), 2), draw), alt=alt,
                 title=title)


def timeline_chart(items: Sequence[TimelineItem], *, lang: str = "en", title: str = "") -> Chart:
    """Experiments over time, coloured by decision, each bar labelled with its decision word
    (colour is never the only carrier); the legend is in the page language.

    Returns:
        The chart; its alt text lists each item with its dates and decision.
    """
    items = list(items)
    if not items:
        return _no_data(title, lang)
    ja = lang == "ja"
    words = DECISION_WORDS.get(lang, DECISION_WORDS["en"])
    pending = _PENDING.get(lang, _PENDING["en"])

    def dword(d: str | None) -> str:
        return pending if d is None else words.get(d, d)

    parts = [f"{it.label}: {fmt_date(it.start, lang)}–{fmt_date(it.end, lang)}, {dword(it.decision)}"
             for it in items]
    alt = ("、".join(parts) + "。") if ja else ("; ".join(parts) + ".")

    def draw(fig: Figure) -> None:
        from matplotlib.patches import Patch

        ax = fig.add_subplot()
        _title(ax, title)
        n = len(items)
        starts = [float(_day(it.start)) for it in items]
        ends = [float(_day(it.end)) + 1 for it in items]  # the end day is included
        x0, x1 = min(starts), max(ends)
        pad = max(x1 - x0, 1) * 0.18
        for y, it, s, e in zip(range(n - 1, -1, -1), items, starts, ends, strict=True):
            col = DECISION_COLOURS.get(it.decision, DECISION_COLOURS[None])
            ax.barh([y], [max(e - s, 1.0)], left=[s], height=0.55, color=col)
            ax.text(e + pad * 0.04, y, dword(it.decision), va="center", fontsize=8, color=_INK)
        ax.set_yticks(list(range(n - 1, -1, -1)), [it.label for it in items])
        ax.set_xlim(x0 - pad * 0.1, x1 + pad)
        ax.set_ylim(-0.7, n - 0.3)
        _date_ticks(ax, min(it.start for it in items), max(it.end for it in items), lang)
        ax.tick_params(axis="y", length=0)
        present = list(dict.fromkeys(it.decision for it in items))
        handles = [Patch(color=DECISION_COLOURS.get(d, DECISION_COLOURS[None]), label=dword(d))
                   for d in present]
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.18),
                  ncol=len(handles), fontsize=8, frameon=False)

    return Chart(svg=_render(1.6 + 0.34 * len(items), draw), alt=alt, title=title)


def _day(d: dt.date) -> int:
    """Days since 1970-01-01 (the timeline's x axis)."""
    return (d if not isinstance(d, dt.datetime) else d.date()).toordinal() - _EPOCH


_EPOCH = dt.date(1970, 1, 1).toordinal()


def _date_ticks(ax: Axes, first: dt.date, last: dt.date, lang: str) -> None:
    """Ticks on the first of a month (``Jun 2026`` / ``2026年6月``), or on days for short spans."""
    days = (last - first).days + 1
    ticks: list[dt.date] = []
    if days < 62:
        step = max(1, math.ceil(days / 5))
        ticks = [first + dt.timedelta(days=k) for k in range(0, days + 1, step)]
        labels = [f"{d.month}月{d.day}日" if lang == "ja" else f"{d.day} {_MONTHS[d.month - 1]}"
                  for d in ticks]
    else:
        months = (last.year - first.year) * 12 + last.month - first.month + 1
        step = max(1, math.ceil(months / 6))
        y, m = first.year, first.month + (first.day > 1)  # the first month start from ``first``
        for _ in range(0, months + 1, step):
            y, m = y + (m - 1) // 12, (m - 1) % 12 + 1
            if dt.date(y, m, 1) <= last:
                ticks.append(dt.date(y, m, 1))
            m += step
        if not ticks:
            ticks = [first]
        # the year on the first tick and where it changes: "2026年4月", "5月", ... (labels
        # short enough not to run into each other)
        labels = []
        for k, d in enumerate(ticks):
            year = k == 0 or d.year != ticks[k - 1].year
            if lang == "ja":
                labels.append(f"{d.year}年{d.month}月" if year else f"{d.month}月")
            else:
                labels.append(f"{_MONTHS[d.month - 1]} {d.year}" if year
                              else _MONTHS[d.month - 1])
    ax.set_xticks([float(_day(d)) for d in ticks], labels)


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _heavy(vals: Sequence[float]) -> bool:
    """Non-negative values whose top is far beyond their middle (log bins read better)."""
    s = sorted(vals)
    if s[0] < 0 or len(s) < 10:
        return False
    pos = [v for v in s if v > 0]
    if len(pos) < 5:
        return False
    mid, top = pos[len(pos) // 2], pos[-1]
    return top > 20 * mid


def distribution_chart(values: Sequence[float], *, lang: str = "en", title: str = "",
                       xlabel: str = "", markers: Mapping[str, float] | None = None,
                       log: bool | None = None, digits: int = 2) -> Chart:
    """A histogram with labelled vertical markers (means, caps, thresholds).

    For heavy tails (non-negative values whose maximum is over 20× the median of the positive
    ones, or ``log=True``) the bins are logarithmic on a symmetric-log axis, so zeros and the
    tail both stay visible. Missing values are dropped.

    Returns:
        The chart; its alt text gives n, the median, the maximum and every marker.
    """
    vals = [float(v) for v in values if _ok(v)]
    if not vals:
        return _no_data(title, lang)
    ja = lang == "ja"
    marks = {k: float(v) for k, v in (markers or {}).items() if _ok(v)}
    heavy = _heavy(vals) if log is None else log
    s = sorted(vals)
    med = s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2
    mk = [f"{k} {fmt_num(v, digits)}" for k, v in marks.items()]
    if ja:
        alt = f"n = {len(vals):,}、中央値 {fmt_num(med, digits)}、最大 {fmt_num(s[-1], digits)}"
        alt += ("、" + "、".join(mk) if mk else "") + "。"
    else:
        alt = f"n = {len(vals):,}, median {fmt_num(med, digits)}, max {fmt_num(s[-1], digits)}"
        alt += ("; " + ", ".join(mk) if mk else "") + "."

    def draw(fig: Figure) -> None:
        import numpy as np

        ax = fig.add_subplot()
        _title(ax, title)
        arr = np.asarray(vals)
        bins: int | list[float]
        if heavy and arr.max() > 0 and arr.min() > 0:
            bins = [float(e) for e in np.geomspace(float(arr.min()) * 0.9999,
                                                    float(arr.max()) * 1.0001, 31)]
            ax.set_xscale("log")
        elif heavy and arr.max() > 0:
            lo = float(arr[arr > 0].min())
            bins = [0.0, *(float(e) for e in np.geomspace(lo, float(arr.max()) * 1.0001, 30))]
            ax.set_xscale("symlog", linthresh=lo, linscale=0.4)
            top = math.floor(math.log10(float(arr.max())))
            ticks = [10.0**k for k in range(math.ceil(math.log10(lo)), top + 1)]
            ax.set_xticks([0.0, *ticks[-6:]])
        else:
            edges = np.histogram_bin_edges(arr, bins="auto") if len(arr) > 1 else None
            bins = 10 if edges is None else (60 if len(edges) > 61 else [float(e) for e in edges])
        _plain_ticks(ax)
        _plain_ticks(ax, "y")
        ax.hist(arr, bins=bins, color="#0072B2", alpha=0.7, edgecolor="white", linewidth=0.4)
        for i, (k, v) in enumerate(marks.items()):
            col = ARM_COLOURS[(i + 1) % len(ARM_COLOURS)]
            ax.axvline(v, color=col, lw=1.2, ls="--")
            ax.text(v, 0.97 - 0.1 * (i % 4), f" {k} {fmt_num(v, digits)}", color=col,
                    fontsize=8, va="top", transform=ax.get_xaxis_transform())
        ax.set_xlabel(xlabel + ("（対数目盛）" if ja and heavy else " (log scale)" if heavy else ""))
        ax.set_ylabel("パートナー数" if ja else "partners")

    return Chart(svg=_render(2.6, draw), alt=alt, title=title)


def bar_chart(labels: Sequence[str], values: Sequence[float], *, lang: str = "en",
              title: str = "", xlabel: str = "", digits: int = 2) -> Chart:
    """Horizontal bars, first label at the top, each labelled with its value.

    Returns:
        The chart; its alt text gives every label's value.
    """
    pairs = list(zip(labels, values, strict=True))
    if not pairs or not any(_ok(v) for _, v in pairs):
        return _no_data(title, lang)
    ja = lang == "ja"
    parts = [f"{lab} {fmt_num(v, digits)}" for lab, v in pairs]
    alt = ("、".join(parts) + "。") if ja else (", ".join(parts) + ".")

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        _title(ax, title)
        n = len(pairs)
        fin = [v for _, v in pairs if _ok(v)]
        lo, hi = min(0.0, *fin), max(0.0, *fin)
        width = hi - lo or 1.0
        for y, (_, v) in zip(range(n - 1, -1, -1), pairs, strict=True):
            if not _ok(v):
                ax.text(0, y, " –", va="center", fontsize=8, color=_MUTED)
                continue
            ax.barh([y], [v], height=0.6, color="#0072B2")
            ax.text(v + (0.01 * width if v >= 0 else -0.01 * width), y, fmt_num(v, digits),
                    va="center", ha="left" if v >= 0 else "right", fontsize=8, color=_INK)
        ax.axvline(0, color=_INK, lw=0.8)
        ax.set_yticks(list(range(n - 1, -1, -1)), [lab for lab, _ in pairs])
        ax.set_xlim(lo - (0.15 * width if lo < 0 else 0), hi + 0.15 * width)
        _plain_ticks(ax)
        ax.set_ylim(-0.7, n - 0.3)
        ax.tick_params(axis="y", length=0)
        ax.set_xlabel(xlabel)

    return Chart(svg=_render(1.2 + 0.3 * len(pairs), draw), alt=alt, title=title)
