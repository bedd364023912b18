"""The 30-minute tutorial beyond executing it (nbdev_test does that): it runs with the runtime requirements only,
it covers tracking, inter-video contrast and a payoff on several sequences, every exercise (tutorial and notebooks
01–05) has a runnable check cell and a solution that CI executes, and the training command it prints works."""
import json
import re
import shlex
from dataclasses import replace
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT / 'nbs' / 'tutorials' / 'contrastcorr_in_30_minutes.ipynb'
SOLUTIONS = ROOT / 'nbs' / 'tutorials' / 'solutions.ipynb'
DEV_ONLY = ('fastcore', 'execnb', 'nbdev', 'pytest', 'hypothesis', 'playwright')   # settings.ini dev_requirements


def _cells(path):
    return [(c['cell_type'], ''.join(c['source'])) for c in json.loads(Path(path).read_text(encoding='utf-8'))['cells']]


@pytest.fixture(scope='module')
def cells():
    return _cells(NB)


def test_runs_with_runtime_requirements_only(cells):
    "A pip user has torch, numpy, matplotlib… but not the dev tools, and no PyAV: no import of them, no .mp4 read."
    code = '\n'.join(s for t, s in cells if t == 'code')
    for mod in DEV_ONLY + ('av',):
        assert not re.search(rf'^\s*(import|from)\s+{mod}\b', code, re.M), f'the tutorial imports {mod}'
    assert '.mp4' not in code, 'reading an .mp4 needs PyAV, which the runtime requirements do not include'
    assert 'pip install' in cells[1][1].split('\n\n')[0], 'the first text cell says in one line what to install'


def test_covers_the_contribution(cells):
    "Sections on tracking and on intra- vs inter-video reconstruction, each with a figure, and a multi-sequence payoff."
    heads = [line for t, s in cells if t == 'markdown' for line in s.splitlines() if line.startswith('## ')]
    for word in ('Colour copying', 'Tracking a patch', 'Intra- vs inter-video', 'loss terms', 'payoff', 'Exercises'):
        assert any(word in h for h in heads), (word, heads)
    nb = json.loads(NB.read_text(encoding='utf-8'))
    figures = sum('image/jpeg' in o.get('data', {}) or 'image/png' in o.get('data', {})
                  for c in nb['cells'] for o in c.get('outputs', []))
    assert figures >= 6, f'{figures} figures'
    from contrastcorr.data import DavisDataset, sample_davis_root
    assert len(DavisDataset(sample_davis_root()).sequences) >= 4, 'the payoff needs at least 4 shipped sequences'


def test_every_exercise_is_checked_and_solved(cells):
    """Each exercise of the tutorial and of 01–05 has a placeholder cell calling `check` on a registered name;
    the solutions notebook covers them all."""
    from contrastcorr.exercises import EXERCISES
    found = {}
    for path in [NB, *sorted((ROOT / 'nbs').glob('0[1-5]_*.ipynb'))]:
        nb_cells = _cells(path)
        assert any(t == 'markdown' and re.search(r'^## (\d+\. )?Exercises', s, re.M) for t, s in nb_cells), \
            f'{path.name}: no Exercises section'
        names = [n for t, s in nb_cells if t == 'code' for n in re.findall(r"check\('([\w.]+)', \w+", s)]
        assert all(t != 'code' or not re.search(r"\bcheck\('", s) or '...' in s for t, s in nb_cells), \
            f'{path.name}: an exercise cell holds an answer'
        found[path.name] = names
        assert 2 <= len(names) <= 4 and len(set(names)) == len(names), (path.name, names)
    assert sorted(n for ns in found.values() for n in ns) == sorted(EXERCISES)
    sol = '\n'.join(s for t, s in _cells(SOLUTIONS) if t == 'code')
    for name in EXERCISES: assert f"right_and_wrong('{name}'" in sol, f'no solution for {name}'


def test_tutorial_command_trains_and_segments(cells, tmp_path, monkeypatch):
    """The `contrastcorr train` command of the tutorial (and the README), cut to 5 steps,
    gives an encoder that propagates and scores."""
    from contrastcorr.cli import main
    from contrastcorr.data import DavisDataset, sample_davis_root
    from contrastcorr.metrics import evaluate_sequence
    from contrastcorr.propagation import PRESETS, propagate_video
    cmd = next(line for t, s in cells if t == 'markdown' for line in s.splitlines()
               if line.startswith('contrastcorr train'))
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
    "The checkpoint the tutorial uses: encoder-only, loadable by `encoder_from`, stride-8 features."
    from contrastcorr.data import asset_path
    from contrastcorr.encoder import encoder_from
    path = asset_path('tutorial_checkpoint.pt')
    ck = torch.load(path, map_location='cpu', weights_only=True)
    assert set(ck) == {'config', 'encoder'}
    with torch.no_grad(): f = encoder_from(path)(torch.zeros(1, 3, 64, 96))
    assert f.shape[-2:] == (8, 12)
