"""Bad input, as a new user types it: every mistake ends in one line on stderr that names the option or file, the
exit status says which kind (2 usage, 1 runtime, 130/143 signals), and nothing is written or lost.

Most cases call `contrastcorr.cli.main` in this process; the ones about exit statuses of signals and file-size
limits run the command in a child process."""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from contrastcorr.cli import main
from contrastcorr.data import write_mask
from contrastcorr.encoder import Encoder

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
H, W = 32, 48


def run(capsys, *argv):
    "Run `contrastcorr *argv` here; returns (exit status, stderr)."
    capsys.readouterr()
    status = main([str(a) for a in argv])
    return status, capsys.readouterr().err


def snapshot(root: Path) -> dict:
    "Every file under `root` with its size and modification time: equal snapshots mean nothing was written or lost."
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob('*'))}


def one_line(err: str, command: str, *fragments: str):
    "Assert stderr is exactly one `contrastcorr <command>: error: …` line holding every fragment."
    assert err.count('\n') == 1 and err.endswith('\n'), err
    assert 'Traceback' not in err and err.startswith(f'contrastcorr{" " + command if command else ""}: error: '), err
    for f in fragments: assert f in err, (f, err)


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    "A tiny DAVIS root (one 4-frame sequence), a frame folder, masks, and encoder files good and bad."
    d = tmp_path_factory.mktemp('files')
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (H, W, 3), dtype=np.uint8) for _ in range(4)]
    davis = d / 'davis'
    for t, f in enumerate(frames):
        (davis / 'JPEGImages/480p/seq').mkdir(parents=True, exist_ok=True)
        Image.fromarray(f).save(davis / f'JPEGImages/480p/seq/{t:05d}.jpg')
        m = np.zeros((H, W), np.uint8); m[8:20, 10:30] = 1
        write_mask(davis / f'Annotations/480p/seq/{t:05d}.png', m)
    (davis / 'ImageSets/2017').mkdir(parents=True)
    (davis / 'ImageSets/2017/val.txt').write_text('seq\n')
    (d / 'frames').mkdir()
    for t, f in enumerate(frames): Image.fromarray(f).save(d / 'frames' / f'{t:05d}.png')
    binary = np.zeros((H, W), np.uint8); binary[8:20, 10:30] = 255
    Image.fromarray(binary).save(d / 'mask.png')
    Image.fromarray(np.zeros((H, W), np.uint8)).save(d / 'black.png')
    Image.fromarray(binary[:16]).save(d / 'small.png')
    Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(d / 'noise.png')
    (d / 'garbage.png').write_bytes(b'not an image' * 10)
    (d / 'garbage.mp4').write_bytes(b'not a video' * 10)
    (d / 'empty').mkdir()
    enc = Encoder(width=8, depth=2)
    torch.save({'config': dict(width=8, depth=2), 'encoder': enc.state_dict()}, d / 'enc.pt')
    data = (d / 'enc.pt').read_bytes()
    (d / 'cut.pt').write_bytes(data[:len(data) // 2])
    (d / 'garbage.pt').write_text('not a checkpoint\n' * 20)
    sd = enc.state_dict(); sd['conv1.weight'][0] = float('nan')
    torch.save({'config': dict(width=8, depth=2), 'encoder': sd}, d / 'nan.pt')
    return d


# ---------------------------------------------------------------- usage errors: exit 2, found before any work
USAGE = {
    'unknown subcommand': (['frobnicate'], '', 'invalid choice'),
    'no subcommand': ([], '', 'COMMAND'),
    'unknown option': (['evaluate', '--davis-root', '.', '--predictions', '.', '--frobnicate'], '', '--frobnicate'),
    'missing required option': (['evaluate', '--davis-root', '.'], 'evaluate', '--predictions'),
    'zero max-frames': (['propagate', '--encoder', 'lab', '--davis-root', 'D', '--out', 'O', '--max-frames', '0'],
                        'propagate', '--max-frames', 'integer >= 1'),
    'negative max-frames': (['evaluate', '--davis-root', 'D', '--predictions', 'P', '--max-frames', '-1'],
                            'evaluate', '--max-frames', 'integer >= 3'),
    'too few frames to score': (['evaluate', '--davis-root', 'D', '--predictions', 'P', '--max-frames', '2'],
                                'evaluate', '--max-frames'),
    'non-numeric option': (['propagate', '--encoder', 'lab', '--davis-root', 'D', '--out', 'O', '--max-frames', 'ten'],
                           'propagate', "'ten'"),
    'zero fps': (['propagate', '--encoder', 'lab', '--video', 'V', '--mask', 'M', '--out', 'O', '--fps', '0'],
                 'propagate', '--fps'),
    'NaN fps': (['propagate', '--encoder', 'lab', '--video', 'V', '--mask', 'M', '--out', 'O', '--fps', 'nan'],
                'propagate', '--fps'),
    'two sources at once': (['propagate', '--encoder', 'lab', '--video', 'V', '--davis-root', 'D', '--out', 'O'],
                            'propagate', 'not allowed with'),
    'demo zero steps': (['demo', '--steps', '0'], 'demo', '--steps'),
}


@pytest.mark.parametrize('kind', USAGE)
def test_usage_errors(kind, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv, command, *fragments = USAGE[kind]
    status, err = run(capsys, *argv)
    assert status == 2
    one_line(err, command, *fragments)
    assert list(tmp_path.iterdir()) == []                                         # nothing created


def test_video_without_mask(files, capsys, tmp_path):
    status, err = run(capsys, 'propagate', '--encoder', 'lab', '--video', files / 'frames', '--out', tmp_path / 'o')
    assert status == 2
    one_line(err, 'propagate', '--mask is required with --video')
    assert not (tmp_path / 'o').exists()


# ---------------------------------------------------------------- runtime errors: exit 1, nothing written
def propagate_video(files, out, encoder='lab', video='frames', mask='mask.png', *extra):
    return ['propagate', '--encoder', encoder if encoder == 'lab' or encoder.startswith('random') else files / encoder,
            '--video', files / video, '--mask', files / mask, '--out', out, '--quiet', *extra]


RUNTIME = {   # kind: (encoder, video, mask, what the line must say)
    'missing encoder file': ('none.pt', 'frames', 'mask.png', ['--encoder', 'none.pt']),
    'truncated checkpoint': ('cut.pt', 'frames', 'mask.png', ['cut.pt: truncated or not a PyTorch checkpoint']),
    'garbage checkpoint': ('garbage.pt', 'frames', 'mask.png', ['garbage.pt: not a PyTorch checkpoint']),
    'NaN weights': ('nan.pt', 'frames', 'mask.png', ['nan.pt holds NaN or infinite values in encoder.conv1.weight']),
    'bad random encoder spec': ('random:x', 'frames', 'mask.png', ["random:WIDTH[:DEPTH]"]),
    'missing video': ('lab', 'none.mp4', 'mask.png', ['--video', 'none.mp4']),
    'garbage video': ('lab', 'garbage.mp4', 'mask.png', ['--video', 'garbage.mp4']),
    'empty frame folder': ('lab', 'empty', 'mask.png', ['empty']),
    'missing mask': ('lab', 'frames', 'none.png', ['mask file not found', 'none.png']),
    'garbage mask': ('lab', 'frames', 'garbage.png', ['cannot read mask image', 'garbage.png']),
    'mask of another size': ('lab', 'frames', 'small.png', ['--mask', 'small.png is 16×48', '32×48']),
    'mask without objects': ('lab', 'frames', 'black.png', ['black.png has no object pixels']),
    'mask of noise, not flat colours': ('lab', 'frames', 'noise.png', ['noise.png has', 'flat colour']),
}


@pytest.mark.parametrize('kind', RUNTIME)
def test_propagate_video_runtime_errors(kind, files, capsys, tmp_path):
    encoder, video, mask, fragments = RUNTIME[kind]
    before = snapshot(files)
    status, err = run(capsys, *propagate_video(files, tmp_path / 'out', encoder, video, mask))
    assert status == 1
    one_line(err, 'propagate', *fragments)
    assert not (tmp_path / 'out').exists() and snapshot(files) == before


def test_binary_mask_is_one_object(files, capsys, tmp_path):
    "A 0/255 mask, the commonest user mask, propagates one object (it used to give empty masks)."
    status, err = run(capsys, *propagate_video(files, tmp_path / 'out'))
    assert status == 0, err
    masks = [np.array(Image.open(p)) for p in sorted((tmp_path / 'out' / 'masks').glob('*.png'))]
    assert len(masks) == 4 and all(set(np.unique(m)) == {0, 1} for m in masks)
    with Image.open(tmp_path / 'out' / 'overlay.gif') as gif: assert gif.n_frames == 4


def test_truncated_frame_halfway(files, capsys, tmp_path):
    "A frame cut short halfway through: the file is named and the run leaves no half results."
    frames = tmp_path / 'frames'
    frames.mkdir()
    for p in sorted((files / 'frames').iterdir()): (frames / p.name).write_bytes(p.read_bytes())
    data = (frames / '00002.png').read_bytes()
    (frames / '00002.png').write_bytes(data[:len(data) // 2])
    status, err = run(capsys, 'propagate', '--encoder', 'lab', '--video', frames, '--mask', files / 'mask.png',
                      '--out', tmp_path / 'out', '--quiet')
    assert status == 1
    one_line(err, 'propagate', 'cannot read image', '00002.png')
    assert not (tmp_path / 'out').exists()                                        # no half results, no folder made


def test_out_not_empty_then_overwrite(files, capsys, tmp_path):
    out = tmp_path / 'out'
    assert run(capsys, *propagate_video(files, out))[0] == 0
    (out / 'notes.txt').write_text('mine')
    before = snapshot(out)
    status, err = run(capsys, *propagate_video(files, out, 'random:8:2'))
    assert status == 1
    one_line(err, 'propagate', 'is not empty', '--overwrite')
    assert snapshot(out) == before                                                # the earlier run is intact
    (out / 'masks' / '00009.png').write_bytes(b'a frame of an earlier, longer run')
    assert run(capsys, *propagate_video(files, out, 'random:8:2', 'frames', 'mask.png', '--overwrite'))[0] == 0
    assert sorted(p.name for p in (out / 'masks').iterdir()) == [f'{t:05d}.png' for t in range(4)]
    assert (out / 'notes.txt').read_text() == 'mine'                              # not ours: kept


def test_out_in_use_by_another_propagation(files, capsys, tmp_path):
    "While a propagation holds --out, a second one (with --overwrite too) stops at once and touches nothing there."
    out = tmp_path / 'out'
    assert run(capsys, *propagate_video(files, out))[0] == 0
    hold = ("import sys, time; from contrastcorr.runs import RunLock\n"
            "with RunLock(sys.argv[1], what='propagation'): print('held', flush=True); time.sleep(120)")
    holder = subprocess.Popen([sys.executable, '-c', hold, str(out)], env=ENV, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == 'held\n'                              # the other run writes `out` now
        before = snapshot(out)
        for extra in ([], ['--overwrite']):
            status, err = run(capsys, *propagate_video(files, out, 'random:8:2', 'frames', 'mask.png', *extra))
            assert status == 1
            one_line(err, 'propagate', f'{out} is in use by another propagation', f'process {holder.pid} ')
            assert snapshot(out) == before                                        # its files untouched, none added
    finally: holder.kill(); holder.wait()
    assert run(capsys, *propagate_video(files, out, 'random:8:2', 'frames', 'mask.png', '--overwrite'))[0] == 0
    assert not (out / '.lock').exists()                                           # a killed holder's lock is replaced


def test_out_is_a_file(files, capsys, tmp_path):
    (tmp_path / 'out').write_text('x')
    status, err = run(capsys, *propagate_video(files, tmp_path / 'out'))
    assert status == 1
    one_line(err, 'propagate', 'is a file')
    assert (tmp_path / 'out').read_text() == 'x'


def davis_copy(files, tmp_path) -> Path:
    root = tmp_path / 'davis'
    for p in (files / 'davis').rglob('*'):
        if p.is_file():
            (root / p.relative_to(files / 'davis')).parent.mkdir(parents=True, exist_ok=True)
            (root / p.relative_to(files / 'davis')).write_bytes(p.read_bytes())
    return root


def test_davis_errors(files, capsys, tmp_path):
    base = ['propagate', '--encoder', 'lab', '--out', tmp_path / 'out', '--quiet']
    status, err = run(capsys, *base, '--davis-root', tmp_path / 'nowhere')
    assert status == 1; one_line(err, 'propagate', '--davis-root', 'nowhere')
    status, err = run(capsys, *base, '--davis-root', files / 'davis', '--sequences', 'dog')
    assert status == 1; one_line(err, 'propagate', "['dog'] not found")
    root = davis_copy(files, tmp_path)
    first = root / 'Annotations/480p/seq/00000.png'
    write_mask(first, (np.array(Image.open(first)) > 0).astype(np.uint8) * 255)   # an object drawn as 255: void
    status, err = run(capsys, *base, '--davis-root', root)
    assert status == 1; one_line(err, 'propagate', '00000.png has no object pixels, only background and void (255)')
    write_mask(first, np.ones((H, W), np.uint8))
    data = (root / 'JPEGImages/480p/seq/00001.jpg').read_bytes()
    (root / 'JPEGImages/480p/seq/00001.jpg').write_bytes(data[:len(data) // 2])
    status, err = run(capsys, *base, '--davis-root', root)
    assert status == 1; one_line(err, 'propagate', '00001.jpg', 'truncated')
    assert not (tmp_path / 'out').exists() or list((tmp_path / 'out').iterdir()) == []


def test_evaluate_errors(files, capsys, tmp_path):
    root = files / 'davis'
    base = ['evaluate', '--davis-root', root]
    status, err = run(capsys, *base, '--predictions', tmp_path / 'none')
    assert status == 1; one_line(err, 'evaluate', 'predictions folder not found')
    pred = tmp_path / 'pred' / 'seq'
    pred.mkdir(parents=True)
    for t in range(4): write_mask(pred / f'{t:05d}.png', np.zeros((H, W), np.uint8))
    (pred / '00001.png').write_bytes(b'garbage')
    status, err = run(capsys, *base, '--predictions', tmp_path / 'pred')
    assert status == 1; one_line(err, 'evaluate', 'cannot read prediction PNG', '00001.png')
    write_mask(pred / '00001.png', np.zeros((H // 2, W), np.uint8))
    status, err = run(capsys, *base, '--predictions', tmp_path / 'pred')
    assert status == 1; one_line(err, 'evaluate', '00001.png is 16×48')


def test_evaluate_void_only_ground_truth_warns(files, capsys, tmp_path):
    root = davis_copy(files, tmp_path)
    for p in (root / 'Annotations/480p/seq').glob('*.png'): write_mask(p, (np.array(Image.open(p)) > 0) * 255)
    pred = tmp_path / 'pred' / 'seq'
    for t in range(4):
        write_mask(pred / f'{t:05d}.png', np.array(Image.open(root / f'Annotations/480p/seq/{t:05d}.png')) > 0)
    status, err = run(capsys, 'evaluate', '--davis-root', root, '--predictions', tmp_path / 'pred', '--binarize')
    assert status == 0
    assert err.count('\n') == 1 and err.startswith('contrastcorr evaluate: warning: ')
    assert '00000.png holds no object' in err


# ---------------------------------------------------------------- the error path itself
def test_unexpected_error_keeps_traceback(monkeypatch, capsys):
    import contrastcorr.cli as cli
    def broken(args): return {}['frames']                                        # a bug: KeyError
    monkeypatch.setitem(cli.SUBCOMMANDS, 'evaluate', (cli.SUBCOMMANDS['evaluate'][0], broken, 'x'))
    status, err = run(capsys, 'evaluate', '--davis-root', '.', '--predictions', '.')
    assert status == 1 and 'Traceback' in err and 'KeyError' in err
    assert 'internal error (KeyError): this is a bug; please report it at' in err.splitlines()[-1]


def test_debug_shows_the_traceback(files, capsys, tmp_path, monkeypatch):
    argv = propagate_video(files, tmp_path / 'out', 'none.pt')
    with pytest.raises(FileNotFoundError): main([str(a) for a in argv] + ['--debug'])
    monkeypatch.setenv('CONTRASTCORR_DEBUG', '1')
    with pytest.raises(FileNotFoundError): main([str(a) for a in argv])


def test_unicode_paths(files, capsys, tmp_path):
    out = tmp_path / 'résultats ✓'
    assert run(capsys, *propagate_video(files, out))[0] == 0
    assert len(list((out / 'masks').iterdir())) == 4


# ---------------------------------------------------------------- child processes: signals and a full disk
def child(argv, **kw):
    # A shell starts background jobs with SIGINT ignored, and Python then installs no KeyboardInterrupt handler: the
    # child takes Ctrl-C's default back, as it has in a terminal, so the signal tests hold however pytest is started.
    code = ('import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); '
            'from contrastcorr.cli import main; sys.exit(main(sys.argv[1:]))')
    return subprocess.Popen([sys.executable, '-c', code, *map(str, argv)], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def test_file_size_limit_is_one_line(files, tmp_path):
    "A full disk, simulated by a file-size limit (RLIMIT_FSIZE, Python ignores SIGXFSZ): errno named, no traceback."
    import resource
    limit = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))
    p = child(propagate_video(files, tmp_path / 'out'), preexec_fn=limit)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 1
    one_line(err, 'propagate', 'File too large')
    assert not (tmp_path / 'out').exists()                                        # the failed run cleared its files


@pytest.fixture(scope='module')
def long_clip(tmp_path_factory):
    "300 frames of 240×320 and a 0/255 first mask: long enough to be stopped halfway."
    d = tmp_path_factory.mktemp('long')
    big = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    (d / 'frames').mkdir()
    for t in range(300): Image.fromarray(np.roll(big, t, 1)).save(d / 'frames' / f'{t:05d}.jpg')
    mask = np.zeros((240, 320), np.uint8); mask[50:150, 50:200] = 255
    Image.fromarray(mask).save(d / 'mask.png')
    return d


@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGINT])
def test_signal_exit_status(long_clip, tmp_path, sig):
    "Stopped halfway: status 128 + signal, one line, the masks written so far kept, no half-written GIF."
    out = tmp_path / 'out'
    p = child(['propagate', '--encoder', 'lab', '--video', long_clip / 'frames', '--mask', long_clip / 'mask.png',
               '--out', out, '--quiet'])
    t0 = time.time()
    while not (out / 'masks' / '00002.png').exists() and time.time() - t0 < 120 and p.poll() is None: time.sleep(0.02)
    p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 128 + sig
    assert err == f'contrastcorr propagate: stopped by {sig.name}\n'
    assert len(list((out / 'masks').iterdir())) >= 3 and not list(out.glob('.overlay.gif.*.tmp'))


# ---------------------------------------------------------------- training: options, data, run folders, resume
TINY = ['--data', 'synthetic:4', '--batch-size', '2', '--no-progress', '--device', 'cpu', '--log-every', '1',
        '--set', 'model.width=8', 'ref_size=32', 'target_size=64']
TRAIN_USAGE = {
    'zero log-every': (['--log-every', '0'], '--log-every'),
    'zero ckpt-every': (['--ckpt-every', '0'], '--ckpt-every'),
    'zero batch size': (['--batch-size', '0'], '--batch-size'),
    'negative steps': (['--steps', '-5'], '--steps'),
    'negative workers': (['--workers', '-1'], '--workers'),
    'negative seed': (['--seed', '-1'], '--seed'),
    'a learning rate that is not a number': (['--set', 'lr=abc'], 'lr='),
    'a negative learning rate': (['--set', 'lr=-1'], 'lr=-1'),
    'unknown --set field': (['--set', 'nosuch=1'], "unknown field 'nosuch'"),
    '--set without =': (['--set', 'lr'], 'KEY=VALUE'),
    'a negative temperature': (['--set', 'model.tau=-1'], 'ModelConfig: tau=-1 (must be a number > 0)'),
    'a temperature of NaN': (['--set', 'model.tau=nan'], "tau='nan' (must be a number > 0)"),
    'a zero width': (['--set', 'model.width=0'], 'width=0 (must be an integer >= 1)'),
    'a negative loss weight': (['--set', 'model.w_cycle=-0.5'], 'w_cycle=-0.5 (must be a weight >= 0'),
    'a negative ab weight': (['--set', 'model.ab_weight=-3'], 'ab_weight=-3 (must be a number >= 0)'),
    'a switch that is not true or false': (['--set', 'model.l2_norm=5'], 'l2_norm=5 (must be true or false)'),
    'an unknown model field': (['--set', 'model.nosuch=1'], "unknown ModelConfig fields in model_overrides: ['nosuch"),
}


@pytest.mark.parametrize('kind', TRAIN_USAGE)
def test_train_usage_errors(kind, capsys, tmp_path):
    extra, fragment = TRAIN_USAGE[kind]
    status, err = run(capsys, 'train', *TINY, '--out', tmp_path / 'run', *extra)
    assert status == 2
    one_line(err, 'train', fragment)
    assert not (tmp_path / 'run').exists()                                       # no run folder for a bad option


def test_train_data_errors(capsys, tmp_path):
    (tmp_path / 'notes.txt').write_text('not a video')
    cases = ((tmp_path / 'none', 'data path does not exist'), (tmp_path / 'notes.txt', 'not a video file'))
    for data, fragment in cases:
        status, err = run(capsys, 'train', *TINY, '--data', data, '--out', tmp_path / 'run')
        assert status == 1
        one_line(err, 'train', fragment)
        assert not (tmp_path / 'run').exists()


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    "A finished 2-step tiny run (checkpoint.pt, encoder.pt, log) to resume and lock."
    out = tmp_path_factory.mktemp('runs') / 'run'
    assert main([str(a) for a in (*['train', *TINY], '--steps', '2', '--out', out)]) == 0
    return out


def copy_run(run_dir: Path, dest: Path) -> Path:
    dest.mkdir()
    for p in run_dir.iterdir(): (dest / p.name).write_bytes(p.read_bytes())
    return dest


def test_train_refuses_existing_run(trained, capsys):
    before = snapshot(trained)
    status, err = run(capsys, 'train', *TINY, '--out', trained)
    assert status == 1
    one_line(err, 'train', 'already holds a checkpoint', '--resume')
    assert snapshot(trained) == before


def test_resume_must_be_exact(trained, capsys, tmp_path):
    out = copy_run(trained, tmp_path / 'run')
    before = snapshot(out)
    status, err = run(capsys, 'train', *TINY, '--out', out, '--resume', '--batch-size', '4', '--set', 'lr=0.01')
    assert status == 2
    one_line(err, 'train', 'batch_size 2 → 4', 'lr 0.001 → 0.01', '--allow-changes')
    status, err = run(capsys, 'train', *[a if a != 'synthetic:4' else 'synthetic:5' for a in TINY], '--out', out,
                      '--resume')
    assert status == 2
    one_line(err, 'train', 'data', '4 video(s)', '5', '--allow-changes')
    assert snapshot(out) == before


def test_resume_bad_checkpoints(trained, capsys, tmp_path):
    out = copy_run(trained, tmp_path / 'run')
    data = (out / 'checkpoint.pt').read_bytes()
    (out / 'checkpoint.pt').write_bytes(data[:len(data) // 2])
    status, err = run(capsys, 'train', *TINY, '--out', out, '--resume')
    assert status == 1
    one_line(err, 'train', 'checkpoint.pt: truncated')
    ck = torch.load(trained / 'checkpoint.pt', weights_only=True)
    next(iter(ck['model'].values())).fill_(float('nan'))
    torch.save(ck, out / 'checkpoint.pt')
    status, err = run(capsys, 'train', *TINY, '--out', out, '--resume')
    assert status == 1
    one_line(err, 'train', 'checkpoint.pt holds NaN or infinite values')
    status, err = run(capsys, 'train', *TINY, '--out', tmp_path / 'none', '--resume')
    assert status == 1
    one_line(err, 'train', 'cannot resume: no checkpoint')


def test_run_folder_lock(trained, capsys, tmp_path):
    "A folder another training holds is refused; a lock whose process is gone is replaced, and the run goes on."
    out = copy_run(trained, tmp_path / 'run')
    holder = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
    try:
        (out / '.lock').write_text(f'{holder.pid} {socket.gethostname()}\n')
        before = snapshot(out)
        status, err = run(capsys, 'train', *TINY, '--out', out, '--resume', '--steps', '3', '--allow-changes')
        assert status == 1
        one_line(err, 'train', 'is in use by another training', str(holder.pid))
        assert snapshot(out) == before
    finally: holder.kill(); holder.wait()
    (out / '.checkpoint.pt.abc.tmp').write_bytes(b'left by a killed run')
    status, err = run(capsys, 'train', *TINY, '--out', out, '--resume', '--steps', '3', '--allow-changes')
    assert status == 0, err
    assert not (out / '.lock').exists() and not list(out.glob('.*.tmp'))
    assert torch.load(out / 'checkpoint.pt', weights_only=True)['step'] == 3
