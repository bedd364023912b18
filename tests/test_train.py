"""Training: the schedule, exact resume after SIGKILL, Ctrl-C, two-process torchrun (gloo), encoder.pt
(data: test_pairs.py).

The CLI tests run `python -m contrastcorr.train` in subprocesses with a tiny model (width 8, 32² crops in 64² frames)
so that each run takes a few seconds on a CPU.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from contrastcorr.data import asset_path
from contrastcorr.encoder import load_encoder
from contrastcorr.runs import plot_log, read_log
from contrastcorr.train import TrainConfig, make_schedule

TINY = ['--config', 'tutorial', '--data', 'synthetic:4', '--batch-size', '2', '--no-progress', '--device', 'cpu',
        '--log-every', '1', '--set', 'model.width=8', 'ref_size=32', 'target_size=64']
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONUNBUFFERED': '1'}


def cli(out, *extra):
    return [sys.executable, '-m', 'contrastcorr.train', *TINY, '--out', str(out), *extra]


def losses(out):
    "(step, loss, every term) of each step record of a run's log."
    return [tuple(sorted((k, v) for k, v in r.items() if k not in ('elapsed',)))
            for r in read_log(Path(out) / 'log.jsonl') if 'loss' in r]


def test_schedule_presets():
    p = TrainConfig.paper()
    assert (p.batch_size, p.lr, p.warmup_epochs, p.main_epochs, p.lr_step_epochs) == (16, 1e-4, 100, 100, 40)
    s = make_schedule(p, 30_000)
    assert (s.warmup_steps, s.total_steps, s.lr_step) == (187_500, 375_000, 75_000)
    assert s.stage(187_499) == 'warmup' and s.stage(187_500) == 'main'
    sizes = [(c.ref_size, c.target_size) for c in (TrainConfig.tutorial(), p, TrainConfig.official())]
    assert sizes == [(64, 128), (256, 640), (256, 640)]


# ---------------------------------------------------------------- CLI: resume, Ctrl-C, torchrun
def test_help():
    r = subprocess.run([sys.executable, '-m', 'contrastcorr.train', '--help'],
                       capture_output=True, text=True, env=ENV, timeout=120)
    assert r.returncode == 0 and '--resume' in r.stdout and '--compile' in r.stdout


@pytest.mark.parametrize('extra,status,fragment', [(['--batch-size', '0'], 2, '--batch-size'),
                                                    (['--data', 'no-such-clip.mp4'], 1, 'no-such-clip.mp4')])
def test_module_errors_are_one_line(tmp_path, extra, status, fragment):
    "`python -m contrastcorr.train` (what torchrun launches) ends a mistake like `contrastcorr train`: one line."
    r = subprocess.run(cli(tmp_path / 'r', *extra), capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=300)
    assert r.returncode == status and r.stderr.count('\n') == 1, r.stderr[-3000:]
    assert r.stderr.startswith('contrastcorr train: error: ') and fragment in r.stderr and 'Traceback' not in r.stderr
    assert not (tmp_path / 'r').exists()                                         # nothing written


def test_sigkill_then_resume_is_exact(tmp_path):
    "A run killed with SIGKILL after a checkpoint, then resumed, logs the same losses as an uninterrupted run."
    steps = ['--steps', '24', '--ckpt-every', '4']
    full = subprocess.run(cli(tmp_path / 'full', *steps), env=ENV, capture_output=True, text=True, timeout=600)
    assert full.returncode == 0, full.stderr[-3000:]
    out = tmp_path / 'killed'
    p = subprocess.Popen(cli(out, *steps), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    # kill once a checkpoint exists and 2 more steps are logged
    while p.poll() is None and time.time() - t0 < 600:
        if (out / 'checkpoint.pt').exists() and (out / 'log.jsonl').exists() and len(losses(out)) >= 6: break
        time.sleep(0.01)
    assert p.poll() is None, f"the run ended before it could be killed: {p.stderr.read()[-2000:]}"
    p.send_signal(signal.SIGKILL); p.wait()
    ck = torch.load(out / 'checkpoint.pt', weights_only=True)
    n_logged = len(losses(out))
    assert 4 <= ck['step'] < 24 and n_logged >= ck['step'], (ck['step'], n_logged)
    resumed = subprocess.run(cli(out, '--resume'), env=ENV, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert len(losses(tmp_path / 'full')) == 24
    assert losses(out) == losses(tmp_path / 'full')               # bit-exact: same floats in the JSON
    ends = [r for r in read_log(out / 'log.jsonl') if r.get('event') == 'end']
    full_end = [r for r in read_log(tmp_path / 'full' / 'log.jsonl') if r.get('event') == 'end']
    assert ends[-1]['param_digests'] == full_end[-1]['param_digests']


def test_ctrl_c_saves_and_exits_cleanly(tmp_path):
    out = tmp_path / 'run'
    p = subprocess.Popen(cli(out, '--steps', '100000', '--ckpt-every', '100000'), env=ENV, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while p.poll() is None and time.time() - t0 < 600:
        if (out / 'log.jsonl').exists() and len(losses(out)) >= 3: break
        time.sleep(0.02)
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=300)
    assert p.returncode == 128 + signal.SIGINT, stderr[-3000:]                  # saved, then the usual 130
    assert 'continue with --resume' in stderr and 'Traceback' not in stderr
    ck = torch.load(out / 'checkpoint.pt', weights_only=True)
    assert ck['step'] == len(losses(out)) >= 3                    # the checkpoint is the last logged step
    assert read_log(out / 'log.jsonl')[-1]['event'] == 'stopped'
    r = subprocess.run(cli(out, '--resume', '--steps', str(ck['step'] + 2), '--allow-changes'), env=ENV,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert len(losses(out)) == ck['step'] + 2


def test_torchrun_two_processes_gloo(tmp_path):
    "torchrun --nproc_per_node=2 on CPU: finishes, one checkpoint, one log, identical parameters in both processes."
    out = tmp_path / 'ddp'
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2',
           '-m', 'contrastcorr.train', *TINY, '--out', str(out), '--steps', '6', '--ckpt-every', '1000']
    r = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    assert sorted(p.name for p in out.glob('*.pt')) == ['checkpoint.pt', 'encoder.pt']
    ck = torch.load(out / 'checkpoint.pt', weights_only=True)
    assert ck['step'] == 6 and ck['world_size'] == 2 and len(ck['rng']) == 2
    assert [r['step'] for r in read_log(out / 'log.jsonl') if 'loss' in r] == list(range(6))   # rank 0 alone writes
    end = read_log(out / 'log.jsonl')[-1]
    assert end['event'] == 'end' and len(end['param_digests']) == 2
    assert end['param_digests'][0] == end['param_digests'][1]    # DDP kept the processes in step
    assert json.loads((out / 'config.json').read_text())['world_size'] == 2


def test_encoder_file_and_plot(tmp_path):
    "A run folder: encoder.pt loads, losses.png and its panels, config.json says where the run was trained."
    from contrastcorr.devices import cpu_model
    from contrastcorr.encoder import Encoder
    r = subprocess.run(cli(tmp_path / 'r', '--steps', '3'), env=ENV, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    ck = torch.load(tmp_path / 'r' / 'encoder.pt', weights_only=True)
    assert set(ck) == {'config', 'encoder'} and ck['config'] == dict(width=8, depth=3, in_ch=3)
    enc = Encoder(**ck['config']); enc.load_state_dict(ck['encoder'])
    assert load_encoder(tmp_path / 'r' / 'encoder.pt')(torch.zeros(1, 3, 64, 64)).shape == (1, 32, 8, 8)
    assert (tmp_path / 'r' / 'losses.png').stat().st_size > 1000
    fig = plot_log(tmp_path / 'r' / 'log.jsonl')
    titles = [a.get_title() for a in fig.axes if a.get_visible()]
    logged = {k for rec in read_log(tmp_path / 'r' / 'log.jsonl') if 'loss' in rec for k in rec}
    terms = logged - {'step', 'stage', 'lr', 'elapsed', 'loss'}
    assert titles[0] == 'loss' and titles[-1] == 'lr' and set(titles[1:-1]) == terms
    m = json.loads((tmp_path / 'r' / 'config.json').read_text())['machine']
    cpu, isa = cpu_model()
    assert (m['cpu'], m['isa'], m['torch'], m['threads']) == (cpu, list(isa), torch.__version__, 1)  # OMP_NUM_THREADS=1


def test_shipped_tutorial_checkpoint():
    "data/tutorial_checkpoint.pt is an encoder file that loads; data/tutorial_log.jsonl covers the whole run."
    enc = load_encoder(asset_path('tutorial_checkpoint.pt'))
    assert enc(torch.zeros(1, 3, 64, 64)).shape[-2:] == (8, 8)
    log = read_log(asset_path('tutorial_log.jsonl'))
    steps = [r['step'] for r in log if 'loss' in r]
    assert steps == sorted(steps) and log[-1]['event'] == 'end' and log[-1]['steps'] == log[-1]['total_steps']


@pytest.mark.gpu
@pytest.mark.parametrize('amp', ['bf16', 'fp16'])
def test_cuda_autocast(tmp_path, amp):
    cmd = [x if x != 'cpu' else 'cuda' for x in cli(tmp_path / amp, '--steps', '4', '--amp', amp)]
    r = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert all(np.isfinite(r_['loss']) for r_ in read_log(tmp_path / amp / 'log.jsonl') if 'loss' in r_)
