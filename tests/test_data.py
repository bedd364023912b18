"""Longer and property-based tests of `contrastcorr.data` (the notebook nbs/00_data.ipynb holds the quick ones)."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from contrastcorr.affinity import assert_near
from contrastcorr.data import (
    DAVIS_PALETTE,
    DavisDataset,
    SyntheticVideo,
    asset_path,
    lab_to_rgb,
    lab_to_unit,
    mask_to_rgb,
    overlay_mask,
    read_frames,
    read_mask,
    rgb_to_lab,
    sample_davis_root,
    synthetic_pair_with_shift,
    synthetic_video,
    unit_to_lab,
    write_mask,
)

SHARED = Path(__file__).resolve().parents[1].parent / 'shared' / 'data'
needs_shared = pytest.mark.skipif(
    not SHARED.exists(), reason=f"team data {SHARED} not present (shipped data is tested too)"
)
CLIP = asset_path('videos', 'bikes_short.mp4')


# ---------------------------------------------------------------- shipped data
def test_asset_path():
    assert asset_path('davis').is_dir() and CLIP.is_file()
    assert sample_davis_root() == asset_path('davis')
    with pytest.raises(FileNotFoundError, match='not-there'):
        asset_path('not-there', 'x.png')


def test_sources_documented():
    text = asset_path('SOURCES.md').read_text()
    for word in (
        'CC BY 4.0',
        'MIT',
        'BSD',
        'bikes_short.mp4',
        'kite-surf',
        'blackswan',
        'car-shadow',
        'dog',
        'drift-straight',
    ):
        assert word in text
    assert '../shared' not in text and '/work/' not in text, 'cite the original sources, not this machine'


# ---------------------------------------------------------------- Lab
REFS = [
    ((1, 1, 1), (100, 0, 0)),
    ((0, 0, 0), (0, 0, 0)),
    ((1, 0, 0), (53.24, 80.09, 67.20)),
    ((0, 1, 0), (87.73, -86.18, 83.18)),
    ((0, 0, 1), (32.30, 79.19, -107.86)),
    ((1, 1, 0), (97.14, -21.55, 94.48)),
    ((0, 1, 1), (91.11, -48.09, -14.13)),
    ((1, 0, 1), (60.32, 98.23, -60.82)),
]


@pytest.mark.parametrize('rgb,ref', REFS)
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_lab_reference_values(rgb, ref, dtype):
    lab = rgb_to_lab(torch.tensor(rgb, dtype=dtype)[:, None, None]).flatten()
    assert torch.allclose(lab.double(), torch.tensor(ref, dtype=torch.float64), atol=0.01), lab
    back = lab_to_rgb(torch.tensor(ref, dtype=torch.float64)[:, None, None]).flatten()
    assert torch.allclose(back, torch.tensor(rgb, dtype=torch.float64), atol=1e-3)


@pytest.mark.parametrize('shape', [(3, 7, 5), (2, 3, 4, 4), (2, 3, 3, 2, 6), (1, 1, 1, 3, 1, 1)])
def test_lab_round_trip_batched(shape):
    rgb = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    lab = rgb_to_lab(rgb)
    assert lab.shape == rgb.shape and lab.dtype == rgb.dtype
    assert (lab_to_rgb(lab) - rgb).abs().max() < 1e-4
    assert (unit_to_lab(lab_to_unit(lab)) - lab).abs().max() < 1e-4


def test_lab_matches_per_pixel_loop():
    "Batched conversion equals converting each pixel on its own (no mixing across batch or space)."
    rgb = torch.rand(2, 3, 3, 4, dtype=torch.float64)
    lab = rgb_to_lab(rgb)
    for b in range(2):
        for y in range(3):
            for x in range(4):
                assert_near(rgb_to_lab(rgb[b, :, y : y + 1, x : x + 1])[:, 0, 0], lab[b, :, y, x])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=3, max_size=3))
def test_lab_round_trip_property(rgb):
    x = torch.tensor(rgb, dtype=torch.float64)[:, None, None]
    lab = rgb_to_lab(x)
    assert 0 <= lab[0].item() <= 100 + 1e-9
    assert -128 <= lab[1].item() <= 128 and -128 <= lab[2].item() <= 128
    assert (lab_to_rgb(lab) - x).abs().max() < 1e-6


def test_lab_gradients():
    x = (torch.rand(2, 3, 2, 2, dtype=torch.float64) * 0.9 + 0.05).requires_grad_()
    assert torch.autograd.gradcheck(rgb_to_lab, (x,))
    assert torch.autograd.gradcheck(lab_to_rgb, (rgb_to_lab(x).detach().requires_grad_(),))
    for edge in (0.0, 0.04045, 1.0):  # branch points of the gamma and of f(t) must not give nan gradients
        y = torch.full((3, 2, 2), edge, requires_grad=True)
        rgb_to_lab(y).sum().backward()
        assert y.grad.isfinite().all()


def test_lab_bad_input():
    with pytest.raises(ValueError, match=r'\(\.\.\., 3, H, W\)'):
        rgb_to_lab(torch.rand(3, 4))
    with pytest.raises(ValueError, match='3, H, W'):
        lab_to_rgb(torch.rand(2, 4, 5, 5))
    with pytest.raises(TypeError, match='float'):
        rgb_to_lab(torch.zeros(3, 2, 2, dtype=torch.uint8))
    with pytest.raises(TypeError, match='Tensor'):
        rgb_to_lab(np.zeros((3, 2, 2)))


@pytest.mark.gpu
def test_lab_on_cuda():
    rgb = torch.rand(2, 3, 8, 8, device='cuda')
    lab = rgb_to_lab(rgb)
    assert lab.device == rgb.device
    torch.testing.assert_close(lab.cpu(), rgb_to_lab(rgb.cpu()), atol=1e-3, rtol=1e-4)
    assert (lab_to_rgb(lab) - rgb).abs().max() < 1e-4 and lab_to_unit(lab).device == rgb.device
    x = (torch.rand(1, 3, 2, 2, dtype=torch.float64, device='cuda') * 0.9 + 0.05).requires_grad_()
    assert torch.autograd.gradcheck(rgb_to_lab, (x,))
    m = torch.randint(0, 4, (5, 6), device='cuda')
    assert mask_to_rgb(m).device == m.device
    assert overlay_mask(torch.zeros(3, 5, 6, dtype=torch.uint8, device='cuda'), m).device == m.device


# ---------------------------------------------------------------- frames
def test_read_shipped_clip():
    v = read_frames(CLIP)
    assert v.shape == (50, 3, 272, 640) and v.dtype == torch.uint8
    assert 30 < v.float().mean() < 225 and v.float().std() > 10  # real picture, not a constant
    assert read_frames(CLIP, max_frames=3).shape == (3, 3, 272, 640)
    assert torch.equal(read_frames(CLIP, stride=7), v[::7])
    assert read_frames(CLIP, size=100, max_frames=1).shape == (1, 3, 100, 235)
    assert read_frames(CLIP, size=(50, 60), max_frames=1).shape == (1, 3, 50, 60)


@needs_shared
@pytest.mark.parametrize('name,n,hw', [('bikes.mp4', 250, (272, 640)), ('carphone_pristine.mp4', 120, (144, 176))])
def test_read_shared_clips(name, n, hw):
    v = read_frames(SHARED / 'videos' / name)
    assert v.shape == (n, 3, *hw) and v.dtype == torch.uint8
    assert (v[1:].float() - v[:-1].float()).abs().mean() > 0.5  # frames differ: it is a video
    if name == 'bikes.mp4':  # the shipped clip is a re-encoding of its first 50 frames
        assert (read_frames(CLIP).float() - v[:50].float()).abs().mean() < 4


def test_read_folder_and_single_image(tmp_path):
    frames = torch.randint(0, 256, (4, 3, 20, 30), dtype=torch.uint8)
    for t, f in enumerate(frames):
        Image.fromarray(f.permute(1, 2, 0).numpy()).save(tmp_path / f'{t:05d}.png')
    (tmp_path / 'notes.txt').write_text('ignored')
    assert torch.equal(read_frames(tmp_path), frames)  # PNG is lossless
    assert torch.equal(read_frames(tmp_path, stride=2, max_frames=1), frames[:1])
    assert torch.equal(read_frames(tmp_path / '00002.png')[0], frames[2])
    grey = tmp_path / 'grey'
    grey.mkdir()
    Image.fromarray(np.full((5, 6), 77, np.uint8), mode='L').save(grey / 'a.jpg')
    assert read_frames(grey).shape == (1, 3, 5, 6)  # converted to RGB


def test_read_frames_errors(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match='missing.mp4'):
        read_frames(tmp_path / 'missing.mp4')
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        read_frames(tmp_path)
    with pytest.raises(ValueError, match='stride'):
        read_frames(CLIP, stride=0)
    with pytest.raises(ValueError, match='size'):
        read_frames(CLIP, size=(1, 2, 3))
    monkeypatch.setitem(sys.modules, 'av', None)  # as if the [video] extra were not installed
    with pytest.raises(ImportError, match=r'contrastcorr\[video\]'):
        read_frames(CLIP)


# ---------------------------------------------------------------- masks and palette
def test_palette():
    assert DAVIS_PALETTE.shape == (256, 3) and DAVIS_PALETTE.dtype == np.uint8
    assert len({tuple(c) for c in DAVIS_PALETTE}) == 256  # every id has its own colour
    with Image.open(sample_davis_root() / 'Annotations' / '480p' / 'blackswan' / '00010.png') as im:
        assert np.array_equal(np.array(im.getpalette(), np.uint8).reshape(-1, 3), DAVIS_PALETTE)


@pytest.mark.parametrize('dtype', [torch.uint8, torch.int64, np.int32, bool])
def test_mask_round_trip(tmp_path, dtype):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 2 if dtype is bool else 8, (37, 53), generator=g)
    if dtype is not bool:
        ids[:3, :3] = 255
    mask = ids.numpy().astype(dtype) if isinstance(dtype, type) else ids.to(dtype)
    p = write_mask(tmp_path / 'a' / 'b' / '00007.png', mask)
    with Image.open(p) as im:
        assert im.mode == 'P'
        assert np.array_equal(np.array(im), ids.numpy())  # what the official evaluator reads
    assert torch.equal(read_mask(p), ids.to(torch.uint8))


def test_mask_errors(tmp_path):
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / 'rgb.png')
    with pytest.raises(ValueError, match=r"mode 'P'.*'RGB'|'RGB'"):
        read_mask(tmp_path / 'rgb.png')
    with pytest.raises(FileNotFoundError, match='nope.png'):
        read_mask(tmp_path / 'nope.png')
    with pytest.raises(ValueError, match=r'\(H, W\)'):
        write_mask(tmp_path / 'x.png', np.zeros((1, 4, 4), np.uint8))
    with pytest.raises(TypeError, match='integer'):
        write_mask(tmp_path / 'x.png', np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match='0..255'):
        write_mask(tmp_path / 'x.png', np.full((4, 4), -1))


def test_mask_colouring():
    m = torch.tensor([[0, 1, 2], [3, 255, 0]])
    rgb = mask_to_rgb(m)
    assert rgb.shape == (3, 2, 3) and rgb.dtype == torch.uint8
    assert rgb[:, 0, 1].tolist() == [128, 0, 0] and rgb[:, 1, 1].tolist() == DAVIS_PALETTE[255].tolist()
    frame = torch.full((3, 2, 3), 100, dtype=torch.uint8)
    out = overlay_mask(frame, m, alpha=0.5)
    assert torch.equal(out[:, m == 0], frame[:, m == 0]) and out[0, 0, 1] == 114  # (100 + 128) / 2


# ---------------------------------------------------------------- DAVIS
def test_davis_shipped():
    ds = DavisDataset(sample_davis_root())
    shipped = {
        'blackswan': (1, 25),
        'kite-surf': (3, 25),
        'car-shadow': (1, 16),
        'dog': (1, 16),
        'drift-straight': (1, 16),
    }
    assert ds.sequences == list(shipped) and len(ds) == 5 and list(ds) == ds.sequences
    for seq, (n_obj, T) in shipped.items():
        names = ds.frame_names(seq)
        assert names == [f'{i:05d}' for i in range(T)] and ds.mask_names(seq) == names
        f, m = ds.frames(seq), ds.masks(seq)
        assert f.shape == (T, 3, 480, 854) and f.dtype == torch.uint8
        assert m.shape == (T, 480, 854) and m.dtype == torch.uint8
        assert ds.n_objects(seq) == n_obj and torch.equal(ds.first_mask(seq), m[0])
        assert set(m[1:].unique().tolist()) == {0, 1}  # later frames: DAVIS-2016 (union) ground truth
        assert (m[0] > 0).equal(m[0] > 0) and (m[0] > 0).float().mean() > 0.005
        preds = sorted((sample_davis_root() / 'predictions' / 'contrastcorr' / seq).glob('*.png'))
        assert [p.stem for p in preds] == names
        pred = torch.stack([read_mask(p) for p in preds])
        assert pred.shape == m.shape and set(pred.unique().tolist()) <= set(range(n_obj + 1))
        iou = ((pred > 0) & (m > 0)).sum() / ((pred > 0) | (m > 0)).sum()  # union IoU: a good method, so high
        assert iou > 0.6, (seq, iou)
    assert ds.frames('kite-surf', size=120, max_frames=2).shape == (2, 3, 120, 214)


def test_davis_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / 'none')):
        DavisDataset(tmp_path / 'none')
    with pytest.raises(FileNotFoundError, match='JPEGImages'):
        DavisDataset(tmp_path)
    root = sample_davis_root()
    with pytest.raises(FileNotFoundError, match='test-dev.txt'):
        DavisDataset(root, split='test-dev')
    with pytest.raises(FileNotFoundError, match='Annotations_x'):
        DavisDataset(root, annotations_dir='Annotations_x')
    ds = DavisDataset(root)
    with pytest.raises(FileNotFoundError, match='horsejump'):
        ds.frames('horsejump')
    with pytest.raises(FileNotFoundError, match='horsejump'):
        ds.first_mask('horsejump')
    # an absolute annotations_dir works and an empty sequence folder is reported with its path
    ann = tmp_path / 'ann' / '480p' / 'blackswan'
    ann.mkdir(parents=True)
    ds2 = DavisDataset(root, annotations_dir=tmp_path / 'ann')
    with pytest.raises(FileNotFoundError, match=str(ann)):
        ds2.masks('blackswan')


@needs_shared
def test_davis_shared_sample():
    root = SHARED / 'davis-sample'
    manifest = json.loads((root / 'manifest.json').read_text())
    d16 = DavisDataset(root, year='2016')
    d17 = DavisDataset(root, year='2017')
    first = DavisDataset(root, annotations_dir='Annotations_2017_first_frame')
    assert len(d16) == 9 and len(d17) == 6 and set(d17.sequences) <= set(d16.sequences)
    for seq in d16:
        names = d16.frame_names(seq)
        assert len(names) == manifest[seq]['frames'] and d16.mask_names(seq) == names
        assert first.n_objects(seq) == manifest[seq]['objects_davis2017']
        assert first.masks(seq).shape == (1, 480, 854)
        assert torch.equal(first.first_mask(seq) > 0, d16.first_mask(seq) > 0)  # union of objects = DAVIS-16 GT
    m = d16.masks('dog', max_frames=5)
    assert m.shape == (5, 480, 854) and set(m.unique().tolist()) <= {0, 1}
    # the shipped subset is a faithful copy
    ship = DavisDataset(sample_davis_root())
    for seq in ship:
        T = len(ship.frame_names(seq))
        assert torch.equal(ship.frames(seq), d16.frames(seq, max_frames=T))
        assert torch.equal(ship.masks(seq)[1:], d16.masks(seq, max_frames=T)[1:])
        assert torch.equal(ship.first_mask(seq), first.first_mask(seq))


# ---------------------------------------------------------------- synthetic videos
@pytest.mark.parametrize(
    'kw',
    [
        dict(),
        dict(n_frames=1),
        dict(n_frames=5, size=(96, 160), n_shapes=5, seed=7),
        dict(n_shapes=0),
        dict(n_shapes=1, size=(64, 48), seed=3),
    ],
)
def test_synthetic_shapes_and_labels(kw):
    v = synthetic_video(**kw)
    T, K = kw.get('n_frames', 8), kw.get('n_shapes', 3)
    H, W = kw.get('size', (128, 128))
    assert isinstance(v, SyntheticVideo) and v.n_frames == T
    assert v.frames.shape == (T, 3, H, W) and v.frames.dtype == torch.uint8
    assert v.masks.shape == (T, H, W) and v.masks.dtype == torch.uint8
    assert v.motion.shape == (T, K, 4) and v.amodal.shape == (T, K, H, W)
    assert v.keypoints.shape == (T, 4 * K, 2) and v.visible.shape == (T, 4 * K) and v.keypoint_ids.shape == (4 * K,)
    assert sorted(v.depth.tolist()) == list(range(1, K + 1))
    assert int(v.masks.max()) <= K
    # occlusion: each pixel's id is the front-most shape covering it (0 if none)
    rank = torch.zeros(K + 1, dtype=torch.long)
    rank[v.depth] = torch.arange(1, K + 1)
    cover = v.amodal * rank[1:, None, None] if K else torch.zeros(T, 0, H, W, dtype=torch.long)
    expect = torch.where(cover.amax(1) > 0, cover.argmax(1) + 1, 0) if K else torch.zeros(T, H, W, dtype=torch.long)
    assert torch.equal(v.masks.long(), expect)
    # keypoints: visible ⇔ inside the frame and on top of their own shape
    if K:
        xi, yi = v.keypoints[..., 0].floor().long(), v.keypoints[..., 1].floor().long()
        inside = (xi >= 0) & (xi < W) & (yi >= 0) & (yi < H)
        ids = v.masks[torch.arange(T)[:, None], yi.clamp(0, H - 1), xi.clamp(0, W - 1)].long()
        assert torch.equal(v.visible, inside & (ids == v.keypoint_ids))
        assert torch.equal(
            v.amodal[torch.arange(T)[:, None], v.keypoint_ids - 1, yi.clamp(0, H - 1), xi.clamp(0, W - 1)] | ~inside,
            torch.ones_like(inside),
        )  # keypoints always lie on their shape's silhouette


def test_synthetic_determinism():
    a, b, c = synthetic_video(seed=11), synthetic_video(seed=11), synthetic_video(seed=12)
    for name in ('frames', 'masks', 'motion', 'keypoints', 'visible', 'amodal', 'depth', 'bg_shift'):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert not torch.equal(a.frames, c.frames) and not torch.equal(a.motion, c.motion)
    torch.manual_seed(0)
    d = synthetic_video(seed=11)  # the global RNG plays no part
    assert torch.equal(a.frames, d.frames)


def test_synthetic_motion_is_what_is_rendered():
    "Shape texture moves rigidly with `motion`; the background moves by `bg_shift`."
    for seed in range(5):
        v = synthetic_video(n_frames=6, n_shapes=1, seed=seed, max_speed=1.0)
        for t in range(6):
            ys, xs = torch.nonzero(v.amodal[t, 0], as_tuple=True)
            if (xs.min() > 0) and (ys.min() > 0) and (xs.max() < 127) and (ys.max() < 127):  # wholly in view
                centroid = torch.stack([xs.float().mean(), ys.float().mean()]) + 0.5
                assert (centroid - v.motion[t, 0, :2]).abs().max() < 1.0, (seed, t)
        area = v.amodal[:, 0].flatten(1).sum(1).float()
        expected = area[0] * v.motion[:, 0, 3] ** 2 / v.motion[0, 0, 3] ** 2  # area grows with scale²
        a = v.amodal[:, 0]
        full = a[:, 0].any(-1) | a[:, -1].any(-1) | a[:, :, 0].any(-1) | a[:, :, -1].any(-1)
        if not full.any():
            assert ((area - expected).abs() / expected).max() < 0.05
    # background: with no shapes, frame t equals frame 0 shifted by bg_shift (interior, up to interpolation)
    v = synthetic_video(n_frames=4, n_shapes=0, seed=2, bg_speed=2.0)
    dx, dy = v.bg_shift[3].tolist()
    f0, f3 = v.frames[0].float(), v.frames[3].float()
    ix, iy = round(dx), round(dy)
    a = f3[:, 10 + iy : 118 + iy, 10 + ix : 118 + ix]
    b = f0[:, 10:118, 10:118]
    assert (a - b).abs().mean() < 6 < (f3[:, 10:118, 10:118] - b).abs().mean()


def test_synthetic_speed():
    import time

    synthetic_video(seed=0)
    t0 = time.perf_counter()
    for s in range(50):
        synthetic_video(seed=s)
    assert time.perf_counter() - t0 < 20  # ~0.5 s on a quiet CPU core; generous for shared CI


@pytest.mark.parametrize('shift', [(0, 0), (3, -2), (-7, 5), (19, 0)])
def test_pair_with_integer_shift(shift):
    f0, f1 = synthetic_pair_with_shift(size=(40, 50), shift=shift, seed=4)
    dx, dy = shift
    H, W = 40, 50
    assert f0.shape == f1.shape == (3, H, W) and f0.dtype == torch.uint8
    ys0, ys1 = slice(max(0, -dy), H - max(0, dy)), slice(max(0, dy), H - max(0, -dy))
    xs0, xs1 = slice(max(0, -dx), W - max(0, dx)), slice(max(0, dx), W - max(0, -dx))
    assert torch.equal(f1[:, ys1, xs1], f0[:, ys0, xs0])
    assert f0.float().std() > 10  # textured, so the shift is recoverable


def test_pair_with_fractional_shift():
    f0, f1 = synthetic_pair_with_shift(size=(40, 40), shift=(2.5, 0), seed=1)
    g0, g1 = synthetic_pair_with_shift(size=(40, 40), shift=(2, 0), seed=1)
    h0, h1 = synthetic_pair_with_shift(size=(40, 40), shift=(3, 0), seed=1)
    assert torch.equal(f0, g0)
    mid = (g1.float() + h1.float()) / 2  # bilinear: half-way between the two integer shifts
    assert (f1.float() - mid)[:, :, 5:-5].abs().max() <= 1


def test_pair_errors_and_seed():
    with pytest.raises(ValueError, match='shift'):
        synthetic_pair_with_shift(size=(16, 16), shift=(0, 8))
    a0, _ = synthetic_pair_with_shift(size=(16, 16), shift=(1, 1), seed=0)
    b0, _ = synthetic_pair_with_shift(size=(16, 16), shift=(1, 1), seed=1)
    assert not torch.equal(a0, b0)


def test_asset_path_prefers_installed_assets(tmp_path, monkeypatch):
    "A wheel installs data/ as contrastcorr/assets: that location wins, the repo's data/ is the fallback."
    import contrastcorr

    pkg = tmp_path / 'site' / 'contrastcorr'
    (pkg / 'assets' / 'davis').mkdir(parents=True)
    (tmp_path / 'site' / 'data').mkdir()
    (tmp_path / 'site' / 'data' / 'only_in_repo.txt').write_text('x')
    monkeypatch.setattr(contrastcorr, '__file__', str(pkg / '__init__.py'))
    assert asset_path('davis') == (pkg / 'assets' / 'davis').resolve()
    assert asset_path('only_in_repo.txt') == (tmp_path / 'site' / 'data' / 'only_in_repo.txt').resolve()
    with pytest.raises(FileNotFoundError, match='assets'):
        asset_path('videos')
