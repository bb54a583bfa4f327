"""The repository stands alone: nothing in it reads or cites files that sit
outside it (users have only the repository)."""
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# built from parts so that this file does not match itself
FORBIDDEN = ('..' + '/shared', 'shared/' + 'reference', 'NOTES' + ' section',
             'NOTES' + '.md')
TEXT_SUFFIXES = {'.py', '.rst', '.md', '.toml', '.txt', '.cfg', '.json',
                 '.yml', '.yaml', ''}


def _tracked_files():
    try:
        out = subprocess.run(['git', 'ls-files'], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
        files = [ROOT / line for line in out.splitlines() if line]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout
        skip = {'.git', '.venv', 'runs', 'data', 'bench-results', '_build'}
        files = [p for p in ROOT.rglob('*')
                 if p.is_file() and not skip & set(p.relative_to(ROOT).parts)]
    return [p for p in files if p.suffix in TEXT_SUFFIXES and p.is_file()]


def test_no_file_reads_or_cites_anything_outside_the_repository():
    files = _tracked_files()
    assert len(files) > 50  # the listing really saw the project
    offenders = []
    for path in files:
        text = path.read_text(encoding='utf-8', errors='replace')
        for needle in FORBIDDEN:
            if needle in text:
                offenders.append(f'{path.relative_to(ROOT)}: {needle!r}')
    assert not offenders, offenders


def test_the_human36m_calibration_ships_with_the_project():
    from models.pose.data.camera import DEFAULT_CAMERAS, load_h36m_cameras
    assert ROOT in DEFAULT_CAMERAS.resolve().parents
    cameras = load_h36m_cameras(DEFAULT_CAMERAS)
    assert set(cameras) == {'S1', 'S5', 'S6', 'S7', 'S8', 'S9', 'S11'}
    assert all(len(cams) == 4 for cams in cameras.values())
