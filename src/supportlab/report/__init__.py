"""Reports: notebooks, HTML pages and the portfolio, rendered from typed results.

May import every lower layer (``design``, ``stats``, ``features``, ``data``, ``config``, base).
"""
