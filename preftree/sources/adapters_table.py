"""UltraInteract source adapter (table processing with code): see conf/sources/ultrainteract.yaml.

One Coding source of UltraInteract (paper §2.1, Table 6), registered with default task ``Coding``:

``wikitablequestions`` -- Hugging Face ``stanfordnlp/wikitablequestions``. Columns (verified against the
  dataset's features): ``id``, ``question``, ``answers`` (list of str), ``table`` (``{"header": [str],
  "rows": [[str]], "name": str}``). A Coding task judged by its answer, as UltraInteract does it
  ("table processing with code"): problem = the first ``TABLE_ROWS_SHOWN`` rows rendered in fixed
  width (an index column, then the columns left-aligned, cells cut at ``CELL_SHOWN`` characters), then
  the question and the SQLite instructions (see ``table_problem``); answer = the gold answers joined
  with ", "; tests = []; reference = ``table_reference``: ``{"kind": "table", "setup": <program>,
  "answers": [str], "table": {"name", "header", "rows"}, "columns": [str], "types": [str]}``, where
  ``setup`` (stdlib ``sqlite3`` only, no pandas, so the table is the same wherever it runs) creates
  the in-memory connection ``conn`` holding the table ``data_table``. Column names are the headers
  with whitespace collapsed, "column_<k>" for an empty one and "_2", "_3", ... added to repeats (SQLite
  names are case-insensitive); a column whose non-empty cells are all integers (within 64 bits) is
  INTEGER, all decimal numbers REAL, else TEXT; an empty cell is NULL. pattern = the table's name
  (several questions share a table); difficulty = None. Rejected: no answer, a malformed table (not a
  header plus rows of the header's width, or no rows).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from preftree.sources.adapters import (
    Adapter,
    Item,
    Row,
    RowRejected,
    get_field,
    reference_json,
    required_text,
    str_items,
    type_name,
)

TABLE_ROWS_SHOWN = 5  # rows of a WikiTableQuestions table shown in the problem text
CELL_SHOWN = 50  # characters of a cell shown in the problem text (then "...")

_INT = re.compile(r"[+-]?\d+")
_REAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def table_columns(header: Sequence[str]) -> list[str]:
    """SQLite column names for a header: whitespace collapsed, "column_<k>" for an empty name, and
    "_2", "_3", ... added to a name already taken (compared case-insensitively, as SQLite does)."""
    names: list[str] = []
    taken: set[str] = set()
    for k, raw in enumerate(header, start=1):
        base = " ".join(raw.split()) or f"column_{k}"
        name, n = base, 1
        while name.casefold() in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name.casefold())
        names.append(name)
    return names


def _column_type(cells: Sequence[str]) -> str:
    values = [c.strip() for c in cells if c.strip()]
    if values and all(_INT.fullmatch(v) and len(v) <= 20 and abs(int(v)) < 2**63 for v in values):
        return "INTEGER"
    if values and all(_REAL.fullmatch(v) for v in values):
        return "REAL"
    return "TEXT"


def _typed(cell: str, kind: str) -> Any:
    value = cell.strip()
    if not value:
        return None
    if kind == "INTEGER":
        return int(value)
    if kind == "REAL":
        return float(value)
    return cell


_SETUP = """\
def _preftree_table():
    import json
    import sqlite3

    table = json.loads({payload!r})
    conn = sqlite3.connect(":memory:")
    columns = ", ".join('"' + c.replace('"', '""') + '" ' + t for c, t in zip(table["columns"], table["types"]))
    conn.execute("CREATE TABLE data_table (" + columns + ")")
    marks = ", ".join("?" for _ in table["columns"])
    conn.executemany("INSERT INTO data_table VALUES (" + marks + ")", table["rows"])
    conn.commit()
    return conn


conn = _preftree_table()
del _preftree_table
"""


def table_setup(columns: Sequence[str], types: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """The setup program of a table reference: defines ``conn``, an in-memory SQLite3 connection
    holding ``data_table`` (``columns`` with their declared ``types``, then ``rows``), and nothing else."""
    payload = json.dumps({"columns": list(columns), "types": list(types), "rows": [list(r) for r in rows]})
    return _SETUP.format(payload=payload)


def _cell(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= CELL_SHOWN else text[: CELL_SHOWN - 3] + "..."


def render_table(columns: Sequence[str], rows: Sequence[Sequence[str]], limit: int = TABLE_ROWS_SHOWN) -> str:
    """The first ``limit`` rows in fixed width: a row-index column, then every column left-aligned
    and padded to its widest shown cell, two spaces apart (trailing spaces dropped)."""
    shown = [[_cell(c) for c in row] for row in rows[:limit]]
    grid = [["", *[_cell(c) for c in columns]], *[[str(i), *row] for i, row in enumerate(shown)]]
    widths = [max(len(line[j]) for line in grid) for j in range(len(grid[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in grid)


def table_problem(question: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """UltraInteract's table-processing instruction, with code sent in ```python fences."""
    q = question.strip()
    end = "" if q[-1:] in ".?!" else "."
    return (
        f"Given the following table (only the first {TABLE_ROWS_SHOWN} rows are shown):\n"
        f"{render_table(columns, rows)}\n\n"
        f"Write a SQL query to find the answer to the question: {q}{end}\n"
        "The SQLite3 database is preloaded for you and can be accessed within a ```python code block "
        "via the variable `conn` (SQLite3 connection object).\n"
        "The table name is `data_table`."
    )


def _wtq_table(row: Row) -> tuple[str, list[str], list[list[str]]]:
    table = get_field(row, "table")
    if not isinstance(table, Mapping):
        raise RowRejected("table", f"wrong type: expected {{header, rows, name}}, got {type_name(table)}")
    header = table.get("header")
    rows = table.get("rows")
    if header is None or rows is None:
        raise RowRejected("table", "malformed: missing 'header' or 'rows'")
    header = str_items(header, "table", "header")
    if not header:
        raise RowRejected("table", "malformed: empty header")
    if not isinstance(rows, (list, tuple)):
        raise RowRejected("table", f"malformed: expected a list of rows, got {type_name(rows)}")
    if not rows:
        raise RowRejected("table", "empty")
    cells = []
    for k, r in enumerate(rows):
        values = str_items(r, "table", f"row {k}")
        if len(values) != len(header):
            raise RowRejected("table", f"malformed: row {k} has {len(values)} cells, the header {len(header)}")
        cells.append(values)
    name = table.get("name")
    return (name if isinstance(name, str) else ""), header, cells


def _wikitablequestions(row: Row, _fields: Mapping[str, str]) -> Item:
    question = required_text(row, "question")
    answers = [a.strip() for a in str_items(get_field(row, "answers"), "answers", "answers") if a.strip()]
    if not answers:
        raise RowRejected("answers", "empty")
    name, header, rows = _wtq_table(row)
    columns = table_columns(header)
    types = [_column_type([r[j] for r in rows]) for j in range(len(columns))]
    typed = [[_typed(c, t) for c, t in zip(r, types, strict=True)] for r in rows]
    reference = reference_json(
        "table",
        setup=table_setup(columns, types, typed),
        answers=answers,
        table={"name": name, "header": header, "rows": rows},
        columns=columns,
        types=types,
    )
    return Item(
        problem=table_problem(question, columns, rows),  # not NFKC'd: names and cells as in data_table
        answer=", ".join(answers),
        tests=[],
        reference=reference,
        pattern=name,
    )


ADAPTERS: dict[str, Adapter] = {
    "wikitablequestions": Adapter("wikitablequestions", ("Coding",), _wikitablequestions),
}
