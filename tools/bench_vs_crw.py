"""CPU seconds of one 480p target frame under the CRW protocol (first frame + 20 windowed, top-10, tau 0.05, R 12) on
fixed 256-channel features (ResNet-18 layer-3 width): CRW's own affinity code against ours, per frame of a video (the
kept context takes the newest reference, then one target is propagated: what `propagate_iter` pays once its context
is full) and as one `propagate_labels` call on the stacked context (which also lays out the whole context first).

    OMP_NUM_THREADS=1 python tools/bench_vs_crw.py --crw PATH/TO/videowalk [--dtype float32|bfloat16]

PATH/TO/videowalk: a checkout of github.com/ajabri/videowalk. Its `code/utils/test_utils.py::
mem_efficient_batched_affinity` (and the label gather of `code/test.py::test`) is imported from there, not copied;
OpenCV and imageio (its imports) must be importable. Prints the hardware line, the times (median and min of
`--repeats`), the ratios and the largest difference between the soft-label maps. Add ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2
ONEDNN_MAX_CPU_ISA=AVX2 for the figures of a CPU without AVX-512.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_protocol_fixtures as shims  # noqa: E402  (module stubs only)
from hardware import line  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--crw', type=Path, required=True, help='checkout of ajabri/videowalk')
    p.add_argument('--dtype', choices=('float32', 'bfloat16'), default='float32', help='our top-k choice')
    p.add_argument('--repeats', type=int, default=3, help='timed runs of each (after one warm-up)')
    a = p.parse_args(argv)
    sys.path.insert(0, str(a.crw.resolve() / 'code'))
    shims._stub_modules(*shims.CRW_STUBS)
    import utils  # noqa: E401  (theirs)
    import utils.test_utils as tu

    from contrastcorr.affinity import WindowRefs, propagate_labels
    from contrastcorr.propagation import PropagationConfig
    torch.set_grad_enabled(False)
    print(line(), flush=True)
    C, h, w, D = 256, 60, 107, 2
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(1, C, 22, h, w, generator=g).relu() + 0.01                  # 21 references + the target
    feats = torch.nn.functional.normalize(feats, dim=1)
    lbls = torch.rand(22, h, w, D, generator=g)
    key_idx = torch.arange(21)[None]                                    # one target, 21 keys; key 0 is long-term
    keys, query = feats[:, :, key_idx].flatten(-2), feats[:, :, 21:22].flatten(-2)
    mask = utils.MaskedAttention(12, flat=False).mask(h, w)[None].flatten(-4, -3).flatten(-2)
    mask[mask == 0] = -1e10; mask[mask == 1] = 0                       # as their test.py prepares it
    def crw():
        Ws, Is = tu.mem_efficient_batched_affinity(query, keys, mask, 0.05, 10, [0], 'cpu')
        return (lbls[key_idx[0]].flatten(0, 2).transpose(0, 1)[:, Is[0]] * Ws[0][None]).sum(1).view(D, h, w)
    F_r = feats[:, :, :21].permute(0, 2, 3, 4, 1).contiguous().permute(0, 4, 1, 2, 3)   # channels last, as we store it
    L_r = lbls[:21].permute(3, 0, 1, 2)[None]
    win = [False] + [True] * 20
    dtype = None if a.dtype == 'float32' else torch.bfloat16
    kw = dict(tau=0.05, topk=10, radius=12, window=win, dtype=dtype)
    refs = WindowRefs.from_stack(F_r, L_r, win, 12, PropagationConfig().max_elems)

    def video_frame():
        # what `propagate_iter` pays per frame once its context is full: the newest reference replaces the oldest in
        # the kept context, then one target is propagated; the frame pushed is the one it replaces (windowed slot s
        # holds frame s + 1), so the context, and the labels, stay those CRW's code sees
        i = refs.pushed % refs.Tw + 1
        refs.push(feats[:, :, i], lbls[i].permute(2, 0, 1)[None])
        return refs.propagate(feats[:, :, 21], tau=0.05, topk=10, dtype=dtype)[0]

    def cpu_seconds(f, n):
        f()                                                                 # warm-up: first-call allocations
        times = []
        for _ in range(n):
            c0 = time.process_time(); out = f(); times.append(time.process_time() - c0)
        return statistics.median(times), min(times), out

    t_crw, m_crw, theirs = cpu_seconds(crw, a.repeats)
    t_one, m_one, ours = cpu_seconds(lambda: propagate_labels(feats[:, :, 21], F_r, L_r, **kw)[0], a.repeats)
    t_vid, m_vid, ours_vid = cpu_seconds(video_frame, a.repeats)
    print(f'CPU s per 480p target, median (min) of {a.repeats}: CRW code {t_crw:.2f} ({m_crw:.2f}); ours ({a.dtype} '
          f'choice) per video frame, context kept {t_vid:.2f} ({m_vid:.2f}): {t_crw / t_vid:.1f}x; ours as one '
          f'call on the stacked context {t_one:.2f} ({m_one:.2f}): {t_crw / t_one:.1f}x; max |ours - CRW| = '
          f'{max((ours - theirs).abs().max(), (ours_vid - theirs).abs().max()):.1e}')

if __name__ == '__main__':
    main()
