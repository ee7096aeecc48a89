"""Tables that read at any width: ids are never cut, secondary columns give way first.

A table is planned against the terminal's width (``COLUMNS`` or the terminal itself):

1. every column takes its natural width, a flexible text column only its minimum;
2. while that is too wide, the least important secondary column is dropped (a note says which,
   and that ``--wide`` shows them);
3. if the primary columns alone do not fit, each row becomes a record: its id on its own line,
   then one ``column: value`` line per field;
4. the width left over goes to the flexible columns, whose text is cut with … (or wrapped).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

__all__ = ["Column", "fit_table"]

Cell = str | Text
_GAP = 2  # spaces between columns


@dataclass(frozen=True)
class Column:
    """How a column behaves when the width runs short.

    ``primary`` columns are never dropped; the others are dropped highest ``drop`` first.
    ``flex`` is the minimum width of a text column that may be cut (0: never cut, like an id
    or a number). ``wrap`` wraps a flexible column's text instead of cutting it.
    """

    header: str
    primary: bool = False
    drop: int = 0
    flex: int = 0
    wrap: bool = False
    justify: Literal["left", "right"] = "left"


def _text(cell: Cell) -> Text:
    return cell if isinstance(cell, Text) else Text(cell)


def _width(cell: Cell) -> int:
    return max((Text(line).cell_len for line in _text(cell).plain.splitlines()), default=0)


def fit_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[Cell]],
    *,
    width: int,
    title: str | None = None,
    wide: bool = False,
) -> tuple[RenderableType, int]:
    """The table planned for ``width`` columns, and the width it needs to print whole
    (``wide``: every column, nothing cut)."""
    natural = [
        max([_width(c.header)] + [_width(row[i]) for row in rows]) for i, c in enumerate(columns)
    ]

    def need(kept: list[int]) -> int:
        widths = [min(natural[i], columns[i].flex) if columns[i].flex else natural[i] for i in kept]
        return sum(widths) + _GAP * max(len(kept) - 1, 0)

    kept = list(range(len(columns)))
    if wide:
        whole = sum(natural) + _GAP * max(len(natural) - 1, 0)
        return _table(columns, rows, kept, natural, title, None), max(whole, width)
    while need(kept) > width:
        droppable = [i for i in kept if not columns[i].primary]
        if not droppable:
            break
        kept.remove(max(droppable, key=lambda i: (columns[i].drop, i)))
    if need(kept) > width:
        return _records(columns, rows, title, width), width
    widths = {i: min(natural[i], columns[i].flex) if columns[i].flex else natural[i] for i in kept}
    spare = width - need(kept)
    for i in kept:
        if columns[i].flex and spare > 0:
            grow = min(natural[i] - widths[i], spare)
            widths[i] += grow
            spare -= grow
    dropped = [columns[i].header for i in range(len(columns)) if i not in kept]
    note = f"(not shown at this width: {', '.join(dropped)}; --wide shows all)" if dropped else None
    return _table(
        columns, rows, kept, [widths.get(i, 0) for i in range(len(columns))], title, note
    ), width


def _table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[Cell]],
    kept: list[int],
    widths: list[int],
    title: str | None,
    note: str | None,
) -> RenderableType:
    table = Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=None,
        pad_edge=False,
        padding=(0, 1),
        header_style="bold underline",
        caption=note,
        caption_justify="left",
        caption_style="dim",
    )
    for i in kept:
        column = columns[i]
        table.add_column(
            column.header,
            justify=column.justify,
            no_wrap=not column.wrap,
            width=widths[i],
            overflow="fold" if column.wrap or not column.flex else "ellipsis",
        )
    for row in rows:
        cells = []
        for i in kept:
            cell = _text(row[i]).copy()
            if columns[i].flex and not columns[i].wrap and cell.cell_len > widths[i]:
                cell.truncate(widths[i], overflow="ellipsis")
            cells.append(cell)
        table.add_row(*cells)
    return table


def _records(
    columns: Sequence[Column], rows: Sequence[Sequence[Cell]], title: str | None, width: int
) -> RenderableType:
    """One block per row: its id whole on its own line, then ``column value`` pairs packed
    into lines of ``width``, a pair never split across lines (an id is folded only when it is
    wider than the screen by itself)."""
    parts: list[RenderableType] = [Text(title, style="bold")] if title else []
    for row in rows:
        head = _text(row[0]).copy()
        head.stylize("bold cyan")
        parts.append(head)
        line = Text("  ")
        for column, cell in zip(columns[1:], row[1:], strict=True):
            value = _text(cell)
            if not value.plain:
                continue
            pair = Text(f"{column.header} ", style="dim")
            pair.append_text(value)
            if line.cell_len > 2 and line.cell_len + 3 + pair.cell_len > width:
                parts.append(line)
                line = Text("  ")
            elif line.cell_len > 2:
                line.append(" · ", style="dim")
            line.append_text(pair)
        if line.cell_len > 2:
            parts.append(line)
    return Group(*parts)


def print_fitted(console: Console, fitted: tuple[RenderableType, int]) -> None:
    """Print a planned table; a ``--wide`` one at the width it needs."""
    renderable, needed = fitted
    if needed > console.width:
        Console(width=needed, file=console.file, force_terminal=console.is_terminal).print(
            renderable
        )
    else:
        console.print(renderable)
