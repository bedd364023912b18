"""Benchmark one ContrastCorr training step: forward + backward seconds and peak memory, per case, each in a fresh process.

    OMP_NUM_THREADS=2 .venv/bin/python tools/bench_model.py                      # every case on the CPU
    .venv/bin/python tools/bench_model.py --cases official inter-16 --device cuda
    .venv/bin/python tools/bench_model.py --cases official --set flush_denormal=False channels_last=False
    OMP_NUM_THREADS=1 .venv/bin/python tools/bench_model.py --cases official tutorial --amp    # bf16 autocast

Cases: `official`/`paper` = the presets at the official shapes (B=2, 256² reference crops, 640² targets, ResNet-18,
an untrained ColourAE standing in for the official autoencoder), `official-warmup` (two 256² crops), `tutorial`
(B=4, 64²/128², width-32 encoder), `inter-B` = the inter-video module alone (streaming, 32×32 cells, 512 channels,
`tools/measure.py`). Peak memory: resident-set growth during the step on CPU, max allocated on CUDA. CPU seconds (all threads of the
process) are less sensitive to other jobs on the machine than wall seconds; on an idle machine wall ≈ CPU / threads
when the threads are busy.
Not a test: the numbers depend on the machine and on its load, which is printed with them. The official
implementation takes 27–42 s per main-stage step at B=2 and 213 s / 4.6 GiB for its inter-video module at B=16 on
the 2-core development CPU (DESIGN.md §6).
"""

import argparse
import json
import os
import subprocess
import sys

CASES = {
    'official': dict(preset='official', B=2, ref=256, target=640, stage='main'),
    'paper': dict(preset='paper', B=2, ref=256, target=640, stage='main'),
    'official-warmup': dict(preset='official', B=2, ref=256, target=256, stage='warmup'),
    'tutorial': dict(preset='tutorial', B=4, ref=64, target=128, stage='main'),
    'inter-4': dict(inter=4),
    'inter-8': dict(inter=8),
    'inter-16': dict(inter=16),
}

CHILD = r"""
import json, resource, sys, time, torch
from contrastcorr.encoder import ColourAE
from contrastcorr.model import ContrastCorr, ModelConfig
from contrastcorr.pairs import synthetic_pairs
case, device, steps, overrides, amp = json.loads(sys.argv[1])
dev = torch.device(device)
cfg = getattr(ModelConfig, case['preset'])(**overrides)
torch.set_flush_denormal(cfg.flush_denormal)   # first, before any parallel op: OpenMP threads inherit it (see notebook 06 §8)
torch.manual_seed(0)
model = ContrastCorr(cfg, ColourAE() if cfg.target == 'colour_ae' else None).to(dev)
lab_r, lab_t = synthetic_pairs(case['B'], case['ref'], case['target'], stage=case['stage'], device=dev)
def rss_mb():
    with open('/proc/self/statm') as f: return int(f.read().split()[1]) * resource.getpagesize() / 2**20
def step():
    model.zero_grad(set_to_none=True)
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):   # the encoder in bf16, the rest stays float32
        out = model(lab_r, lab_t, stage=case['stage'])
    out.loss.backward()
    if dev.type == 'cuda': torch.cuda.synchronize()
    return time.perf_counter() - t0, time.process_time() - c0
base = rss_mb()
step()                                                     # warm-up: allocator, oneDNN kernels, cuDNN autotuning
if dev.type == 'cuda': torch.cuda.reset_peak_memory_stats()
times, cpu = zip(*[step() for _ in range(steps)])
peak = torch.cuda.max_memory_allocated() / 2**20 if dev.type == 'cuda' else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
print(json.dumps(dict(seconds=times, cpu_seconds=cpu, peak_mb=peak, params=sum(p.numel() for p in model.encoder.parameters()))))
"""


def parse_value(v):
    "Command-line override value -> Python value (JSON when it parses: numbers, true/false/null; else Python bool names; else string)."
    if v in ('True', 'False', 'None'):
        return {'True': True, 'False': False, 'None': None}[v]
    try:
        return json.loads(v)
    except json.JSONDecodeError:
        return v


def run_case(name, device, steps, overrides, amp=False):
    "Run one case in a fresh process -> dict of results."
    case = CASES[name]
    if 'inter' in case:
        from measure import measure_inter

        runs = [measure_inter(B=case['inter'], C=512, size=(32, 32), D=3, device=device) for _ in range(steps)]
        return dict(seconds=[r[0] for r in runs], cpu_seconds=[r[1] for r in runs], peak_mb=max(r[2] for r in runs))
    out = subprocess.run(
        [sys.executable, '-c', CHILD, json.dumps([case, device, steps, overrides, amp])], capture_output=True, text=True
    )
    if out.returncode:
        raise RuntimeError(f"case {name!r} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        '--cases', nargs='+', default=list(CASES), choices=list(CASES), help='which cases to run (default: all)'
    )
    p.add_argument('--device', default='cpu', help='cpu or cuda (default cpu)')
    p.add_argument(
        '--steps', type=int, default=2, help='timed steps per case, after one untimed warm-up step (default 2)'
    )
    p.add_argument(
        '--set', nargs='*', default=[], metavar='KEY=VALUE', help='ModelConfig overrides, e.g. flush_denormal=False'
    )
    p.add_argument('--amp', action='store_true', help='bf16 autocast around the forward pass (model cases only)')
    p.add_argument('--json', help='also write the results to this JSON file')
    a = p.parse_args(argv)
    overrides = {}
    for kv in a.set:
        if '=' not in kv:
            p.error(f"--set takes KEY=VALUE, got {kv!r}")
        k, v = kv.split('=', 1)
        overrides[k] = parse_value(v)
    threads = os.environ.get('OMP_NUM_THREADS', 'unset')
    from hardware import line

    print(line())
    print(
        f"device {a.device}, OMP_NUM_THREADS={threads}, load average at start {os.getloadavg()[0]:.1f}, overrides {overrides or 'none'}, autocast {'bf16' if a.amp else 'off'}"
    )
    print('| case | B | shapes | preset / stage | wall s per step (mean, min) | CPU s per step | peak memory |')
    print('|---|---|---|---|---|---|---|')
    results = {}
    for name in a.cases:
        case, r = CASES[name], run_case(name, a.device, a.steps, overrides, a.amp)
        results[name] = dict(case, **r)
        s = r['seconds']
        shapes = '32×32 cells, C=512' if 'inter' in case else f"{case['ref']}² / {case['target']}²"
        what = (
            'inter-video module, fwd+bwd'
            if 'inter' in case
            else f"{case['preset']} / {case['stage']}" + (', bf16' if a.amp else '')
        )
        cpu = f"{min(r['cpu_seconds']):.1f}" if 'cpu_seconds' in r else '—'
        print(
            f"| {name} | {case.get('B', case.get('inter'))} | {shapes} | {what} | {sum(s) / len(s):.2f}, {min(s):.2f} | {cpu} | "
            f"{r['peak_mb'] / 1024:.2f} GiB |",
            flush=True,
        )
    print(f"load average at end {os.getloadavg()[0]:.1f}")
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(dict(device=a.device, threads=threads, overrides=overrides, results=results), f, indent=1)
    return results


if __name__ == '__main__':
    main()
