"""The :class:`Rule` object and :func:`parse_rule`: text in, an engine expression out.

A rule is evaluated by one engine expression (:meth:`Rule.to_ibis`), in the engine that holds the
features. A pandas frame (:meth:`Rule.evaluate`, :meth:`Rule.explain`) is handed to an in-memory
DuckDB and runs through the same expression, so there is one meaning of a rule, not two.

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"rank": ["B", "A"], "logins_30d": [0, 4]})
    >>> parse_rule("rank in ('B', 'C') and logins_30d == 0").evaluate(df).tolist()
    [True, False]
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from supportlab.features.rules.compile import selected, to_ibis, to_sql
from supportlab.features.rules.explain import reasons
from supportlab.features.rules.kinds import (
    check_kinds,
    kinds_of_schema,
    normalize_kinds,
    series_kind,
)
from supportlab.features.rules.lexer import RuleError, at_position
from supportlab.features.rules.parser import parse_tree
from supportlab.features.rules.tree import (
    Atom,
    Feature,
    Node,
    atoms,
    features_of,
    format_node,
    label,
)

__all__ = ["Rule", "parse_rule"]

_ROW = "__row__"  # rules cannot name columns starting with "__"
_LOCAL: dict[str, Any] = {}
_LOCK = threading.Lock()


def _local_engine() -> Any:
    """The in-memory DuckDB that evaluates rules on pandas frames (created on first use)."""
    with _LOCK:
        if "duckdb" not in _LOCAL:
            _LOCAL["duckdb"] = ibis.duckdb.connect()
        return _LOCAL["duckdb"]


class Rule:
    """A parsed targeting rule. Create one with :func:`parse_rule`.

    Rules compare equal when their trees are equal, whatever the spelling, and ``str(rule)`` is the
    canonical text, which parses back to an equal rule.

    Example:
        >>> rule = parse_rule("rank IN ('B', 'C') && tenure_days < 365")
        >>> print(rule)
        rank in ['B', 'C'] and tenure_days < 365
        >>> sorted(rule.names)
        ['rank', 'tenure_days']
        >>> print(rule.to_sql())
        (("rank" IN ('B', 'C')) AND ("tenure_days" < 365))
    """

    __slots__ = ("_kinds", "_order", "_root", "_text")

    def __init__(self, root: Node, text: str, kinds: Mapping[str, str | None] | None) -> None:
        self._root = root
        self._text = text
        order: dict[str, None] = {}
        for atom in atoms(root):
            for feature in features_of(atom):
                order.setdefault(feature.name, None)
        self._order = tuple(order)
        self._kinds = None if kinds is None else {n: kinds.get(n) for n in self._order}

    @property
    def text(self) -> str:
        """The rule as written."""
        return self._text

    @property
    def tree(self) -> Node:
        """The parsed tree (see :mod:`supportlab.features.rules.tree`)."""
        return self._root

    @property
    def names(self) -> frozenset[str]:
        """The features the rule refers to."""
        return frozenset(self._order)

    @property
    def ordered_names(self) -> tuple[str, ...]:
        """The features the rule refers to, in order of first mention."""
        return self._order

    @property
    def features(self) -> dict[str, str | None] | None:
        """Kinds of the referenced features, if the rule was parsed with a feature catalog."""
        return None if self._kinds is None else dict(self._kinds)

    # -- the engine ---------------------------------------------------------------------------

    def check(self, table: ibis.Table) -> dict[str, str | None]:
        """Check the rule against a table's columns and types; return the features' kinds.

        Raises:
            RuleError: A feature is not a column of ``table`` (with a did-you-mean), or a
                comparison mixes kinds.
        """
        schema = table.schema()
        kinds: dict[str, str | None] = {name: None for name in schema.names}
        kinds.update(kinds_of_schema(schema))
        check_kinds(self._root, self._text, kinds, known=list(schema.names), in_data=True)
        return {name: kinds.get(name) for name in self._order}

    def to_ibis(self, table: ibis.Table, *, tz: str | None = None) -> ibis.BooleanValue:
        """The rule as one ibis expression over ``table`` (true, false or null for unknown).

        Filter with ``table.filter(rule.to_ibis(table))``: the engine drops rows where the rule
        fails or is unknown, as :meth:`evaluate` does.

        Args:
            table: Features, one row per partner, in any engine ibis supports.
            tz: The workspace's zone, in which date strings are read for zoned timestamps.

        Raises:
            RuleError: As :meth:`check`.

        Example:
            >>> import ibis
            >>> t = ibis.memtable({"logins_30d": [0, 4]})
            >>> ibis.duckdb.connect().execute(t.filter(parse_rule("logins_30d < 3").to_ibis(t)))
               logins_30d
            0           0
        """
        self.check(table)
        return to_ibis(self._root, table, tz=tz, text=self._text)

    def atom_columns(self, table: ibis.Table, *, tz: str | None = None
                     ) -> dict[str, ibis.BooleanValue]:
        """One nullable boolean expression per distinct atomic condition, keyed by its label.

        The labels are those of :meth:`explain`'s columns; :meth:`reasons` reads them back.
        """
        kinds = self.check(table)
        out: dict[str, ibis.BooleanValue] = {}
        for atom in atoms(self._root):
            name = label(atom, kinds)
            if name not in out:
                out[name] = to_ibis(atom, table, tz=tz, text=self._text)
        return out

    def reasons(self, values: Mapping[str, Any], kinds: Mapping[str, str | None] | None = None,
                *, with_values: bool = True) -> list[str]:
        """Why one partner is selected: the conditions that held, and only those.

        Args:
            values: The partner's feature values and atom truth values (a row of
                :meth:`explain`, or of a frame holding :meth:`atom_columns`).
            kinds: Feature kinds (default: those the rule was parsed with).
            with_values: Add the values behind each condition, ``x < 5 (x=3)``.

        Returns:
            The reasons; empty if the rule does not hold for the partner.

        Example:
            >>> rule = parse_rule("(not video_completed and not template_downloaded) or "
            ...                   "days_since_last_login >= 30")
            >>> df = pd.DataFrame({"video_completed": [False], "template_downloaded": [False],
            ...                    "days_since_last_login": [3]})
            >>> rule.reasons(rule.explain(df).iloc[0])
            ['not video_completed (false)', 'not template_downloaded (false)']
        """
        kinds = dict(kinds if kinds is not None else (self._kinds or {}))
        texts = reasons(self._root, values, kinds)
        if not with_values:
            return texts
        out = []
        for text in texts:
            if text.endswith("(false)"):
                out.append(text)
                continue
            used = [n for n in self._order if n in text and n in values]
            shown = ", ".join(f"{n}={_show(values[n])}" for n in used[:3])
            out.append(f"{text} ({shown})" if shown else text)
        return out

    # -- pandas frames, through the same expression ---------------------------------------------

    def _frame(self, df: pd.DataFrame) -> tuple[ibis.Table, dict[str, str | None]]:
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
        positions: dict[object, list[int]] = {}
        for i, column in enumerate(df.columns):
            positions.setdefault(column, []).append(i)
        data: dict[str, pd.Series] = {}
        kinds: dict[str, str | None] = {}
        for name in self._order:
            found = positions.get(name)
            if not found:
                continue
            if len(found) > 1:
                first = self._first(name)
                raise RuleError(f"feature '{name}' at {at_position(self._text, first.pos)} is in "
                                f"{len(found)} columns of the data", text=self._text,
                                position=first.pos, length=len(name),
                                fix="give every column a unique name")
            series = df.iloc[:, found[0]].reset_index(drop=True)
            kinds[name] = series_kind(series)
            if isinstance(series.dtype, pd.CategoricalDtype):
                series = series.astype(object)
            data[name] = series
        known = [c for c in df.columns if isinstance(c, str)]
        check_kinds(self._root, self._text, kinds, known=known, in_data=True)
        frame = pd.DataFrame(data, index=pd.RangeIndex(len(df)))
        frame[_ROW] = np.arange(len(df), dtype="int64")
        for name in data:
            try:
                pa.array(frame[name], from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
                first = self._first(name)
                raise RuleError(f"feature '{name}' at {at_position(self._text, first.pos)} "
                                f"holds values of different kinds ({exc})", text=self._text,
                                position=first.pos, length=len(name),
                                fix="make sure each feature column holds one kind of value"
                                ) from None
        return ibis.memtable(frame), kinds

    def _first(self, name: str) -> Feature:
        return next(f for a in atoms(self._root) for f in features_of(a) if f.name == name)

    def _run(self, table: ibis.Table, columns: Mapping[str, ibis.Value]) -> pa.Table:
        expr = table.select(_ROW, **columns).order_by(_ROW)
        try:
            return _local_engine().to_pyarrow(expr)
        except RuleError:
            raise
        except Exception as exc:  # the engine's own type errors
            raise RuleError(f"cannot evaluate the rule: {str(exc).splitlines()[0]}",
                            text=self._text, position=self._root_pos(),
                            fix="make sure each feature column holds one kind of value, and "
                                "that compared dates are all with or all without a time zone"
                            ) from None

    def _root_pos(self) -> int:
        first = next(iter(atoms(self._root)))
        return getattr(first, "pos", 0)

    def _compile(self, table: ibis.Table, node: Node) -> ibis.BooleanValue:
        try:
            return to_ibis(node, table, text=self._text)
        except RuleError:
            raise
        except Exception as exc:  # ibis refuses to type the comparison
            pos = getattr(node, "pos", self._root_pos())
            raise RuleError(f"cannot evaluate the condition at {at_position(self._text, pos)}: "
                            f"{str(exc).splitlines()[0]}", text=self._text, position=pos,
                            fix="make sure each feature column holds one kind of value, and "
                                "that compared dates are all with or all without a time zone"
                            ) from None

    def evaluate(self, df: pd.DataFrame) -> pd.Series:
        """Select partners: True where the rule holds, False where it fails or is unknown.

        The frame is evaluated by the same engine expression as :meth:`to_ibis` (in an
        in-memory DuckDB).

        Args:
            df: Features, one row per partner; every referenced feature must be a column.

        Returns:
            A boolean Series aligned with ``df.index``.

        Raises:
            RuleError: A referenced column is missing or duplicated, or holds values of a kind the
                rule cannot compare (e.g. text compared with a number).

        Example:
            >>> df = pd.DataFrame({"latest_test_score": [55, 90, None]})
            >>> parse_rule("latest_test_score is null or latest_test_score < 70"
            ...            ).evaluate(df).tolist()
            [True, False, True]
        """
        table, _ = self._frame(df)
        out = self._run(table, {"selected_": selected(self._compile(table, self._root))})
        values = out.column("selected_").to_numpy(zero_copy_only=False).astype(bool)
        return pd.Series(values, index=df.index, dtype=bool)

    def explain(self, df: pd.DataFrame, *, result: str = "selected") -> pd.DataFrame:
        """Show each partner's features, the truth of every condition and the selection.

        Args:
            df: Features, one row per partner.
            result: Name of the final column.

        Returns:
            A frame aligned with ``df.index``: the referenced features' values (in order of first
            mention), then one nullable-boolean column per distinct atomic condition, labelled by
            its text (``<NA>`` where it is unknown because of a missing value; a bare feature is
            labelled ``x == true``, or ``x != 0`` for a number feature), then ``result``, the
            final selection as in :meth:`evaluate`. :meth:`reasons` turns a row into reasons.

        Raises:
            RuleError: As :meth:`evaluate`, or if ``result`` is also a feature's name.

        Example:
            >>> df = pd.DataFrame({"rank": ["B", "A"], "logins_30d": [0, None]})
            >>> parse_rule("rank == 'B' or logins_30d = 0").explain(df)
              rank  logins_30d  rank == 'B'  logins_30d == 0  selected
            0    B         0.0         True             True      True
            1    A         NaN        False             <NA>     False
        """
        table, kinds = self._frame(df)
        labels: dict[str, Atom] = {}
        for atom in atoms(self._root):
            labels.setdefault(label(atom, kinds), atom)
        columns: dict[str, Any] = {}
        for name in self._order:
            position = list(df.columns).index(name)
            columns[name] = df.iloc[:, position].array
        if result in columns or result in labels:
            raise RuleError(f"the result column name '{result}' is also a feature or condition",
                            fix="pass another name with result=...")
        exprs = {f"a{i}": self._compile(table, atom) for i, atom in enumerate(labels.values())}
        exprs["selected_"] = selected(self._compile(table, self._root))
        out = self._run(table, exprs)
        for i, name in enumerate(labels):
            values = out.column(f"a{i}").to_pandas()
            known = values.notna().to_numpy()
            columns.setdefault(name, pd.arrays.BooleanArray(
                values.fillna(False).to_numpy(dtype=bool), ~known))
        columns[result] = out.column("selected_").to_numpy(zero_copy_only=False).astype(bool)
        return pd.DataFrame(columns, index=df.index)

    def to_sql(self, features: Mapping[str, str] | None = None) -> str:
        """Render the rule as a SQL boolean expression for a ``WHERE`` clause.

        Identifiers are double-quoted, strings single-quoted with quotes doubled, decimals are
        written as approximate (double) literals. SQL's null logic matches :meth:`evaluate`:
        ``WHERE`` drops rows where the expression is unknown. Date strings are left for the
        engine to cast. Prefer :meth:`to_ibis`, which types literals for every engine.

        Args:
            features: Feature kinds; by default those given to :func:`parse_rule`. A bare number
                feature becomes ``("x" <> 0)``; other bare features are used as booleans.

        Returns:
            The SQL expression.

        Example:
            >>> print(parse_rule("region == \\"関東\\" or not video_completed").to_sql())
            (("region" = '関東') OR (NOT "video_completed"))
        """
        kinds: Mapping[str, str | None] = (
            normalize_kinds(features) if features is not None else (self._kinds or {}))
        return to_sql(self._root, kinds)

    def __str__(self) -> str:
        return format_node(self._root)

    def __repr__(self) -> str:
        return f"Rule({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Rule):
            return NotImplemented
        return self._root == other._root

    def __hash__(self) -> int:
        return hash(self._root)


def _show(value: object) -> str:
    if value is None or value is pd.NA:
        return "null"
    if isinstance(value, float):
        return "null" if value != value else f"{value:.4g}"
    if isinstance(value, np.floating):
        return _show(float(value))
    if isinstance(value, pd.Timestamp):
        return value.isoformat() if value.time().isoformat() != "00:00:00" else str(value.date())
    return str(value)


def parse_rule(text: str, features: Mapping[str, str] | None = None) -> Rule:
    """Parse a targeting rule.

    Args:
        text: The rule, e.g. ``"completion_rate < 0.5 or days_since_last_login >= 30"``.
        features: Optional catalog ``{name: kind}`` with kinds from
            :data:`~supportlab.features.rules.FEATURE_KINDS` (see
            :func:`~supportlab.features.rules.infer_feature_kinds`). When given, unknown names and
            comparisons of the wrong kind are errors now rather than at evaluation.

    Returns:
        The parsed :class:`Rule`.

    Raises:
        RuleError: The rule is empty, too long, too deeply nested, not valid syntax, or (with
            ``features``) names an unknown feature or compares values of different kinds. The
            error's ``position``/``column`` point at the offending token.

    Example:
        >>> parse_rule("not video_completed and not template_downloaded").names == {
        ...     "video_completed", "template_downloaded"}
        True
        >>> try:
        ...     parse_rule("complet_rate < 0.5", {"completion_rate": "number"})
        ... except RuleError as exc:
        ...     print(exc)
        unknown feature 'complet_rate' at column 1; did you mean 'completion_rate'?
            complet_rate < 0.5
            ^^^^^^^^^^^^
    """
    kinds = normalize_kinds(features) if features is not None else None
    root = parse_tree(text)
    if kinds is not None:
        check_kinds(root, text, kinds)
    return Rule(root, text, kinds)
