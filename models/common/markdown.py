"""The GitHub-flavoured Markdown table that the pose result tables and the
benchmarks' reports both write."""
from typing import Any, Iterable, Optional, Sequence


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]],
                   align: Optional[str] = None) -> str:
    """A GitHub-flavoured Markdown table; ``None`` prints as ``-``.

    Args:
        headers: the column titles.
        rows: the cells of every row (any values; ``|`` is escaped).
        align: one letter per column, ``'l'`` (the default) or ``'r'``
            (right-aligned, for numbers).

    Returns:
        The table's lines, without a final newline.
    """
    def cell(v: Any) -> str:
        if v is None:
            return '-'
        return str(v).replace('|', '\\|')

    align = align or 'l' * len(headers)
    rule = ('---:' if a == 'r' else '---' for a in align)
    lines = ['| ' + ' | '.join(headers) + ' |', '|' + '|'.join(rule) + '|']
    for row in rows:
        lines.append('| ' + ' | '.join(cell(v) for v in row) + ' |')
    return '\n'.join(lines)
