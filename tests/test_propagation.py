"""Tests of contrastcorr.propagation (nbs/08_propagation.ipynb): protocols, geometry, encoders, the propagation loop
against the dense definition, accuracy floors on synthetic and real clips, keypoints, DAVIS files and the CLI."""

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from contrastcorr.affinity import assert_near, propagate_labels_dense
from contrastcorr.data import (
    DavisDataset,
    asset_path,
    read_frames,
    read_mask,
    sample_davis_root,
    smooth_texture,
    synthetic_video,
    write_mask,
)
from contrastcorr.encoder import LabCells, encoder_from
from contrastcorr.metrics import evaluate_davis, jaccard, pck
from contrastcorr.propagation import (
    PRESETS,
    PropagationConfig,
    add_propagate_args,
    context_indices,
    frames_to_input,
    get_config,
    labels_to_mask,
    mask_to_labels,
    object_ids,
    propagate_cli,
    propagate_davis,
    propagate_iter,
    propagate_keypoints,
    propagate_video,
    read_first_mask,
    save_overlay_gif,
    working_size,
)

SHARED = Path(__file__).resolve().parents[2] / 'shared' / 'data' / 'davis-sample'


def cli(argv):
    "Parse `argv` with the real `propagate` parser, as the `contrastcorr` console script does, and run it."
    return propagate_cli(add_propagate_args(argparse.ArgumentParser(prog='contrastcorr propagate')).parse_args(argv))


# --- protocols and geometry -------------------------------------------------------------------------------------


def test_presets_follow_the_protocols():
    crw, cc = PRESETS['crw'], PRESETS['contrastcorr']
    assert (crw.n_recent, crw.l2_normalize, crw.tau, crw.topk, crw.softmax_over, crw.radius, crw.mutual) == (
        20,
        True,
        0.05,
        10,
        'topk',
        12,
        False,
    )
    assert (crw.short_side, crw.label_resize, crw.minmax, crw.combine) == (None, 'bilinear', False, 'joint')
    assert crw.fill_context and not cc.fill_context  # CRW's loader pads the context with frame 0; official: no
    assert (cc.n_recent, cc.l2_normalize, cc.tau, cc.topk, cc.softmax_over, cc.radius, cc.mutual) == (
        7,
        False,
        1.0,
        5,
        'all',
        None,
        True,
    )
    assert (cc.short_side, cc.size_multiple, cc.minmax, cc.combine) == (560, 64, True, 'mean')
    assert get_config(None) is crw and get_config('contrastcorr') is cc and get_config(cc) is cc
    with pytest.raises(ValueError, match='presets'):
        get_config('official')
    with pytest.raises(ValueError, match='PropagationConfig.topk'):
        PropagationConfig(topk=0)
    with pytest.raises(ValueError, match='PropagationConfig.short_side'):
        PropagationConfig(short_side=100)


def test_context_and_sizes():
    assert context_indices(1, 20) == [0]
    assert context_indices(30, 7) == [0, 23, 24, 25, 26, 27, 28, 29]
    assert context_indices(3, 0) == [0]
    assert context_indices(2, 4, fill=True) == [0, 0, 0, 0, 1]  # CRW: frame 0 padded into the short-term context
    with pytest.raises(ValueError, match='`t` must be >= 1'):
        context_indices(0, 5)
    assert working_size(480, 854, 560, 64) == (560, 960)
    assert working_size(720, 1280, 560, 64) == (560, 960)
    assert working_size(1280, 720, 560, 64) == (960, 560)
    assert working_size(61, 70) == (61, 70)
    x = frames_to_input(torch.zeros(1, 3, 61, 70, dtype=torch.uint8), size=(40, 48))
    assert x.shape == (1, 3, 40, 48)


def test_labels_round_trip_any_ids_and_void():
    m = torch.zeros(40, 48, dtype=torch.uint8)
    m[:, 0:16], m[:, 24:40], m[:, 40:] = 9, 4, 255  # ids need not be 1..K; void counts as background
    # (vertical stripes on cell edges: a stride-8 round trip is exact there; it rounds convex corners off)
    ids = object_ids(m)
    assert ids.tolist() == [0, 4, 9]
    for resize in ('bilinear', 'nearest'):
        L = mask_to_labels(m, ids, m.shape, resize)  # (3, 5, 6)
        assert L.shape == (3, 5, 6)
        assert_near(L.sum(0), torch.ones(5, 6))
        back = labels_to_mask(L, ids, m.shape)
        assert torch.equal(back, torch.where(m == 255, 0, m))


# --- the propagation loop ---------------------------------------------------------------------------------------


def naive_soft_labels(frames, L_0, enc, cfg):
    "Definition-level reference: encode every frame, and for each target rebuild its context from scratch, dense."
    x = frames_to_input(frames)
    feats = enc(x)
    feats = F.normalize(feats, dim=1) if cfg.l2_normalize else feats  # (T, C, h, w)
    N = feats.shape[-2] * feats.shape[-1]
    soft = [L_0]
    for t in range(1, len(frames)):
        ctx = context_indices(t, cfg.n_recent, cfg.fill_context)
        win = [False] + [True] * (len(ctx) - 1)
        kw = dict(tau=cfg.tau, radius=cfg.radius, mutual=cfg.mutual, softmax_over=cfg.softmax_over)
        if cfg.combine == 'joint':
            L = propagate_labels_dense(
                feats[t][None],
                feats[ctx].transpose(0, 1)[None],
                torch.stack([soft[r] for r in ctx], 1)[None],
                topk=min(cfg.topk, len(ctx) * N),
                window=win if cfg.radius is not None else None,
                **kw,
            )[0]
        else:
            L = sum(
                propagate_labels_dense(
                    feats[t][None],
                    feats[r][None, :, None],
                    soft[r][None, :, None],
                    topk=min(cfg.topk, N),
                    window=[w] if cfg.radius is not None else None,
                    **kw,
                )[0]
                for r, w in zip(ctx, win)
            ) / len(ctx)
        soft.append(L)
    return soft


@pytest.mark.parametrize(
    'cfg',
    [
        replace(PRESETS['crw'], n_recent=3, radius=2.5),
        replace(PRESETS['crw'], n_recent=2, radius=None, topk=500, softmax_over='all'),
        replace(PRESETS['contrastcorr'], short_side=None),
        replace(PRESETS['contrastcorr'], short_side=None, radius=3, n_recent=2, mutual=False),
    ],
)
def test_loop_equals_definition(cfg):
    clip = synthetic_video(n_frames=7, size=(40, 56), n_shapes=2, seed=4)
    enc = encoder_from('random:8:2') if not cfg.l2_normalize else LabCells()
    L_0 = mask_to_labels(clip.masks[0], object_ids(clip.masks[0]), (40, 56), cfg.label_resize)
    with torch.no_grad():
        ours = [L for _, L in propagate_iter(clip.frames, L_0, enc, cfg)]
        ref = naive_soft_labels(clip.frames, L_0, enc, cfg)
    for t, (a, b) in enumerate(zip(ours, ref)):
        assert_near(a, b, scale=1, what=f'frame {t}')  # probabilities


class Spy(torch.nn.Module):
    "Wrap an encoder and record the shape of every batch it encodes."

    def __init__(self, net):
        super().__init__()
        self.net, self.calls = net, []

    def forward(self, x):
        self.calls.append(tuple(x.shape))
        return self.net(x)


def test_each_frame_encoded_once_and_sizes_restored():
    clip = synthetic_video(n_frames=6, size=(61, 70), n_shapes=2, seed=0)  # sides not multiples of 8
    spy = Spy(LabCells())
    out = propagate_video(clip.frames, clip.masks[0], spy, progress=False)
    assert out.shape == (6, 61, 70) and out.dtype == torch.uint8 and torch.equal(out[0], clip.masks[0])
    assert spy.calls == [(1, 3, 64, 72)] * 6
    spy = Spy(encoder_from('random:8:2'))
    out = propagate_video(
        clip.frames, clip.masks[0], spy, replace(PRESETS['contrastcorr'], short_side=48), progress=False
    )
    assert out.shape == (6, 61, 70) and spy.calls == [(1, 3, 48, 64)] * 6  # resized to 48 x 64, then back
    assert set(out.unique().tolist()) <= set(clip.masks[0].unique().tolist())


def test_bad_inputs():
    clip = synthetic_video(n_frames=3, size=(32, 32), n_shapes=1)
    with pytest.raises(ValueError, match=r'`first_mask` must be \(H, W\) = \(32, 32\)'):
        propagate_video(clip.frames, clip.masks[0, :16], 'lab')
    with pytest.raises(TypeError, match='uint8 RGB'):
        propagate_video(clip.frames.float(), clip.masks[0], 'lab')
    with pytest.raises(TypeError, match='integer ids'):
        propagate_video(clip.frames, clip.masks[0].float(), 'lab')
    with pytest.raises(ValueError, match='stride-8 features'):
        propagate_video(clip.frames, clip.masks[0], torch.nn.Conv2d(3, 4, 3, stride=4), progress=False)
    with pytest.raises(ValueError, match='kps0'):
        propagate_keypoints(clip.frames, torch.zeros(3), 'lab')


# --- accuracy floors --------------------------------------------------------------------------------------------


def test_exact_translation_is_tracked():
    "Texture moving one cell (8 px) per frame: raw Lab features match exactly, so top-1 propagation shifts the mask."
    g = torch.Generator().manual_seed(0)
    tex = (smooth_texture(1, (96, 160), g, octaves=(8, 16, 32, 64))[0] * 255).round().to(torch.uint8)
    T, H, W = 4, 64, 96
    frames = torch.stack([tex[:, 8 : 8 + H, 40 - 8 * t : 40 - 8 * t + W] for t in range(T)])
    mask = torch.zeros(T, H, W, dtype=torch.uint8)
    for t in range(T):
        mask[t, 16:40, 24 + 8 * t : 48 + 8 * t] = 1
    L_0 = mask_to_labels(mask[0], object_ids(mask[0]), (H, W))  # (2, 8, 12), exact: the box is cell-aligned
    with torch.no_grad():
        cells = torch.stack(
            [L.argmax(0) for _, L in propagate_iter(frames, L_0, LabCells(), replace(PRESETS['crw'], topk=1))]
        )
    truth = mask[:, 4::8, 4::8].long()  # (T, 8, 12) the id at each cell centre
    # cells entering from the left have no true match; everything else must move with the texture exactly
    assert torch.equal(cells[:, :, T:], truth[:, :, T:]), (cells - truth).abs().sum((1, 2))


def test_lab_beats_copying_on_davis():
    davis = DavisDataset(sample_davis_root())
    frames = davis.frames('blackswan', size=240)  # (25, 3, 240, 427)
    gt = F.interpolate(davis.masks('blackswan')[:, None].float(), size=frames.shape[-2:], mode='nearest')[:, 0].to(
        torch.uint8
    )
    pred = propagate_video(frames, gt[0], 'lab', progress=False)
    j_prop, j_copy = (
        jaccard(pred[1:] == 1, gt[1:] == 1).mean(),
        jaccard(gt[:1].expand_as(gt[1:]) == 1, gt[1:] == 1).mean(),
    )
    assert j_prop > 0.75 and j_prop > j_copy + 0.1, (j_prop, j_copy)


def test_keypoints_pck_above_chance():
    g = torch.Generator().manual_seed(0)
    ours, chance = [], []
    for seed in range(3):
        v = synthetic_video(n_frames=10, size=(128, 128), n_shapes=3, seed=seed)
        kp = propagate_keypoints(v.frames, v.keypoints[0], 'lab', progress=False)
        assert kp.shape == v.keypoints.shape and torch.equal(kp[0], v.keypoints[0])
        ours.append(pck(kp[1:], v.keypoints[1:], visible=v.visible[1:])[0.1])
        chance += [
            pck(torch.rand(9, v.keypoints.shape[1], 2, generator=g) * 128, v.keypoints[1:], visible=v.visible[1:])[0.1]
            for _ in range(10)
        ]
    ours, chance = np.mean(ours), np.mean(chance)
    assert ours > 0.3 and ours > 10 * chance, (ours, chance)


# --- files and the command line ---------------------------------------------------------------------------------


def test_davis_files_then_evaluate(tmp_path):
    written = propagate_davis(sample_davis_root(), tmp_path, 'lab', sequences='blackswan', progress=False)
    assert written == {'blackswan': 25}
    res = evaluate_davis(sample_davis_root(), tmp_path, sequences=['blackswan'])
    assert res['J-Mean'] > 0.6, res['J-Mean']
    with pytest.raises(FileNotFoundError, match='nope'):
        propagate_davis(sample_davis_root(), tmp_path, 'lab', sequences=['nope'])


@pytest.mark.parametrize('shared', [False, True])
def test_multi_object_first_frames(tmp_path, shared):
    "Multi-object kite-surf (ids 1-3): shipped sample, and the shared subset whose 2017 first frames live apart."
    if shared and not SHARED.is_dir():
        pytest.skip(f'{SHARED} not present (the shipped-data case covers the same path)')
    root, ann = (SHARED, 'Annotations_2017_first_frame') if shared else (sample_davis_root(), 'Annotations')
    cli(
        [
            '--encoder',
            'lab',
            '--davis-root',
            str(root),
            '--annotations',
            ann,
            '--sequences',
            'kite-surf',
            '--max-frames',
            '2',
            '--out',
            str(tmp_path),
            '--quiet',
            '--device',
            'cpu',
        ]
    )
    first, second = read_mask(tmp_path / 'kite-surf' / '00000.png'), read_mask(tmp_path / 'kite-surf' / '00001.png')
    assert first.unique().tolist() == [0, 1, 2, 3] and set(second.unique().tolist()) <= {0, 1, 2, 3}
    assert len(set(second.unique().tolist()) - {0}) >= 2


def test_own_video_folder_and_file(tmp_path):
    clip = synthetic_video(n_frames=5, size=(48, 64), n_shapes=2, seed=2)
    (tmp_path / 'frames').mkdir()
    for t, f in enumerate(clip.frames):
        Image.fromarray(f.permute(1, 2, 0).numpy()).save(tmp_path / 'frames' / f'{t:03d}.png')
    drawing = np.zeros((48, 64, 3), np.uint8)  # two objects in two flat colours
    drawing[clip.masks[0].numpy() == 1] = (255, 0, 0)
    drawing[clip.masks[0].numpy() == 2] = (0, 0, 255)
    Image.fromarray(drawing).save(tmp_path / 'first.png')
    res = cli(
        [
            '--encoder',
            'lab',
            '--video',
            str(tmp_path / 'frames'),
            '--mask',
            str(tmp_path / 'first.png'),
            '--out',
            str(tmp_path / 'out'),
            '--quiet',
        ]
    )
    assert res['frames'] == 5 and len(list((tmp_path / 'out' / 'masks').glob('*.png'))) == 5
    first = read_mask(tmp_path / 'out' / 'masks' / '00000.png')
    assert sorted(first.unique().tolist()) == [0, 1, 2]
    with Image.open(res['gif']) as gif:
        assert gif.n_frames == 5 and gif.size == (64, 48)
    video = asset_path('videos', 'bikes_short.mp4')  # a real clip through PyAV
    H, W = read_frames(video, max_frames=1).shape[-2:]
    m = np.zeros((H, W), np.uint8)
    m[H // 3 : H // 2, W // 3 : W // 2] = 255
    Image.fromarray(m).save(tmp_path / 'bikes.png')
    res = cli(
        [
            '--encoder',
            'random:8:2',
            '--video',
            str(video),
            '--mask',
            str(tmp_path / 'bikes.png'),
            '--max-frames',
            '3',
            '--out',
            str(tmp_path / 'bikes'),
            '--quiet',
        ]
    )
    assert res['frames'] == 3 and (tmp_path / 'bikes' / 'overlay.gif').is_file()


def test_cli_errors_name_the_argument(tmp_path):
    frames = tmp_path / 'frames'
    frames.mkdir()
    for t in range(2):
        Image.fromarray(np.full((16, 24, 3), 40 * t, np.uint8)).save(frames / f'{t}.png')
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / 'small.png')
    (tmp_path / 'broken.png').write_bytes(b'not a png')
    (tmp_path / 'broken.mp4').write_bytes(b'not a video')
    base = ['--encoder', 'lab', '--out', str(tmp_path / 'o'), '--quiet']
    with pytest.raises(FileNotFoundError, match='--davis-root.*no/such'):
        cli(base + ['--davis-root', 'no/such'])
    with pytest.raises(ValueError, match='--mask is required'):
        cli(base + ['--video', str(frames)])
    with pytest.raises(ValueError, match=r'--mask .*small.png is 10×10.*16×24'):
        cli(base + ['--video', str(frames), '--mask', str(tmp_path / 'small.png')])
    with pytest.raises(ValueError, match='cannot read mask image .*broken.png'):
        cli(base + ['--video', str(frames), '--mask', str(tmp_path / 'broken.png')])
    with pytest.raises(FileNotFoundError, match='mask file not found'):
        cli(base + ['--video', str(frames), '--mask', str(tmp_path / 'none.png')])
    with pytest.raises(FileNotFoundError, match='--video.*missing.mp4'):
        cli(base + ['--video', str(tmp_path / 'missing.mp4'), '--mask', 'x.png'])
    with pytest.raises(ValueError, match='--video: cannot read frames from .*broken.mp4'):
        cli(base + ['--video', str(tmp_path / 'broken.mp4'), '--mask', str(tmp_path / 'small.png')])
    with pytest.raises(SystemExit):
        cli(base + ['--video', str(frames), '--mask', 'x.png', '--max-frames', '0'])
    with pytest.raises(SystemExit):
        cli(['--encoder', 'lab', '--out', 'x'])  # neither --davis-root nor --video
    with pytest.raises(SystemExit):
        cli(['--davis-root', 'a', '--video', 'b', '--encoder', 'lab', '--out', 'x'])


def test_read_first_mask_and_gif(tmp_path):
    ids = torch.tensor([[0, 3], [3, 5]], dtype=torch.uint8)
    write_mask(tmp_path / 'p.png', ids)
    assert torch.equal(read_first_mask(tmp_path / 'p.png'), ids)  # palette ids kept as they are
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(tmp_path / 'noise.png')
    with pytest.raises(ValueError, match='flat colour'):
        read_first_mask(tmp_path / 'noise.png')
    frames = torch.randint(0, 255, (4, 3, 300, 800), dtype=torch.uint8)
    gif = save_overlay_gif(tmp_path / 'a' / 'o.gif', frames, torch.zeros(4, 300, 800, dtype=torch.uint8), fps=5)
    with Image.open(gif) as im:
        assert im.n_frames == 4 and im.size == (480, 180)


def test_bfloat16_choice_on_davis_and_cli(tmp_path, monkeypatch):
    """dtype='bfloat16' (top-k chosen from bfloat16 logits, weighed exactly) flips only a few pixels; --dtype reaches
    the config."""
    davis = DavisDataset(sample_davis_root())
    frames = davis.frames('blackswan', size=240, max_frames=10)  # (10, 3, 240, 427)
    gt = F.interpolate(
        davis.masks('blackswan', max_frames=10)[:, None].float(), size=frames.shape[-2:], mode='nearest'
    )[:, 0].to(torch.uint8)
    exact = propagate_video(frames, gt[0], 'lab', replace(PRESETS['crw'], dtype='float32'), progress=False)
    fast = propagate_video(frames, gt[0], 'lab', replace(PRESETS['crw'], dtype='bfloat16'), progress=False)
    assert 0 < (exact == 1).sum() and (exact != fast).float().mean() < 0.01
    with pytest.raises(ValueError, match="dtype must be 'auto', 'bfloat16' or 'float32'"):
        PropagationConfig(dtype='fp16')
    seen = []
    monkeypatch.setattr(
        'contrastcorr.propagation.propagate_davis',
        lambda root, out, enc, seqs, config, *a, **kw: seen.append(config) or {},
    )
    argv = ['--encoder', 'lab', '--davis-root', str(sample_davis_root()), '--out', str(tmp_path), '--quiet']
    cli(argv + ['--dtype', 'bfloat16'])
    cli(argv + ['--protocol', 'contrastcorr'])
    assert [c.dtype for c in seen] == ['bfloat16', 'auto'] and seen[1].mutual
