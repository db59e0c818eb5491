"""Summary tables over benchmark records (the dicts :func:`run_bench` returns).

Call :func:`summary_table` to compare methods at a glance: one row per group
(markdown, CSV or JSON), with the record count, the error count, and totals
and means of numeric fields.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from numbers import Real
from typing import Any

from .runner import BenchError

#: Aggregates :func:`summary_table` can show per column.
STATS = ("sum", "mean")
#: Output formats of :func:`summary_table`.
FORMATS = ("md", "csv", "json")


def summary_table(
    records: list[dict],
    group_by: Sequence[str] = ("method",),
    columns: Sequence[str] = ("objective", "bound", "wall_time"),
    stats: Sequence[str] = STATS,
    fmt: str = "md",
) -> str:
    """Table of records grouped by ``group_by``, as markdown, CSV or JSON.

    Parameters
    ----------
    records : list of dict
        Benchmark records. A field is looked up in the record first, then in
        its ``"task"``, so tasks fields (instance, method) group error records too.
    group_by : sequence of str
        Fields whose values define a group; groups appear in first-seen order.
    columns : sequence of str
        Numeric fields to aggregate. Records where a field is missing or not a
        number (error records, ``None``) are left out of that field's
        aggregates; ``-`` (``null`` in JSON) marks a field no record of the group has.
    stats : sequence of str
        Aggregates per column, from ``"sum"`` and ``"mean"``.
    fmt : {"md", "csv", "json"}
        Markdown pipe table, CSV with a header line, or a JSON list of one object per group.

    Returns
    -------
    str
        The table: group fields, ``n`` (records), ``errors`` (records with
        status ``"error"``), then ``<column> <stat>`` for each pair.

    Raises
    ------
    BenchError
        An unknown stat or format, or a field that no record (nor its task) has.
    """
    unknown = [s for s in stats if s not in STATS]
    if unknown:
        raise BenchError(f"unknown stats {unknown}; expected some of {STATS}")
    if fmt not in FORMATS:
        raise BenchError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    known = set().union(*({*r, *r.get("task", {})} for r in records))
    missing = [f for f in (*group_by, *columns) if f not in known]
    if records and missing:
        raise BenchError(f"no record has field {missing[0]!r}; fields: {', '.join(sorted(known))}")
    groups: dict[tuple[str, ...], list[dict]] = {}
    for record in records:
        groups.setdefault(tuple(str(_field(record, g)) for g in group_by), []).append(record)
    header = [*group_by, "n", "errors", *(f"{c} {s}" for c in columns for s in stats)]
    rows = [[*values, *_aggregate(members, columns, stats)] for values, members in groups.items()]
    if fmt == "json":
        return json.dumps([dict(zip(header, row)) for row in rows])
    cells = [[*row[:len(group_by)], *("-" if v is None else _fmt(v) for v in row[len(group_by):])] for row in rows]
    if fmt == "csv":
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows([header, *cells])
        return out.getvalue().rstrip("\n")
    return _markdown(header, cells, numeric_from=len(group_by))


def _field(record: dict, name: str) -> Any:
    """A record's field, else its task's, else ``"-"``."""
    if name in record:
        return record[name]
    return record.get("task", {}).get(name, "-")


def _aggregate(records: list[dict], columns: Sequence[str], stats: Sequence[str]) -> list[float | None]:
    """Values for one group: count, errors, then each column's stats (None where no record has a number)."""
    errors = sum(record.get("status") == "error" for record in records)
    cells: list[float | None] = [len(records), errors]
    for column in columns:
        values = [v for v in (r.get(column) for r in records) if _is_number(v)]
        total = sum(values)
        for stat in stats:
            cells.append(None if not values else total if stat == "sum" else total / len(values))
    return cells


def _is_number(value: Any) -> bool:
    """Real numbers count; bools (flags such as ``optimal``) do not."""
    return isinstance(value, Real) and not isinstance(value, bool)


def _fmt(value: float) -> str:
    """Integers exactly, other values to six significant digits."""
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def _markdown(header: list[str], rows: list[list[str]], numeric_from: int) -> str:
    """Pipe table with padded cells; numeric columns right-aligned."""
    # Three dashes at least, so every markdown dialect reads the rule row.
    widths = [max([3, len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        padded = [
            c.rjust(w) if i >= numeric_from else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = [
        "-" * (w - 1) + ":" if i >= numeric_from else "-" * w for i, w in enumerate(widths)
    ]
    return "\n".join([line(header), line(rule), *(line(row) for row in rows)])
