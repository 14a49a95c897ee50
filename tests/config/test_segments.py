"""Named segments (experiments/segments.yaml)."""

from __future__ import annotations

import pytest

from supportlab.features.segments import load_segments


def test_good_segments_keep_what_was_written(tmp_path, write):
    f = write(tmp_path / "segments.yaml", """
        segments:
          new_b_partners: {rank: [B], tenure_days: {max: 365}}
          product_a_sellers: {product: A}
          east: "region == '関東'"
        """)
    assert load_segments(f) == {"new_b_partners": {"rank": ["B"], "tenure_days": {"max": 365}},
                                "product_a_sellers": {"product": "A"}, "east": "region == '関東'"}
    assert load_segments(tmp_path / "none.yaml") == {}


@pytest.mark.parametrize(("text", "key", "message"), [
    ("segments:\n  bad name: {rank: C}\n", "segments.bad name", "cannot be used in rules"),
    ("segments:\n  young: 5\n", "segments.young", "must be a rule (text) or a mapping"),
    ("segments:\n  young: {}\n", "segments.young", "must not be empty"),
    ("segments:\n  young: {tenure_days: {min: x}}\n", "segments.young.tenure_days.min",
     "must be a number"),
    ("segmnets:\n  young: {rank: C}\n", "segmnets", "did you mean 'segments'?"),
    ("# empty\n", "(top level)", "missing required key 'segments'"),
])
def test_invalid_segments(tmp_path, write, problems_of, text, key, message):
    found = problems_of(write(tmp_path / "segments.yaml", text), "segments")
    assert key in found and message in found[key], found
