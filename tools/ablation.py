"""Ablation study of ContrastCorr's loss terms at tutorial scale: which terms matter on a small CPU budget?

Trains the tutorial model (width-32 encoder, 64² crops in 128² frames, Lab targets) with each of the paper's five
terms removed in turn, with all five, and with the official code's term set, over several seeds; evaluates every
encoder by CRW label propagation on a fixed DAVIS subset (J, F, J&F); adds raw-Lab and random-init baselines once.
Writes a small JSON (default data/ablation.json) that nbs/tutorials/ablation.ipynb reads.

    OMP_NUM_THREADS=1 .venv/bin/python tools/ablation.py --steps 200 --seeds 0 1 --jobs 2

Runs are cached in --work (one result.json per run), so an interrupted study continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from contrastcorr.experiments import ABLATION_VARIANTS as VARIANTS
from contrastcorr.experiments import EVAL_SEQUENCES as SEQUENCES
from contrastcorr.experiments import EVAL_SIZE
from contrastcorr.experiments import evaluate_subset as evaluate

SHARED_DAVIS = Path(__file__).resolve().parents[1] / '..' / 'shared' / 'data' / 'davis-sample'


def slug(name: str) -> str:
    return name.replace('−', 'no_').replace(' ', '_').replace('(', '').replace(')', '')


def davis_subset(root: Path | None, sequences, n_frames: int):
    "The shared sample's subset if present (else the shipped one): (root, sequence → (frames, binary masks))."
    from contrastcorr.data import sample_davis_root
    from contrastcorr.experiments import davis_subset as subset

    if root is None:
        root = SHARED_DAVIS.resolve() if SHARED_DAVIS.is_dir() else sample_davis_root()
    return str(root), subset(root, sequences, n_frames)


_DATA = None


def _worker_data(args):
    global _DATA
    if _DATA is None:
        _DATA = davis_subset(args['davis'], args['sequences'], args['frames'])[1]
    return _DATA


def run_one(job: dict) -> dict:
    "Train one (variant, seed) and evaluate it; cached in job['dir']/result.json."
    import torch

    torch.set_num_threads(1)
    d = Path(job['dir'])
    res_path = d / 'result.json'
    if res_path.is_file():
        return json.loads(res_path.read_text())
    from contrastcorr.data import asset_path
    from contrastcorr.runs import read_log
    from contrastcorr.train import TrainConfig, model_config, train

    cfg = TrainConfig.tutorial(
        steps=job['steps'],
        seed=job['seed'],
        device='cpu',
        warmup_epochs=0,
        ckpt_every=10**9,
        log_every=10,
        model_overrides=job['overrides'],
    )
    t0 = time.perf_counter()
    s = train(cfg, ['synthetic:64', str(asset_path('videos', 'bikes_short.mp4'))], d / 'run', progress=False)
    t_train = time.perf_counter() - t0
    recs = [r for r in read_log(d / 'run' / 'log.jsonl') if 'loss' in r][-5:]  # last 50 steps (log_every 10)
    final = {
        k: round(sum(r[k] for r in recs) / len(recs), 4)
        for k in recs[-1]
        if k not in ('step', 'stage', 'lr', 'elapsed')
    }
    t0 = time.perf_counter()
    ev = evaluate(str(d / 'run' / 'encoder.pt'), _worker_data(job))
    res = dict(
        variant=job['variant'],
        seed=job['seed'],
        steps=s['steps'],
        active_terms=list(model_config(cfg).active('main')),
        **ev,
        final_losses=final,
        train_s=round(t_train, 1),
        eval_s=round(time.perf_counter() - t0, 1),
    )
    res_path.write_text(json.dumps(res))
    print(
        f"{job['variant']:20s} seed {job['seed']}: J&F {res['JF']:.3f} (J {res['J']:.3f}, F {res['F']:.3f}); "
        f"train {t_train:.0f} s, eval {res['eval_s']:.0f} s",
        flush=True,
    )
    return res


def baseline(job: dict) -> dict:
    "Raw Lab cells and the untrained tutorial network (seed 0), evaluated like the trained ones; cached like the runs."
    import torch

    torch.set_num_threads(1)
    res_path = Path(job['dir']) / 'result.json'
    if res_path.is_file():
        return json.loads(res_path.read_text())
    from contrastcorr.encoder import Encoder
    from contrastcorr.model import ModelConfig

    torch.manual_seed(0)
    mc = ModelConfig.tutorial()
    enc = 'lab' if job['variant'] == 'raw Lab pixels' else Encoder(mc.width, mc.depth)
    t0 = time.perf_counter()
    ev = evaluate(enc, _worker_data(job))
    print(f"{job['variant']:20s}: J&F {ev['JF']:.3f}", flush=True)
    res = dict(variant=job['variant'], seed=None, **ev, eval_s=round(time.perf_counter() - t0, 1))
    res_path.parent.mkdir(parents=True, exist_ok=True)
    res_path.write_text(json.dumps(res))
    return res


def study_wall_s(jobs) -> float:
    "Wall time of the study from its cached runs: first run's start (finish − train − eval) to the last run's finish."
    spans = []
    for j in jobs:
        p = Path(j['dir']) / 'result.json'
        r = json.loads(p.read_text())
        end = p.stat().st_mtime
        spans.append((end - r['train_s'] - r['eval_s'], end))
    return round(max(e for _, e in spans) - min(s for s, _ in spans), 1)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--steps', type=int, default=200, help='training steps per run (main stage only, batch 4)')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    p.add_argument('--jobs', type=int, default=2, help='runs in parallel (one core each)')
    p.add_argument('--frames', type=int, default=20, help='first frames of each DAVIS sequence')
    p.add_argument('--davis', default=None, help='DAVIS root (default: ../shared/data/davis-sample, else data/davis)')
    p.add_argument('--variants', nargs='*', default=None, help=f'subset of {list(VARIANTS)}')
    p.add_argument('--work', default='/tmp/contrastcorr_ablation', help='run folders (cache)')
    p.add_argument('--out', default=str(Path(__file__).resolve().parents[1] / 'data' / 'ablation.json'))
    a = p.parse_args(argv)
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    from contrastcorr.model import ModelConfig
    from contrastcorr.train import TrainConfig

    root, data = davis_subset(a.davis, SEQUENCES, a.frames)
    common = dict(davis=a.davis, sequences=SEQUENCES, frames=a.frames)
    variants = {k: VARIANTS[k] for k in (a.variants or VARIANTS)}
    # seed-major order: with --jobs 2 every variant has its first seed before any has its second
    jobs = [
        dict(common, variant=v, overrides=o, seed=s, steps=a.steps, dir=str(Path(a.work) / f'{slug(v)}_s{s}_{a.steps}'))
        for s in a.seeds
        for v, o in variants.items()
    ]
    base = [
        dict(common, variant=v, dir=str(Path(a.work) / f'baseline_{slug(v)}_{a.frames}'))
        for v in ('raw Lab pixels', 'random init')
    ]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(a.jobs) as ex:
        fb = [ex.submit(baseline, j) for j in base]
        runs = list(ex.map(run_one, jobs))
        baselines = [f.result() for f in fb]
    wall = time.perf_counter() - t0
    mc, tc = ModelConfig.tutorial(), TrainConfig.tutorial()
    out = dict(
        command='OMP_NUM_THREADS=1 .venv/bin/python tools/ablation.py '
        + ' '.join(shlex.quote(x) for x in (argv if argv is not None else sys.argv[1:])),
        question='Which loss terms matter for DAVIS label propagation when the tutorial model is trained briefly on a CPU?',
        model=dict(
            preset='tutorial',
            width=mc.width,
            depth=mc.depth,
            tau=mc.tau,
            target=mc.target,
            ref_crop=tc.ref_size,
            target_size=tc.target_size,
        ),
        train=dict(
            steps=a.steps,
            batch_size=4,
            lr=1e-3,
            warmup_steps=0,
            data=['synthetic (64 clips)', 'data/videos/bikes_short.mp4'],
            note='main stage only: the warm-up stage can run no paper term but L_intra, so "−intra" would have nothing to do in it',
        ),
        variants={k: v for k, v in variants.items()},
        seeds=a.seeds,
        eval=dict(
            protocol='CRW label propagation (propagation.PRESETS["crw"]: 20 recent + first frame, τ 0.05, top-10, radius 12)',
            davis_root=Path(root).name,
            sequences=list(data),
            frames=a.frames,
            size=list(EVAL_SIZE),
            masks='binary (union of objects), nearest-downscaled to the frame size; J, F on those; first and last frames excluded',
        ),
        runs=runs,
        baselines=baselines,
        wall_s=study_wall_s(jobs),
        this_invocation_s=round(wall, 1),
        cpu=f'{os.cpu_count()} cores, {a.jobs} runs in parallel, OMP_NUM_THREADS=1',
    )
    Path(a.out).write_text(json.dumps(out, indent=1, ensure_ascii=False) + '\n')
    print(f'wrote {a.out} ({wall:.0f} s)')


if __name__ == '__main__':
    main()
