"""The simulated world's content catalogue and how partners act on each kind of content.

Example:
    >>> cat = content_catalogue(["A"])
    >>> cat.content_id.head(2).tolist()
    ['video-a-intro', 'video-a-demo']
    >>> [event for event, _ in ACTIONS["template"]]
    ['view', 'download']
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

from supportlab.vocab import EVENT_TYPES

__all__ = ["ACTIONS", "EVENT_CODES", "GENERAL_CONTENT", "GENERAL_SHARE", "PRODUCT_CONTENT",
           "content_catalogue", "slug"]

#: the catalogue template per product: (content_type, id pattern, title pattern, popularity)
PRODUCT_CONTENT = (
    ("video", "video-{p}-intro", "製品{P} 紹介動画", 10.0),
    ("video", "video-{p}-demo", "製品{P} デモ動画", 6.0),
    ("video", "video-{p}-usecase", "製品{P} 導入事例動画", 4.0),
    ("video", "video-{p}-advanced", "製品{P} 上級機能解説", 2.0),
    ("template", "proposal-template-{p}", "製品{P} 提案書テンプレート", 7.0),
    ("template", "quote-template-{p}", "製品{P} 見積書テンプレート", 4.0),
    ("template", "email-template-{p}", "製品{P} 案内メール文面", 3.0),
    ("training", "training-{p}", "製品{P} 販売トレーニング", 4.0),
    ("training", "training-{p}-advanced", "製品{P} 上級トレーニング", 1.5),
    ("test", "quiz-{p}", "製品{P} 理解度テスト", 3.5),
    ("test", "quiz-{p}-advanced", "製品{P} 上級理解度テスト", 1.0),
    ("campaign", "campaign-{p}", "製品{P} キャンペーンガイド", 5.0),
    ("campaign", "campaign-{p}-fy-end", "製品{P} 期末キャンペーンガイド", 3.0),
    ("material", "deck-{p}", "製品{P} 営業資料", 6.0),
    ("material", "casestudy-{p}", "製品{P} 導入事例集", 4.0),
    ("material", "brochure-{p}", "製品{P} パンフレット", 3.0),
    ("material", "pricing-{p}", "製品{P} 価格表", 4.0),
)
#: content that belongs to no product
GENERAL_CONTENT = (
    ("video", "video-portal-tour", "パートナーポータルの使い方", 3.0),
    ("material", "partner-program-guide", "パートナープログラムガイド", 3.0),
    ("training", "training-compliance", "コンプライアンス研修", 1.5),
    ("test", "quiz-compliance", "コンプライアンス確認テスト", 1.5),
)
GENERAL_SHARE = 0.07

#: the small integer code of each event type (its position in the vocabulary)
EVENT_CODES = {name: code for code, name in enumerate(EVENT_TYPES)}
#: what a content action is, by content type: (event type, probability), up to three
ACTIONS = {
    "video": (("view", 0.15), ("video_progress", 0.55), ("video_complete", 0.30)),
    "template": (("view", 0.45), ("download", 0.55)),
    "training": (("view", 0.55), ("training_complete", 0.45)),
    "test": (("view", 0.25), ("test_submit", 0.75)),
    "campaign": (("campaign_view", 0.75), ("view", 0.25)),
    "material": (("view", 0.35), ("material_use", 0.40), ("download", 0.25)),
}


def slug(product: str) -> str:
    """A product name as it appears in content ids: lower-case letters, digits and dashes.

    Example:
        >>> slug("Product A")
        'product-a'
    """
    return re.sub(r"[^0-9a-z]+", "-", str(product).lower()).strip("-") or "x"


def content_catalogue(products: Sequence[str] = ("A", "B", "C")) -> pd.DataFrame:
    """The content catalogue of a simulated world (the ``contents`` table).

    Per product there are videos, templates, trainings, tests, campaigns and materials; the
    first of each kind (``video-a-intro``, ``proposal-template-a``, ``training-a``, ``quiz-a``,
    ``campaign-a``, ``deck-a`` for product ``A``) make a natural launch package. A few items
    belong to no product (portal tour, programme guide, compliance training and test).

    Args:
        products: product names, as in :attr:`SimulationConfig.products`.

    Returns:
        One row per item: ``content_id, content_type, product, version, title``; also
        ``popularity``, the relative chance an item is picked in the simulated history.

    Example:
        >>> cat = content_catalogue(["A"])
        >>> cat.loc[cat.content_type == "test", "content_id"].tolist()
        ['quiz-a', 'quiz-a-advanced', 'quiz-compliance']
    """
    rows: list[tuple[str, str, str | None, int, str, float]] = []
    for p in products:
        s = slug(p)
        for ctype, cid, title, pop in PRODUCT_CONTENT:
            rows.append((cid.format(p=s), ctype, str(p), 1, title.format(P=p), pop))
    for ctype, cid, title, pop in GENERAL_CONTENT:
        rows.append((cid, ctype, None, 1, title, pop))
    return pd.DataFrame(rows, columns=["content_id", "content_type", "product", "version",
                                       "title", "popularity"])

