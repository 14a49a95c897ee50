"""Numbers, dates, money and words of the report pages in English and Japanese."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from supportlab.report import experiment
from supportlab.report.text import (
    CHECK_WORDS,
    DECISION_ICONS,
    DECISION_WORDS,
    GUARDRAIL_WORDS,
    fmt_ci,
    fmt_date,
    fmt_datetime,
    fmt_int,
    fmt_num,
    fmt_pct,
    fmt_signed,
    fmt_yen,
    stage_label,
    word,
)

MISSING_VALUES = [None, math.nan, math.inf, -math.inf, np.float64("nan"), "x"]


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_fmt_num(lang: str) -> None:
    assert fmt_num(1234567.891, lang=lang) == "1,234,567.89"
    assert fmt_num(-1234.5, 1, lang=lang) == "-1,234.5"
    assert fmt_num(np.float64(0.5), 3, lang=lang) == "0.500"
    assert fmt_num(-0.0001, 2, lang=lang) == "0.00"  # no "-0.00"
    assert "−" not in fmt_num(-3, lang=lang)
    for v in MISSING_VALUES:
        assert fmt_num(v, lang=lang) == "–"  # type: ignore[arg-type]


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_fmt_int_pct_signed(lang: str) -> None:
    assert fmt_int(1234.6, lang=lang) == "1,235"
    assert fmt_int(np.int64(-12000), lang=lang) == "-12,000"
    assert fmt_pct(0.42, lang=lang) == "42.0%"
    assert fmt_pct(0.12345, 2, lang=lang) == "12.35%"
    assert fmt_pct(None, lang=lang) == "–" and fmt_pct(math.nan, lang=lang) == "–"
    assert fmt_signed(0.42, lang=lang) == "+0.42"
    assert fmt_signed(-0.42, lang=lang) == "-0.42"
    assert fmt_signed(1234, 0, lang=lang) == "+1,234"
    assert fmt_signed(0.0, lang=lang) == "0.00"
    assert fmt_signed(math.nan, lang=lang) == "–"


def test_fmt_date_both_languages() -> None:
    d = dt.date(2026, 6, 1)
    assert fmt_date(d, "en") == "1 Jun 2026"
    assert fmt_date(d, "ja") == "2026年6月1日"
    assert fmt_date(dt.datetime(2026, 12, 31, 23, 59), "en") == "31 Dec 2026"
    assert fmt_date("2026-06-01", "ja") == "2026年6月1日"
    assert fmt_date("2026-06-01T10:00:00", "en") == "1 Jun 2026"
    assert fmt_date(None) == "–" and fmt_date("") == "–"
    with pytest.raises(ValueError, match="ISO date"):
        fmt_date("June 1st")


def test_fmt_datetime() -> None:
    assert fmt_datetime("2026-06-01T09:05") == "1 Jun 2026 09:05"
    assert fmt_datetime(dt.datetime(2026, 6, 1, 9, 5, tzinfo=dt.UTC), "ja") == "2026年6月1日 09:05 UTC"
    assert fmt_datetime("2026-06-01T09:05+09:00", "en") == "1 Jun 2026 09:05 +09:00"
    assert fmt_datetime("2026-06-01T09:05-03:30", "en").endswith("-03:30")
    assert fmt_datetime(dt.date(2026, 6, 1), "ja") == "2026年6月1日"
    assert fmt_datetime(None) == "–"


def test_fmt_yen() -> None:
    assert fmt_yen(1_234_000, "en") == "¥1,234,000"
    assert fmt_yen(-1_234_000.4, "en") == "-¥1,234,000"
    assert fmt_yen(9_999, "ja") == "¥9,999"
    assert fmt_yen(1_234_000, "ja") == "123.4万円"
    assert fmt_yen(1_200_000, "ja") == "120万円"
    assert fmt_yen(-56_000, "ja") == "-5.6万円"
    assert fmt_yen(320_000_000, "ja") == "3.2億円"
    assert fmt_yen(12_345_678_901, "ja") == "123.5億円"
    assert fmt_yen(99_999_999, "ja") == "1億円"  # rounds up to the next unit, not "10,000万円"
    assert fmt_yen(-0.2, "ja") == "¥0"
    assert fmt_yen(None, "ja") == "–" and fmt_yen(math.nan) == "–"


def test_fmt_ci() -> None:
    assert fmt_ci(0.07, 0.77, 2, "en") == "95% CI 0.07 to 0.77"
    assert fmt_ci(0.07, 0.77, 2, "ja") == "95%信頼区間 0.07〜0.77"
    assert fmt_ci(-1234.5, 10, 0, "en") == "95% CI -1,234 to 10"
    assert fmt_ci(0.1, 0.2, 1, "en", level=0.9) == "90% CI 0.1 to 0.2"
    assert fmt_ci(0.1, 0.2, 1, "ja", level=0.975) == "97.5%信頼区間 0.1〜0.2"
    assert fmt_ci(math.nan, None, 2, "en") == "95% CI – to –"


def test_words_cover_every_decision_in_both_languages() -> None:
    keys = {"promote", "revise", "continue", "stop", "untrusted"}
    assert set(DECISION_ICONS) == keys
    for lang in ("en", "ja"):
        assert set(DECISION_WORDS[lang]) == keys
        assert set(GUARDRAIL_WORDS[lang]) == {"ok", "breached", "inconclusive"}
        assert set(CHECK_WORDS[lang]) == {"sample-ratio", "balance"}
    assert DECISION_WORDS["ja"]["promote"] == "テンプレート化"
    assert word(GUARDRAIL_WORDS, "breached", "ja") == "許容幅を超過"
    assert word(GUARDRAIL_WORDS, "breached", "fr") == "breached"
    assert word(CHECK_WORDS, "other", "ja") == "other"
    # the experiment report keeps its names for the same tables
    assert experiment.ICONS is DECISION_ICONS and experiment.WORDS is DECISION_WORDS


def test_stage_label() -> None:
    assert stage_label("assigned", "ja") == "割付"
    assert stage_label("week 12 done", "ja") == "第12週完了"
    assert stage_label("week 1 done", "en") == "week 1 done"
    assert stage_label("custom step", "ja") == "custom step"
