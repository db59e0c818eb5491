"""Summary tables over benchmark records (the dicts :func:`run_bench` returns).

Call :func:`summary_table` to compare methods at a glance: one markdown row
per group, with the record count, the error count, and totals and means of
numeric fields.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real
from typing import Any

#: Aggregates :func:`summary_table` can show per column.
STATS = ("sum", "mean")


def summary_table(
    records: list[dict],
    group_by: Sequence[str] = ("method",),
    columns: Sequence[str] = ("objective", "bound", "wall_time"),
    stats: Sequence[str] = STATS,
) -> str:
    """Markdown table of records grouped by ``group_by``.

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
        aggregates; ``-`` marks a field no record of the group has.
    stats : sequence of str
        Aggregates per column, from ``"sum"`` and ``"mean"``.

    Returns
    -------
    str
        The table: group fields, ``n`` (records), ``errors`` (records with
        status ``"error"``), then ``<column> <stat>`` for each pair.
    """
    unknown = [s for s in stats if s not in STATS]
    if unknown:
        raise ValueError(f"unknown stats {unknown}; expected some of {STATS}")
    groups: dict[tuple[str, ...], list[dict]] = {}
    for record in records:
        groups.setdefault(tuple(str(_field(record, g)) for g in group_by), []).append(record)
    header = [*group_by, "n", "errors", *(f"{c} {s}" for c in columns for s in stats)]
    rows = [[*values, *_aggregate(members, columns, stats)] for values, members in groups.items()]
    return _markdown(header, rows, numeric_from=len(group_by))


def _field(record: dict, name: str) -> Any:
    """A record's field, else its task's, else ``"-"``."""
    if name in record:
        return record[name]
    return record.get("task", {}).get(name, "-")


def _aggregate(records: list[dict], columns: Sequence[str], stats: Sequence[str]) -> list[str]:
    """Cells for one group: count, errors, then each column's stats."""
    errors = sum(record.get("status") == "error" for record in records)
    cells = [str(len(records)), str(errors)]
    for column in columns:
        values = [v for v in (r.get(column) for r in records) if _is_number(v)]
        total = sum(values)
        for stat in stats:
            if not values:
                cells.append("-")
            else:
                cells.append(_fmt(total if stat == "sum" else total / len(values)))
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
