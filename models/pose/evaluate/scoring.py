"""Evaluation of a checkpoint on the held-out subjects (the command line is
:mod:`models.pose.cli.evaluate`:
``python -m models.pose evaluate --checkpoint runs/demo/best.pt``).

Protocols of the field: MPJPE (#1), P-MPJPE (#2, similarity Procrustes) and
N-MPJPE (scale only), in millimetres, averaged per action and then over
actions; PCK@150 mm and AUC (0-150 mm) as for MPI-INF-3DHP. Flip test-time
averaging is on by default, as in the paper's setting.

Every evaluation also scores three baselines fitted on the same training
split (:mod:`models.pose.evaluate.baselines`: the training mean pose, a
linear 2D -> 3D map and the nearest training pose), so the model's numbers
never stand alone. A file with extra test splits (the demo's ``new-body``)
is scored on each of them too, baselines beside the model: the console
and ``metrics.md`` show every split, ``metrics.json`` keeps the standard
split at its top level and the others under ``'splits'``.
"""
import json
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import torch
from torch import nn

from models.common.files import ensure_directory, write_text_atomic
from models.pose.data.format import load_prepared
from models.pose.data.loader import PoseWindows
from models.pose.deploy.predictor import predictor_for
from models.pose.evaluate import metrics
from models.pose.evaluate.baselines import LinearLift, fit_baselines
from models.pose.evaluate.outputs import check_evaluation_outputs
from models.pose.evaluate.per_action import per_action_results
from models.pose.evaluate.tables import (
    format_results_markdown,
    format_results_table,
)
from models.pose.nn.checkpoint import load_for_inference
from models.pose.nn.predict import predict_root_relative

MM = 1000.0  # the data are in metres, the protocols in millimetres
CPU = torch.device('cpu')


def predict_windows(model: nn.Module, windows, batch_size: int = 1024,
                    flip_test: bool = True,
                    device: torch.device = CPU,
                    bf16: bool = False) -> np.ndarray:
    """Root-relative predictions ``[num_samples, J, 3]`` (metres, the root
    joint set to zero as in the targets) for every window, under bfloat16
    autocast if ``bf16``."""
    batches = (windows.get_batch(np.arange(start, min(start + batch_size,
                                                      len(windows))))[0]
               for start in range(0, len(windows), batch_size))
    flip = windows.skeleton.flip_permutation if flip_test else None
    preds = predict_root_relative(model, batches, device, flip, bf16)
    return torch.cat(preds).numpy() if preds else np.zeros(
        (0, windows.num_joints, 3), np.float32)


def evaluate_windows(model: nn.Module, windows, batch_size: int = 1024,
                     flip_test: bool = True,
                     device: torch.device = CPU
                     ) -> Dict[str, Any]:
    """All metrics for ``model`` on a :class:`PoseWindows` set."""
    pred = predict_windows(model, windows, batch_size, flip_test, device)
    _, target = windows.get_batch(np.arange(len(windows)))
    return compute_results(pred * MM, np.asarray(target) * MM,
                           windows.actions)


def compute_results(pred_mm: np.ndarray, target_mm: np.ndarray,
                    actions, source: str = 'the model') -> Dict[str, Any]:
    """Per-sample errors aggregated per action and over actions; NaN or inf
    predictions are refused first (:func:`check_finite_predictions`, whose
    message names ``source``)."""
    check_finite_predictions(pred_mm, source)
    results = per_action_results({
        'mpjpe': metrics.mpjpe(pred_mm, target_mm),
        'p_mpjpe': metrics.p_mpjpe(pred_mm, target_mm),
        'n_mpjpe': metrics.n_mpjpe(pred_mm, target_mm),
    }, actions)
    average = results['average']
    average['pck150'] = float(metrics.pck(pred_mm, target_mm, 150.0))
    average['auc'] = float(metrics.auc(pred_mm, target_mm))
    results['num_samples'] = int(len(pred_mm))
    return results


def check_finite_predictions(pred: np.ndarray, source: str = 'the model'
                             ) -> None:
    """Refuse predictions holding NaN or inf (non-finite weights, or
    activations that overflow) with one clear error, before the aligned
    metrics reach an SVD that would fail deep inside torch."""
    bad = ~np.isfinite(np.asarray(pred)).reshape(len(pred), -1).all(axis=1)
    if bad.any():
        raise ValueError(
            f"{source} produced NaN or inf for {int(bad.sum())} of "
            f"{len(pred)} poses (non-finite weights, or activations that "
            f"overflow): no metrics can be computed")


def print_results(results: Dict[str, Any], title: str = '') -> None:
    if title:
        print(title)
    print(format_results_table(results), flush=True)


def baseline_results(data, windows, joints: int, source: str,
                     val_fraction: float, model_average: Dict[str, float],
                     target_mm: np.ndarray) -> Dict[str, Any]:
    """Averages of the baselines fitted on the training part of ``data``
    (the training subjects without their validation tail), scored on
    ``windows`` like the model, whose ``model_average`` they are compared
    with."""
    train_windows = PoseWindows(data, joints=joints, frames=1, source=source,
                                subjects=data.train_subjects,
                                portion=(0.0, 1.0 - val_fraction))
    inputs, _ = windows.centre_frames(np.arange(len(windows)))
    out: Dict[str, Any] = {'fitted_on': {
        'subjects': list(data.train_subjects),
        'portion': [0.0, 1.0 - val_fraction],
        'windows': len(train_windows)}, 'methods': {}}
    for name, baseline in fit_baselines(train_windows).items():
        avg = compute_results(baseline.predict(inputs) * MM, target_mm,
                              windows.actions)['average']
        out['methods'][name] = avg
    linear = out['methods'][LinearLift.name]['mpjpe']
    out['model_vs_linear_mpjpe'] = model_average['mpjpe'] / linear
    return out


def format_baselines(results: Dict[str, Any]) -> str:
    """The model beside the baselines: MPJPE, P-MPJPE (mm, mean over
    actions) and MPJPE relative to the linear baseline."""
    rows = [('model', results['average'])]
    rows += list(results['baselines']['methods'].items())
    linear = results['baselines']['methods'][LinearLift.name]['mpjpe']
    width = max(len(name) for name, _ in rows)
    lines = [f"{'method'.ljust(width)}  MPJPE (mm)  P-MPJPE (mm)  "
             f"MPJPE / linear"]
    for name, avg in rows:
        lines.append(f"{name.ljust(width)}  {avg['mpjpe']:10.1f}  "
                     f"{avg['p_mpjpe']:12.1f}  {avg['mpjpe'] / linear:14.2f}")
    return '\n'.join(lines) + '\n'


def evaluate_checkpoint(checkpoint: Path, data_path: Path, out_dir: Path,
                        source: str = 'gt', flip_test: bool = True,
                        pictures: bool = True, stride: int = 1,
                        batch_size: int = 1024,
                        bf16: bool = False,
                        val_fraction: float = 0.0,
                        onnx: Optional[Path] = None) -> Dict[str, Any]:
    """Evaluate on the held-out subjects; write JSON, Markdown, pictures.
    ``bf16`` runs the model under bfloat16 autocast (fast on CPUs with
    AVX-512 BF16 or AMX, and on GPUs). The baselines are fitted on the
    training subjects without the last ``val_fraction`` of every sequence
    (the split the model was trained on). ``onnx`` runs that exported file
    with ONNX Runtime instead of the checkpoint's PyTorch weights."""
    out_dir = Path(out_dir)
    # every output, before the model runs and before anything is written
    check_evaluation_outputs(out_dir, checkpoint=checkpoint, data=data_path,
                             onnx=onnx, pictures=pictures)
    model, config = _load_model(checkpoint, onnx, bf16)
    data = load_prepared(data_path)
    split = SplitScorer(model, data, config, source, stride, batch_size,
                        flip_test, bf16, val_fraction, f'checkpoint '
                        f'{checkpoint}')
    results, windows, inputs, pred, target = split.score(data.test_subjects)
    results['splits'] = {name: split.score(subjects, name)[0] for
                         name, subjects in data.extra_test_splits.items()}
    results.update(checkpoint=str(checkpoint), data=str(data_path),
                   backend='onnxruntime' if onnx is not None else 'pytorch',
                   source=source, flip_test=flip_test, bf16=bf16,
                   subjects=list(data.test_subjects), model_config=config)
    _print_splits(results, source, bf16)
    _write_metrics(out_dir, results)
    if pictures:
        _save_pictures(out_dir, windows, inputs, pred, target,
                       results['average']['mpjpe'])
    return results


def _load_model(checkpoint: Path, onnx: Optional[Path], bf16: bool):
    """``(model, config)``: the checkpoint's PyTorch model, or the exported
    ``onnx`` file run by ONNX Runtime once its model config and weights'
    digest are found to be the checkpoint's
    (:func:`~models.pose.deploy.predictor.predictor_for`)."""
    model, config = load_for_inference(checkpoint)
    if onnx is not None:
        if bf16:
            raise ValueError('--bf16 does not apply to --onnx (ONNX Runtime '
                             'runs the exported file in fp32)')
        # the weights too: a file of the same architecture but another
        # checkpoint would be scored under this checkpoint's name
        model = predictor_for(onnx, config, weights=model.state_dict())
    return model, config


class SplitScorer:
    """Scores the model and the baselines on one test split after
    another: the standard one (the file's test subjects) and every extra
    split the file names (``meta['extra_test_splits']``)."""

    def __init__(self, model, data, config, source, stride, batch_size,
                 flip_test, bf16, val_fraction, label):
        self.model, self.data, self.config = model, data, config
        self.source, self.stride, self.batch_size = source, stride, batch_size
        self.flip_test, self.bf16 = flip_test, bf16
        self.val_fraction, self.label = val_fraction, label

    def score(self, subjects, name: str = ''):
        """``(results, windows, inputs, pred, target)`` of the split of
        ``subjects`` (``name`` for an extra split): the model's results
        with its baselines and subjects beside them."""
        windows = PoseWindows(self.data, joints=self.config['joints'],
                              frames=self.config['frames'],
                              source=self.source, subjects=subjects,
                              stride=self.stride,
                              causal=bool(self.config.get('causal', False)))
        pred = predict_windows(self.model, windows, self.batch_size,
                               self.flip_test, bf16=self.bf16)
        inputs, target = windows.get_batch(np.arange(len(windows)))
        label = f'{self.label} on split {name!r}' if name else self.label
        results = compute_results(pred * MM, target * MM, windows.actions,
                                  label)
        results['baselines'] = baseline_results(
            self.data, windows, self.config['joints'], self.source,
            self.val_fraction, results['average'], target * MM)
        if name:
            results['subjects'] = list(subjects)
        return results, windows, inputs, pred, target


def _split_title(results: Dict[str, Any], name: str = '') -> str:
    """The heading of a split's tables."""
    what = f'Test split {name!r}: subjects' if name else \
        'Held-out subjects'
    return (f'{what} {", ".join(results["subjects"])} '
            f'({results["num_samples"]:,} poses)')


def _print_splits(results: Dict[str, Any], source: str, bf16: bool) -> None:
    """The console tables: every split, its baselines beside it."""
    note = f'2D source {source!r}{", bf16 autocast" if bf16 else ""}'
    parts = [('', results)] + list(results['splits'].items())
    for name, split in parts:
        print_results(split, f'{_split_title(split, name)}, {note}: errors '
                      f'in mm, mean over actions')
        print('Beside simple baselines fitted on the same training split:')
        print(format_baselines(split), flush=True)


def _markdown(results: Dict[str, Any]) -> str:
    """``metrics.md``: the standard split, then every extra split, each
    with its baselines."""
    text = ''
    parts = [('', results)] + list(results['splits'].items())
    for name, split in parts:
        if name:
            text += f'\n# {_split_title(split, name)}\n\n'
        text += (format_results_markdown(split) +
                 '\n## Beside simple baselines\n\n'
                 'Fitted on the same training split; errors in mm, '
                 'mean over actions.\n\n```\n' +
                 format_baselines(split) + '```\n')
    return text


def _write_metrics(out_dir: Path, results: Dict[str, Any]) -> None:
    """``metrics.json`` (everything: the standard test split at the top
    level, as before, the extra splits under ``'splits'``) and
    ``metrics.md`` (the tables)."""
    ensure_directory(out_dir, '--out')
    write_text_atomic(out_dir / 'metrics.json',
                      json.dumps(results, indent=2) + '\n')
    write_text_atomic(out_dir / 'metrics.md', _markdown(results))


def _save_pictures(out_dir: Path, windows, inputs: np.ndarray,
                   pred: np.ndarray, target: np.ndarray,
                   mean_mpjpe: float) -> None:
    """A typical and the worst test pose, the error per joint and, beside a
    training log, the training curves."""
    # lazy: matplotlib is optional (the 'pose' extra), and only pictures
    # need it (evaluate --no-pictures runs without)
    from models.pose.viz.curves import save_training_curves
    from models.pose.viz.stills import save_error_per_joint, save_pose_figure

    errors = metrics.mpjpe(pred * MM, target * MM)
    worst = int(np.argmax(errors))
    typical = int(np.argsort(errors)[len(errors) // 2])
    at = windows.target_index  # the frame the model predicts
    skeleton = windows.skeleton
    for name, i in (('typical', typical), ('worst', worst)):
        save_pose_figure(
            out_dir / f'pose_{name}.png', inputs[i, at], pred[i],
            gt_3d=target[i], skeleton=skeleton,
            input_units='normalised',
            title=f'{name} test pose: MPJPE {errors[i]:.1f} mm')
    per_joint_poses = np.linalg.norm(pred - target, axis=-1) * MM
    per_joint = per_joint_poses.mean(0)
    save_error_per_joint(
        out_dir / 'error_per_joint.png', per_joint, skeleton,
        title=f'error per joint, mean over all {len(per_joint_poses)} '
              f'test poses\n(the headline MPJPE, '
              f'{mean_mpjpe:.1f} mm, is the mean over actions)')
    if (out_dir / 'log.csv').exists():
        save_training_curves(out_dir / 'training_curves.png',
                             out_dir / 'log.csv')
    print(f'Wrote {out_dir / "metrics.json"}, metrics.md and pictures '
          f'pose_typical.png, pose_worst.png, error_per_joint.png',
          flush=True)
