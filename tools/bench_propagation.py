"""Benchmark test-time label propagation on a 480p DAVIS sequence (not a test: numbers depend on the machine).

Prints, for each method, seconds per frame (wall clock and CPU time of this process), and the peak resident memory
above what the process held before the run (frames and model loaded), sampled every 2 ms from /proc/self/statm:

* ours, CRW protocol (first frame + 20 previous, window R=12, top-10) with the tutorial encoder Encoder(32, 3)
  (dtype='auto', the default: top-k chosen by bfloat16 products where the CPU is fast at them, weighed exactly;
  and 'crw-fp32': every logit in float32),
  with raw Lab colours ('crw-lab') and with the paper's ResNet-18 ('crw-r18');
  every frame encoded once (rolling feature buffer);
* ours, official ContrastCorr protocol (560x960, first + 7 previous, mutual matching, top-5 per reference);
* the dense definition `propagate_labels_dense` with the CRW settings, at 3 context frames (21 would need ~7 GB);
* re-encoding as the official script does: both frames of every (reference, target) pair go through the encoder
  again for every target (2 passes per reference), plus the same propagation (tutorial encoder, and ResNet-18).

Usage (from the repository root):
    OMP_NUM_THREADS=2 .venv/bin/python tools/bench_propagation.py [--sequence blackswan] [--frames 25]
    .venv/bin/python tools/bench_propagation.py --only crw          # one method, JSON
    OMP_NUM_THREADS=1 .venv/bin/python tools/bench_propagation.py --methods crw crw-fp32 --kernels native avx2
The first line printed says where it ran (tools/hardware.py: CPU, kernels, threads, dtype path, load); `--kernels avx2`
runs each method again with torch's kernels forced to AVX2 (ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2
ONEDNN_MAX_CPU_ISA=AVX2: the figures a CPU without AVX-512 would see; there dtype 'auto' means float32). Each method runs in a fresh process so its memory peak is its own. On a shared machine the wall-clock numbers are
noisy (other processes take the cores); CPU seconds are the steadier measure of work.
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AVX2 = dict(ATEN_CPU_CAPABILITY='avx2', MKL_ENABLE_INSTRUCTIONS='AVX2', ONEDNN_MAX_CPU_ISA='AVX2')
SHARED = ROOT.parent / 'shared' / 'data' / 'davis-sample'
METHODS = [
    'crw',
    'crw-fp32',
    'crw-lab',
    'crw-r18',
    'contrastcorr',
    'dense-crw',
    'reencode-crw',
    'reencode-crw-r18',
    'reencode-contrastcorr',
]


def rss_mb():
    "Resident memory of this process now, in MB (Linux)."
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


class PeakRSS:
    "Context manager sampling RSS in a thread; `.peak` is the maximum above the RSS at entry, in MB."

    def __enter__(self):
        self.base, self.peak_abs, self.done = rss_mb(), rss_mb(), False

        def watch():
            while not self.done:
                self.peak_abs = max(self.peak_abs, rss_mb())
                time.sleep(0.002)

        self.th = threading.Thread(target=watch, daemon=True)
        self.th.start()
        return self

    def __exit__(self, *exc):
        self.done = True
        self.th.join()
        self.peak = max(self.peak_abs, rss_mb()) - self.base


def measured(base, frames, context, wall, cpu, mem, note):
    "`base` (method, protocol, size, threads, dtype) with one run's numbers: seconds and CPU seconds per frame, peak MB."
    return {
        **base,
        'frames': frames,
        'context': context,
        's_per_frame': wall,
        'cpu_per_frame': cpu,
        'peak_mb': mem.peak,
        'note': note,
    }


def run_one(name, seq_dir, n_frames):
    "Run one method in this process; return a dict of measurements."
    from dataclasses import replace

    import torch

    from contrastcorr.affinity import propagate_labels_dense
    from contrastcorr.data import read_frames, read_mask
    from contrastcorr.encoder import Encoder, encoder_from
    from contrastcorr.propagation import (
        PRESETS,
        frames_to_input,
        mask_to_labels,
        object_ids,
        propagate_iter,
        propagate_step,
        working_size,
    )

    torch.set_grad_enabled(False)
    proto = 'contrastcorr' if 'contrastcorr' in name else 'crw'
    cfg = replace(PRESETS[proto], dtype='float32') if name.endswith('fp32') else PRESETS[proto]
    frames = read_frames(
        seq_dir, max_frames=min(n_frames, cfg.n_recent + 4)
    )  # (T, 3, 480, 854): a few frames past a full context
    T, _, H, W = frames.shape
    mask_file = sorted(Path(str(seq_dir).replace('JPEGImages', 'Annotations')).glob('*.png'))[0]
    first = read_mask(mask_file)
    size = working_size(H, W, cfg.short_side, cfg.size_multiple)
    ids = object_ids(first)
    L_0 = mask_to_labels(first, ids, size, cfg.label_resize)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        enc = encoder_from(
            'lab' if name == 'crw-lab' else Encoder() if name.endswith('r18') else Encoder(width=32, depth=3)
        )
    n_ctx = 1 + cfg.n_recent
    out = dict(
        method=name, protocol=proto, size=f'{size[1]}x{size[0]}', threads=torch.get_num_threads(), dtype=cfg.dtype
    )

    if name in ('crw', 'crw-fp32', 'crw-lab', 'crw-r18', 'contrastcorr'):
        wall, cpu = [], []
        with PeakRSS() as mem:
            t0, c0 = time.perf_counter(), time.process_time()
            for t, _ in propagate_iter(frames, L_0, enc, cfg, size):
                t1, c1 = time.perf_counter(), time.process_time()
                wall.append(t1 - t0)
                cpu.append(c1 - c0)
                t0, c0 = t1, c1
        full = [i for i in range(1, T) if i >= n_ctx]  # frames with a full context
        sel = full or list(range(1, T))
        note = f'mean over {len(sel)} frames with {"a full" if full else "a partial"} context'
        return measured(
            out, T, n_ctx, sum(wall[i] for i in sel) / len(sel), sum(cpu[i] for i in sel) / len(sel), mem, note
        )

    def feats(x):  # (C, h, w) features of unit-Lab frames (1, 3, H', W')
        f = enc(x)[0]
        return torch.nn.functional.normalize(f, dim=0) if cfg.l2_normalize else f

    x = frames_to_input(frames[:2], size)  # (2, 3, H', W')
    F_t = feats(x[1:])
    if name == 'dense-crw':
        k = 3
        F_r = torch.stack([feats(x[:1])] * k, 1)[None]  # (1, C, k, h, w)
        L_r = torch.stack([L_0] * k, 1)[None]  # (1, D, k, h, w)
        with PeakRSS() as mem:
            t0, c0 = time.perf_counter(), time.process_time()
            propagate_labels_dense(
                F_t[None], F_r, L_r, tau=cfg.tau, topk=cfg.topk, radius=cfg.radius, window=[False] + [True] * (k - 1)
            )
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        note = f'{k} context frames; at 21 the logits alone are 7x larger (~{mem.peak * 7 / 1024:.0f} GB)'
        return measured(out, 1, k, wall, cpu, mem, note)

    # re-encoding: for every reference of one target, encode (reference, target) again as a pair, then propagate
    pair = torch.cat([x[:1], x[1:]])  # (2, 3, H', W')
    F_refs, L_refs = [feats(x[:1])] * n_ctx, [L_0] * n_ctx
    with PeakRSS() as mem:
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n_ctx):
            enc(pair)
        enc_wall, enc_cpu = time.perf_counter() - t0, time.process_time() - c0
        propagate_step(F_t, F_refs, L_refs, cfg)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    note = f'{2 * n_ctx} encoder passes per frame: {enc_wall:.2f} s wall / {enc_cpu:.2f} s CPU of it'
    return measured(out, 1, n_ctx, wall, cpu, mem, note)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--sequence', default='blackswan')
    p.add_argument(
        '--frames',
        type=int,
        default=25,
        help='at most this many frames (each protocol stops 3 frames past a full context)',
    )
    p.add_argument('--only', choices=METHODS, help='run one method in this process and print its JSON')
    p.add_argument('--methods', nargs='+', choices=METHODS, default=METHODS)
    p.add_argument(
        '--kernels',
        nargs='+',
        choices=('native', 'avx2'),
        default=['native'],
        help="torch's kernels as detected, and/or forced to AVX2 (each method once per choice)",
    )
    args = p.parse_args()
    shared = SHARED / 'JPEGImages' / '480p' / args.sequence
    seq_dir = shared if shared.is_dir() else ROOT / 'data' / 'davis' / 'JPEGImages' / '480p' / args.sequence
    if not seq_dir.is_dir():
        sys.exit(f'sequence folder not found: {seq_dir}')
    if args.only:
        print(json.dumps(run_one(args.only, seq_dir, args.frames)))
        return
    from hardware import line

    print(line())
    print(
        f'sequence {seq_dir} (first {args.frames} frames), OMP_NUM_THREADS={os.environ.get("OMP_NUM_THREADS", "unset")}, '
        f'load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores'
    )
    rows = []
    for kern in args.kernels:
        env = {**os.environ, **(AVX2 if kern == 'avx2' else {})}
        for m in args.methods:
            res = subprocess.run(
                [sys.executable, __file__, '--only', m, '--sequence', args.sequence, '--frames', str(args.frames)],
                capture_output=True,
                text=True,
                cwd=ROOT,
                env=env,
            )
            if res.returncode:
                print(f'{m}: failed\n{res.stderr[-2000:]}')
                continue
            r = json.loads(res.stdout.strip().splitlines()[-1])
            r['method'] = m if kern == 'native' else f'{m} (AVX2)'
            rows.append(r)
            print(
                f"{r['method']:22s} {r['size']:>8s} ctx {r['context']:2d}  {r['s_per_frame']:6.2f} s/frame  "
                f"{r['cpu_per_frame']:6.2f} CPU s/frame  {r['peak_mb']:7.0f} MB peak   {r['note']}",
                flush=True,
            )
    by = {r['method']: r for r in rows}
    for ours, re in (
        ('crw', 'reencode-crw'),
        ('crw-r18', 'reencode-crw-r18'),
        ('contrastcorr', 'reencode-contrastcorr'),
    ):
        if ours in by and re in by:
            print(
                f"re-encoding / ours, {ours}: {by[re]['s_per_frame'] / by[ours]['s_per_frame']:.1f}x wall, "
                f"{by[re]['cpu_per_frame'] / by[ours]['cpu_per_frame']:.1f}x CPU"
            )
    print(
        '\n| method | frame size | context | s/frame (wall) | CPU s/frame | peak MB | note |\n|---|---|---|---|---|---|---|'
    )
    for r in rows:
        print(
            f"| {r['method']} | {r['size']} | {r['context']} | {r['s_per_frame']:.2f} | {r['cpu_per_frame']:.2f} | {r['peak_mb']:.0f} | {r['note']} |"
        )


if __name__ == '__main__':
    main()
