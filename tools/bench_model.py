"""Benchmark one ContrastCorr training step: forward + backward seconds and peak memory, per case, each in a fresh process.

    OMP_NUM_THREADS=2 .venv/bin/python tools/bench_model.py                      # every case on the CPU
    .venv/bin/python tools/bench_model.py --cases official inter-16 --device cuda
    .venv/bin/python tools/bench_model.py --cases official --set flush_denormal=False channels_last=False
    OMP_NUM_THREADS=1 .venv/bin/python tools/bench_model.py --cases official tutorial --amp    # bf16 autocast
    OMP_NUM_THREADS=1 .venv/bin/python tools/bench_model.py --cases official original --original PATH/TO/ContrastCorr

Cases: `official`/`paper` = the presets at the official shapes (B=2, 256² reference crops, 640² targets, ResNet-18,
an untrained ColourAE standing in for the official autoencoder), `official-warmup` (two 256² crops), `tutorial`
(B=4, 64²/128², width-32 encoder), `inter-B` = the inter-video module alone (streaming, 32×32 cells, 512 channels,
`tools/measure.py`), `original` = the official code's own main-stage step at the same shapes (`--original`: a
checkout of github.com/594422814/ContrastCorr, used at 9b117944275933132fad6921bbabb3afddca60bd; nothing of it is
copied here: its modules are imported with the shims a CPU needs — `Tensor.cuda`/`Module.cuda` are the identity,
torchvision and scipy are stubbed (the training step uses neither), `PIL.PILLOW_VERSION` is set, and its `dropout2d`
is re-stated with `int(a[0])` for `int(a)`, which NumPy 2 refuses; randomly initialised colour autoencoder; forward, the
losses of `train_trackingnet.py` with its defaults and thr 2.5, backward; it does not flush subnormals, as the
original does not). Peak memory: resident-set growth during the step on CPU, max allocated on CUDA. CPU seconds (all threads of the
process) are less sensitive to other jobs on the machine than wall seconds; on an idle machine wall ≈ CPU / threads
when the threads are busy.
Not a test: the numbers depend on the machine and on its load, which is printed with them. On the 2-core development
CPU (AMD EPYC, one thread, AVX-512 kernels) the official implementation's main-stage step at B=2 took 19.8 CPU s
(case `original`; 27–42 s wall on two idle cores in an earlier measurement), and its inter-video module 213 s /
4.6 GiB at B=16. Case `original` needs OpenCV importable (a dependency of the official code, not of this project).
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
    'original': dict(original=True, B=2, ref=256, target=640),
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

ORIGINAL = r"""
import json, resource, sys, tempfile, time, types
import numpy as np, PIL, torch, torch.nn as nn
root, steps, (B, P, FULL) = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
torch.Tensor.cuda = lambda self, *a, **k: self
nn.Module.cuda = lambda self, *a, **k: self
stub = lambda name, **attrs: types.SimpleNamespace(__name__=name, **attrs)
sys.modules.update({'torchvision': stub('torchvision'), 'torchvision.models': stub('m', resnet18=None, vgg16=None),
                    'scipy': stub('scipy'), 'scipy.misc': stub('scipy.misc'), 'scipy.io': stub('scipy.io')})
PIL.PILLOW_VERSION = PIL.__version__
sys.path.insert(0, root)
import model as original
from libs.autoencoder import decoder3, encoder3
from libs.concentration_loss import ConcentrationSwitchLoss
from libs.loss import L1_loss
from libs.utils import diff_crop
def dropout2d(img1, img2):   # theirs, with int(a[0]) for int(a) (NumPy 2)
    if np.random.random() < 0.3: return img1, img2
    k = int(np.random.choice(np.arange(1, 3), 1)[0])
    for ch in np.random.choice(np.arange(3), k, replace=False): img1[:, ch] = 0; img2[:, ch] = 0
    img1 *= 3 / (3 - k); img2 *= 3 / (3 - k)
    return img1, img2
original.dropout2d = dropout2d
torch.manual_seed(0); np.random.seed(0)
d = tempfile.mkdtemp()
torch.save(encoder3(reduce=True).state_dict(), f'{d}/e.pth'); torch.save(decoder3(reduce=True).state_dict(), f'{d}/d.pth')
net = original.track_match_comb(False, f'{d}/e.pth', f'{d}/d.pth', temp=1, Resnet='r18', color_switch=True,
                                 coord_switch=False, contrastive=True).train()
closs = ConcentrationSwitchLoss(win_len=8, stride=8, F_size=torch.Size((B, 2, P // 8, P // 8)), temp=1)
f1, f2 = torch.rand(B, 3, P, P) * 2 - 1, torch.rand(B, 3, FULL, FULL) * 2 - 1
def step():   # train_trackingnet.py: forward() and train_iter()'s main-stage losses (defaults, thr 2.5), backward
    net.zero_grad(set_to_none=True)
    t0, c0 = time.perf_counter(), time.process_time()
    out = net(f1, f2, warm_up=False, patch_size=[P // 8, P // 8])
    c = out[2]
    crop2 = diff_crop(f2, c[:, 0], c[:, 2], c[:, 1], c[:, 3], P, P)
    b, x, _ = out[1].size()
    loss = (L1_loss(out[0], crop2, 10, 10, thr=2.5, pred1=out[4], frame1_var=f1) + L1_loss(out[-3], f1, 10, 10, thr=2.5)
            + torch.sum(closs(out[1].view(b, 1, x, x))) * 0.3 + out[-1].mean() + L1_loss(out[-2], out[0], 10, 10, thr=2.5))
    loss.backward()
    return time.perf_counter() - t0, time.process_time() - c0
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
step()
times, cpu = zip(*[step() for _ in range(steps)])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
print(json.dumps(dict(seconds=times, cpu_seconds=cpu, peak_mb=peak)))
"""


def parse_value(v):
    "Command-line override value -> Python value (JSON when it parses: numbers, true/false/null; else Python bool names; else string)."
    if v in ('True', 'False', 'None'):
        return {'True': True, 'False': False, 'None': None}[v]
    try:
        return json.loads(v)
    except json.JSONDecodeError:
        return v


def run_case(name, device, steps, overrides, amp=False, original=None):
    "Run one case in a fresh process -> dict of results."
    case = CASES[name]
    if 'original' in case:
        if not original: raise SystemExit('case `original` needs --original PATH/TO/ContrastCorr')
        out = subprocess.run([sys.executable, '-c', ORIGINAL, original, str(steps),
                              json.dumps([case['B'], case['ref'], case['target']])], capture_output=True, text=True)
        if out.returncode: raise RuntimeError(f"case 'original' failed:\n{out.stderr[-3000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])
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
        '--cases', nargs='+', default=[c for c in CASES if c != 'original'], choices=list(CASES),
        help='which cases to run (default: all but `original`)'
    )
    p.add_argument('--device', default='cpu', help='cpu or cuda (default cpu)')
    p.add_argument(
        '--steps', type=int, default=2, help='timed steps per case, after one untimed warm-up step (default 2)'
    )
    p.add_argument(
        '--set', nargs='*', default=[], metavar='KEY=VALUE', help='ModelConfig overrides, e.g. flush_denormal=False'
    )
    p.add_argument('--amp', action='store_true', help='bf16 autocast around the forward pass (model cases only)')
    p.add_argument('--original', metavar='PATH', help='checkout of the official ContrastCorr code, for case `original`')
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
    print('| case | B | shapes | preset / stage | wall s per step (mean, min) | CPU s per step (min / median) | peak memory |')
    print('|---|---|---|---|---|---|---|')
    results = {}
    for name in a.cases:
        case, r = CASES[name], run_case(name, a.device, a.steps, overrides, a.amp, a.original)
        results[name] = dict(case, **r)
        s = r['seconds']
        shapes = '32×32 cells, C=512' if 'inter' in case else f"{case['ref']}² / {case['target']}²"
        what = (
            'inter-video module, fwd+bwd'
            if 'inter' in case
            else 'official code / main (float32)'
            if 'original' in case
            else f"{case['preset']} / {case['stage']}" + (', bf16' if a.amp else '')
        )
        c = sorted(r.get('cpu_seconds', []))
        cpu = f"{c[0]:.1f} / {c[len(c) // 2]:.1f}" if c else '—'
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
