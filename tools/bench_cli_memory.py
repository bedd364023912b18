"""Peak memory of `contrastcorr propagate --video` on a long generated 480p clip (not a test: the numbers depend on
the machine).

Writes a clip of N frames (default 1,000) at 854x480 — a smooth textured background panning under a textured disc
that moves and changes size — as an MP4 (PyAV), and the disc's first-frame mask as a 0/255 greyscale PNG (one object).
Then runs `contrastcorr propagate --encoder <the shipped tutorial checkpoint> --video clip.mp4 --mask first.png` in a
child process and reports the child's peak resident memory (ru_maxrss), its CPU time and the wall time, as JSON.

Usage (from the repository root):
    OMP_NUM_THREADS=2 .venv/bin/python tools/bench_cli_memory.py [--frames 1000] [--workdir DIR]
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
H, W = 480, 854


def texture(h: int, w: int, seed: int) -> np.ndarray:
    "A smooth random colour texture (h, w, 3) uint8: a few octaves of upsampled noise."
    rng = np.random.default_rng(seed)
    out = np.zeros((h, w, 3))
    for cells, amp in ((4, 1.0), (16, 0.5), (64, 0.25)):
        small = Image.fromarray((rng.random((cells, cells * w // h + 1, 3)) * 255).astype(np.uint8))
        out += amp * np.asarray(small.resize((w, h), Image.BICUBIC), dtype=float)
    return (out / 1.75).clip(0, 255).astype(np.uint8)


def frame_and_mask(t: int, n: int, bg: np.ndarray, fg: np.ndarray):
    "Frame t (H, W, 3) uint8 and its disc mask (H, W) bool: the background pans, the disc moves on a loop."
    s = t / max(1, n - 1)
    x0 = int(200 * s)
    frame = bg[:, x0:x0 + W].copy()
    cy, cx = H / 2 + 120 * np.sin(4 * np.pi * s), W / 2 + 250 * np.cos(2 * np.pi * s)
    r = 70 + 25 * np.sin(6 * np.pi * s)
    yy, xx = np.mgrid[:H, :W]
    disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2
    frame[disc] = fg[disc]
    return frame, disc


def write_clip(path: Path, mask_path: Path, n: int):
    "Encode the clip as an MP4 one frame at a time, and save its first mask as a 0/255 greyscale PNG."
    import av
    bg, fg = texture(H, W + 200, 0), texture(H, W, 1)
    with av.open(str(path), 'w') as c:
        s = c.add_stream('mpeg4', rate=25)
        s.width, s.height, s.pix_fmt, s.bit_rate = W, H, 'yuv420p', 4_000_000
        for t in range(n):
            frame, disc = frame_and_mask(t, n, bg, fg)
            if t == 0: Image.fromarray(disc.astype(np.uint8) * 255).save(mask_path)
            for p in s.encode(av.VideoFrame.from_ndarray(frame, format='rgb24')): c.mux(p)
        for p in s.encode(): c.mux(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--frames', type=int, default=1000)
    ap.add_argument('--workdir', default=None, help='keep the clip and outputs here (default: a temporary folder)')
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix='bench_cli_memory_'))
    work.mkdir(parents=True, exist_ok=True)
    clip, mask, out = work / 'clip.mp4', work / 'first.png', work / 'out'
    if not clip.exists(): write_clip(clip, mask, args.frames)
    ckpt = ROOT / 'data' / 'tutorial_checkpoint.pt'
    run_cli = 'import sys; from contrastcorr.cli import main; sys.exit(main(sys.argv[1:]))'
    cmd = [sys.executable, '-c', run_cli, 'propagate', '--encoder', str(ckpt), '--video', str(clip),
           '--mask', str(mask), '--out', str(out), '--overwrite', '--quiet', '--device', 'cpu']
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, 'PYTHONPATH': str(ROOT)})
    wall = time.time() - t0
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    gif = out / 'overlay.gif'
    res = dict(frames=args.frames, size=f'{W}x{H}', returncode=r.returncode,
               peak_rss_gib=round(use.ru_maxrss / 2**20, 3), cpu_s=round(use.ru_utime + use.ru_stime, 1),
               wall_s=round(wall, 1), omp_threads=os.environ.get('OMP_NUM_THREADS'),
               masks=len(list((out / 'masks').glob('*.png'))),
               gif_mb=round(gif.stat().st_size / 2**20, 1) if gif.exists() else None, stderr=r.stderr[-500:])
    print(json.dumps(res, indent=1))


if __name__ == '__main__':
    main()
