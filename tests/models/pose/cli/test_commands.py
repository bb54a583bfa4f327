"""Each command module: its options and defaults, and ``run`` handing
them to the library unchanged."""
import argparse
from pathlib import Path

import pytest

from models.pose.cli import (
    evaluate,
    export,
    params,
    prepare_3dhp,
    prepare_demo,
    prepare_h36m,
)
from models.pose.deploy.contract import OPSET


def _parse(module, argv):
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser.parse_args(argv)


def test_prepare_commands_pass_their_options(monkeypatch):
    seen = {}
    monkeypatch.setattr(prepare_h36m, 'prepare_h36m',
                        lambda *a: seen.setdefault('h36m', a))
    monkeypatch.setattr(prepare_3dhp, 'prepare_3dhp',
                        lambda *a: seen.setdefault('3dhp', a))
    monkeypatch.setattr(prepare_demo, 'prepare_demo',
                        lambda *a: seen.setdefault('demo', a))
    prepare_h36m.run(_parse(prepare_h36m, ['--data-3d', 'a.npz',
                                           '--data-2d', 'b.npz', 'c.npz']))
    prepare_3dhp.run(_parse(prepare_3dhp, ['--data', 't.npz',
                                           '--image-size', '4', '3']))
    prepare_demo.run(_parse(prepare_demo, ['--seed', '5']))
    assert seen['h36m'] == (Path('a.npz'), [Path('b.npz'), Path('c.npz')],
                            Path('data/prepared/h36m.npz'), None)
    assert seen['3dhp'] == (Path('t.npz'), Path('data/prepared/3dhp.npz'),
                            [4, 3])
    assert seen['demo'] == (None, 2.0, 5)


def test_evaluate_and_export_defaults():
    args = _parse(evaluate, ['--checkpoint', 'r/best.pt'])
    assert (args.checkpoint, args.data, args.source, args.out) == \
        (Path('r/best.pt'), None, None, None)
    assert not (args.no_flip_test or args.no_pictures or args.bf16)
    assert args.stride == 1 and args.onnx is None
    args = _parse(export, ['--checkpoint', 'c.pt', '-o', 'm.onnx'])
    assert (args.out, args.opset, args.skip_parity) == \
        (Path('m.onnx'), OPSET, False)


def test_export_refuses_a_directory_before_loading(tmp_path):
    args = _parse(export, ['--checkpoint', str(tmp_path / 'none.pt'),
                           '--out', str(tmp_path), '--skip-parity'])
    pytest.importorskip('onnx')
    with pytest.raises(IsADirectoryError, match='is a directory'):
        export.run(args)


def test_params_prints_every_preset(capsys):
    params.run(_parse(params, []))
    text = capsys.readouterr().out
    assert text.startswith('preset') and 'paper-t1' in text
