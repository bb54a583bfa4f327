import numpy as np
import pytest
import torch

from models.pose.evaluate import per_action as P


def test_action_name_normalisation():
    assert P.action_name('Walking 1') == 'Walking'
    assert P.action_name('WalkDog') == 'WalkDog'
    assert P.action_name('WalkDog 1') == 'WalkDog'
    assert P.action_name('SittingDown 2') == 'SittingDown'
    assert P.action_name('TakingPhoto') == 'Photo'
    assert P.action_name('WalkingDog 1') == 'WalkDog'
    with pytest.raises(ValueError):
        P.action_name('12')


def test_mean_per_action_is_mean_of_action_means():
    errors = np.array([10.0, 20.0, 30.0, 100.0])
    actions = ['Walking 1', 'Walking', 'Walking 2', 'Eating']
    by_action, average = P.mean_per_action(errors, actions)
    assert by_action == pytest.approx({'Eating': 100.0, 'Walking': 20.0})
    # average over actions (60), not over samples (40)
    assert average == pytest.approx(60.0)
    assert list(by_action) == ['Eating', 'Walking']  # table order
    order, _ = P.mean_per_action(np.ones(3), ['WalkTogether', 'Walking',
                                              'WalkDog'])
    assert list(order) == ['WalkDog', 'Walking', 'WalkTogether']


def test_mean_per_action_checks_lengths():
    with pytest.raises(ValueError, match="'actions' has 1 names"):
        P.mean_per_action(np.zeros(2), ['Walking'])
    with pytest.raises(ValueError, match=r'1-D \[N\]'):
        P.mean_per_action(np.zeros((2, 2)), ['a', 'b'])


def test_per_action_results():
    metrics = {'mpjpe': np.array([40.0, 60.0, 30.0]),
               'p_mpjpe': np.array([30.0, 40.0, 20.0]),
               'n_mpjpe': torch.tensor([38.0, 58.0, 29.0])}
    res = P.per_action_results(metrics, ['Greeting', 'Greeting 1',
                                         'Directions'])
    assert res['per_action']['Greeting'] == pytest.approx(
        {'mpjpe': 50.0, 'p_mpjpe': 35.0, 'n_mpjpe': 48.0})
    assert res['average'] == pytest.approx(
        {'mpjpe': 40.0, 'p_mpjpe': 27.5, 'n_mpjpe': 38.5})
