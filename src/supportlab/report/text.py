"""Numbers, dates and the report's fixed words in English and Japanese.

Every formatter returns ``"–"`` (an en dash) for a missing value: ``None``, NaN or an infinity.
Numbers use ASCII digits, ``,`` thousands separators and an ASCII ``-`` for negatives in both
languages (Japanese business documents write numbers the same way).

Money (:func:`fmt_yen`): English pages always write whole yen (``¥1,234,000``); Japanese pages
write whole yen below ¥10,000 and use the Japanese units above it, one decimal, trailing ``.0``
dropped: ``123.4万円``, ``1.2億円`` (the way a Japanese leadership deck writes amounts).

Example:
    >>> fmt_num(1234.5), fmt_pct(0.42), fmt_signed(-0.5), fmt_date("2026-06-01", "ja")
    ('1,234.50', '42.0%', '-0.50', '2026年6月1日')
    >>> fmt_yen(1_234_000, "ja"), fmt_yen(1_234_000, "en"), fmt_ci(0.07, 0.77, 2, "en")
    ('123.4万円', '¥1,234,000', '95% CI 0.07 to 0.77')
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Final

#: what every formatter prints for a missing value
MISSING: Final = "–"

#: the decision's icon (also the trust gate's ``untrusted``)
DECISION_ICONS: Final[dict[str, str]] = {"promote": "▲", "revise": "✎", "continue": "⏸",
                                         "stop": "■", "untrusted": "⚠"}

#: the decision's word per language
DECISION_WORDS: Final[dict[str, dict[str, str]]] = {
    "en": {"promote": "promote", "revise": "revise", "continue": "continue", "stop": "stop",
           "untrusted": "results not trustworthy: investigate"},
    "ja": {"promote": "テンプレート化", "revise": "改訂", "continue": "継続", "stop": "中止",
           "untrusted": "結果は信頼できません：要調査"},
}

#: the trust gate's checks
CHECK_WORDS: Final[dict[str, dict[str, str]]] = {
    "en": {"sample-ratio": "sample ratio (SRM)", "balance": "covariate balance"},
    "ja": {"sample-ratio": "割付比率（SRM）", "balance": "共変量のバランス"},
}

#: a guardrail's status
GUARDRAIL_WORDS: Final[dict[str, dict[str, str]]] = {
    "en": {"ok": "ok", "breached": "breached", "inconclusive": "inconclusive"},
    "ja": {"ok": "問題なし", "breached": "許容幅を超過", "inconclusive": "判定できず"},
}

_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                  "Dec")


def _finite(x: object) -> float | None:
    """``x`` as a finite float, else ``None``."""
    if x is None:
        return None
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def word(table: dict[str, dict[str, str]], key: str, lang: str) -> str:
    """``table[lang][key]``, falling back to English and then to ``key`` itself.

    Example:
        >>> word(GUARDRAIL_WORDS, "ok", "ja"), word(GUARDRAIL_WORDS, "new", "ja")
        ('問題なし', 'new')
    """
    return table.get(lang, {}).get(key) or table.get("en", {}).get(key) or key


def fmt_num(x: float | int | None, digits: int = 2, *, lang: str = "en") -> str:
    """``1,234.50``: fixed decimals with thousands separators (the same in ``en`` and ``ja``).

    Example:
        >>> fmt_num(-1234.5, 1), fmt_num(float("nan")), fmt_num(None)
        ('-1,234.5', '–', '–')
    """
    v = _finite(x)
    if v is None:
        return MISSING
    out = f"{v:,.{digits}f}"
    return out[1:] if out.startswith("-") and float(out[1:].replace(",", "")) == 0 else out


def fmt_int(x: float | int | None, *, lang: str = "en") -> str:
    """``1,234`` (rounded to a whole number).

    Example:
        >>> fmt_int(1234.4), fmt_int(None)
        ('1,234', '–')
    """
    return fmt_num(x, 0, lang=lang)


def fmt_pct(share: float | None, digits: int = 1, *, lang: str = "en") -> str:
    """A share (0–1) as a percentage: ``0.42`` -> ``42.0%``.

    Example:
        >>> fmt_pct(0.4204), fmt_pct(1, 0)
        ('42.0%', '100%')
    """
    v = _finite(share)
    return MISSING if v is None else fmt_num(100 * v, digits, lang=lang) + "%"


def fmt_signed(x: float | int | None, digits: int = 2, *, lang: str = "en") -> str:
    """With an explicit sign: ``+0.42``, ``-0.42``; a value that rounds to zero has none.

    Example:
        >>> fmt_signed(0.423), fmt_signed(-1234), fmt_signed(0.0001)
        ('+0.42', '-1,234.00', '0.00')
    """
    out = fmt_num(x, digits, lang=lang)
    if out == MISSING or out.startswith("-") or float(out.replace(",", "")) == 0:
        return out
    return "+" + out


def _as_date(d: dt.date | dt.datetime | str) -> dt.date | dt.datetime:
    if isinstance(d, str):
        s = d.strip()
        try:
            return dt.date.fromisoformat(s) if len(s) <= 10 else dt.datetime.fromisoformat(s)
        except ValueError as exc:
            raise ValueError(f"date {d!r} is not an ISO date (YYYY-MM-DD[THH:MM])") from exc
    return d


def fmt_date(d: dt.date | dt.datetime | str | None, lang: str = "en") -> str:
    """``1 Jun 2026`` (en) or ``2026年6月1日`` (ja); accepts a date, a datetime or an ISO string.

    Example:
        >>> fmt_date(dt.date(2026, 6, 1)), fmt_date("2026-06-01T09:30", "ja"), fmt_date(None)
        ('1 Jun 2026', '2026年6月1日', '–')
    """
    if d is None or (isinstance(d, str) and not d.strip()):
        return MISSING
    v = _as_date(d)
    if lang == "ja":
        return f"{v.year}年{v.month}月{v.day}日"
    return f"{v.day} {_MONTHS[v.month - 1]} {v.year}"


def fmt_datetime(d: dt.datetime | dt.date | str | None, lang: str = "en") -> str:
    """The date and ``HH:MM``, with ``UTC`` or the offset when the time is aware.

    Example:
        >>> fmt_datetime("2026-06-01T09:30"), fmt_datetime("2026-06-01T09:30+09:00", "ja")
        ('1 Jun 2026 09:30', '2026年6月1日 09:30 +09:00')
    """
    if d is None or (isinstance(d, str) and not d.strip()):
        return MISSING
    v = _as_date(d)
    if not isinstance(v, dt.datetime):
        return fmt_date(v, lang)
    out = f"{fmt_date(v, lang)} {v:%H:%M}"
    off = v.utcoffset()
    if off is None:
        return out
    if off == dt.timedelta(0):
        return out + " UTC"
    mins = int(off.total_seconds() // 60)
    sign = "+" if mins >= 0 else "-"
    return out + f" {sign}{abs(mins) // 60:02d}:{abs(mins) % 60:02d}"


def _trim(s: str) -> str:
    return s[:-2] if s.endswith(".0") else s


def fmt_yen(x: float | int | None, lang: str = "en") -> str:
    """Money in yen (the convention is in the module docstring).

    Example:
        >>> fmt_yen(1234), fmt_yen(1234, "ja"), fmt_yen(-1_200_000, "ja"), fmt_yen(3.2e8, "ja")
        ('¥1,234', '¥1,234', '-120万円', '3.2億円')
    """
    v = _finite(x)
    if v is None:
        return MISSING
    sign = "-" if v < 0 and round(abs(v)) > 0 else ""
    a = abs(v)
    if lang == "ja" and round(a) >= 10_000:
        if round(a / 1e8, 1) >= 1:
            return f"{sign}{_trim(f'{a / 1e8:,.1f}')}億円"
        if round(a / 1e4, 1) < 10_000:
            return f"{sign}{_trim(f'{a / 1e4:,.1f}')}万円"
        return f"{sign}1億円"
    return f"{sign}¥{a:,.0f}"


def fmt_ci(lo: float | None, hi: float | None, digits: int = 2, lang: str = "en", *,
           level: float = 0.95, fmt: Callable[[float | None], str] | None = None) -> str:
    """A confidence interval: ``95% CI 0.07 to 0.77`` or ``95%信頼区間 0.07〜0.77``.

    Args:
        lo: lower end.
        hi: upper end.
        digits: decimals (when ``fmt`` is not given).
        lang: ``en`` or ``ja``.
        level: the confidence level.
        fmt: formats each end instead of :func:`fmt_num` (e.g. money).

    Example:
        >>> fmt_ci(0.07, 0.77, 2, "ja"), fmt_ci(-1, 2, 1, level=0.9)
        ('95%信頼区間 0.07〜0.77', '90% CI -1.0 to 2.0')
        >>> fmt_ci(-20_000, 1_500_000, lang="ja", fmt=lambda x: fmt_yen(x, "ja"))
        '95%信頼区間 -2万円〜150万円'
    """
    pct = _trim(f"{100 * level:.1f}")
    if fmt is None:
        a, b = fmt_num(lo, digits, lang=lang), fmt_num(hi, digits, lang=lang)
    else:
        a, b = fmt(lo), fmt(hi)
    if lang == "ja":
        return f"{pct}%信頼区間 {a}〜{b}"
    return f"{pct}% CI {a} to {b}"


def stage_label(stage: str, lang: str = "en") -> str:
    """A flow stage's name on a page: ``week 2 done`` -> ``第2週完了`` on Japanese pages.

    Example:
        >>> stage_label("opened", "ja"), stage_label("week 2 done", "ja"), stage_label("x", "ja")
        ('開封', '第2週完了', 'x')
    """
    if lang != "ja":
        return stage
    fixed = {"assigned": "割付", "opened": "開封", "analysed": "分析対象"}
    if stage in fixed:
        return fixed[stage]
    parts = stage.split()
    if len(parts) == 3 and parts[0] == "week" and parts[2] == "done" and parts[1].isdigit():
        return f"第{parts[1]}週完了"
    return stage
