"""Presentation for people: display widths, aligned text tables, labels in two languages, and
one small document model rendered as text, HTML and Markdown.

Every object that shows itself (results, workspaces, target lists, packages, …) builds a
:class:`Section` and lets :func:`render_text`, :func:`render_html` and :func:`render_markdown`
draw it, so that a terminal, a notebook and a report show the same thing. Terminal alignment
counts *display cells*, not characters: East Asian wide and full-width characters (``W``/``F``
in :func:`unicodedata.east_asian_width`) take two cells, combining marks none. Every value is
HTML-escaped in :func:`render_html`.

Base module: imports nothing from supportlab and no pandas, so configuration may use it.

Example:
    >>> display_width("代理店A")
    7
    >>> print(text_table([["関東", 1200], ["Kansai", 80]], headers=["region", "partners"]))
    region  partners
    ------  --------
    関東       1,200
    Kansai        80
"""

from __future__ import annotations

import html
import math
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Literal

__all__ = [
    "LABELS",
    "LANGS",
    "Bullets",
    "Field",
    "Lang",
    "Section",
    "Table",
    "check_lang",
    "display_width",
    "fmt",
    "fmt_p",
    "label",
    "pad",
    "render_html",
    "render_markdown",
    "render_text",
    "text_table",
    "truncate",
]

Lang = Literal["en", "ja"]
#: languages of labels and reports
LANGS: tuple[str, ...] = ("en", "ja")
Align = Literal["left", "right"]


# -- numbers ----------------------------------------------------------------------------------------


def fmt(x: object, *, pct: bool = False, signed: bool = False) -> str:
    """Format a number for people: 4 significant digits, % for relative values.

    Integers get thousands separators; ``None`` and NaN become ``—``.

    Example:
        >>> fmt(1234567), fmt(0.1234, pct=True), fmt(0.5, signed=True), fmt(float("nan"))
        ('1,234,567', '12.3%', '+0.5', '—')
    """
    if x is None:
        return "—"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, Integral):
        return f"{int(x):+,}" if signed else f"{int(x):,}"
    if not isinstance(x, Real):
        try:
            v = float(x)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return str(x)
    else:
        v = float(x)
    if math.isnan(v):
        return "—"
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if pct:
        return f"{v * 100:+.1f}%" if signed else f"{v * 100:.1f}%"
    text = f"{v:+.4g}" if signed else f"{v:.4g}"
    return text.replace("e+0", "e+").replace("e-0", "e-")


def fmt_p(p: float | None) -> str:
    """Format a p-value: four decimals, scientific below 0.0001, ``—`` when missing.

    Example:
        >>> fmt_p(0.04567), fmt_p(3e-7), fmt_p(None)
        ('0.0457', '3.0e-07', '—')
    """
    if p is None:
        return "—"
    try:
        v = float(p)
    except (TypeError, ValueError):
        return str(p)
    if not math.isfinite(v):
        return "—"
    if v < 1e-4:
        return f"{v:.1e}"
    return f"{v:.4f}"


# -- display widths ---------------------------------------------------------------------------------


def display_width(text: object) -> int:
    """Cells a string takes in a terminal: wide and full-width characters count 2.

    Example:
        >>> display_width("abc"), display_width("関東"), display_width("ｶﾅ")
        (3, 4, 2)
    """
    width = 0
    for ch in str(text):
        if unicodedata.combining(ch) or ch in "\u200b\u200c\u200d\ufeff":
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def truncate(text: object, width: int, *, ellipsis: str = "…") -> str:
    """Cut ``text`` to at most ``width`` display cells, ending with ``ellipsis`` when cut.

    Example:
        >>> truncate("パートナー企業", 9)
        'パートナ…'
    """
    s = str(text)
    if display_width(s) <= width:
        return s
    room = width - display_width(ellipsis)
    out: list[str] = []
    used = 0
    for ch in s:
        w = display_width(ch)
        if used + w > room:
            break
        out.append(ch)
        used += w
    return "".join(out) + ellipsis


def pad(text: object, width: int, align: Align = "left") -> str:
    """Pad ``text`` with spaces to ``width`` display cells (never cuts).

    Example:
        >>> pad("関東", 6) + "|", pad("7", 3, "right") + "|"
        ('関東  |', '  7|')
    """
    s = str(text)
    fill = " " * max(0, width - display_width(s))
    return s + fill if align == "left" else fill + s


def _cell(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, (Integral, Real)):
        return fmt(value)
    return str(value)


def _is_number(value: object) -> bool:
    return isinstance(value, (Integral, Real)) and not isinstance(value, bool)


def text_table(rows: Iterable[Sequence[object]], headers: Sequence[str] | None = None, *,
               align: Sequence[Align] | None = None, max_width: int | None = 40,
               indent: str = "") -> str:
    """An aligned plain-text table whose columns line up with wide (e.g. Japanese) characters.

    Args:
        rows: the cells, row by row; numbers are formatted with :func:`fmt`.
        headers: column names (a rule of dashes goes under them).
        align: ``left``/``right`` per column; default: right for columns whose cells are all
            numbers, left otherwise.
        max_width: cells wider than this many display cells are cut with ``…``.
        indent: prefix of every line.

    Returns:
        The table, lines joined by newlines (no trailing newline).

    Example:
        >>> print(text_table([["P001", "代理店", 3]], headers=["id", "name", "n"]))
        id    name    n
        ----  ------  -
        P001  代理店  3
    """
    raw = [list(r) for r in rows]
    ncol = max([len(headers or ())] + [len(r) for r in raw]) if (raw or headers) else 0
    if ncol == 0:
        return ""
    if align is None:
        numeric = [all(_is_number(r[j]) or r[j] is None for r in raw if j < len(r))
                   and any(j < len(r) and _is_number(r[j]) for r in raw) for j in range(ncol)]
        aligns: list[Align] = ["right" if n else "left" for n in numeric]
    else:
        fill: list[Align] = ["left"] * (ncol - len(align))
        aligns = [*align, *fill][:ncol]
    cells = [[_cell(r[j]) if j < len(r) else "" for j in range(ncol)] for r in raw]
    if max_width is not None:
        cells = [[truncate(c, max_width) for c in r] for r in cells]
    head = [truncate(h, max_width) if max_width else h for h in (headers or [])]
    head = [*head, *([""] * (ncol - len(head)))] if headers is not None else []
    widths = [max([display_width(h) for h in head[j:j + 1]] + [display_width(r[j]) for r in cells])
              for j in range(ncol)]
    lines: list[str] = []

    def line(values: Sequence[str]) -> str:
        return indent + "  ".join(pad(v, widths[j], aligns[j])
                                  for j, v in enumerate(values)).rstrip()

    if headers is not None:
        lines.append(line(head))
        lines.append(indent + "  ".join("-" * w for w in widths))
    lines += [line(r) for r in cells]
    return "\n".join(lines)


# -- labels -----------------------------------------------------------------------------------------

#: display labels of field names, per language; a missing name is shown with spaces for ``_``
LABELS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "ci": "CI", "rel_ci": "relative CI", "wald_ci": "Wald CI", "cs": "always-valid CI",
        "rel_effect": "relative effect", "rel_se": "relative se", "p_value": "p-value",
        "n_control": "n (control)", "n_treatment": "n (treatment)",
        "mean_control": "mean (control)", "mean_treatment": "mean (treatment)",
        "raw_mean_control": "raw mean (control)", "raw_mean_treatment": "raw mean (treatment)",
        "confidence_level": "confidence level", "df": "degrees of freedom",
        "se": "standard error", "p_value_always_valid": "always-valid p-value",
        "first_stage": "first stage", "first_stage_f": "first-stage F", "itt": "intention to treat",
        "reasons_en": "reasons", "reasons_ja": "reasons (Japanese)", "ci_level": "CI level",
        "heterogeneity_q": "heterogeneity Q", "omnibus_f": "omnibus F", "smd": "SMD",
        "smd_threshold": "SMD threshold", "mde": "minimum detectable effect",
        "n_total": "n (total)",
        "registry_status": "status", "pooled_ci": "pooled CI", "shrunk_ci": "shrunk CI",
        "n_redraws": "redraws", "n_extreme": "redraws as extreme",
        "p_value_mc_se": "p-value Monte Carlo se", "randomization": "randomization inference",
    },
    "ja": {
        "method": "手法", "outcome": "指標", "arm": "群の列", "control": "対照群",
        "treatment": "介入群", "n_control": "対照群の数", "n_treatment": "介入群の数",
        "mean_control": "対照群の平均", "mean_treatment": "介入群の平均", "effect": "効果",
        "ci": "信頼区間", "p_value": "p値", "rel_effect": "相対効果", "rel_ci": "相対効果の信頼区間",
        "confidence_level": "信頼水準", "se": "標準誤差", "rel_se": "相対効果の標準誤差",
        "df": "自由度", "raw_mean_control": "対照群の平均（調整前）",
        "raw_mean_treatment": "介入群の平均（調整前）", "covariates": "共変量", "strata": "層",
        "warnings": "注意", "notes": "注記", "label": "推定対象", "uptake": "消化の列",
        "wald_ci": "Wald 信頼区間", "itt": "割付による効果（ITT）", "first_stage": "第一段階",
        "first_stage_f": "第一段階の F 値", "uptake_control": "対照群の消化率",
        "uptake_treatment": "介入群の消化率", "segment": "セグメント", "adjust": "多重比較の補正",
        "estimates": "セグメント別の推定", "labels": "セグメント", "p_adjusted": "補正後の p値",
        "levels": "補正後の信頼水準", "heterogeneity_q": "異質性の Q 値",
        "heterogeneity_df": "異質性の自由度", "heterogeneity_p": "異質性の p値",
        "expected_uplift": "期待される効果", "expected_uplift_sd": "期待される効果の標準偏差",
        "skipped": "除外", "expected_control_share": "対照群の設計比率",
        "observed_control_share": "対照群の実際の比率", "test": "検定", "threshold": "しきい値",
        "mismatch": "比率の不一致", "table": "表", "omnibus_f": "総合 F 値",
        "omnibus_df": "総合検定の自由度", "omnibus_p": "総合検定の p値",
        "smd_threshold": "SMD のしきい値", "imbalanced": "不均衡な共変量", "metric": "指標",
        "margin": "許容幅", "relative": "相対", "better": "望ましい方向", "alpha": "有意水準",
        "lower": "下限", "upper": "上限", "status": "判定", "look": "回", "cs": "常時有効な信頼区間",
        "p_value_always_valid": "常時有効な p値", "harm": "悪化", "mixture_sd": "混合の尺度 ρ",
        "harm_threshold": "悪化のしきい値", "looks": "各回", "stop_for_harm": "悪化による停止",
        "harm_look": "悪化を示した回", "applies": "適用範囲", "n_total": "合計", "mde": "最小検出効果",
        "power": "検出力", "stages": "段階", "counts": "数", "share_of_assigned": "割付に対する割合",
        "share_of_previous": "前段階に対する割合", "biggest_loss_stage": "最大の離脱先",
        "biggest_loss_from": "最大の離脱元", "biggest_loss": "最大の離脱数",
        "control_mean": "対照群の平均", "reasons_en": "理由（英語）", "reasons_ja": "理由",
        "partners": "パートナー数", "rows": "行数", "tables": "テーブル", "engine": "エンジン",
        "database": "データベース", "read_only": "読み取り専用", "events_from": "イベントの開始",
        "events_to": "イベントの終了", "ok": "結果", "failures": "失敗", "rule": "ルール",
        "selected": "選ばれたパートナー", "candidates": "候補", "id": "ID", "version": "版",
        "owner": "担当者", "package": "支援パッケージ", "steps": "週ごとの計画", "week": "週",
        "items": "項目", "files": "ファイル", "loaded": "読み込んだ行", "skipped_rows": "スキップした行",
        "quarantined": "隔離した行", "batch": "バッチ", "eligibility": "対象条件",
        "priority": "優先順位", "design": "設計", "decision": "判定", "report": "レポート",
        "start": "開始日", "horizon_days": "期間（日）", "control_share": "対照群の比率",
        "stratify_by": "層別の列", "seed": "乱数シード", "max_partners": "最大パートナー数",
        "primary": "主要指標", "secondary": "副次指標", "guardrails": "ガードレール",
        "min_effect": "最小効果", "segment_rule": "セグメント", "as_of": "基準日",
        "in_segment": "セグメント内", "eligible": "対象", "kept": "残した数",
        "ci_level": "信頼水準", "smd": "SMD", "estimand": "推定対象", "stage": "段階",
        "count": "数", "lost": "離脱", "level": "消化度", "n": "数", "mean_outcome": "平均",
        "diff_vs_control": "対照群との差", "rank": "順位", "covariate": "共変量",
        "arms": "群", "phase": "フェーズ", "placebo": "プラセボ（A/A）",
        "registry_status": "状態", "lineage": "系譜", "experiments": "実験", "experiment": "実験",
        "reproduced": "再現", "pooled_effect": "統合した効果", "pooled_ci": "統合した効果の信頼区間",
        "shrunk_effect": "縮小した効果", "shrunk_ci": "縮小した効果の信頼区間",
        "designed": "設計した版", "promoted": "昇格", "reproductions": "再現した実験",
        "spread": "展開した再現", "overrides": "判定の変更", "packages": "パッケージ",
        "computed": "評価による判定", "override_reason": "変更の理由", "decided_by": "判定者",
        "decided_at": "判定日時",
        "redrawn": "再割付の方法", "n_redraws": "再割付の回数",
        "n_extreme": "観測値以上に極端な再割付", "p_value_mc_se": "p値のモンテカルロ誤差",
        "requested": "指定された手法", "randomization": "ランダム化検定による推論",
        "corrected": "設計に合わせて補正",
    },
}


def check_lang(lang: str) -> str:
    """Return ``lang`` when it is a known language, else raise ``ValueError`` naming them.

    Example:
        >>> check_lang("ja")
        'ja'
    """
    if lang not in LANGS:
        raise ValueError(f"lang == {lang!r}: use one of {', '.join(LANGS)}")
    return lang


def label(name: str, lang: str = "en") -> str:
    """The display label of a field name in ``lang`` (English fallback: spaces for ``_``).

    Example:
        >>> label("p_value"), label("p_value", "ja"), label("n_partners")
        ('p-value', 'p値', 'n partners')
    """
    check_lang(lang)
    found = LABELS.get(lang, {}).get(name)
    if found is not None:
        return found
    return LABELS["en"].get(name, name.replace("_", " "))


# -- the document model -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One labelled value (already formatted)."""

    label: str
    value: str


@dataclass(frozen=True)
class Bullets:
    """A labelled list of sentences (warnings, notes, reasons)."""

    label: str
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """A labelled table of formatted cells."""

    label: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    align: tuple[Align, ...] = ()
    more: int = 0  #: rows left out after these


@dataclass(frozen=True)
class Section:
    """A titled block of fields, bullet lists, tables and nested sections.

    Example:
        >>> s = Section("Package", headline="a <b> & c",
        ...             items=(Field("owner", "tanaka"), Bullets("notes", ("x",))))
        >>> print(render_text(s))
        Package: a <b> & c
          owner  tanaka
          notes:
            - x
        >>> "&lt;b&gt; &amp;" in render_html(s)
        True
    """

    title: str
    items: tuple[Field | Bullets | Table | Section, ...] = ()
    headline: str | None = None
    css: str = "supportlab-result"
    extra: Mapping[str, str] = field(default_factory=dict)


def _text_lines(s: Section, indent: str) -> list[str]:
    head = s.title + (f": {s.headline}" if s.headline else "")
    lines = [indent + head] if head else []
    inner = indent + "  "
    fields = [it for it in s.items if isinstance(it, Field)]
    width = max((display_width(f.label) for f in fields), default=0)
    for it in s.items:
        if isinstance(it, Field):
            value = it.value.replace("\n", "\n" + inner + " " * (width + 2))
            lines.append(f"{inner}{pad(it.label, width)}  {value}".rstrip())
        elif isinstance(it, Bullets):
            if it.items:
                lines.append(f"{inner}{it.label}:")
                lines += [f"{inner}  - {b}" for b in it.items]
        elif isinstance(it, Table):
            lines.append(f"{inner}{it.label}:" if it.label else "")
            if it.rows or it.headers:
                lines.append(text_table(it.rows, headers=list(it.headers),
                                        align=list(it.align) or None, indent=inner + "  "))
            if it.more:
                lines.append(f"{inner}  … {it.more:,} more")
        else:
            lines += _text_lines(it, inner)
    return [ln for ln in lines if ln != ""] if lines else []


def render_text(section: Section) -> str:
    """Plain text: the title line, then aligned fields, bullet lists, tables, nested sections."""
    return "\n".join(_text_lines(section, ""))


def _html_table(t: Table) -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in t.headers)
    aligns = list(t.align) + ["left"] * (len(t.headers) - len(t.align))

    def td(j: int, c: str) -> str:
        style = " style='text-align:right'" if j < len(aligns) and aligns[j] == "right" else ""
        return f"<td{style}>{e(c)}</td>"

    body = "".join("<tr>" + "".join(td(j, c) for j, c in enumerate(r)) + "</tr>" for r in t.rows)
    more = f"<p>… {t.more:,} more</p>" if t.more else ""
    return (f"<table>{f'<caption>{e(t.label)}</caption>' if t.label else ''}"
            f"{f'<thead><tr>{head}</tr></thead>' if head else ''}<tbody>{body}</tbody></table>{more}")


def _html(s: Section, level: int) -> str:
    e = html.escape
    tag = f"h{min(3 + level, 6)}"
    parts = [f"<div class='{e(s.css)}'>"]
    if s.title or s.headline:
        title = f"<strong>{e(s.title)}</strong>" if s.title else ""
        sep = ": " if s.title and s.headline else ""
        parts.append(f"<{tag} style='margin:0.3em 0'>{title}{sep}{e(s.headline or '')}</{tag}>")
    rows: list[str] = []

    def flush() -> None:
        if rows:
            parts.append("<table>" + "".join(rows) + "</table>")
            rows.clear()

    for it in s.items:
        if isinstance(it, Field):
            value = e(it.value).replace("\n", "<br>")
            rows.append(f"<tr><th style='text-align:left'>{e(it.label)}</th><td style='text-align:left'>"
                        f"{value}</td></tr>")
            continue
        flush()
        if isinstance(it, Bullets):
            if it.items:
                parts.append(f"<p>{e(it.label)}:</p><ul>"
                             + "".join(f"<li>{e(b)}</li>" for b in it.items) + "</ul>")
        elif isinstance(it, Table):
            parts.append(_html_table(it))
        else:
            parts.append(_html(it, level + 1))
    flush()
    parts.append("</div>")
    return "".join(parts)


def render_html(section: Section) -> str:
    """HTML for notebooks and reports; every title, label and value is escaped."""
    return _html(section, 0)


def _md(text: str) -> str:
    """Escape for Markdown: HTML is written as entities (never rendered), pipes and
    backslashes are escaped, newlines become ``<br>``."""
    safe = html.escape(text, quote=False).replace("\\", "\\\\").replace("|", "\\|")
    return safe.replace("\n", "<br>")


def _md_lines(s: Section, level: int) -> list[str]:
    lines: list[str] = []
    head = s.title + (f": {s.headline}" if s.headline else "")
    if head:
        lines += [f"{'#' * min(3 + level, 6)} {_md(head)}", ""]
    fields: list[Field] = []

    def flush() -> None:
        if fields:
            lines.extend(["| | |", "|---|---|"])
            lines.extend(f"| {_md(f.label)} | {_md(f.value)} |" for f in fields)
            lines.append("")
            fields.clear()

    for it in s.items:
        if isinstance(it, Field):
            fields.append(it)
            continue
        flush()
        if isinstance(it, Bullets):
            if it.items:
                lines += [f"{_md(it.label)}:", "", *[f"- {_md(b)}" for b in it.items], ""]
        elif isinstance(it, Table):
            if it.label:
                lines += [f"{_md(it.label)}:", ""]
            if it.headers:
                aligns = list(it.align) + ["left"] * (len(it.headers) - len(it.align))
                lines.append("| " + " | ".join(_md(h) for h in it.headers) + " |")
                lines.append("|" + "|".join("---:" if a == "right" else "---" for a in aligns) + "|")
                lines += ["| " + " | ".join(_md(c) for c in r) + " |" for r in it.rows]
                if it.more:
                    lines.append(f"\n… {it.more:,} more")
                lines.append("")
        else:
            lines += _md_lines(it, level + 1)
    flush()
    return lines


def render_markdown(section: Section) -> str:
    """Markdown (GitHub flavour): a heading, a two-column table of fields, lists and tables.

    Text is escaped: ``<``, ``>`` and ``&`` become entities, so values never turn into HTML.

    Example:
        >>> print(render_markdown(Section("SRM", items=(Field("p-value", "0.5"),))))
        ### SRM
        <BLANKLINE>
        | | |
        |---|---|
        | p-value | 0.5 |
    """
    return "\n".join(_md_lines(section, 0)).rstrip()
