"""Training throughput of the presets on this CPU: steps/s and CPU seconds per step, data loading included.

Each case runs in a fresh process: the preset's data pipeline (PairDataset → pair_loader, `--workers` processes),
model, Adam and `train_step` exactly as `train` uses them, main stage, after every video is decoded and a few untimed
steps; it reports wall seconds per step, CPU seconds per step of the training process and of its loader workers, and
the autocast dtype `--amp auto` chose. Cases vary autocast, threads, workers and the kernels torch may use
(`ATEN_CPU_CAPABILITY=avx2` gives the figures of a CPU without AVX-512).

    python tools/bench_train.py --json data/train_bench.json

Not a test: wall times depend on the machine's load, printed with them; CPU seconds depend on it much less.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from hardware import cpu_model  # tools/hardware.py: the one /proc/cpuinfo reader of the benchmarks

ROOT = Path(__file__).resolve().parents[1]
# TrainConfig.tutorial overrides; the workshop preset runs the tutorial's step (on real clips), so one row covers both
PRESETS = {'tutorial/workshop': {}, 'crops 96/192': dict(ref_size=96, target_size=192)}
CASES = [  # (amp, threads, workers, ATEN_CPU_CAPABILITY or None)
    ('none', 1, 0, None),
    ('auto', 1, 0, None),
    ('auto', 1, 1, None),
    ('none', 2, 0, None),
    ('auto', 2, 0, None),
    ('none', 1, 0, 'avx2'),
]

CHILD = r"""
import json, resource, sys, time, torch
from contrastcorr.data import asset_path
from contrastcorr.devices import amp_dtype
from contrastcorr.pairs import PairDataset, make_sources, pair_loader
from contrastcorr.runs import seed_everything
from contrastcorr.train import TrainConfig, build_model, build_optimizer, model_config, train_step
overrides, amp, workers, steps = json.loads(sys.argv[1])
cfg = TrainConfig.tutorial(**overrides, amp=amp, num_workers=workers)
mc = model_config(cfg)
torch.set_flush_denormal(mc.flush_denormal)
videos = make_sources(['synthetic', asset_path('videos', 'bikes_short.mp4'), asset_path('videos', 'real')], max_side=cfg.target_size)
for v in videos: v.frame(0)                                # decode every clip before timing (train() does it on first use)
ds = PairDataset(videos, cfg.ref_size, cfg.target_size, cfg.max_gap, cfg.scale, cfg.max_rotation, cfg.flip, cfg.seed)
seed_everything(0)
dev = torch.device('cpu')
net = build_model(mc).to(dev).train()
opt = build_optimizer(net, cfg.lr, dev)
dtype = amp_dtype(amp, dev)
scaler = torch.amp.GradScaler('cpu', enabled=False)
warm = 3
it = iter(pair_loader(ds, cfg.batch_size, 0, warm + steps, num_workers=workers))
for _ in range(warm): train_step(net, next(it), 'main', opt, scaler, dev, dtype)
t0, c0 = time.perf_counter(), time.process_time()
for _ in range(steps): train_step(net, next(it), 'main', opt, scaler, dev, dtype)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
del it                                                     # workers exit; their CPU time becomes the children's
time.sleep(0.5)
child = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps(dict(wall_s=wall / steps, cpu_s=cpu / steps, worker_cpu_total_s=child.ru_utime + child.ru_stime,
                      dtype=str(dtype), capability=torch.backends.cpu.get_cpu_capability(), threads=torch.get_num_threads())))
"""


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--presets', nargs='+', default=['tutorial/workshop'], choices=list(PRESETS))
    p.add_argument('--steps', type=int, default=20, help='timed steps per case')
    p.add_argument('--cases', type=int, nargs='*', default=None, help='indices into CASES (default: all)')
    p.add_argument('--json', help='also write the results here (after every case; rows of earlier runs are kept)')
    a = p.parse_args(argv)
    old = json.loads(Path(a.json).read_text())['rows'] if a.json and Path(a.json).is_file() else []
    rows = []
    print(f'CPU: {cpu_model()[0]}, {os.cpu_count()} cores; load average at start {os.getloadavg()[0]:.1f}')
    print(
        '| preset | kernels | autocast | threads | workers | steps/s (wall) | CPU s/step (trainer) | worker CPU s/step |'
    )
    print('|---|---|---|---|---|---|---|---|')
    for preset in a.presets:
        for amp, threads, workers, cap in [CASES[i] for i in a.cases] if a.cases is not None else CASES:
            env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=str(ROOT))
            env.pop('ATEN_CPU_CAPABILITY', None)
            if cap:
                env['ATEN_CPU_CAPABILITY'] = cap
            out = subprocess.run(
                [sys.executable, '-c', CHILD, json.dumps([PRESETS[preset], amp, workers, a.steps])],
                capture_output=True,
                text=True,
                env=env,
                cwd=ROOT,
            )
            if out.returncode:
                raise RuntimeError(f'{preset} {amp} {threads} {workers} {cap} failed:\n{out.stderr[-3000:]}')
            r = dict(
                preset=preset,
                amp=amp,
                workers=workers,
                load=round(os.getloadavg()[0], 1),
                **json.loads(out.stdout.strip().splitlines()[-1]),
            )
            r['worker_cpu_s'] = r.pop('worker_cpu_total_s') / (a.steps + 3)
            rows.append(r)
            print(
                f"| {preset} | {r['capability']} | {r['dtype'].replace('torch.', '')} | {r['threads']} | {workers} | "
                f"{1 / r['wall_s']:.2f} | {r['cpu_s']:.3f} | {r['worker_cpu_s']:.3f} |",
                flush=True,
            )
            if a.json:
                key = lambda x: (x['preset'], x['amp'], x['threads'], x['workers'], x['capability'])
                kept = [o for o in old if key(o) not in {key(n) for n in rows}]
                Path(a.json).write_text(
                    json.dumps(dict(cpu=cpu_model()[0], cores=os.cpu_count(), steps=a.steps, rows=kept + rows), indent=1)
                    + '\n'
                )
    print(f'load average at end {os.getloadavg()[0]:.1f}')


if __name__ == '__main__':
    main()
