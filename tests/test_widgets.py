"""Headless tests of contrastcorr.widgets: drive each widget's synced traits as the browser would (`set_state`), on
pairs whose answer is known. The notebook 10_widgets has the worked examples; tests/test_browser.py runs it in a real
browser."""
import re
import shutil
import subprocess

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastcorr.affinity import affinity, assert_near
from contrastcorr.data import synthetic_pair_with_shift, synthetic_video
from contrastcorr.encoder import Encoder, fake_official_checkpoint
from contrastcorr.explore import (
    frame_features,
    frame_jaccard,
    heat_rgba,
    patch_tracks,
    peak_accuracy,
    pixel_affinity,
    shifted_batch,
)
from contrastcorr.metrics import jaccard
from contrastcorr.widgets import (
    WEB_ASSETS,
    WIDGET_CSS,
    AffinityExplorer,
    InvalidTrait,
    PropagationPlayer,
    TrackingViewer,
    png_data_url,
    widget_esm,
)

settings.register_profile('ci', max_examples=25, deadline=None)
settings.load_profile('ci')


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close('all')


def _near(a, b, tol=8):
    return all(abs(u - v) <= tol for u, v in zip(a, b))


def _cell_centre(y, x, s=8):
    return (y // s + 0.5) * s, (x // s + 0.5) * s


# --- the affinity explorer on known shifts -----------------------------------------------------------------------

@pytest.mark.parametrize('shift,features,tau', [((11, -6), 'context', 0.01), ((-13, 5), 'context', 0.01),
                                               ((16, 8), 'lab', 0.002), ((-8, 16), 'lab', 0.002)])
def test_explorer_finds_known_shift_both_directions(shift, features, tau):
    "Raw 8×8 patches match only at whole-cell shifts (and need a smaller τ: their cosines are all close to 1)."
    ref, tgt = synthetic_pair_with_shift(size=(96, 128), shift=shift, seed=3)
    w = AffinityExplorer(ref, tgt, features=features, tau=tau)
    dx, dy = shift
    for y, x in [(30, 40), (48, 64), (60, 70), (40, 90)]:
        w.set_state({'click': [y, x], 'direction': 'r2t'})
        cy, cx = _cell_centre(y, x)
        assert w.result_for == f'r2t {y},{x}'
        assert _near(w.peak, (cy + dy, cx + dx)), (w.peak, (cy + dy, cx + dx))
        assert _near(w.soft_argmax, (cy + dy, cx + dx)), (w.soft_argmax, (cy + dy, cx + dx))
        w.set_state({'click': [y, x], 'direction': 't2r'})
        assert _near(w.soft_argmax, (cy - dy, cx - dx)), (w.soft_argmax, (cy - dy, cx - dx))
        assert w.heat_src.startswith('data:image/png;base64,')


def _noise_pair(shift, size=(64, 96), seed=0):
    "Random-noise frame and its copy rolled by `shift` = (dx, dy) px: every 8×8 patch is unique, matches are exact."
    g = torch.Generator().manual_seed(seed)
    ref = torch.randint(0, 256, (3, *size), generator=g, dtype=torch.uint8)
    return ref, ref.roll((shift[1], shift[0]), dims=(1, 2))


def test_explorer_colour_is_copied_from_the_match():
    ref, tgt = _noise_pair((16, 8))
    w = AffinityExplorer(ref, tgt, features='lab', tau=0.05, click=[20, 30])
    assert w.result.eff_n < 1.01 and w.peak == [20 // 8 * 8 + 4 + 8, 30 // 8 * 8 + 4 + 16]
    assert max(abs(a - b) for a, b in zip(w.colour, w.true_colour)) <= 1


def test_tau_and_k_take_effect():
    ref, tgt = synthetic_pair_with_shift(size=(96, 128), shift=(11, -6), seed=3)
    w = AffinityExplorer(ref, tgt, features='context', click=[44, 52])
    effs, srcs = [], []
    for tau in (1.0, 0.1, 0.03, 0.01, 0.003):
        w.set_state({'tau': tau})
        effs.append(w.stats['eff_n']); srcs.append(w.heat_src)
        assert_near(w.stats['eff_n'], w.result.eff_n); assert_near(w.stats['peak_weight'], float(w.result.heat.max()))
    assert all(a > b for a, b in zip(effs, effs[1:])), effs
    assert len(set(srcs)) == len(srcs)
    w.set_state({'tau': 1.0})
    dense = w.result.heat.clone()
    for k in (1, 5, 37):
        w.set_state({'k': k})
        assert int((w.result.heat > 0).sum()) == k
        assert torch.isclose(w.result.heat.sum(), torch.tensor(1.0))
        kept = dense.flatten().topk(k).indices
        assert set(w.result.heat.flatten().nonzero().flatten().tolist()) == set(kept.tolist())
    w.set_state({'k': 12 * 16})   # k = N is no cut at all
    assert_near(w.result.heat, dense)


def test_direction_swap_keeps_click_and_moves_heat():
    ref, tgt = synthetic_pair_with_shift(size=(64, 96), shift=(8, 8), seed=1)
    w = AffinityExplorer(ref, tgt, features='lab', click=[20, 30])
    a = w.soft_argmax
    w.set_state({'direction': 't2r'})
    assert w.click == [20, 30] and w.result_for == 't2r 20,30'
    assert _near(a, (_cell_centre(20, 30)[0] + 8, _cell_centre(20, 30)[1] + 8))
    assert _near(w.soft_argmax, (_cell_centre(20, 30)[0] - 8, _cell_centre(20, 30)[1] - 8))


def test_explorer_crops_to_whole_cells_and_defaults_to_davis():
    w = AffinityExplorer()
    assert w.size == [240, 424] and w.grid == [30, 53] and w.stride == 8
    assert w.frames.shape == (2, 3, 240, 424)
    assert w.ref_src.startswith('data:image/png;base64,') and w.tgt_src != w.ref_src


# --- features ------------------------------------------------------------------------------------------------------

def test_feature_kinds_and_cache(tmp_path):
    ref, tgt = synthetic_pair_with_shift(size=(64, 96), shift=(8, 0), seed=2)
    w = AffinityExplorer(ref, tgt, features='lab')
    for kind in ('context', 'random', 'lab'):
        w.set_state({'features': kind})
        assert w.features == kind and w.error == ''
        assert w._feats.shape[-2:] == (8, 12)
        assert_near(w._feats.norm(dim=1), torch.ones(2, 8, 12))
    cached = w._cache[('random', '')][0]
    w.set_state({'features': 'random'})
    assert w._feats is cached   # computed once per pair and kind

    own = Encoder(width=8, depth=3).eval()
    torch.save({'config': dict(width=8, depth=3), 'encoder': own.state_dict()}, tmp_path/'own.pt')   # 07_train's format
    w.set_features(tmp_path/'own.pt')
    assert (w.features, w.checkpoint) == ('checkpoint', str(tmp_path/'own.pt'))
    assert_near(w._feats, frame_features(w.frames, own))
    torch.save(fake_official_checkpoint(seed=0), tmp_path/'official.pt')
    w.set_state({'checkpoint': str(tmp_path/'official.pt'), 'features': 'checkpoint'})   # the browser's path
    assert w.error == '' and w._feats.shape[1] == 512 and 'checkpoint' in w.feature_options


def test_bad_checkpoint_raises_from_python_and_is_reported_from_the_browser(tmp_path):
    ref, tgt = synthetic_pair_with_shift(size=(64, 96), shift=(8, 0), seed=2)
    w = AffinityExplorer(ref, tgt, features='lab')
    torch.save({'something': torch.zeros(1)}, tmp_path/'bad.pt')
    with pytest.raises(ValueError, match='neither ours'): w.set_features(tmp_path/'bad.pt')
    assert w.features == 'lab'
    w.set_state({'checkpoint': str(tmp_path/'bad.pt'), 'features': 'checkpoint'})
    assert w.features == 'lab' and 'neither ours' in w.error


def test_custom_callable_features():
    ref, tgt = synthetic_pair_with_shift(size=(64, 96), shift=(16, 8), seed=2)
    w = AffinityExplorer(ref, tgt, features=lambda x: F.avg_pool2d(x, 8), click=[20, 30])
    assert w.features == 'custom' and 'custom' in w.feature_options
    w4 = AffinityExplorer(ref, tgt, features=lambda x: F.avg_pool2d(x, 4))   # a stride-4 feature map works too
    assert w4.stride == 4 and w4.grid == [16, 24]


def test_browser_checkpoint_error_is_reported_not_raised():
    ref, tgt = synthetic_pair_with_shift(size=(64, 96), shift=(8, 0), seed=2)
    w = AffinityExplorer(ref, tgt, features='context')
    w.set_state({'checkpoint': '/no/such/file.pt', 'features': 'checkpoint'})
    assert w.features == 'context' and 'checkpoint file not found' in w.error
    w.set_state({'features': 'lab'})
    assert w.error == '' and w.features == 'lab'


# --- bad inputs ----------------------------------------------------------------------------------------------------

def test_bad_inputs_name_the_argument():
    ref, tgt = synthetic_pair_with_shift(size=(64, 96), shift=(8, 0), seed=2)
    with pytest.raises(TypeError, match='`ref` must be a uint8 torch.Tensor'): AffinityExplorer(ref.numpy(), tgt)
    with pytest.raises(ValueError, match=r'`tgt` must have shape \(3, H, W\)'): AffinityExplorer(ref, tgt[None])
    with pytest.raises(TypeError, match='`tgt` must be uint8'): AffinityExplorer(ref, tgt.float())
    with pytest.raises(ValueError, match='smaller than one 8×8 cell'): AffinityExplorer(ref[:, :4], tgt[:, :4])
    with pytest.raises(ValueError, match='`ref` and `tgt` must both be given'): AffinityExplorer(None, tgt)
    with pytest.raises(TypeError, match='`features` must be'): AffinityExplorer(ref, tgt, features=3)
    with pytest.raises(FileNotFoundError, match='`features`: checkpoint file not found'):
        AffinityExplorer(ref, tgt, features='nope.pt')
    w = AffinityExplorer(ref, tgt)
    for name, value, msg in [('tau', 0.0, '`tau` must be > 0'), ('k', 97, r'`k` must be in \[0, 96\]'),
                             ('click', [0, 96], r'`click` must be \[y, x\] inside the 64×96 frame'),
                             ('direction', 'left', "`direction` must be 'r2t' or 't2r'"),
                             ('features', 'sift', '`features` must be one of')]:
        before = getattr(w, name)
        with pytest.raises(ValueError, match=msg): setattr(w, name, value)
        with pytest.raises(InvalidTrait, match=msg): w.set_state({name: value})
        assert getattr(w, name) == before, f"{name} was not rolled back"


def test_pixel_affinity_errors():
    F_q = torch.randn(4, 3, 5)
    with pytest.raises(ValueError, match='`F_k` must be a \\(C, h, w\\) tensor'):
        pixel_affinity(F_q, torch.randn(4, 15), (0, 0))
    with pytest.raises(ValueError, match='same channels'): pixel_affinity(F_q, torch.randn(3, 3, 5), (0, 0))
    with pytest.raises(ValueError, match=r'`cell` must be \(row, col\) inside the 3×5 cell grid'):
        pixel_affinity(F_q, F_q, (3, 0))
    with pytest.raises(ValueError, match=r'`k` must be an int in \[0, 15\]'): pixel_affinity(F_q, F_q, (0, 0), k=16)
    with pytest.raises(ValueError, match='`tau` must be > 0'): pixel_affinity(F_q, F_q, (0, 0), tau=-1)


# --- the pure function against the definition ---------------------------------------------------------------------

@given(C=st.integers(1, 6), h=st.integers(1, 5), w=st.integers(1, 6), tau=st.sampled_from([0.05, 0.3, 1.0]),
       seed=st.integers(0, 10_000), data=st.data())
def test_pixel_affinity_is_a_column_of_the_affinity(C, h, w, tau, seed, data):
    g = torch.Generator().manual_seed(seed)
    F_q, F_k = torch.randn(C, h, w, generator=g,
                           dtype=torch.float64), torch.randn(C, h, w, generator=g, dtype=torch.float64)
    r, c = data.draw(st.integers(0, h - 1)), data.draw(st.integers(0, w - 1))
    k = data.draw(st.integers(0, h * w))
    res = pixel_affinity(F_q, F_k, (r, c), tau=tau, k=k)
    col = affinity(F_k.flatten(1)[None], F_q.flatten(1)[None], tau)[0, :, r * w + c]   # (N_k,)
    if k in (0, h * w):
        assert_near(res.heat.flatten(), col)
    else:
        idx = col.topk(k).indices
        want = torch.zeros_like(col); want[idx] = col[idx] / col[idx].sum()   # top-k, renormalised
        assert_near(res.heat.flatten(), want)
    ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing='ij')
    sa = ((res.heat * ys).sum() * 8, (res.heat * xs).sum() * 8)
    assert_near(res.soft_argmax, [float(v) for v in sa])
    p = int(res.heat.flatten().argmax())
    assert res.peak == ((p // w + 0.5) * 8, (p % w + 0.5) * 8)
    assert 1 - 1e-6 <= res.eff_n <= (k or h * w) + 1e-6


def test_peak_accuracy_distinguishes_features():
    a, b = synthetic_pair_with_shift(size=(96, 128), shift=(11, -6), seed=3)
    Fs = {kind: frame_features(torch.stack([a, b]), kind) for kind in ('lab', 'context')}
    assert peak_accuracy(Fs['context'][0], Fs['context'][1], (11, -6)) == 1.0
    assert peak_accuracy(Fs['lab'][0], Fs['lab'][1], (11, -6)) < 0.6


# --- images --------------------------------------------------------------------------------------------------------

def test_png_and_heat_images():
    import base64
    import io

    from PIL import Image
    img = torch.randint(0, 256, (3, 5, 7), dtype=torch.uint8)
    url = png_data_url(img)
    back = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(',', 1)[1]))))
    np.testing.assert_array_equal(back, img.permute(1, 2, 0).numpy())
    rgba = heat_rgba(torch.rand(4, 6))
    assert rgba.shape == (4, 6, 4) and rgba.dtype == np.uint8 and rgba[..., 3].max() == 204
    with pytest.raises(ValueError, match='`img` must be uint8'): png_data_url(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r'`heat` must have shape \(h, w\)'): heat_rgba(torch.rand(2, 3, 4))


# --- tracking viewer -----------------------------------------------------------------------------------------------

def test_patch_tracks_exact_for_whole_cell_shifts():
    shifts = torch.tensor([[8, 16], [-16, 0], [0, -8], [24, 8]])                 # (dx, dy) px, whole cells
    pairs = [_noise_pair(tuple(s.tolist()), size=(96, 128), seed=i) for i, s in enumerate(shifts)]
    fr, ft = torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])
    # (cx, cy, w, h) cells
    boxes = torch.tensor([[6., 5., 4., 4.], [8., 6., 4., 4.], [7., 6., 4., 4.], [9., 5., 4., 4.]])
    tr = patch_tracks(frame_features(fr, 'lab'), frame_features(ft, 'lab'), boxes, tau=0.05, scale=True)
    torch.testing.assert_close(tr.boxes, torch.cat([boxes[:, :2] + shifts / 8, boxes[:, 2:]], 1), atol=1e-3, rtol=0)
    torch.testing.assert_close(tr.mass, torch.eye(4), atol=1e-3, rtol=0)      # all mass on the own video


def test_tracking_viewer_steps_and_tau():
    v = TrackingViewer(title='t')
    assert v.n == 4 and len(v.true_box) == 4 and len(v.mass) == 4
    srcs, boxes = set(), set()
    for i in range(4):
        v.set_state({'index': i})
        srcs.add(v.ref_src); boxes.add(tuple(v.track_box))
        assert len(v.points) == 16 and v.mass[i] == max(v.mass)
        x0, y0, x1, y1 = v.track_box
        assert_near(v.centre, [(x0 + x1) / 2, (y0 + y1) / 2])
    assert len(srcs) == 4 and len(boxes) == 4
    own = v.tracks.mass.diagonal().mean()
    v.set_state({'tau': 1.0})
    assert v.tracks.mass.diagonal().mean() < own - 0.2
    with pytest.raises(ValueError, match=r'`index` must be in \[0, 3\]'): v.index = 4
    with pytest.raises(ValueError, match='`tau` must be > 0'): v.tau = 0


def test_tracking_viewer_inputs():
    fr, ft, shifts = shifted_batch(3, size=(64, 80), seed=1)
    v = TrackingViewer(fr, ft, boxes=torch.tensor([[4., 3., 2., 2.]] * 3), tau=0.01, features='lab')
    assert v.n == 3 and v.true_box == [] and v.size == [64, 80]
    with pytest.raises(ValueError, match='`frames_r` and `frames_t` must both be given'): TrackingViewer(fr, None)
    with pytest.raises(ValueError, match=r'`frames_r` must have shape \(B, 3, H, W\)'): TrackingViewer(fr[0], ft[0])
    with pytest.raises(ValueError, match='`boxes` must be \\(3, 4\\)'): TrackingViewer(fr, ft, boxes=torch.zeros(2, 4))
    with pytest.raises(ValueError, match='all of one size'):
        TrackingViewer(fr, ft, boxes=torch.tensor([[4., 3., 2., 2.]] * 2 + [[4., 3., 3., 2.]]))
    with pytest.raises(ValueError, match='`true_boxes` must be \\(3, 4\\)'):
        TrackingViewer(fr, ft, true_boxes=torch.zeros(3, 2))
    with pytest.raises(ValueError, match='`patch_size` must be an int'): TrackingViewer(fr, ft, patch_size=0)


# --- propagation player --------------------------------------------------------------------------------------------

def test_frame_jaccard_matches_metrics_and_handles_void():
    sv = synthetic_video(n_frames=5, size=(64, 64), n_shapes=2, seed=0)
    gt = sv.masks.clone(); gt[:, :4] = 255                                       # a void band
    pred = sv.masks.roll(3, dims=-1)
    J = frame_jaccard(pred, gt)
    ids = [k for k in gt.unique().tolist() if 0 < k < 255]
    want = torch.stack([jaccard(pred == k, gt == k, gt == 255) for k in ids]).mean(0)
    assert_near(J, want)
    assert_near(frame_jaccard(gt, gt), torch.ones(5, dtype=torch.float64))
    assert_near(frame_jaccard(pred, torch.zeros_like(gt)), torch.ones(5, dtype=torch.float64))
    with pytest.raises(ValueError, match='same shape'): frame_jaccard(pred[:3], gt)


def test_player_steps_caches_and_scores():
    sv = synthetic_video(n_frames=6, size=(96, 128), n_shapes=2, seed=1)
    pred = sv.masks.roll(2, dims=-1)
    p = PropagationPlayer(sv.frames, pred, sv.masks, display_size=48, title='synthetic')
    assert p.n_frames == 6 and len(p.j) == 6 and p.frames_disp.shape[-2:] == (48, 64)
    assert_near(p.j, frame_jaccard(pred, sv.masks).tolist(), scale=1)   # J is rounded to 4 decimals for the browser
    assert_near(p.j_mean, float(frame_jaccard(pred, sv.masks).mean()))
    seen = {}
    for t in range(6):
        p.set_state({'frame': t})
        seen[t] = p.pred_src
        assert p.gt_src.startswith('data:image/png')
    assert len(set(seen.values())) == 6
    p.set_state({'frame': 2})
    assert p.pred_src is seen[2]                                                 # cached
    nogt = PropagationPlayer(sv.frames, pred)
    assert nogt.j == [] and nogt.gt_src == '' and nogt.j_mean is None
    nogt.render_static()
    with pytest.raises(ValueError, match=r'`frame` must be in \[0, 5\]'): p.frame = 6
    with pytest.raises(ValueError, match=r'`masks` must be an integer id tensor \(T, H, W\) = \(6, 96, 128\)'):
        PropagationPlayer(sv.frames, pred[:2])
    with pytest.raises(ValueError, match='`gt` must be an integer id tensor'):
        PropagationPlayer(sv.frames, pred, sv.masks.float())
    with pytest.raises(TypeError, match='`frames` must be uint8'): PropagationPlayer(sv.frames.float(), pred)


def test_player_default_is_the_shipped_contrastcorr_result():
    p = PropagationPlayer()
    assert p.n_frames == 25 and p.j[0] == 1.0 and 0.85 < p.j_mean < 1
    assert p.frames_disp.shape[-2:] == (240, 427)


# --- static renderings and the JavaScript ------------------------------------------------------------------------

def test_static_renderings_have_titles_and_labels():
    ref, tgt = synthetic_pair_with_shift(size=(64, 96), shift=(8, 0), seed=2)
    sv = synthetic_video(n_frames=4, size=(64, 64), n_shapes=1, seed=0)
    for w in (AffinityExplorer(ref, tgt), TrackingViewer(), PropagationPlayer(sv.frames, sv.masks, sv.masks)):
        fig = w.render_static()
        assert isinstance(fig, plt.Figure) and fig._suptitle is not None
        for ax in fig.axes:
            if ax.get_label() == '<colorbar>': continue
            assert ax.get_title(), f"{type(w).__name__}: an axis without a title"


@pytest.mark.parametrize('cls', [AffinityExplorer, TrackingViewer, PropagationPlayer])
def test_javascript_uses_only_synced_traits(cls, tmp_path):
    esm = str(cls._esm)
    assert 'export default' in esm and 'function render' in esm
    names = set(re.findall(r"model\.(?:get|set)\('(\w+)'", esm))
    listened = set(re.findall(r"'(\w+)'", esm.split("on(model, [")[1].split("]")[0]))
    synced = {n for n in cls.class_trait_names() if cls.class_traits()[n].metadata.get('sync')}
    assert names <= synced, f"JavaScript reads/writes traits that are not synced: {names - synced}"
    assert listened <= synced, f"JavaScript listens to traits that are not synced: {listened - synced}"
    node = shutil.which('node')
    if node:   # a syntax check when Node.js is around
        (tmp_path/'w.mjs').write_text(esm)
        out = subprocess.run([node, '--check', str(tmp_path/'w.mjs')], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr


def test_web_assets_are_package_files():
    "The browser side lives in contrastcorr/web/: every file is used, parses (Node.js, when present), lines <= 120."
    files = {p.name for p in WEB_ASSETS.iterdir()}
    assert files == {'helpers.js', 'explorer.js', 'tracking.js', 'player.js', 'widgets.css'}, files
    used = {AffinityExplorer: 'explorer.js', TrackingViewer: 'tracking.js', PropagationPlayer: 'player.js'}
    for cls, name in used.items():
        assert str(cls._esm) == widget_esm(name) and str(cls._css) == WIDGET_CSS.read_text(encoding='utf-8')
    for name in files:
        long = [i + 1 for i,
                line in enumerate((WEB_ASSETS/name).read_text(encoding='utf-8').splitlines()) if len(line) > 120]
        assert not long, f"{name}: lines over 120 characters: {long}"
    node = shutil.which('node')
    if node:
        for name in sorted(files - {'widgets.css'}):
            out = subprocess.run([node, '--input-type=module', '--check'],
                                 input=(WEB_ASSETS/name).read_text(encoding='utf-8'),
                                 capture_output=True, text=True)
            assert out.returncode == 0, f"{name}: {out.stderr}"
