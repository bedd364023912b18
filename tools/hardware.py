"""Where a benchmark ran: CPU model, the kernels torch dispatches to, threads, the propagation dtype path and load.

    python tools/hardware.py            # one line, as every benchmark prints it first
    python tools/hardware.py --json

Speed figures depend on all of these, so every benchmark in tools/ prints `describe()` before its numbers and
README/notebook claims quote it. Kernels can be forced to AVX2 on an AVX-512 machine (the figures a laptop without
AVX-512 would see) with
    ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 python tools/...
"""
import json
import os
import platform
import sys
from pathlib import Path

ISA_FLAGS = ('avx2', 'avx512f', 'avx512_bf16', 'amx_bf16', 'amx_tile')
ENV_VARS = ('ATEN_CPU_CAPABILITY', 'MKL_ENABLE_INSTRUCTIONS', 'ONEDNN_MAX_CPU_ISA', 'OMP_NUM_THREADS',
            'CONTRASTCORR_AFFINITY_DTYPE')


def cpu_model() -> tuple[str, list[str]]:
    "The CPU's model name and which of `ISA_FLAGS` it has (Linux /proc/cpuinfo; elsewhere the platform's name)."
    try: text = Path('/proc/cpuinfo').read_text()
    except OSError: return platform.processor() or platform.machine(), []
    lines = text.splitlines()
    name = next((ln.split(':', 1)[1].strip() for ln in lines if ln.startswith('model name')), platform.machine())
    flags = next((ln.split(':', 1)[1].split() for ln in lines if ln.startswith('flags')), [])
    return name, [f for f in ISA_FLAGS if f in flags]


def describe() -> dict:
    "Everything a speed figure depends on, as a dict (see `line`)."
    import torch

    from contrastcorr.propagation import affinity_dtype
    name, flags = cpu_model()
    dt = affinity_dtype('auto', 'cpu')
    return dict(cpu=name, cores=os.cpu_count(), isa=flags, torch=torch.__version__,
                kernels=torch.backends.cpu.get_cpu_capability(), threads=torch.get_num_threads(),
                auto_dtype='bfloat16 choice' if dt == torch.bfloat16 else 'float32',
                load=round(os.getloadavg()[0], 1), env={k: os.environ[k] for k in ENV_VARS if k in os.environ})


def line(d: dict | None = None) -> str:
    "`describe()` in one line, e.g. 'AMD EPYC (2 cores; avx2 avx512f avx512_bf16), torch 2.13.0 AVX2 kernels, ...'."
    d = d or describe()
    env = ' '.join(f'{k}={v}' for k, v in d['env'].items())
    return (f"{d['cpu']} ({d['cores']} cores; {' '.join(d['isa']) or 'no AVX2'}), "
            f"torch {d['torch']} {d['kernels']} kernels, {d['threads']} thread{'s' * (d['threads'] != 1)}, "
            f"propagation dtype 'auto' = {d['auto_dtype']}, "
            f"load {d['load']}" + (f", {env}" if env else ''))


if __name__ == '__main__':
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    print(json.dumps(describe(), indent=1) if '--json' in sys.argv else line())
