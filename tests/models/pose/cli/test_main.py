"""``python -m models.pose``: ``--help`` lists every command without
importing one, and ``<command> --help`` shows that command's options."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from models.pose.__main__ import COMMANDS, main

REPO = Path(__file__).resolve().parents[4]

#: One option of every command, to see that its own parser was built.
FLAGS = {'train': '--preset', 'evaluate': '--no-flip-test',
         'infer': '--stills', 'prepare-h36m': '--data-3d',
         'prepare-3dhp': '--image-size', 'prepare-demo': '--noise-px',
         'params': '--variant', 'export': '--skip-parity'}


def test_every_command_has_a_flag_to_look_for():
    assert set(FLAGS) == set(COMMANDS)
    assert COMMANDS['train'][0] == 'models.pose.cli.train'
    assert all(module.startswith('models.pose.cli.')
               for module, _ in COMMANDS.values())


def test_help_lists_every_command_and_imports_none():
    code = ('import json, sys\n'
            'from models.pose.__main__ import main\n'
            'try:\n'
            "    main(['--help'])\n"
            'except SystemExit:\n'
            '    pass\n'
            "print(json.dumps(sorted(m for m in sys.modules\n"
            "                        if m.startswith('models.pose.'))))\n")
    done = subprocess.run(
        [sys.executable, '-c', code], cwd=REPO, capture_output=True,
        text=True, timeout=120,
        env=dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1'))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    text, loaded = '\n'.join(lines[:-1]), json.loads(lines[-1])
    for name, (module, help_text) in COMMANDS.items():
        assert name in text and help_text in text
        assert module not in loaded
    assert [m for m in loaded if m.startswith('models.pose.cli')] == []
    # nothing of the library rooms either: only what main itself needs
    assert set(loaded) <= {'models.pose.__main__', 'models.pose.train',
                           'models.pose.train.errors'}


@pytest.mark.parametrize('command', sorted(COMMANDS))
def test_command_help_shows_its_options(command, capsys):
    # 'train' needs models/pose/cli/train.py (the training branch)
    with pytest.raises(SystemExit) as stop:
        main([command, '--help'])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert FLAGS[command] in text and COMMANDS[command][1] in text


def test_unknown_command_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as stop:
        main(['nonsense'])
    assert stop.value.code == 2
    assert "invalid choice: 'nonsense'" in capsys.readouterr().err
