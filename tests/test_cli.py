"The installed `contrastcorr` console script: help, errors, and real subcommands on shipped data."
import json
import os
import subprocess
import sys
from pathlib import Path

from contrastcorr.data import asset_path


def run(*args, **kw):
    exe = Path(sys.executable).with_name('contrastcorr')
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=300, **kw)


def test_help_lists_every_subcommand():
    from contrastcorr.cli import SUBCOMMANDS
    res = run('--help')
    assert res.returncode == 0
    for name in SUBCOMMANDS: assert name in res.stdout


def test_unknown_subcommand_exits_2():
    res = run('frobnicate')
    assert res.returncode == 2 and 'invalid choice' in res.stderr


def test_evaluate_on_shipped_oracle(tmp_path):
    root = asset_path('davis_oracle')
    res = run('evaluate', '--davis-root', str(root), '--predictions', str(root / 'predictions' / 'contrastcorr'),
              '--json')
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    oracle = json.loads((root / 'reference_scores.json').read_text())
    # the official evaluator's car-shadow score, to its 4-decimal rounding
    assert abs(got['per_object']['car-shadow_1']['J-Mean'] - oracle['contrastcorr']['car-shadow_1']['J']) < 1e-3
    assert abs(got['per_object']['car-shadow_1']['F-Mean'] - oracle['contrastcorr']['car-shadow_1']['F']) < 1e-3


def test_demo_writes_its_outputs(tmp_path):
    res = run('demo', '--out', str(tmp_path), '--steps', '2', '--sequences', 'kite-surf', '--max-frames', '5',
              env={**os.environ, 'OMP_NUM_THREADS': '2'})
    assert res.returncode == 0, res.stderr
    for f in ('results.md', 'reconstruction.png', 'segmentation.png', 'run/encoder.pt', 'run/log.jsonl'):
        assert (tmp_path / f).exists(), f
    out = json.loads((tmp_path / 'results.json').read_text())
    assert out['reconstruction']['recon_error'] < out['reconstruction']['copy_error']
    assert set(out['davis']) == {'lab', 'random', 'trained', 'released'}
    # kite-surf's three first-frame objects are propagated, then scored as one (the later GT frames are their union)
    assert all(r['per_sequence']['kite-surf']['objects'] == 1 for r in out['davis'].values())
    assert len(list((tmp_path / 'predictions' / 'lab' / 'kite-surf').glob('*.png'))) == 5
