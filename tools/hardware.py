"""Where a benchmark ran: `contrastcorr.devices.machine()` (CPU, kernels, threads, the `auto` dtypes) and the load.

    python tools/hardware.py            # one line, as every benchmark prints it first
    python tools/hardware.py --json

Speed figures depend on all of these, so every benchmark in tools/ prints `describe()` before its numbers and
README/notebook claims quote it. Kernels can be forced to AVX2 on an AVX-512 machine (the figures a laptop without
AVX-512 would see) with
    ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 python tools/...
"""
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's library, also when run as a script
from contrastcorr.devices import cpu_model, machine  # noqa: E402  (the one /proc/cpuinfo reader)

__all__ = ['cpu_model', 'describe', 'line']  # cpu_model: tools/bench_train.py imports it from here
ENV_VARS = ('ATEN_CPU_CAPABILITY', 'MKL_ENABLE_INSTRUCTIONS', 'ONEDNN_MAX_CPU_ISA', 'OMP_NUM_THREADS',
            'CONTRASTCORR_AFFINITY_DTYPE')


def describe() -> dict:
    "Everything a speed figure depends on: `contrastcorr.devices.machine()`, the load average and the overrides set."
    return dict(machine(), load=round(os.getloadavg()[0], 1), env={k: os.environ[k] for k in ENV_VARS if k in os.environ})


def line(d: dict | None = None) -> str:
    "`describe()` in one line, e.g. 'AMD EPYC (2 cores; avx2 avx512f avx512_bf16), torch 2.13.0 AVX2 kernels, ...'."
    d = d or describe()
    env = ' '.join(f'{k}={v}' for k, v in d['env'].items())
    return (f"{d['cpu']} ({d['cores']} cores; {' '.join(d['isa']) or 'no AVX2'}), "
            f"torch {d['torch']} {d['capability']} kernels, {d['threads']} thread{'s' * (d['threads'] != 1)}, "
            f"autocast 'auto' = {d['train_autocast']}, propagation dtype 'auto' = {d['propagation_dtype']}, "
            f"load {d['load']}" + (f", {env}" if env else ''))


if __name__ == '__main__':
    print(json.dumps(describe(), indent=1) if '--json' in sys.argv else line())
