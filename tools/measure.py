"""Time and memory of one call in a fresh process (Linux): the measurements notebooks 01 and 04 and tools/bench_model.py
quote. Not part of the library: numbers depend on the machine (print `tools/hardware.py`'s line with them).

    measure_propagation(method='topk', T=21, h=60, w=107, ...) -> (wall s, CPU s, peak MB)   # label propagation
    measure_inter(B=8, C=512, size=(32, 32), ...)              -> (wall s, CPU s, peak MB)   # inter-video transform

Each runs in its own interpreter so the peak resident memory (sampled every 0.5 ms from /proc/self/statm, above what
the inputs hold) is that call's alone; on CUDA the peak is torch's max allocated memory.
"""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_PEAK = """
import json, os, threading, time, torch
def rss_mb():   # resident memory now (Linux /proc)
    with open('/proc/self/statm') as f: return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20
def measure(run, dev):
    "Wall s, CPU s and peak MB above the current state of one call of `run`."
    peak, done = [0.0], [False]
    def poll():   # torch releases the GIL while it computes
        while not done[0]: peak[0] = max(peak[0], rss_mb()); time.sleep(0.0005)
    if dev.type == 'cuda':
        run(); torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats(); base = torch.cuda.memory_allocated()
    else: base = rss_mb(); peak[0] = base; threading.Thread(target=poll, daemon=True).start()
    t0, c0 = time.perf_counter(), time.process_time(); run()
    if dev.type == 'cuda': torch.cuda.synchronize()
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    done[0] = True
    mb = (torch.cuda.max_memory_allocated() - base) / 2**20 if dev.type == 'cuda' else max(peak[0], rss_mb()) - base
    print(json.dumps([dt, dc, mb]))
"""


def _run(code: str) -> tuple:
    out = subprocess.run([sys.executable, '-c', _PEAK + code], capture_output=True, text=True, cwd=ROOT)
    if out.returncode: raise RuntimeError(f"measurement failed:\n{out.stderr[-2000:]}")
    return tuple(json.loads(out.stdout.strip().splitlines()[-1]))


def measure_propagation(method='topk', T=21, h=60, w=107, C=64, D=2, topk=10, radius=None, max_elems=2**25, seed=0):
    "One `propagate_labels` ('topk') or `propagate_labels_dense` ('dense') call, CRW settings: (wall s, CPU s, MB)."
    return _run(f"""
from contrastcorr.affinity import propagate_labels, propagate_labels_dense
torch.manual_seed({seed})
F_t = torch.nn.functional.normalize(torch.randn(1, {C}, {h}, {w}), dim=1)
F_r = torch.nn.functional.normalize(torch.randn(1, {C}, {T}, {h}, {w}), dim=1)
L_r = torch.rand(1, {D}, {T}, {h}, {w})
fn = propagate_labels_dense if {method!r} == 'dense' else propagate_labels
kw = dict(tau=0.05, topk={topk}, radius={radius}, window=[False] + [True] * ({T} - 1))
if {method!r} != 'dense': kw['max_elems'] = {max_elems}
measure(lambda: fn(F_t, F_r, L_r, **kw), torch.device('cpu'))
""")


def measure_inter(B=8, C=512, size=(32, 32), D=3, impl='stream', backward=True, tau=1.0, device='cpu', seed=0):
    "One inter-video transformation ('stream' or 'dense'), forward (+ backward): (wall s, CPU s, peak MB)."
    return _run(f"""
from contrastcorr.transforms import inter_transform, inter_transform_dense
torch.manual_seed({seed})
dev = torch.device({device!r})
h, w = {tuple(size)}
F_r = torch.nn.functional.normalize(torch.randn({B}, {C}, h * w, device=dev), dim=1).requires_grad_({backward})
F_t = torch.nn.functional.normalize(torch.randn({B}, {C}, h * w, device=dev), dim=1).requires_grad_({backward})
L_r = torch.rand({B}, {D}, h * w, device=dev)
fn = inter_transform if {impl!r} == 'stream' else inter_transform_dense
def run():
    out = fn(F_r, F_t, L_r, {tau})
    if {backward}: (out.L_hat.abs().mean() + out.own_mass.mean()).backward()
measure(run, dev)
""")
