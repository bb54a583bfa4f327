"""Result tables: the per-action results as Markdown or as aligned text
for a terminal."""
import math
from typing import Any, List, Mapping, Sequence, Tuple

from models.common.markdown import markdown_table

#: Table columns: (key in a results dict, column title).
RESULT_COLUMNS = (('mpjpe', 'MPJPE'), ('p_mpjpe', 'P-MPJPE'),
                  ('n_mpjpe', 'N-MPJPE'))


def _cell(value: Any) -> str:
    """mm with one decimal; ``-`` for a missing or non-finite value."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return '-'
    return f'{value:.1f}' if math.isfinite(value) else '-'


def _table_rows(results: Mapping[str, Any],
                columns: Sequence[Tuple[str, str]]) -> List[List[str]]:
    """Cells (strings) of a results table: actions, then 'Average'."""
    per_action = results.get('per_action') \
        if isinstance(results, Mapping) else None
    if not isinstance(per_action, Mapping) or not per_action:
        raise ValueError("results must be a dict with a non-empty "
                         "'per_action' {action: {metric: value}} (and "
                         "optionally 'average' {metric: value}), as "
                         "per_action_results returns")
    rows = [[str(action)] + [_cell(row.get(k)) for k, _ in columns]
            for action, row in per_action.items()]
    average = results.get('average')
    if isinstance(average, Mapping):
        rows.append(['Average'] + [_cell(average.get(k)) for k, _ in columns])
    return rows


def _pooled_line(results: Mapping[str, Any]) -> str:
    """``PCK@150mm 86.8 %, AUC 54.4 %`` when the average holds them."""
    average = results.get('average')
    if not isinstance(average, Mapping):
        return ''
    parts = [f'{label} {_cell(average[key])} %'
             for key, label in (('pck150', 'PCK@150mm'), ('auc', 'AUC'))
             if key in average]
    return ', '.join(parts)


def format_results_markdown(
        results: Mapping[str, Any],
        columns: Sequence[Tuple[str, str]] = RESULT_COLUMNS) -> str:
    """A Markdown table: one row per action, then the bold average row.

    Args:
        results: ``{'per_action': {action: {'mpjpe': mm, 'p_mpjpe': mm,
            'n_mpjpe': mm}}, 'average': {...}}``; values in mm, a missing
            or NaN one prints as ``-``, other keys are ignored. PCK and
            AUC in the average (``'pck150'``, ``'auc'``, %) go in a line
            below the table.
        columns: ``(key, title)`` pairs of the metric columns.
    """
    rows = _table_rows(results, columns)
    if isinstance(results.get('average'), Mapping):
        rows[-1] = [f'**{c}**' for c in rows[-1]]
    head = ['Action'] + [f'{title} (mm)' for _, title in columns]
    lines = [markdown_table(head, rows, align='l' + 'r' * len(columns))]
    pooled = _pooled_line(results)
    if pooled:
        lines += ['', pooled]
    return '\n'.join(lines) + '\n'


def format_results_table(
        results: Mapping[str, Any],
        columns: Sequence[Tuple[str, str]] = RESULT_COLUMNS) -> str:
    """The same table as plain aligned text for a terminal (mm, 1 decimal),
    the average row below a rule."""
    rows = _table_rows(results, columns)
    head = ['Action'] + [f'{title} (mm)' for _, title in columns]
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]

    def line(cells: List[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]
        return '  '.join([first] + rest)

    rule = '-' * len(line(head))
    out = [line(head), rule]
    last = len(rows) - 1 if isinstance(results.get('average'), Mapping) \
        else None
    for i, row in enumerate(rows):
        if i == last:
            out.append(rule)
        out.append(line(row))
    pooled = _pooled_line(results)
    if pooled:
        out.append(pooled)
    return '\n'.join(out) + '\n'
