"""Evaluation: ``python -m models.pose evaluate --checkpoint runs/demo/best.pt``.

Protocols of the field: MPJPE (#1), P-MPJPE (#2, similarity Procrustes) and
N-MPJPE (scale only), in millimetres, averaged per action and then over
actions; PCK@150 mm and AUC (0-150 mm) as for MPI-INF-3DHP. Flip test-time
averaging is on by default, as in the paper's setting.
"""
import argparse
import json
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import torch
from torch import nn

from models.pose import metrics
from models.pose.io_utils import write_text_atomic

MM = 1000.0  # the data are in metres, the protocols in millimetres


@torch.no_grad()
def predict_windows(model: nn.Module, windows, batch_size: int = 1024,
                    flip_test: bool = True,
                    device: torch.device = torch.device('cpu'),
                    bf16: bool = False) -> np.ndarray:
    """Predictions ``[num_samples, J, 3]`` (metres) for every window, under
    bfloat16 autocast if ``bf16``."""
    from models.pose.data.loader import flip_poses

    was_training = model.training
    model.eval()
    skeleton_perm = windows.skeleton.flip_permutation
    preds = []
    for start in range(0, len(windows), batch_size):
        idx = np.arange(start, min(start + batch_size, len(windows)))
        inputs, _ = windows.get_batch(idx)
        inputs = torch.as_tensor(inputs, device=device)
        with torch.autocast(device.type, torch.bfloat16, enabled=bf16):
            pred = model(inputs).float()
            if flip_test:  # average with the un-flipped flipped prediction
                flipped = model(flip_poses(inputs, skeleton_perm)).float()
                pred = 0.5 * (pred + flip_poses(flipped, skeleton_perm))
        preds.append(pred.cpu().numpy())
    model.train(was_training)
    return np.concatenate(preds) if preds else np.zeros(
        (0, windows.num_joints, 3), np.float32)


def evaluate_windows(model: nn.Module, windows, batch_size: int = 1024,
                     flip_test: bool = True,
                     device: torch.device = torch.device('cpu')
                     ) -> Dict[str, Any]:
    """All metrics for ``model`` on a :class:`PoseWindows` set."""
    pred = predict_windows(model, windows, batch_size, flip_test, device)
    _, target = windows.get_batch(np.arange(len(windows)))
    return compute_results(pred * MM, np.asarray(target) * MM,
                           windows.actions)


def compute_results(pred_mm: np.ndarray, target_mm: np.ndarray,
                    actions) -> Dict[str, Any]:
    """Per-sample errors aggregated per action and over actions."""
    per_sample = {
        'mpjpe': metrics.mpjpe(pred_mm, target_mm),
        'p_mpjpe': metrics.p_mpjpe(pred_mm, target_mm),
        'n_mpjpe': metrics.n_mpjpe(pred_mm, target_mm),
    }
    per_action: Dict[str, Dict[str, float]] = {}
    average: Dict[str, float] = {}
    for name, errors in per_sample.items():
        by_action, mean_over_actions = metrics.mean_per_action(errors,
                                                               actions)
        for action, value in by_action.items():
            per_action.setdefault(action, {})[name] = float(value)
        average[name] = float(mean_over_actions)
    average['pck150'] = float(metrics.pck(pred_mm, target_mm, 150.0))
    average['auc'] = float(metrics.auc(pred_mm, target_mm))
    return {'per_action': per_action, 'average': average,
            'num_samples': int(len(pred_mm))}


def print_results(results: Dict[str, Any], title: str = '') -> None:
    if title:
        print(title)
    print(metrics.format_results_table(results), flush=True)


def evaluate_checkpoint(checkpoint: Path, data_path: Path, out_dir: Path,
                        source: str = 'gt', flip_test: bool = True,
                        pictures: bool = True, stride: int = 1,
                        batch_size: int = 1024,
                        bf16: bool = False) -> Dict[str, Any]:
    """Evaluate on the held-out subjects; write JSON, Markdown, pictures.
    ``bf16`` runs the model under bfloat16 autocast (fast on CPUs with
    AVX-512 BF16 or AMX, and on GPUs)."""
    from models.pose.checkpoint import load_for_inference
    from models.pose.data.format import load_prepared
    from models.pose.data.loader import PoseWindows

    model, config = load_for_inference(checkpoint)
    data = load_prepared(data_path)
    windows = PoseWindows(data, joints=config['joints'],
                          frames=config['frames'], source=source,
                          subjects=data.test_subjects, stride=stride)
    pred = predict_windows(model, windows, batch_size, flip_test, bf16=bf16)
    inputs, target = windows.get_batch(np.arange(len(windows)))
    results = compute_results(pred * MM, target * MM, windows.actions)
    results.update(checkpoint=str(checkpoint), data=str(data_path),
                   source=source, flip_test=flip_test, bf16=bf16,
                   subjects=list(data.test_subjects), model_config=config)
    print_results(results, f'Held-out subjects {", ".join(data.test_subjects)}'
                  f' ({results["num_samples"]:,} poses, 2D source {source!r}'
                  f'{", bf16 autocast" if bf16 else ""})'
                  f': errors in mm')
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / 'metrics.json',
                      json.dumps(results, indent=2) + '\n')
    write_text_atomic(out_dir / 'metrics.md',
                      metrics.format_results_markdown(results))
    if pictures:
        from models.pose import plots
        errors = metrics.mpjpe(pred * MM, target * MM)
        worst = int(np.argmax(errors))
        typical = int(np.argsort(errors)[len(errors) // 2])
        centre = config['frames'] // 2
        skeleton = windows.skeleton
        for name, i in (('typical', typical), ('worst', worst)):
            plots.save_pose_figure(
                out_dir / f'pose_{name}.png', inputs[i, centre], pred[i],
                gt_3d=target[i], skeleton=skeleton,
                input_units='normalised',
                title=f'{name} test pose: MPJPE {errors[i]:.1f} mm')
        per_joint = np.linalg.norm(pred - target, axis=-1).mean(0) * MM
        plots.save_error_per_joint(out_dir / 'error_per_joint.png',
                                   per_joint, skeleton)
        if (out_dir / 'log.csv').exists():
            plots.save_training_curves(out_dir / 'training_curves.png',
                                       out_dir / 'log.csv')
        print(f'Wrote {out_dir / "metrics.json"}, metrics.md and pictures '
              f'pose_typical.png, pose_worst.png, error_per_joint.png',
              flush=True)
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--checkpoint', type=Path, required=True)
    parser.add_argument('--data', type=Path, default=None,
                        help='prepared .npz (default: the built-in demo)')
    parser.add_argument('--source', default=None,
                        help="2D source (default: the one it was trained on)")
    parser.add_argument('--out', type=Path, default=None,
                        help='output directory (default: the checkpoint\'s)')
    parser.add_argument('--no-flip-test', action='store_true')
    parser.add_argument('--no-pictures', action='store_true')
    parser.add_argument('--stride', type=int, default=1)
    parser.add_argument('--bf16', action='store_true',
                        help='run the model under bfloat16 autocast')


def run(args: argparse.Namespace) -> Dict[str, Any]:
    from models.pose.checkpoint import load_checkpoint
    from models.pose.data.demo import ensure_demo

    state = load_checkpoint(args.checkpoint)
    source: Optional[str] = args.source or state.get(
        'train_config', {}).get('source', 'gt')
    return evaluate_checkpoint(
        args.checkpoint, args.data or ensure_demo(),
        args.out or Path(args.checkpoint).parent, source=source,
        flip_test=not args.no_flip_test, pictures=not args.no_pictures,
        stride=args.stride, bf16=args.bf16)
