"""The files ``evaluate`` writes into its ``--out`` directory, all checked
(:mod:`models.common.outputs`) before the first is written: a refused
evaluation leaves every file of the directory as it was."""
from pathlib import Path
from typing import List, Optional

from models.common.files import PathLike
from models.common.outputs import check_output, check_output_directory

METRICS = ('metrics.json', 'metrics.md')
PICTURES = ('pose_typical.png', 'pose_worst.png', 'error_per_joint.png')
#: drawn from the training log when the directory holds one
CURVES, LOG = 'training_curves.png', 'log.csv'


def evaluation_outputs(out_dir: PathLike, pictures: bool) -> List[Path]:
    """The paths an evaluation into ``out_dir`` writes."""
    out_dir = Path(out_dir)
    names = list(METRICS)
    if pictures:
        names += PICTURES
        if (out_dir / LOG).exists():
            names.append(CURVES)
    return [out_dir / name for name in names]


def check_evaluation_outputs(out_dir: PathLike, *, checkpoint: PathLike,
                             data: Optional[PathLike],
                             onnx: Optional[PathLike] = None,
                             pictures: bool = True) -> List[Path]:
    """Refuse ``out_dir`` (option ``--out``) if it, or any file an
    evaluation writes there, breaks an output rule: a file or a path under
    one, a run directory another process holds locked (the message names
    its PID), a symbolic link, one of the inputs. Returns the files."""
    inputs = {'--checkpoint': checkpoint, '--data': data, '--onnx': onnx}
    out_dir = check_output_directory(out_dir, argument='--out',
                                     inputs=inputs)
    if pictures:
        inputs['the training log'] = out_dir / LOG  # read by the curves
    paths = evaluation_outputs(out_dir, pictures)
    for path in paths:
        check_output(path, argument='--out', suffixes=(path.suffix,),
                     inputs=inputs, run_directory=out_dir)
    return paths
