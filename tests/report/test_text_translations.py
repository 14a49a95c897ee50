"""Every English sentence the statistics layer and the evaluation can put on a page has a
Japanese rendering.

The sentences are read from the source of ``supportlab.stats`` and of the evaluation
(``design/evaluate.py``, ``design/inputs.py``; each string appended to a
``warnings`` or ``notes`` list, or given as a literal in one), with every interpolated value
replaced by a sample and every conditional part in each of its forms; a new warning without a
rendering fails here.
"""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path

import pytest

from supportlab.report.text import JA_SENTENCES, has_japanese, translate

SRC = Path(__file__).resolve().parents[2] / "src" / "supportlab"
STATS = SRC / "stats"
#: the files whose warnings and notes reach a page
SOURCES = (*sorted(STATS.glob("*.py")), SRC / "design" / "evaluate.py",
           SRC / "design" / "inputs.py")
_KANA_KANJI = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def _parts(node: ast.AST) -> list[str]:
    """The forms of a part of a string expression (anything not a string: a sample)."""
    return _forms(node) or ["7"]


def _forms(node: ast.AST) -> list[str] | None:
    """Every text a string expression can produce (values as samples), ``None`` when the
    node is not a string expression."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        parts: list[list[str]] = []
        for v in node.values:
            if isinstance(v, ast.Constant):
                parts.append([str(v.value)])
            elif isinstance(v, ast.FormattedValue):
                inner = _forms(v.value) if isinstance(v.value, ast.IfExp) else None
                sample = "'7'" if v.conversion == ord("r") else "7"
                parts.append(inner if inner is not None else [sample])
        return ["".join(p) for p in itertools.product(*parts)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _forms(node.left), _forms(node.right)
        if left is None and right is None:
            return None
        return [a + b for a in left or ["7"] for b in right or ["7"]]
    if isinstance(node, ast.IfExp):
        body, other = _forms(node.body), _forms(node.orelse)
        if body is None and other is None:
            return None
        return _parts(node.body) + _parts(node.orelse)
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Dict):
        out: list[str] = []
        for v in node.value.values:
            f = _forms(v)
            if f:
                out += f
        return out or None
    return None


def _is_sink(node: ast.AST) -> bool:
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
    return name.endswith("warnings") or name.endswith("notes")


def _sentences() -> dict[str, set[str]]:
    """``{sentence: {file:line, ...}}`` for every warning and note of the stats layer."""
    found: dict[str, set[str]] = {}

    def add(node: ast.AST, where: str) -> None:
        for text in _forms(node) or []:
            found.setdefault(text, set()).add(where)

    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        thin = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)
                and f.name == "thin_warnings" for n in ast.walk(f)}
        for node in ast.walk(tree):
            where = f"{path.name}:{getattr(node, 'lineno', 0)}"
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "append" and node.args
                    and (_is_sink(node.func.value) or id(node) in thin)):
                add(node.args[0], where)
            elif isinstance(node, ast.Call):
                for kw in node.keywords:
                    if kw.arg in ("warnings", "notes") and isinstance(kw.value,
                                                                       (ast.Tuple, ast.List)):
                        for el in kw.value.elts:
                            add(el, where)
            elif (isinstance(node, ast.Assign) and isinstance(node.value, ast.List)
                  and any(_is_sink(t) for t in node.targets)):
                for el in node.value.elts:
                    add(el, where)
    return found


SENTENCES = _sentences()


def test_the_scan_finds_the_known_warnings() -> None:
    joined = "\n".join(SENTENCES)
    for known in ("the outcome is heavily skewed in the", "weak first stage",
                  "sample-ratio mismatch against the design's probabilities",
                  "stratum/strata of", "unit(s) in strata with fewer than 2",
                  "only 7 units in the", "regression adjustment (Lin 2013)"):
        assert known in joined
    assert len(SENTENCES) >= 40


@pytest.mark.parametrize("text", sorted(SENTENCES))
def test_every_stats_sentence_has_a_japanese_rendering(text: str) -> None:
    where = ", ".join(sorted(SENTENCES[text]))
    assert has_japanese(text), f"no Japanese rendering for ({where}): {text!r}"
    ja = translate(text, "ja")
    assert _KANA_KANJI.search(ja), ja
    assert ja.endswith("。") and "{" not in ja.replace("#{|", ""), ja
    assert translate(text, "en") == text


def test_values_carried_over_and_arms_in_japanese() -> None:
    w = ("the outcome is heavily skewed in the control arm (skewness 4.2, n=207 < "
         "25·skewness²): the normal interval may under-cover; consider winsorize=0.99 or "
         "method='permutation'")
    ja = translate(w, "ja")
    assert ja.startswith("対照群の成果") and "歪度 4.2" in ja and "n=207" in ja
    s = ("2 stratum/strata of 'rank' ('S', 'A', 'B', 'C', 'D', ...) have fewer than 2 units in "
         "an arm; their 9 unit(s) are left out, so the effect is for the other strata")
    ja = translate(s, "ja")
    assert "層「rank」" in ja and "'D'、ほか" in ja and "9社" in ja
    note = ("randomization test with 1,000 re-randomizations within strata; p = (1 + #{|D*| ≥ "
            "|D|}) / (B + 1); interval by test inversion assuming a constant additive effect; "
            "se and the relative interval are analytic, for reference")
    ja = translate(note, "ja")
    assert "1,000回" in ja and "（層内）" in ja and "#{|D*| ≥ |D|}" in ja
    assert translate("complete randomization (control 50%, treatment 50%)", "ja") == \
        "完全無作為化（対照群 50%, 処置群 50%）"
    assert translate("regression adjustment (Lin 2013): arm × centred nothing (no covariates); "
                     "HC2 standard errors; t with n − 2(k+1) degrees of freedom",
                     "ja").startswith("回帰調整（Lin 2013）：群 × 中心化した なし（共変量なし）")
    c = ("corrected: method 'welch' asked for a difference in means that ignores the strata "
         "'rank'; the experiment was assigned by stratified randomization within 'rank' "
         "(control 50%, treatment 50%), so 'stratified-regression' was used")
    ja = translate(c, "ja")
    assert "平均の差（次を無視）：層「rank」" in ja and "「rank」の層ごとの層別無作為化" in ja


def test_unknown_sentences_stay_english() -> None:
    assert translate("a brand-new caveat: 3 partners", "ja") == "a brand-new caveat: 3 partners"
    assert not has_japanese("a brand-new caveat")
    assert translate("", "ja") == ""


def test_patterns_compile_and_are_distinct() -> None:
    pats = [p for p, _ in JA_SENTENCES]
    assert len(pats) == len(set(pats))
    for p in pats:
        re.compile(p)


def test_exclusion_reasons_in_japanese() -> None:
    from supportlab.report.text import EXCLUSION_WORDS, word

    assert translate("in running experiment kit-q1 (of the same package)", "ja") == \
        "同じパッケージの実施中の実験 kit-q1 に参加中"
    assert "展開" in translate("already treated by launch-kit in experiment kit-q1 (roll-out)",
                               "ja")
    assert "2社必要" in translate("stratum too small to split (policy exclude, needs 2)", "ja")
    assert word(EXCLUSION_WORDS, "running", "ja") == "実施中の実験"
    assert word(EXCLUSION_WORDS, "other", "ja") == "other"
