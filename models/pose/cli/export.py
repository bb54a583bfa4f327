"""``python -m models.pose export``: a checkpoint as an ONNX file, checked
against PyTorch with ONNX Runtime before it is written (the file is
described in :mod:`models.pose.deploy.export`)."""
import argparse
from pathlib import Path
from typing import Any, Dict

from models.common.files import atomic_write
from models.common.outputs import check_output
from models.pose.deploy.contract import (
    INPUT_NAME,
    MIN_OPSET,
    OPSET,
    OUTPUT_NAME,
    PARITY_TOLERANCE,
    check_opset,
    require_module,
)
from models.pose.deploy.export import export_bytes, parity
from models.pose.deploy.predictor import OnnxPredictor
from models.pose.nn.checkpoint import check_checkpoint_file, load_for_inference


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--checkpoint', type=Path, required=True,
                        help='a checkpoint written by train (best.pt, '
                        'last.pt)')
    parser.add_argument('--out', '-o', type=Path, required=True,
                        help='the .onnx file to write')
    parser.add_argument('--opset', type=int, default=OPSET,
                        help=f'ONNX opset (default {OPSET}; from '
                        f'{MIN_OPSET} to the installed exporter\'s highest)')
    parser.add_argument('--skip-parity', action='store_true',
                        help='do not check ONNX Runtime against PyTorch '
                        '(then onnxruntime is not needed)')


def run(args: argparse.Namespace) -> Dict[str, Any]:
    require_module('onnx', 'ONNX export')
    if not args.skip_parity:
        require_module('onnxruntime', 'The parity check of the export')
    check_opset(args.opset)  # before the checkpoint is read
    check_checkpoint_file(args.checkpoint, '--checkpoint')
    check_output(args.out, argument='--out', suffixes=('.onnx',),
                 inputs={'--checkpoint': args.checkpoint})
    model, config = load_for_inference(args.checkpoint)
    data = export_bytes(model, args.opset)
    result: Dict[str, Any] = {'path': str(args.out), 'opset': args.opset,
                              'config': config, 'bytes': len(data)}
    if not args.skip_parity:
        check = parity(model, OnnxPredictor(data))
        result['parity'] = check
        print(f"parity with PyTorch (batches {check['batches']}): max abs "
              f"difference {check['max_abs_diff']:.2e} m, "
              f"{check['relative']:.1e} of the output scale "
              f"{check['output_scale']:.3f} m (limit {PARITY_TOLERANCE:.0e})")
        if not check['ok']:
            raise ValueError(
                f"ONNX Runtime differs from PyTorch by "
                f"{check['relative']:.1e} of the output scale, more than "
                f"{PARITY_TOLERANCE:.0e}; {args.out} was not written")
    atomic_write(args.out, data)
    print(f"wrote {args.out} ({len(data) / 2**20:.1f} MiB): opset "
          f"{args.opset}, input {INPUT_NAME!r} float32 [batch, "
          f"{config['frames']}, {config['joints']}, 2], output "
          f"{OUTPUT_NAME!r} float32 [batch, {config['joints']}, 3] (metres), "
          f"batch axis dynamic")
    return result
