"""The data loader beside the training step, on a synthetic prepared
data set."""
import time
from typing import Any, Dict, List, Optional

import numpy as np

from benchmarks import _common as common
from benchmarks.model._shared import record
from benchmarks.options import RunOptions
from models.pose.data.camera import Camera
from models.pose.data.format import assemble_prepared, make_meta, validate
from models.pose.data.loader import PoseWindows
from models.pose.nn.config import preset_config


def loader_records(preset: str, batch: int, train_pps: Optional[float],
                   opts: RunOptions) -> List[Dict[str, Any]]:
    """Batches/s of ``PoseWindows.iterate_batches`` as the training loop
    uses it (shuffled, flip augmentation, drop_last), on a synthetic
    prepared data set, beside the training step's consumption."""
    cfg = preset_config(preset)
    frames_per_seq = (200 if opts.smoke else 2_000 if opts.quick else
                      10_000)
    data = synthetic_prepared(num_subjects=2, sequences_per_subject=2,
                              frames=frames_per_seq, cameras=4)
    t0 = time.perf_counter()
    windows = PoseWindows(data, subjects=data.train_subjects,
                          joints=cfg.joints, frames=cfg.frames, source='gt')
    build_s = time.perf_counter() - t0
    steps = 3 if opts.smoke else 20 if opts.quick else 100

    def epoch_slice():
        it = windows.iterate_batches(batch, shuffle=True, seed=0, epoch=0,
                                     flip_augment=True, drop_last=True)
        n = 0
        for _ in zip(range(steps), it):
            n += 1
        return n

    n = epoch_slice()
    if n == 0:
        raise RuntimeError('the synthetic dataset gave no batch')
    t = common.time_callable(epoch_slice, opts.threads, min_run_time=0.5,
                             min_samples=3, warmup=1, max_time=20.0,
                             smoke=opts.smoke)
    bps = n / t.median
    pps = bps * batch
    note = (f'{n} batches of {batch} per timed call (shuffled, flip '
            f'augmentation on), synthetic prepared dataset of '
            f'{len(windows):,} training windows built in {build_s:.1f} s')
    ratio = None
    if train_pps:
        ratio = pps / train_pps
        note += (f'; the fp32 training step consumes {train_pps:,.0f} '
                 f'poses/s, so the loader delivers {ratio:,.0f}x what it '
                 f'needs (it runs in the training process, so its time adds '
                 f'{100 / ratio:.1f}% to each step)')
    return [record(f'{preset} data loader batch {batch}', preset, 'loader',
                    batch, pps, None, None, t, opts.threads,
                    batches_per_s=bps,
                    loader_over_train=ratio, build_s=build_s, note=note)]


def synthetic_prepared(num_subjects: int = 2, sequences_per_subject: int = 2,
                       frames: int = 2_000, cameras: int = 4,
                       seed: int = 0):
    """A random but valid dataset in the project's prepared format.

    Built with the format module's own ``assemble_prepared`` and
    checked with its ``validate``, so the loader sees exactly what it would
    read from a prepared file; the values (random walks in metres, pixels
    inside a 1000 x 1000 image) only have to be plausible, not real.
    """
    rng = np.random.default_rng(seed)
    subjects = [f'S{i + 1}' for i in range(num_subjects)]
    sequences, start = [], 0
    for subject in subjects:
        for a in range(sequences_per_subject):
            sequences.append({'subject': subject, 'action': f'action{a}',
                              'start': start, 'length': frames})
            start += frames
    total = start
    n_seq = len(sequences)
    steps = rng.normal(scale=0.01, size=(total, 17, 3))
    positions = np.cumsum(steps, axis=0) + np.array([0.0, 0.0, 4.0])
    keypoints = rng.uniform(0, 1000, size=(cameras, total, 17, 2))
    meta = make_meta('synthetic', 50.0, sequences,
                     train_subjects=subjects[:-1] or subjects,
                     test_subjects=subjects[-1:], sources=['gt'],
                     provenance={'generator': 'benchmarks.model'})
    camera = Camera(id='synthetic', R=np.eye(3), t=np.zeros(3),
                    intrinsics=np.array([1000, 1000, 500, 500, 0, 0, 0, 0,
                                         0]),
                    resolution=np.array([1000, 1000]))
    data = assemble_prepared(
        meta, np.split(positions, n_seq), [[camera] * cameras] * n_seq,
        {'gt': np.split(keypoints, n_seq, axis=1)})
    validate(data)
    return data
