"""``python -m models.pose evaluate``: MPJPE / P-MPJPE / N-MPJPE per action,
PCK and AUC of a checkpoint on the held-out subjects, beside two baselines
(:func:`models.pose.evaluate.scoring.evaluate_checkpoint`)."""
import argparse
from pathlib import Path
from typing import Any, Dict, Optional

from models.common.files import refuse_special_file
from models.pose.data.demo import ensure_demo
from models.pose.evaluate.scoring import evaluate_checkpoint
from models.pose.nn.checkpoint import check_checkpoint_file, load_checkpoint


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
    parser.add_argument('--onnx', type=Path, default=None, metavar='FILE',
                        help='run this exported model (python -m models.pose'
                        ' export) with ONNX Runtime instead of the '
                        "checkpoint's PyTorch weights")


def run(args: argparse.Namespace) -> Dict[str, Any]:
    check_checkpoint_file(args.checkpoint, '--checkpoint')
    if args.data is not None:
        refuse_special_file(args.data, '--data', 'a prepared .npz written '
                            'by prepare-h36m, prepare-3dhp or prepare-demo')
    if args.stride < 1:
        raise ValueError(f"--stride must be an integer >= 1 (every stride-th"
                         f" test window is scored), got {args.stride}")
    state = load_checkpoint(args.checkpoint)
    train_config = state.get('train_config', {})
    source: Optional[str] = args.source or train_config.get('source', 'gt')
    return evaluate_checkpoint(
        args.checkpoint, args.data or ensure_demo(),
        args.out or Path(args.checkpoint).parent, source=source,
        flip_test=not args.no_flip_test, pictures=not args.no_pictures,
        stride=args.stride, bf16=args.bf16,
        val_fraction=float(train_config.get('val_fraction', 0.0)),
        onnx=args.onnx)
