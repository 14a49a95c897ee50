"""A rendered block of a report page (what a notebook cell displays)."""

from __future__ import annotations

import html
from dataclasses import dataclass


def escape(value: object) -> str:
    """HTML-escape a data or configuration value (``None`` -> ``""``), quotes included."""
    return "" if value is None else html.escape(str(value), quote=True)


@dataclass(frozen=True)
class Section:
    """One block of HTML; Jupyter displays it through :meth:`_repr_html_`.

    Attributes:
        name: a short key (``first_screen``, ``flow``...).
        html: the block's HTML (values already escaped).
    """

    name: str
    html: str

    def _repr_html_(self) -> str:
        return self.html

    def __str__(self) -> str:
        return self.html
