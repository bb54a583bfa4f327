import numpy as np
import pytest
import torch

from models.pose.evaluate import tables as T
from models.pose.evaluate.per_action import per_action_results


def test_results_tables():
    metrics = {'mpjpe': np.array([40.0, 60.0, 30.0]),
               'p_mpjpe': np.array([30.0, 40.0, 20.0]),
               'n_mpjpe': torch.tensor([38.0, 58.0, 29.0])}
    res = per_action_results(metrics, ['Greeting', 'Greeting 1',
                                       'Directions'])
    md = T.format_results_markdown(res)
    lines = md.strip().splitlines()
    assert lines[0] == ('| Action | MPJPE (mm) | P-MPJPE (mm) | '
                        'N-MPJPE (mm) |')
    assert lines[2] == '| Directions | 30.0 | 20.0 | 29.0 |'
    assert lines[-1] == '| **Average** | **40.0** | **27.5** | **38.5** |'
    text = T.format_results_table(res)
    assert 'Greeting' in text and text.strip().splitlines()[-1].split() == \
        ['Average', '40.0', '27.5', '38.5']


def test_tables_missing_metric_pooled_line_and_bad_input():
    res = {'per_action': {'Walking': {'mpjpe': 45.26}},
           'average': {'mpjpe': 45.26, 'pck150': 86.84, 'auc': 54.44},
           'num_samples': 10, 'model_config': {'frames': 1}}
    md = T.format_results_markdown(res)
    assert '| Walking | 45.3 | - | - |' in md
    assert md.strip().endswith('PCK@150mm 86.8 %, AUC 54.4 %')
    assert 'model_config' not in T.format_results_table(res)
    with pytest.raises(ValueError, match="'per_action'"):
        T.format_results_table({'Walking': {'mpjpe': 1.0}})

