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
import re
from collections.abc import Callable
from typing import Final

#: what every formatter prints for a missing value
MISSING: Final = "–"

#: the decision's icon (also the trust gate's ``untrusted``)
DECISION_ICONS: Final[dict[str, str]] = {"promote": "▲", "revise": "✎", "continue": "▶",
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


def fmt_p(p: float | None) -> str:
    """A p-value with four decimals, and ``< 0.0001`` below that (never ``0.0000``).

    Example:
        >>> fmt_p(0.04213), fmt_p(3e-9), fmt_p(None)
        ('0.0421', '< 0.0001', '–')
    """
    v = _finite(p)
    if v is None:
        return MISSING
    return "< 0.0001" if v < 0.00005 else fmt_num(v, 4)


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
    fixed = {"assigned": "割付", "tasks delivered": "タスク配信", "opened": "開封",
             "analysed": "分析対象"}
    if stage in fixed:
        return fixed[stage]
    parts = stage.split()
    if len(parts) == 3 and parts[0] == "week" and parts[2] == "done" and parts[1].isdigit():
        return f"第{parts[1]}週完了"
    return stage


# -- arms and the library's English sentences on Japanese pages -------------------------------

#: the usual arm labels (other labels are data and stay as written)
ARM_WORDS: Final[dict[str, dict[str, str]]] = {
    "en": {"control": "control", "treatment": "treatment"},
    "ja": {"control": "対照群", "treatment": "処置群"},
}


#: why a partner was left out of the draw (``assignment_units.status``)
EXCLUSION_WORDS: Final[dict[str, dict[str, str]]] = {
    "en": {"running": "running experiment", "treated": "already treated",
           "small_stratum": "small stratum"},
    "ja": {"running": "実施中の実験", "treated": "処置済み", "small_stratum": "小さな層"},
}


def arm_label(arm: str, lang: str = "en") -> str:
    """An arm's name on a page: ``control`` -> ``対照群`` on Japanese pages.

    Example:
        >>> arm_label("control", "ja"), arm_label("treatment", "en"), arm_label("video-b", "ja")
        ('対照群', 'treatment', 'video-b')
    """
    return word(ARM_WORDS, arm, lang)


def _arms_in(text: str) -> str:
    return re.sub(r"\b(control|treatment)\b", lambda m: ARM_WORDS["ja"][m.group(1)], text)


#: exact English fragments inside a sentence (a group of :data:`JA_SENTENCES`) and their
#: Japanese; ``""`` drops the fragment
_JA_PHRASES: Final[dict[str, str]] = {
    "events": "値が1のパートナー", "non-events": "値が0のパートナー",
    ", ...": "、ほか", " within strata": "（層内）", " and strata": "・層",
    ", covariates adjusted by residualization (Rosenbaum 2002)":
        "、共変量は残差化で調整（Rosenbaum 2002）",
    "nothing (no covariates)": "なし（共変量なし）",
    ", which exclude 0": "（0を含まない）",
    "Lin (2013) regression with the blocks as centred dummies interacted with the arm, HC2":
        "ブロックを中心化したダミーとして群との交互作用を入れたLin (2013)の回帰、HC2",
    "the post-stratified difference on the blocks (equal to the regression with block dummies "
    "interacted with the arm and HC2), t with n − 2·blocks degrees of freedom":
        "ブロックで事後層別化した差（ブロックのダミーと群の交互作用を入れHC2を用いた回帰と同じ）、"
        "自由度 n − 2·ブロック数のt分布",
    "a difference in means that ignores": "平均の差（次を無視）",
    "a difference of proportions that ignores": "割合の差（次を無視）",
    "a regression that leaves out": "回帰（次を含めない）",
    "free permutations that ignore": "制約のない並べ替え（次を無視）",
    "nothing (one stratum)": "なし（層は1つ）",
}

#: fragments with values inside (tried after :data:`_JA_PHRASES`)
_JA_FRAGMENTS: Final[tuple[tuple[str, str], ...]] = (
    (r"; covariates \((?P<covs>.+)\) adjusted as within-block arm differences \(Fogarty 2018\)",
     "。共変量（{covs}）はブロック内の群差として調整（Fogarty 2018）"),
    (r"(?P<how>.+? (?:ignores|leaves out)) (?P<part>.+)", "{how}：{part}"),
    (r"the strata '(?P<col>.+)'", "層「{col}」"),
    (r"the pairs/blocks of '(?P<col>.+)'", "ペア／ブロック「{col}」"),
    (r"the rerandomization covariates \((?P<covs>.*)\)", "再無作為化の共変量（{covs}）"),
)

#: Japanese renderings of the English sentences a page may show: the statistics layer's
#: warnings and notes, the evidence rating's reasons and the design line. Each pattern must
#: match a whole sentence; ``{name}`` in a rendering is the named group (groups ``arm`` and
#: ``*_arm`` are arm names, ``*_arms`` texts naming arms; other groups go through the
#: fragment tables, then this table, or stay as written). The first pattern that matches wins.
JA_SENTENCES: Final[tuple[tuple[str, str], ...]] = (
    # -- stats warnings (inputs, estimation, designs, complier, segments)
    (r"(?P<n>[\d,]+) stratum/strata of '(?P<col>.+?)' \((?P<names>.*?)(?P<more>, \.\.\.)?\) "
     r"have fewer than 2 units in an arm; their (?P<k>[\d,]+) unit\(s\) are left out, so the "
     r"effect is for the other strata",
     "層「{col}」のうち{n}層（{names}{more}）はどちらかの群のパートナーが2社未満のため、その"
     "{k}社を除外しました。効果はそれ以外の層についての値です。"),
    (r"only (?P<n>[\d,]+) units in the (?P<arm>.+?) arm: intervals rest on large-sample "
     r"approximations; method='permutation' gives an exact p-value",
     "{arm}は{n}社しかありません。区間は大標本の近似に頼っています。method='permutation' なら"
     "正確なp値が得られます。"),
    (r"only (?P<k>[\d,]+) (?P<what>events|non-events) in the (?P<arm>.+?) arm: too few to say "
     r"much about a difference",
     "{arm}の{what}は{k}社だけで、差について言えることはわずかです。"),
    (r"the outcome is heavily skewed in the (?P<arm>.+?) arm \(skewness (?P<g>\S+), "
     r"n=(?P<n>[\d,]+) < 25·skewness²\): the normal interval may under-cover; consider "
     r"winsorize=0\.99 or method='permutation'",
     "{arm}の成果の分布は大きく偏っています（歪度 {g}、n={n} < 25×歪度²）。正規近似の区間は"
     "狭すぎる（真の値を含む確率が足りない）おそれがあります。winsorize=0.99 か "
     "method='permutation' を検討してください。"),
    (r"the outcome does not vary in the (?P<arm>.+?) arm",
     "{arm}では成果の値がすべて同じです。"),
    (r"the control mean is zero or negative: no relative effect",
     "対照群の平均が0以下のため、相対的な効果は出せません。"),
    (r"the control mean is not clearly above zero: the relative effect and its interval are "
     r"unstable; read the absolute effect",
     "対照群の平均が0をはっきり上回っていないため、相対的な効果とその区間は不安定です。"
     "絶対的な効果を読んでください。"),
    (r"the effect has no sampling variation \(constant outcome\): no interval",
     "効果にばらつきがありません（成果が一定）。区間は出せません。"),
    (r"sample-ratio mismatch against the design's probabilities \(p=(?P<p>.+?)\): units were "
     r"lost or the ledger is not the design's; the estimate cannot be trusted",
     "群の人数の比が設計の割付確率と合いません（p={p}）。パートナーが失われたか、割付台帳が"
     "設計と一致していません。この推定値は信頼できません。"),
    (r"(?P<n>[\d,]+) block\(s\) of '(?P<col>.+?)' \((?P<names>.*?)(?P<more>, \.\.\.)?\) have "
     r"units of one arm only; their (?P<k>[\d,]+) unit\(s\) are left out",
     "ブロック「{col}」のうち{n}個（{names}{more}）には片方の群しかいないため、その{k}社を"
     "除外しました。"),
    (r"weak first stage \(F = (?P<f>\S+) < 10\): assignment barely changes '(?P<u>.+?)', so "
     r"the complier effect is poorly determined",
     "第1段階が弱い（F = {f} < 10）：割付が「{u}」をほとんど変えないため、実際に使った"
     "パートナーへの効果はほとんど定まりません。"),
    (r"(?P<k>[\d,]+) unit\(s\) in strata with fewer than 2 units per arm left out in this "
     r"segment",
     "このセグメントでは、どちらかの群が2社未満の層にいる{k}社を除外しました。"),
    # -- stats notes (what the appendix lists)
    (r"post-stratified on (?P<n>[\d,]+) strata \(weights = stratum shares\); Satterthwaite "
     r"degrees of freedom",
     "{n}層で事後層別化（重みは各層の割合）。自由度はSatterthwaiteの近似。"),
    (r"Newcombe hybrid score interval; p-value dual to it \(p < α exactly when the interval "
     r"excludes 0\); se is the Wald standard error, for reference",
     "Newcombeのハイブリッド・スコア区間。p値は区間と対応します（区間が0を含まないときに限り"
     "p < α）。seは参考としてのWald標準誤差です。"),
    (r"regression adjustment \(Lin 2013\): arm × centred (?P<covs>.+); HC2 standard errors; t "
     r"with n − 2\(k\+1\) degrees of freedom",
     "回帰調整（Lin 2013）：群 × 中心化した {covs}。HC2標準誤差、自由度 n − 2(k+1) の"
     "t分布。"),
    (r"randomization test with (?P<n>[\d,]+) re-randomizations(?P<within> within strata)?"
     r"(?P<resid>, covariates adjusted by residualization \(Rosenbaum 2002\))?; "
     r"p = \(1 \+ #\{\|D\*\| ≥ \|D\|\}\) / \(B \+ 1\); interval by test inversion assuming a "
     r"constant additive effect; se and the relative interval are analytic, for reference",
     "{n}回の割付のやり直しによる無作為化検定{within}{resid}。p = (1 + #{|D*| ≥ |D|}) / "
     "(B + 1)。区間は効果が一定の加算であると仮定した検定の反転によります。seと相対的な効果の"
     "区間は参考としての解析的な値です。"),
    (r"bootstrap with (?P<n>[\d,]+) resamples drawn within arms(?P<strata> and strata)?; "
     r"expanded percentile interval \(quantiles at (?P<lo>\S+) and (?P<hi>\S+), Hesterberg "
     r"2015\); p-value dual to it; se is the bootstrap standard deviation",
     "群{strata}の中で{n}回のブートストラップ再標本化。拡張パーセンタイル区間（{lo}と{hi}の"
     "分位点、Hesterberg 2015）。p値は区間と対応します。seはブートストラップの標準偏差です。"),
    (r"a 0/1 outcome with strata: post-stratified difference of proportions \(the Newcombe "
     r"interval has no stratified form\)",
     "層のある0/1の成果：事後層別化した割合の差（Newcombe区間には層別の形がないため）。"),
    (r"ratio metric Σ(?P<num>.+?) / Σ(?P<den>.+?) per arm; delta-method variance with the "
     r"numerator–denominator covariance; normal interval",
     "群ごとの比率指標 Σ{num} / Σ{den}。分子と分母の共分散を含むデルタ法の分散、正規近似の"
     "区間。"),
    (r"(?P<k>[\d,]+) unit\(s\) in other arms \((?P<names>.*?)\) are not part of this comparison",
     "ほかの群の{k}社（{names}）はこの比較に含みません。"),
    (r"outcome winsorized at one pooled cap (?P<cap>\S+) \(the (?P<q>\S+)th percentile of both "
     r"arms together\): (?P<c>[\d,]+) control and (?P<t>[\d,]+) treatment value\(s\) capped; "
     r"the effect is on the capped outcome",
     "成果を両群共通の上限 {cap}（両群をあわせた{q}パーセンタイル）で打ち切り：対照群{c}社、"
     "処置群{t}社の値を上限に置き換えました。効果は打ち切った成果についての値です。"),
    (r"corrected: method '(?P<req>.+?)' asked for (?P<what>.+); the experiment was assigned "
     r"by (?P<design>.+), so '(?P<used>.+?)' was used",
     "修正：method '{req}' は{what}を求めましたが、実験は{design}で割り付けたため、'{used}' を"
     "使いました。"),
    (r"redraws permute the observed arms within each group: the design's draws when its arm "
     r"counts per group are fixed",
     "割付のやり直しは各グループの中で観測された群を並べ替えます（グループごとの群の人数が"
     "固定された設計の割付と同じ）。"),
    (r"p = \(1 \+ #\{\|S\*\| ≥ \|S\|\}\) / \(1 \+ R\) under the sharp null \(no unit's "
     r"outcome depends on its arm\); interval by test inversion assuming a constant additive "
     r"effect; outcomes residualized on (?P<covs>.+)",
     "p = (1 + #{|S*| ≥ |S|}) / (1 + R)：鋭い帰無仮説（どのパートナーの成果も群によらない）の"
     "もとでの値。区間は効果が一定の加算であると仮定した検定の反転。成果は {covs} で残差化。"),
    (r"p = \(1 \+ #\{\|S\*\| ≥ \|S\|\}\) / \(1 \+ R\) under the sharp null \(no unit's "
     r"outcome depends on its arm\); interval by test inversion assuming a constant additive "
     r"effect",
     "p = (1 + #{|S*| ≥ |S|}) / (1 + R)：鋭い帰無仮説（どのパートナーの成果も群によらない）の"
     "もとでの値。区間は効果が一定の加算であると仮定した検定の反転。"),
    (r"with more than two arms the sharp null covers every arm: units redrawn into other arms "
     r"leave the statistic",
     "3群以上では鋭い帰無仮説がすべての群に及びます。ほかの群に割り付け直されたパートナーは"
     "統計量から外れます。"),
    (r"stratified-regression: Lin \(2013\) with the randomization strata as centred dummies "
     r"interacted with the arm; strata weighted by their size \(the post-stratified difference "
     r"when there are no covariates\)",
     "層別回帰：無作為化の層を中心化したダミーとして群との交互作用を入れたLin (2013)の回帰。"
     "層は大きさで重み付け（共変量がなければ事後層別化した差と同じ）。"),
    (r"one stratum \(complete randomization\): Lin \(2013\) regression",
     "層は1つ（完全無作為化）：Lin (2013)の回帰。"),
    (r"rerandomized-regression: regression on the rerandomization covariates \((?P<covs>.*)\), "
     r"which makes the normal HC2 interval valid under rerandomization \(Li, Ding & Rubin "
     r"2018; Li & Ding 2020\)",
     "再無作為化の回帰：再無作為化の共変量（{covs}）での回帰。これで正規近似のHC2区間が"
     "再無作為化のもとでも妥当になります（Li, Ding & Rubin 2018; Li & Ding 2020）。"),
    (r"no randomization p-value: a rerandomized design needs its redraws \(redraw=\)",
     "無作為化検定のp値はありません：再無作為化の設計には、その割付のやり直し（redraw=）が"
     "必要です。"),
    (r"the effect, interval and p-value are the randomization test's; se, df and the relative "
     r"interval are the design estimator's, for reference",
     "効果・区間・p値は無作為化検定の値です。se・自由度・相対的な効果の区間は、参考として設計に"
     "沿った推定量の値です。"),
    (r"blocked: every one of the (?P<n>[\d,]+) blocks has at least 2 units per arm, so the "
     r"within-block \(Neyman\) variance is used: (?P<how>.+); blocks weighted by their size",
     "ブロック化：{n}個のどのブロックにも各群2社以上いるため、ブロック内（Neyman）の分散を"
     "使います：{how}。ブロックは大きさで重み付け。"),
    (r"blocked: within-block differences of (?P<n>[\d,]+) blocks weighted by block size; "
     r"variance between blocks, Σ w_j²\(τ_j − τ\)²/\(1 − w_j\) \(for pairs the "
     r"paired-difference variance of Imai 2008 / Athey & Imbens 2017, conservative\)"
     r"(?P<covs>; covariates \(.+\) adjusted as within-block arm differences \(Fogarty 2018\))?"
     r"; t with J − 1 − k = (?P<df>\S+) degrees of freedom",
     "ブロック化：{n}個のブロック内の差をブロックの大きさで重み付け。分散はブロック間の "
     "Σ w_j²(τ_j − τ)²/(1 − w_j)（ペアでは Imai 2008 / Athey & Imbens 2017 の対の差の分散、"
     "保守的）{covs}。自由度 J − 1 − k = {df} のt分布。"),
    (r"effect on partners who consumed the package \(compliers\), with assignment as the "
     r"instrument: assumes assignment changes the outcome only through uptake and that nobody "
     r"consumes less because of assignment",
     "パッケージを実際に使ったパートナー（コンプライヤー）への効果。割付を操作変数とし、割付は"
     "利用を通してのみ成果を変え、割付のせいで利用が減る人はいないと仮定します。"),
    (r"the Anderson–Rubin set is two rays, \(−∞, (?P<lo>\S+)\] ∪ \[(?P<hi>\S+), ∞\)"
     r"(?P<excl>, which exclude 0)?: the first stage is too weak to bound the complier effect; "
     r"the interval shown is the whole line",
     "Anderson–Rubinの集合は2本の半直線 (−∞, {lo}] ∪ [{hi}, ∞){excl}です。第1段階が弱すぎて"
     "実際に使ったパートナーへの効果を区間に収められないため、区間は数直線全体としています。"),
    (r"the Anderson–Rubin set is unbounded: the first stage is too weak at this confidence "
     r"level to bound the complier effect",
     "Anderson–Rubinの集合は有界ではありません：この信頼水準では第1段階が弱すぎて、実際に"
     "使ったパートナーへの効果を区間に収められません。"),
    (r"one-sided non-compliance \(no control unit consumed the package\): the complier effect "
     r"is the effect on treated units that consumed it",
     "片側の非遵守（対照群は誰もパッケージを使っていない）：実際に使ったパートナーへの効果は、"
     "処置群で使ったパートナーへの効果です。"),
    (r"uptake '(?P<u>.+?)' is not 0/1: the ratio is the effect per unit of uptake",
     "利用の列「{u}」が0/1ではないため、比は利用1単位あたりの効果です。"),
    (r"Holm adjusted p-values; each interval at its Holm step level, so an interval excludes 0 "
     r"exactly when Holm rejects",
     "Holm法で調整したp値。各区間はHolm法の各段階の水準で、区間が0を含まないのはHolm法が"
     "棄却するときに限ります。"),
    (r"Benjamini–Hochberg adjusted p-values; intervals at the false-coverage-rate level "
     r"1 − R·α/m \(Benjamini & Yekutieli 2005\), so an interval excludes 0 exactly when the "
     r"adjusted p-value is below α",
     "Benjamini–Hochberg法で調整したp値。区間は偽被覆率の水準 1 − R·α/m（Benjamini & "
     "Yekutieli 2005）で、区間が0を含まないのは調整済みp値がα未満のときに限ります。"),
    (r"no multiplicity adjustment: with several segments some will look different by chance",
     "多重性の調整なし：セグメントが多いと、偶然だけで違って見えるものが出ます。"),
    (r"heterogeneity: Cochran's Q over the segment effects; expected uplift: empirical-Bayes "
     r"shrinkage towards the overall effect \(DerSimonian–Laird between-segment variance\)",
     "異質性：セグメント別の効果についてのCochranのQ。期待される上乗せ：全体の効果に向けた"
     "経験ベイズの縮小（セグメント間分散はDerSimonian–Laird法）。"),
    (r"segment (?P<seg>.+?) = (?P<level>.+)", "セグメント {seg} = {level} についての推定。"),
    # -- the evidence rating's reasons (report/evidence.py)
    (r"sample-ratio mismatch \(p = (?P<p>\S+) < (?P<t>\S+)\)",
     "群の人数の比が設計と合いません（p = {p} < {t}）。"),
    (r"covariates predict the arm \(omnibus p = (?P<p>\S+) < (?P<t>\S+)\)",
     "事前期間の値から群が予測できます（全体の検定 p = {p} < {t}）。"),
    (r"standardized difference above (?P<t>\S+): (?P<names>.+)",
     "標準化差が{t}を超える共変量があります：{names}。"),
    (r"interval half-width (?P<h>\S+) wider than the minimum effect (?P<me>\S+): underpowered",
     "区間の半幅 {h} が最小効果 {me} より広く、検出力が足りません。"),
    (r"attrition: (?P<a>[\d,]+) of (?P<n>[\d,]+) assigned partners analysed",
     "脱落：割り付けた{n}社のうち分析できたのは{a}社です。"),
    (r"interim look (?P<k>\d+) of (?P<K>\d+): not the final analysis",
     "{K}回中{k}回目の中間評価で、最終の分析ではありません。"),
    (r"placebo \(A/A\) run: says nothing about the package",
     "プラセボ（A/A）実行のため、パッケージについては何も言えません。"),
    # -- the evaluation's own warnings and notes (design.evaluate, design.inputs)
    (r"the design's redraws could not be made \((?P<why>.+)\): the randomization test "
     r"permutes within the strata or blocks",
     "設計どおりの再割付ができませんでした（{why}）。無作為化検定は層またはブロックの中で並べ替えます。"),
    (r"(?P<col>\S+): (?P<n>[\d,]+) partner\(s\) without a pre-period value \(a ratio or mean "
     r"with no rows\) take the pooled mean as covariate",
     "{col}：事前期間の値がないパートナー{n}社（行のない比率または平均）は、共変量として全体の"
     "平均を使います。"),
    (r"(?P<col>\S+): (?P<n>[\d,]+) partner\(s\) have no value in the post window \(a ratio or "
     r"mean without rows\) and are left out of this metric",
     "{col}：事後期間に値がないパートナー{n}社（行のない比率または平均）は、この指標から除きます。"),
    (r"guardrail (?P<metric>.+?): no partner in control has any, so a relative drop cannot be "
     r"measured yet \(inconclusive\)",
     "ガードレール {metric}：対照群に値のあるパートナーがいないため、相対的な低下はまだ測れません"
     "（判定保留）。"),
    (r"(?P<metric>\S+): no look has a standard error yet, so no sequential interval",
     "{metric}：標準誤差の出せる評価回がまだないため、逐次区間はありません。"),
    (r"(?P<arm>\S+): no complier effect \((?P<why>.+)\)",
     "{arm}：実際に使ったパートナーへの効果は推定できません（{why}）。"),
    (r"segments by (?P<seg>.+?): not estimated \((?P<why>.+)\)",
     "{seg} 別のセグメント：推定できません（{why}）。"),
    (r"the logs were read again: the shared inputs did not fit \((?P<why>.+)\)",
     "ログを読み直しました：実行全体で先に読んだ入力が合いませんでした（{why}）。"),
    (r"the logs were read ahead, once for the whole run's experiments \(one engine session, one "
     r"scan\); the numbers are those of a read for this one alone",
     "ログは実行全体の実験についてまとめて一度に読みました（エンジンのセッション1回、走査1回）。"
     "数値はこの実験だけを読んだ場合と同じです。"),
    (r"the experiment file's design differs from the stored one \((?P<diff>.+)\): the "
     r"evaluation follows the stored design",
     "実験ファイルの設計が保存された設計と異なります（{diff}）。評価は保存された設計に従います。"),
    (r"design: (?P<design>.+); every estimate follows it \(by assignment, the pre-period value "
     r"of each metric as covariate\)",
     "設計：{design}。すべての推定はこれに従います（割付どおり、各指標の事前期間の値を共変量に）。"),
    (r"each of the (?P<n>[\d,]+) arms is compared with control on its own; the headline follows "
     r"'(?P<arm>.+?)'",
     "{n}つの群をそれぞれ対照群と比べます。見出しは「{arm}」に従います。"),
    (r"no balance table \((?P<why>.+)\)", "バランス表はありません（{why}）。"),
    (r"pre-period imbalance in (?P<cols>.+?) \(\|SMD\| > (?P<t>[\d.]+)\); the regression "
     r"adjustment corrects for it",
     "事前期間の偏り：{cols}（|SMD| > {t}）。回帰調整で補正します。"),
    (r"sample-ratio mismatch: (?P<nc>[\d,]+) control and (?P<nt>[\d,]+) '(?P<arm>.+?)' partners "
     r"against the design's (?P<share>\S+) control \(p=(?P<p>\S+)\); the ledger or the data "
     r"lost partners",
     "サンプル比の不一致：対照群{nc}社と{arm}{nt}社は、設計の対照割合{share}と合いません"
     "（p={p}）。割付台帳かデータからパートナーが失われています。"),
    (r"the logs end on (?P<last>\S+): evaluated as of (?P<day>\S+)",
     "ログは{last}で終わっています：{day}時点で評価しました。"),
    (r"the logs end on (?P<last>\S+); the days up to (?P<day>\S+) hold no events \(a weekend or "
     r"holiday, or events not yet ingested\)",
     "ログは{last}で終わっています。{day}までの日にはイベントがありません（週末・休日、または"
     "未取り込みのイベント）。"),
    (r"interim: evaluated as of (?P<day>\S+), before the planned horizon \((?P<end>\S+)\); the "
     r"decision waits for the horizon and stops early only for harm",
     "中間評価：予定の終了日（{end}）より前の{day}時点で評価しました。判定は終了日を待ち、早期"
     "中止は有害な場合に限ります。"),
    # -- why a partner was left out of the draw (design.ledger, design.randomize)
    (r"in running experiment (?P<eid>.+?) \(of the same package\)",
     "同じパッケージの実施中の実験 {eid} に参加中"),
    (r"in running experiment (?P<eid>.+?) \(of any package\)",
     "実施中の実験 {eid} に参加中（パッケージを問わず）"),
    (r"already treated by (?P<pkg>.+?) in experiment (?P<eid>.+?) \(roll-out\)",
     "実験 {eid} で {pkg} をすでに受けています（展開）"),
    (r"stratum too small to split \(policy exclude, needs (?P<n>\d+)\)",
     "層が小さすぎて分けられません（除外の方針、{n}社必要）"),
    # -- the design line (stats.designs.DesignInfo.describe)
    (r"stratified randomization within '(?P<col>.+?)' \((?P<shares_arms>.*)\)",
     "「{col}」の層ごとの層別無作為化（{shares_arms}）"),
    (r"complete randomization \((?P<shares_arms>.*)\)", "完全無作為化（{shares_arms}）"),
    (r"randomization within the pairs/blocks of '(?P<col>.+?)' \((?P<shares_arms>.*)\)",
     "ペア／ブロック「{col}」の中での無作為化（{shares_arms}）"),
    (r"rerandomization on (?P<covs>.+?) within '(?P<col>.+?)' \((?P<shares_arms>.*)\)",
     "「{col}」の層の中で {covs} による再無作為化（{shares_arms}）"),
    (r"rerandomization on (?P<covs>.+?) \((?P<shares_arms>.*)\)",
     "{covs} による再無作為化（{shares_arms}）"),
)

_COMPILED: Final = tuple((re.compile(p, re.S), t) for p, t in JA_SENTENCES)
_COMPILED_FRAGMENTS: Final = tuple((re.compile(p, re.S), t) for p, t in _JA_FRAGMENTS)


def _fill(template: str, m: re.Match[str]) -> str:
    """``template`` with each ``{group}`` of ``m`` in Japanese (braces that do not name a
    group, like ``#{|D*| ≥ |D|}``, stay)."""
    groups = m.groupdict()

    def one(g: re.Match[str]) -> str:
        name = g.group(1)
        if name not in groups:
            return g.group(0)
        value = groups[name]
        if value is None:
            return ""
        if name == "arm" or name.endswith("_arm"):
            return arm_label(value, "ja")
        if name.endswith("_arms"):
            return _arms_in(value)
        if value in _JA_PHRASES:
            return _JA_PHRASES[value]
        for pat, tpl in (*_COMPILED_FRAGMENTS, *_COMPILED):
            f = pat.fullmatch(value)
            if f:
                return _fill(tpl, f).removesuffix("。")
        return value

    return re.sub(r"\{(\w+)\}", one, template)


def has_japanese(text: str) -> bool:
    """Whether :func:`translate` knows a Japanese rendering of ``text``.

    Example:
        >>> has_japanese("the outcome does not vary in the control arm"), has_japanese("new")
        (True, False)
    """
    return any(p.fullmatch(text) for p, _ in _COMPILED)


def translate(text: str, lang: str) -> str:
    """One of the library's English sentences (a warning, a note, an evidence reason, the
    design line) in the page's language: unchanged in English, and in Japanese the rendering
    of :data:`JA_SENTENCES` whose pattern matches the whole text; a sentence without one stays
    in English (never an error).

    Example:
        >>> translate("interval half-width 0.307 wider than the minimum effect 0.2: "
        ...           "underpowered", "ja")
        '区間の半幅 0.307 が最小効果 0.2 より広く、検出力が足りません。'
        >>> translate("only 12 units in the control arm: intervals rest on large-sample "
        ...           "approximations; method='permutation' gives an exact p-value", "ja")[:15]
        '対照群は12社しかありません。'
        >>> translate("something new", "ja")
        'something new'
    """
    if lang != "ja":
        return text
    s = text.strip()
    for pat, tpl in _COMPILED:
        m = pat.fullmatch(s)
        if m:
            return _fill(tpl, m)
    return text


#: the built-in metrics' names in words (custom metrics are shown by name, underscores as spaces)
METRIC_WORDS: Final[dict[str, dict[str, str]]] = {
    "ja": {"logins": "ログイン数", "portal_logins": "ポータルのログイン数",
           "logins_30d": "30日間のログイン数", "active_users": "利用ユーザー数",
           "days_since_last_login": "最終ログインからの日数", "video_completed": "動画の視聴完了",
           "videos_completed": "動画の視聴完了数", "template_downloaded": "テンプレートの取得",
           "downloads": "ダウンロード数", "trainings_completed": "研修の修了数",
           "latest_test_score": "直近のテスト得点", "material_uses": "資料の利用数",
           "content_views": "コンテンツの閲覧数", "package_completion": "パッケージの完了率",
           "completion_rate": "完了率", "deals_registered": "案件登録数",
           "pipeline_amount": "パイプライン金額", "deals_won": "受注件数",
           "deals_closed": "クローズ件数", "won_revenue": "受注金額", "win_rate": "受注率"},
}


def metric_label(name: str, lang: str) -> str:
    """A metric's name for a reader: the built-in metrics in words on ``ja`` pages, any other
    name with its underscores as spaces."""
    return METRIC_WORDS.get(lang, {}).get(name) or name.replace("_", " ")

