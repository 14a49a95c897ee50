"""The evidence rating of an experiment report: how far a reader may lean on its result."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from supportlab.design.evaluate import Evaluation
from supportlab.report.text import translate

#: omnibus balance p-values below this fail the trust gate (a broken randomization, not chance).
BALANCE_P_THRESHOLD = 0.001


@dataclass(frozen=True)
class EvidenceRating:
    """A 1–5 rating with the reasons that moved it.

    Rubric (deterministic; start at 5, floor 1):

    * sample-ratio mismatch (``srm.mismatch``): −3;
    * covariate balance: omnibus p below :data:`BALANCE_P_THRESHOLD`: −2; otherwise any
      covariate over the SMD threshold: −1;
    * power: the primary interval's half-width above ``min_effect``: −1 (too wide to tell
      a worthwhile effect from none);
    * attrition: fewer than 95% of the assigned partners analysed: −1;
    * looks policy: an interim look that is not an early stop for harm: −1;
    * a placebo (A/A) run: capped at 1.

    Attributes:
        score: 1 to 5.
        reasons: ``(points, text)`` pairs in English, points ≤ 0 (:meth:`texts` gives them in
            a page's language).
    """

    score: int
    reasons: tuple[tuple[int, str], ...]

    @property
    def stars(self) -> str:
        """``★★★☆☆`` for a score of 3."""
        return "★" * self.score + "☆" * (5 - self.score)

    def texts(self, lang: str = "en") -> tuple[str, ...]:
        """The reasons' texts in ``en`` or ``ja`` (:func:`~supportlab.report.text.translate`).

        Example:
            >>> EvidenceRating(4, ((-1, "interim look 1 of 3: not the final analysis"),)
            ...                ).texts("ja")
            ('3回中1回目の中間評価で、最終の分析ではありません。',)
        """
        return tuple(translate(t, lang) for _, t in self.reasons)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: score and reasons (each in English and Japanese)."""
        return {"score": self.score,
                "reasons": [{"points": p, "text": t, "text_ja": translate(t, "ja")}
                            for p, t in self.reasons]}


def rate_evidence(ev: Evaluation, *, n_assigned: int | None = None) -> EvidenceRating:
    """Rate an evaluation by the rubric of :class:`EvidenceRating`.

    Args:
        ev: the evaluation.
        n_assigned: partners assigned (default: the arms' analysed counts, i.e. no attrition).

    Returns:
        The rating.
    """
    reasons: list[tuple[int, str]] = []
    if ev.srm.mismatch:
        reasons.append((-3, f"sample-ratio mismatch (p = {ev.srm.p_value:.2g} < "
                            f"{ev.srm.threshold:g})"))
    bal = ev.balance
    if bal is not None:
        if bal.omnibus_p < BALANCE_P_THRESHOLD:
            reasons.append((-2, f"covariates predict the arm (omnibus p = {bal.omnibus_p:.2g} < "
                                f"{BALANCE_P_THRESHOLD:g})"))
        elif bal.imbalanced:
            reasons.append((-1, "standardized difference above "
                                f"{bal.smd_threshold:g}: {', '.join(bal.imbalanced)}"))
    min_effect = ev.decision_detail.evidence.get("min_effect")
    half = (ev.primary.ci_upper - ev.primary.ci_lower) / 2
    if isinstance(min_effect, (int, float)) and math.isfinite(half) and half > min_effect:
        reasons.append((-1, f"interval half-width {half:.3g} wider than the minimum effect "
                            f"{min_effect:g}: underpowered"))
    analysed = sum(a.n_treatment for a in ev.arms) + ev.n_control
    if n_assigned and analysed < 0.95 * n_assigned:
        reasons.append((-1, f"attrition: {analysed} of {n_assigned} assigned partners analysed"))
    if not ev.final and ev.decision != "stop":
        reasons.append((-1, f"interim look {ev.look} of {ev.looks}: not the final analysis"))
    score = max(1, 5 + sum(p for p, _ in reasons))
    if ev.placebo:
        reasons.append((0, "placebo (A/A) run: says nothing about the package"))
        score = 1
    return EvidenceRating(score=score, reasons=tuple(reasons))
