"""Scaling study at CPU scale: DAVIS J&F against training time, width, depth, crop size and data (synthetic / real / both).

Every axis of `contrastcorr.experiments.scaling_axes` varies one thing of a base run (the tutorial model and schedule,
`--base-steps` steps on synthetic + real clips) over several seeds; every encoder is scored by
`experiments.evaluate_subset` (CRW propagation, 4 single-object sequences of the DAVIS sample, first 20 frames, 240 px),
as tools/ablation.py does. Writes a small JSON (default data/scaling.json) that nbs/tutorials/scaling.ipynb reads;
runs are cached in --work, one result.json each, so an interrupted study continues where it stopped.

    python tools/make_training_set.py --public REPOS --out REAL          # real clips (see data/SOURCES.md)
    OMP_NUM_THREADS=1 python tools/scaling.py --real REAL --seeds 0 1

The minutes axis (`--minutes 5 15 30 60`) is one open-ended run per seed (`experiments.open_ended`, a schedule that
does not depend on the run's length), its encoder kept as the process's CPU clock passes each mark
(`experiments.train_for_minutes`), so its first N minutes are the N-minute run. Train the seeds as parallel
one-thread processes, then score the kept encoders and add the axis to the JSON (the other axes' runs are kept):

    OMP_NUM_THREADS=1 python tools/scaling.py --real REAL --minutes 5 15 30 60 --train-only --seeds 0 --work W &
    OMP_NUM_THREADS=1 python tools/scaling.py --real REAL --minutes 5 15 30 60 --train-only --seeds 1 --work W &
    wait; OMP_NUM_THREADS=1 python tools/scaling.py --minutes 5 15 30 60 --cached-only --seeds 0 1 --work W
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DAVIS = ROOT / '..' / 'shared' / 'data' / 'davis-sample'

_DATA = None


def run_one(job: dict) -> dict:
    "Train one (setting, seed) and evaluate it; cached in job['dir']/result.json."
    global _DATA
    import torch

    torch.set_num_threads(1)
    d = Path(job['dir'])
    res_path = d / 'result.json'
    if res_path.is_file():
        return json.loads(res_path.read_text())
    shutil.rmtree(d / 'run', ignore_errors=True)  # a run killed before its result: start again
    from contrastcorr.experiments import davis_subset, study_data, train_and_evaluate
    from contrastcorr.train import TrainConfig

    if _DATA is None:
        _DATA = davis_subset(job['davis'], n_frames=job['frames'])
    cfg = TrainConfig.tutorial(
        **job['train'],
        steps=job['steps'],
        seed=job['seed'],
        device='cpu',
        ckpt_every=10**9,
        log_every=10,
        model_overrides=job['model'],
    )
    r = train_and_evaluate(cfg, study_data(job['data'], job['real']), d / 'run', _DATA)
    res = dict(seed=job['seed'], model=job['model'], train=job['train'], data=job['data'], **r)
    res_path.write_text(json.dumps(res))
    print(
        f"{job['axis']:6s} {job['label']:14s} seed {job['seed']}: J&F {res['JF']:.3f}; train {r['train_cpu_s']:.0f} CPU s",
        flush=True,
    )
    return res


def jobs_for(a) -> tuple[list, list]:
    "Every (axis, setting, seed), and the distinct runs among them (a setting equal to the base is the base run)."
    from contrastcorr.experiments import scaling_axes
    from contrastcorr.model import ModelConfig
    from contrastcorr.train import TrainConfig

    tut, tut_train, jobs, distinct = ModelConfig.tutorial(), TrainConfig.tutorial(), [], {}
    for seed in a.seeds:
        for axis, settings in scaling_axes(a.base_steps).items():
            if a.axes and axis not in a.axes:
                continue
            for label, st in settings.items():
                model = {k: v for k, v in st.get('model', {}).items() if getattr(tut, k) != v}
                train = {k: v for k, v in st.get('train', {}).items() if getattr(tut_train, k) != v}
                j = dict(
                    davis=a.davis,
                    frames=a.frames,
                    real=a.real,
                    seed=seed,
                    steps=st.get('steps', a.base_steps),
                    model=model,
                    train=train,
                    data=st.get('data', 'both'),
                    axis=axis,
                    label=label,
                )
                changed = '_'.join(f'{k}{v}' for k, v in {**model, **train}.items()) or 'base'
                slug = f"s{j['steps']}_{changed}_{j['data']}_seed{seed}"
                j['dir'] = str(Path(a.work) / slug)
                jobs.append(j)
                distinct.setdefault(slug, j)
    return jobs, sorted(distinct.values(), key=lambda j: (j['seed'], j['steps']))


def public_args(argv) -> list:
    "The command line with this machine's paths replaced by names."
    args = list(sys.argv[1:] if argv is None else argv)
    for flag, name in (('--real', 'REAL'), ('--work', 'WORK'), ('--davis', 'DAVIS'), ('--out', 'data/scaling.json')):
        if flag in args:
            args[args.index(flag) + 1] = name  # no paths of this machine in the record
    return args


def train_minutes(a, seed: int) -> Path:
    "The seed's one open-ended run, kept at every mark of --minutes (CPU minutes of this process, one thread)."
    import torch

    from contrastcorr.experiments import open_ended, study_data, train_for_minutes

    torch.set_num_threads(1)
    out = Path(a.work) / f'minutes_seed{seed}'
    if (out / 'marks.jsonl').is_file() and len((out / 'marks.jsonl').read_text().splitlines()) == len(a.minutes):
        return out
    shutil.rmtree(out, ignore_errors=True)  # a run killed before its last mark: its CPU clock cannot resume
    train_for_minutes(open_ended(seed=seed, device='cpu', log_every=50, ckpt_every=2000), study_data('both', a.real),
                      out, a.minutes)
    return out


def mark_losses(log: Path, step: int) -> dict:
    "The loss terms of the last 5 records before `step` (the run's losses at that mark)."
    recs = [r for r in map(json.loads, log.read_text().splitlines()) if 'loss' in r and r['step'] < step][-5:]
    skip = ('step', 'stage', 'lr', 'elapsed')
    return {k: round(sum(r[k] for r in recs) / len(recs), 4) for k in recs[-1] if k not in skip} if recs else {}


def minutes_runs(a) -> list[dict]:
    "One record per (seed, mark) reached so far; each kept encoder is scored once (eval_{N}min.json beside it)."
    global _DATA
    from contrastcorr.experiments import davis_subset, evaluate_subset

    runs = []
    for seed in a.seeds:
        d = Path(a.work) / f'minutes_seed{seed}'
        marks = (d / 'marks.jsonl').read_text().splitlines() if (d / 'marks.jsonl').is_file() else []
        for m in map(json.loads, marks):
            n = f"{m['minutes']:g}"
            cache = d / f'eval_{n}min.json'
            if not cache.is_file():
                if _DATA is None:
                    _DATA = davis_subset(a.davis, n_frames=a.frames)
                t1 = time.perf_counter()
                ev = evaluate_subset(str(d / f'encoder_{n}min.pt'), _DATA)
                cache.write_text(json.dumps(dict(ev, eval_s=round(time.perf_counter() - t1, 1))))
            ev = json.loads(cache.read_text())
            losses = mark_losses(d / 'log.jsonl', m['step'])
            runs.append(dict(seed=seed, model={}, train={}, data='both', **ev, final_losses=losses,
                             train_cpu_s=m['cpu_s'], train_s=m['wall_s'], axis='minutes', label=f'{n} min',
                             minutes=int(n) if n.isdigit() else m['minutes'], steps=m['step']))
            print(f"minutes {n:>3s} seed {seed}: step {m['step']}, {m['cpu_s']:.0f} CPU s, J&F {ev['JF']:.3f}",
                  flush=True)
    return runs


def write_minutes(a, args: list):
    "Add the minutes axis to the study's JSON, keeping the other axes' recorded runs."
    import torch

    from contrastcorr.experiments import machine, open_ended
    from contrastcorr.train import make_schedule

    out = json.loads(Path(a.out).read_text()) if Path(a.out).is_file() else dict(axes={}, runs=[])
    sched = make_schedule(open_ended(), n_videos=1)
    out['axes']['minutes'] = [f'{m:g} min' for m in a.minutes]
    marks = ' '.join(f'{m:g}' for m in a.minutes)
    train_cmd = f'OMP_NUM_THREADS=1 python tools/scaling.py --real REAL --minutes {marks} --train-only --work WORK'
    out['minutes'] = dict(
        commands=[*(f'{train_cmd} --seeds {s} &' for s in a.seeds), 'wait',
                  'OMP_NUM_THREADS=1 python tools/scaling.py ' + ' '.join(shlex.quote(x) for x in args)],
        design='one open-ended run per seed (experiments.open_ended), its encoder kept when the process CPU time '
        'since the start of training (set-up included) passes each mark: the first N minutes of that run are the '
        'N-minute run, because no part of the schedule depends on the run length',
        schedule=dict(warmup_steps=sched.warmup_steps, lr_halved_every_steps=sched.lr_step, lr=open_ended().lr,
                      batch_size=open_ended().batch_size, amp=open_ended().amp),
        marks=a.minutes,
        hardware=dict(machine(), torch=torch.__version__,
                      note='CPU minutes of one thread (process time); the 2-core machine was shared with other work, '
                      'so wall times are longer and vary'),
    )
    out['runs'] = [r for r in out['runs'] if r.get('axis') != 'minutes'] + minutes_runs(a)
    Path(a.out).write_text(json.dumps(out, indent=1, ensure_ascii=False) + '\n')
    print(f'wrote {a.out}')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--real', default=None, help='folder of real training clips (tools/make_training_set.py)')
    p.add_argument('--base-steps', type=int, default=200, help='steps of the base run (the steps axis is ×¼ ×½ ×1 ×2)')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    p.add_argument('--frames', type=int, default=20, help='first frames of each DAVIS sequence')
    p.add_argument('--davis', default=None, help='DAVIS root (default: ../shared/data/davis-sample, else data/davis)')
    p.add_argument('--axes', nargs='*', default=None, help='subset of the axes: steps width depth crop data')
    p.add_argument('--work', default='/tmp/contrastcorr_scaling', help='run folders (cache)')
    p.add_argument('--out', default=str(ROOT / 'data' / 'scaling.json'))
    p.add_argument('--cached-only', action='store_true', help='write the JSON from the finished runs only (train none)')
    p.add_argument('--minutes', type=float, nargs='*', default=None,
                   help='instead of the axes: one open-ended run per seed, scored at these CPU minutes (5 15 30 60)')
    p.add_argument('--train-only', action='store_true', help='with --minutes: train the runs, score and write nothing')
    a = p.parse_args(argv)
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    if a.davis is None and SHARED_DAVIS.is_dir():
        a.davis = str(SHARED_DAVIS.resolve())
    import torch

    torch.set_num_threads(1)
    from contrastcorr.experiments import EVAL_SEQUENCES, EVAL_SIZE, machine, scaling_axes

    if a.minutes is not None:
        a.minutes = [int(m) if m == int(m) else m for m in a.minutes]  # 5, not 5.0, in file names and the record
        if not a.cached_only:
            for seed in a.seeds:
                train_minutes(a, seed)
        if not a.train_only:
            write_minutes(a, public_args(argv))
        return
    jobs, distinct = jobs_for(a)
    t0 = time.perf_counter()
    if a.cached_only:
        distinct = [j for j in distinct if (Path(j['dir']) / 'result.json').is_file()]
    done = {j['dir']: run_one(j) for j in distinct}
    runs = [dict(done[j['dir']], axis=j['axis'], label=j['label'], steps=j['steps']) for j in jobs if j['dir'] in done]
    out = dict(
        command='OMP_NUM_THREADS=1 python tools/scaling.py ' + ' '.join(shlex.quote(x) for x in public_args(argv)),
        question='How does DAVIS label propagation improve with training time, model size, crop size and real video, at CPU scale?',
        base=dict(preset='tutorial', steps=a.base_steps, batch_size=4, data='both'),
        data={
            'synthetic': '64 synthetic clips',
            'real': 'the real clips of tools/make_training_set.py --public (data/SOURCES.md) + data/videos/bikes_short.mp4',
            'both': 'synthetic + real',
        },
        axes={ax: list(st) for ax, st in scaling_axes(a.base_steps).items() if not a.axes or ax in a.axes},
        seeds=a.seeds,
        eval=dict(
            protocol='CRW label propagation, scored like data/ablation.json',
            sequences=list(EVAL_SEQUENCES),
            frames=a.frames,
            size=list(EVAL_SIZE),
        ),
        hardware=dict(
            machine(), note='train_cpu_s: CPU time of one thread; the machine was shared, so wall times vary'
        ),
        this_invocation_s=round(time.perf_counter() - t0, 1),
        runs=runs,
    )
    Path(a.out).write_text(json.dumps(out, indent=1, ensure_ascii=False) + '\n')
    print(f'wrote {a.out}')


if __name__ == '__main__':
    main()
