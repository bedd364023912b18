"""The 30-minute tutorial beyond executing it (nbdev_test does that): its hidden solutions are the code CI runs,
every exercise has a runnable TODO cell, and the training command it prints works end to end."""
import re
import shlex
from dataclasses import replace
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT / 'nbs' / 'tutorials' / 'contrastcorr_in_30_minutes.ipynb'
N_EXERCISES = 3


@pytest.fixture(scope='module')
def cells():
    from execnb.nbio import read_nb
    return read_nb(NB).cells


def _hidden_solutions(cells) -> dict:
    "Exercise number -> the python code inside its collapsed <details> block."
    out = {}
    for c in cells:
        if c.cell_type != 'markdown' or '<details>' not in c.source: continue
        n = int(re.search(r'Solution to exercise (\d+)', c.source).group(1))
        out[n] = re.search(r'```python\n(.*?)\n```', c.source, re.S).group(1)
    return out


def test_every_exercise_has_todo_hidden_solution_and_executed_solution(cells):
    hidden = _hidden_solutions(cells)
    assert sorted(hidden) == list(range(1, N_EXERCISES + 1))
    code = [c.source for c in cells if c.cell_type == 'code']
    for n, sol in hidden.items():
        assert sol.startswith(f'# Solution to exercise {n}'), sol[:80]
        assert code.count(sol) == 1, f'exercise {n}: the hidden solution must be exactly one executed code cell (CI runs it)'
    md = [c.source for c in cells if c.cell_type == 'markdown']
    heads = [i for i, c in enumerate(cells) if c.cell_type == 'markdown' and re.match(r'### Exercise \d', c.source)]
    assert len(heads) == N_EXERCISES, [cells[i].source[:40] for i in heads]
    for i in heads:   # prompt, then a TODO code cell, then the hidden solution, before the next exercise
        nxt = cells[i + 1:i + 4]
        assert any(c.cell_type == 'code' and 'TODO' in c.source for c in nxt), cells[i].source[:40]
        assert any(c.cell_type == 'markdown' and '<details>' in c.source for c in nxt), cells[i].source[:40]
    assert not any(re.search(r'^#\|\s*(slow|gpu)\b', c.source, re.M) for c in cells if c.cell_type == 'code'), \
        'the tutorial is the main path: no cell may be skipped in CI'
    assert md and not any('SOLUTION' in s and '<details>' not in s for s in md), 'an unfilled solution placeholder is left'


def test_tutorial_command_trains_and_segments(cells, tmp_path, monkeypatch):
    "The `contrastcorr train` command of the tutorial (and the README), cut to 5 steps, gives an encoder that propagates and scores."
    from contrastcorr.cli import main
    from contrastcorr.data import DavisDataset, sample_davis_root
    from contrastcorr.metrics import evaluate_sequence
    from contrastcorr.propagation import PRESETS, propagate_video
    cmd = next(l for c in cells if c.cell_type == 'markdown' for l in c.source.splitlines()
               if l.startswith('contrastcorr train'))
    readme = ' '.join((ROOT / 'README.md').read_text().split())
    assert cmd in readme, f'the README should give the same tutorial command as the notebook: {cmd}'
    argv = shlex.split(cmd)[1:]
    argv[argv.index('--out') + 1] = str(tmp_path / 'run')
    monkeypatch.chdir(ROOT)                                    # the command's data paths are relative to the repository
    main(argv + ['--steps', '5', '--no-progress', '--device', 'cpu'])
    enc = tmp_path / 'run' / 'encoder.pt'
    ck = torch.load(enc, map_location='cpu', weights_only=True)
    assert set(ck) == {'config', 'encoder'}
    davis = DavisDataset(sample_davis_root())
    frames, gt = davis.frames('blackswan', max_frames=4), davis.masks('blackswan', max_frames=4)
    pred = propagate_video(frames, gt[0], enc, replace(PRESETS['crw'], short_side=120), progress=False)
    res = evaluate_sequence(pred, gt)
    assert 0 <= res['J-Mean'] <= 1 and pred.shape == gt.shape


def test_shipped_tutorial_checkpoint_is_an_encoder():
    "The checkpoint §4 uses: encoder-only, loadable by `encoder_from`, stride-8 features."
    from contrastcorr.data import asset_path
    from contrastcorr.encoder import encoder_from
    path = asset_path('tutorial_checkpoint.pt')
    ck = torch.load(path, map_location='cpu', weights_only=True)
    assert set(ck) == {'config', 'encoder'}
    with torch.no_grad(): f = encoder_from(path)(torch.zeros(1, 3, 64, 96))
    assert f.shape[-2:] == (8, 12)
