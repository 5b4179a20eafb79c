"""Read the sync summary table (rich box drawing) that ``partnerkpi sync`` prints."""

from __future__ import annotations


def stream_cells(output: str, stream: str) -> list[str]:
    """The cells of the row of ``stream`` (first cell: the stream's name), stripped.

    The column widths follow the longest label (a nested table row such as
    ``stage_history (in deals)`` widens the first column), so tests compare cells, not text.

    Raises:
        AssertionError: no such row, or more than one.
    """
    rows = [line for line in output.splitlines() if line.startswith(f"│ {stream} ")]
    assert len(rows) == 1, (stream, output)
    return [cell.strip() for cell in rows[0].strip().strip("│").split("│")]
