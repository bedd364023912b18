"""Long and property-based tests of contrastcorr.metrics (DAVIS J&F, PCK).

The oracle: `../shared/data/davis-sample/reference_scores.json` holds the official davis2017-evaluation scores of
the ContrastCorr and OSVOS predictions shipped next to it (9 sequences, 441 frames). Those tests skip only when
`../shared` is absent; `data/davis_oracle` (car-shadow, shipped) gives the same check without it.
"""
import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from contrastcorr.affinity import assert_near
from contrastcorr.data import asset_path, write_mask
from contrastcorr.metrics import (
    add_evaluate_args,
    boundary_f,
    boundary_pr,
    db_statistics,
    dilate,
    disk,
    evaluate_cli,
    evaluate_davis,
    evaluate_sequence,
    format_results,
    jaccard,
    kp_ref_len,
    pck,
    seg2bmap,
)

SHARED = Path(__file__).resolve().parents[1].parent/'shared'/'data'/'davis-sample'
needs_shared = pytest.mark.skipif(not (SHARED/'reference_scores.json').is_file(), reason='../shared/data/davis-sample '
                                                                                         'not available')
TOL = 1e-3  # the oracle is rounded to 4 decimals; we agree to ~5e-5
GLOBAL = ('J&F-Mean', 'J-Mean', 'J-Recall', 'J-Decay', 'F-Mean', 'F-Recall', 'F-Decay')


# ---------------------------------------------------------------- a numpy transcription of the official code
def ref_seg2bmap(seg):
    seg = seg.astype(bool)
    e, s, se = np.zeros_like(seg), np.zeros_like(seg), np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]; s[:-1, :] = seg[1:, :]; se[:-1, :-1] = seg[1:, 1:]
    b = seg ^ e | seg ^ s | seg ^ se
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = 0
    return b

def ref_dilate(b, r):
    "cv2.dilate with skimage disk(r): OR of the map shifted by every disk offset (no cropping, no run decomposition)."
    H, W = b.shape
    pad = np.pad(b, r)
    out = np.zeros_like(b)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            if dy * dy + dx * dx <= r * r: out |= pad[r + dy:r + dy + H, r + dx:r + dx + W]
    return out

def ref_f_measure(fg, gt, void=None, bound_th=0.008):
    void = np.zeros_like(fg, dtype=bool) if void is None else void.astype(bool)
    r = bound_th if bound_th >= 1 else int(np.ceil(bound_th * np.linalg.norm(fg.shape)))
    fb, gb = ref_seg2bmap(fg & ~void), ref_seg2bmap(gt & ~void)
    fd, gd = ref_dilate(fb, r), ref_dilate(gb, r)
    n_fg, n_gt = fb.sum(), gb.sum()
    if n_fg == 0 and n_gt > 0: p, rc = 1, 0
    elif n_fg > 0 and n_gt == 0: p, rc = 0, 1
    elif n_fg == 0 and n_gt == 0: p, rc = 1, 1
    else: p, rc = (fb & gd).sum() / n_fg, (gb & fd).sum() / n_gt
    return 0 if p + rc == 0 else 2 * p * rc / (p + rc)

def ref_iou(fg, gt, void=None):
    keep = np.ones_like(gt, dtype=bool) if void is None else ~void.astype(bool)
    u = ((fg | gt) & keep).sum()
    return 1.0 if u == 0 else ((fg & gt) & keep).sum() / u

def ref_db_statistics(v):
    v = np.asarray(v, dtype=float)
    M, R = np.nanmean(v), np.nanmean(v > 0.5)
    ids = (np.round(np.linspace(1, len(v), 5) + 1e-10) - 1).astype(np.uint8)
    bins = [v[ids[i]:ids[i + 1] + 1] for i in range(4)]
    return M, R, np.nanmean(bins[0]) - np.nanmean(bins[3])

def blob_masks(rng, n, H, W, p=0.5):
    "Random blobby masks (n, H, W) bool from upsampled noise (ragged contours, border contact)."
    small = rng.random((n, 1, max(H // 6, 2), max(W // 6, 2)))
    up = torch.nn.functional.interpolate(torch.from_numpy(small), size=(H, W), mode='bilinear', align_corners=False)
    return (up[:, 0] > p).numpy()


# ---------------------------------------------------------------- frame-level metrics vs the transcription
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), H=st.integers(2, 40), W=st.integers(2, 60),
       th=st.sampled_from([0.008, 0.03, 0.1, 1, 3]), p=st.floats(0.2, 0.9), use_void=st.booleans())
def test_frame_metrics_match_official_transcription(seed, H, W, th, p, use_void):
    rng = np.random.default_rng(seed)
    a, b = blob_masks(rng, 2, H, W, p)
    void = (rng.random((H, W)) > 0.9) if use_void else None
    vt = torch.from_numpy(void) if use_void else None
    assert abs(boundary_f(torch.from_numpy(a), torch.from_numpy(b), vt,
                          th).item() - ref_f_measure(a, b, void, th)) < 1e-12
    assert abs(jaccard(torch.from_numpy(a), torch.from_numpy(b), vt).item() - ref_iou(a, b, void)) < 1e-12
    np.testing.assert_array_equal(seg2bmap(torch.from_numpy(a)).numpy(), ref_seg2bmap(a))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), r=st.integers(0, 12), density=st.floats(0.0, 0.2))
def test_dilate_matches_shift_definition(seed, r, density):
    b = np.random.default_rng(seed).random((3, 23, 31)) < density
    out = dilate(torch.from_numpy(b), r).numpy()
    for i in range(3): np.testing.assert_array_equal(out[i], ref_dilate(b[i], r))
    assert disk(r).sum().item() == sum(1 for y in range(-r, r + 1) for x in range(-r, r + 1) if x * x + y * y <= r * r)


def test_batched_equals_per_frame():
    "Cropping to the union box of a batch must not change any frame's scores (small and border-touching objects)."
    rng = np.random.default_rng(0)
    a, b = blob_masks(rng, 5, 120, 200, 0.6), blob_masks(rng, 5, 120, 200, 0.6)
    a[0], b[0] = False, False
    a[1, 50:55, 90:97], b[1] = True, False
    a[2], b[2, 100:120, 180:200] = False, True
    At, Bt = torch.from_numpy(a), torch.from_numpy(b)
    f, j = boundary_f(At, Bt), jaccard(At, Bt)
    for i in range(5):
        assert f[i].item() == boundary_f(At[i], Bt[i]).item()
        assert_near(f[i].item(), ref_f_measure(a[i], b[i]), dtype=torch.float64)
        assert_near(j[i].item(), ref_iou(a[i], b[i]), dtype=torch.float64)
    assert f[:3].tolist() == [1.0, 0.0, 0.0] and j[:3].tolist() == [1.0, 0.0, 0.0]


@settings(max_examples=40, deadline=None)
@given(v=st.lists(st.floats(0, 1), min_size=1, max_size=120))
def test_db_statistics_matches_official(v):
    np.testing.assert_allclose(db_statistics(v), ref_db_statistics(v), atol=1e-12)


def test_precision_recall_empty_rules():
    e, m = torch.zeros(50, 60, dtype=torch.bool), torch.zeros(50, 60, dtype=torch.bool)
    m[10:20, 10:30] = True
    assert [x.item() for x in boundary_pr(e, m)] == [1.0, 0.0]
    assert [x.item() for x in boundary_pr(m, e)] == [0.0, 1.0]
    assert [x.item() for x in boundary_pr(e, e)] == [1.0, 1.0]


# ---------------------------------------------------------------- sequences and folders
def make_davis(root: Path, gt: np.ndarray, preds: dict, seq='toy'):
    "Write a DAVIS-layout root with GT ids (T, H, W) and prediction folders {name: (T, H, W)}."
    for t, m in enumerate(gt): write_mask(root/'Annotations'/'480p'/seq/f'{t:05d}.png', m)
    for name, p in preds.items():
        for t, m in enumerate(p): write_mask(root/'predictions'/name/seq/f'{t:05d}.png', m)
    return root


def multi_object_video(rng, T=9, H=60, W=90, K=3):
    gt = np.zeros((T, H, W), np.uint8)
    for k in range(1, K + 1):
        y, x = rng.integers(0, H - 15), rng.integers(0, W - 20)
        for t in range(T): gt[t, y:y + 12, min(x + t, W - 1):x + t + 18] = k
    pred = gt.copy()
    noise = rng.random((T, H, W))
    pred[noise > 0.97] = rng.integers(0, K + 1)  # specks of random ids
    pred = np.roll(pred, 2, axis=2)
    return gt, pred


def test_evaluate_davis_multi_object_matches_transcription(tmp_path):
    rng = np.random.default_rng(1)
    gt, pred = multi_object_video(rng)
    gt[4, :3, :5] = 255  # void pixels: background for the official tool
    root = make_davis(tmp_path, gt, {'m': pred})
    res = evaluate_davis(root, root/'predictions/m', sequences=['toy'])
    g, p = np.where(gt == 255, 0, gt)[1:-1], pred[1:-1]
    for k in (1, 2, 3):
        J = [ref_iou(p[t] == k, g[t] == k) for t in range(len(g))]
        Fm = [ref_f_measure(p[t] == k, g[t] == k) for t in range(len(g))]
        o = res['per_object'][f'toy_{k}']
        np.testing.assert_allclose([o['J-Mean'], o['J-Recall'], o['J-Decay']], ref_db_statistics(J), atol=1e-12)
        np.testing.assert_allclose([o['F-Mean'], o['F-Recall'], o['F-Decay']], ref_db_statistics(Fm), atol=1e-12)
    assert res['per_sequence']['toy']['objects'] == 3 and len(res['per_frame']['toy_1']['J']) == len(gt) - 2
    assert_near(res['J-Mean'], np.mean([res['per_object'][f'toy_{k}']['J-Mean'] for k in (1, 2, 3)]),
                dtype=torch.float64)
    assert_near(res['J&F-Mean'], (res['J-Mean'] + res['F-Mean']) / 2, dtype=torch.float64)
    same = evaluate_sequence(torch.from_numpy(pred), torch.from_numpy(gt))
    assert_near(same['J-Mean'], res['J-Mean'], dtype=torch.float64)
    assert 'toy_3' in format_results(res)


def test_void_exclusion(tmp_path):
    gt = np.zeros((4, 40, 40), np.uint8); gt[:, 10:20, 10:20] = 1
    pred = gt.copy(); pred[:, 10:20, 20:25] = 1  # 5 columns too many...
    gt[:, :, 20:25] = 255  # ...which are void
    root = make_davis(tmp_path, gt, {'m': pred})
    official = evaluate_davis(root, root/'predictions/m')
    excluded = evaluate_davis(root, root/'predictions/m', exclude_void=True)
    assert_near(official['J-Mean'], 100 / 150, dtype=torch.float64); assert excluded['J-Mean'] == 1.0


def test_missing_object_scores_zero(tmp_path):
    rng = np.random.default_rng(2)
    gt, pred = multi_object_video(rng, K=2)
    pred[pred == 2] = 0  # object 2 never predicted (the official tool would stop here)
    root = make_davis(tmp_path, gt, {'m': pred})
    res = evaluate_davis(root, root/'predictions/m')
    assert res['per_object']['toy_2']['J-Mean'] == 0.0 and res['per_object']['toy_2']['F-Mean'] == 0.0


def test_clear_errors(tmp_path):
    rng = np.random.default_rng(3)
    gt, pred = multi_object_video(rng, K=2)
    root = make_davis(tmp_path, gt, {'m': pred, 'more': np.where(pred == 2, 3, pred), 'small': pred[:, :30]})
    with pytest.raises(ValueError, match=r'00001\.png contains object id 3 but .* only 2 object'):
        evaluate_davis(root, root/'predictions/more')
    with pytest.raises(ValueError, match=r'is 30×90 but the ground truth is 60×90'):
        evaluate_davis(root, root/'predictions/small')
    (root/'predictions/m/toy/00004.png').unlink()
    with pytest.raises(FileNotFoundError, match=r'prediction frame missing: .*toy/00004\.png'):
        evaluate_davis(root, root/'predictions/m')
    (root/'predictions/m/toy/00004.png').write_bytes(b'\x89PNG garbage')
    with pytest.raises(ValueError, match=r'cannot read prediction PNG .*00004\.png'):
        evaluate_davis(root, root/'predictions/m')
    Image.fromarray(pred[4]).convert('RGB').save(root/'predictions/m/toy/00004.png')  # RGB, not indexed
    with pytest.raises(ValueError, match=r'cannot read prediction PNG .*00004\.png'):
        evaluate_davis(root, root/'predictions/m')
    with pytest.raises(FileNotFoundError, match=r"no predictions for sequence 'toy'"):
        evaluate_davis(root, tmp_path)
    with pytest.raises(FileNotFoundError, match='predictions folder not found'):
        evaluate_davis(root, tmp_path/'nope')
    with pytest.raises(FileNotFoundError, match=r"no annotations for sequence 'dog'"):
        evaluate_davis(root, root/'predictions/m', sequences='dog')
    with pytest.raises(ValueError, match='same shape'):
        evaluate_sequence(torch.zeros(3, 4, 4, dtype=torch.uint8), torch.zeros(3, 4, 5, dtype=torch.uint8))


def test_first_and_last_predictions_not_needed(tmp_path):
    "As in the official tool, frames 0 and T-1 are not scored, so their predictions may be missing."
    rng = np.random.default_rng(4)
    gt, pred = multi_object_video(rng, K=2)
    root = make_davis(tmp_path, gt, {'m': pred})
    full = evaluate_davis(root, root/'predictions/m')
    for t in (0, len(gt) - 1): (root/'predictions/m/toy'/f'{t:05d}.png').unlink()
    assert evaluate_davis(root, root/'predictions/m')['J&F-Mean'] == full['J&F-Mean']


# ---------------------------------------------------------------- the oracle
def _check_block(res, block):
    for key in GLOBAL: assert abs(res[key] - block[key]) < TOL, key
    for obj, v in block['per_object'].items():
        assert abs(res['per_object'][obj]['J-Mean'] - v['J']) < TOL, obj
        assert abs(res['per_object'][obj]['F-Mean'] - v['F']) < TOL, obj


@pytest.mark.parametrize('method', ['contrastcorr', 'osvos'])
def test_shipped_oracle_car_shadow(method):
    root = asset_path('davis_oracle')
    ref = json.loads((root/'reference_scores.json').read_text())[method]['car-shadow_1']
    res = evaluate_davis(root, root/'predictions'/method)
    assert list(res['per_object']) == ['car-shadow_1']
    assert abs(res['J-Mean'] - ref['J']) < TOL and abs(res['F-Mean'] - ref['F']) < TOL


@needs_shared
@pytest.mark.parametrize('method', ['contrastcorr', 'osvos'])
def test_oracle_official_tool_single_object(method):
    "The 6 single-object sequences of ImageSets/2017/val.txt: every object and all 7 global numbers."
    ref = json.loads((SHARED/'reference_scores.json').read_text())[method]['official_tool_single_object_seqs']
    res = evaluate_davis(SHARED, SHARED/'predictions'/method)
    assert sorted(res['per_object']) == sorted(ref['per_object'])
    _check_block(res, ref)


@needs_shared
@pytest.mark.parametrize('method', ['contrastcorr', 'osvos'])
def test_oracle_binary_union_all9(method):
    "All 9 sequences against binary-union GT: predictions binarised (id > 0), per-sequence J/F and the means."
    ref = json.loads((SHARED/'reference_scores.json').read_text())[method]['binary_union_all9_seqs']
    t0 = time.time()
    res = evaluate_davis(SHARED, SHARED/'predictions'/method, year='2016', binarize=True)
    print(f'{method}: 9 sequences, {sum(s["frames"] for s in res["per_sequence"].values())} frames in '
          f'{time.time() - t0:.1f}s')
    assert sorted(res['per_sequence']) == sorted(ref['per_seq'])
    for seq, v in ref['per_seq'].items():
        assert abs(res['per_sequence'][seq]['J-Mean'] - v['J']) < TOL, seq
        assert abs(res['per_sequence'][seq]['F-Mean'] - v['F']) < TOL, seq
    assert abs(res['J-Mean'] - ref['J-Mean']) < TOL and abs(res['F-Mean'] - ref['F-Mean']) < TOL


@needs_shared
def test_multi_object_predictions_need_binarize_against_union_gt():
    "Multi-object predictions vs the binary-union GT of kite-surf: ids 2, 3 exceed the GT's 1 object -> clear error."
    with pytest.raises(ValueError, match=r"object id [23] but the ground truth of 'kite-surf' has only 1 object"):
        evaluate_davis(SHARED, SHARED/'predictions/contrastcorr', sequences=['kite-surf'])


# ---------------------------------------------------------------- command line
def test_cli_json_and_table(capsys):
    import argparse
    root = asset_path('davis_oracle')
    argv = ['--davis-root', str(root), '--predictions', str(root/'predictions/contrastcorr'), '--sequences',
            'car-shadow']
    parser = add_evaluate_args(argparse.ArgumentParser())
    res = evaluate_cli(parser.parse_args(argv + ['--json']))
    out = json.loads(capsys.readouterr().out)
    assert_near(out['J-Mean'], res['J-Mean']); assert 'per_frame' not in out
    assert out['per_object']['car-shadow_1']['J-Mean'] == pytest.approx(0.8168, abs=TOL)
    evaluate_cli(argv)  # an argv list works too
    table = capsys.readouterr().out
    assert 'J&F-Mean' in table and 'car-shadow_1' in table
    with pytest.raises(SystemExit): evaluate_cli(['--davis-root', str(root)])  # --predictions is required
    with pytest.raises(FileNotFoundError, match='predictions folder not found'):
        evaluate_cli(['--davis-root', str(root), '--predictions', str(root/'nope')])


# ---------------------------------------------------------------- PCK
@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), T=st.integers(1, 6), K=st.integers(1, 15),
       scale=st.floats(0.1, 10), shift=st.tuples(st.floats(-100, 100), st.floats(-100, 100)))
def test_pck_invariances(seed, T, K, scale, shift):
    rng = np.random.default_rng(seed)
    gt = torch.from_numpy(rng.uniform(0, 200, (T, K, 2)))
    pred = gt + torch.from_numpy(rng.normal(0, 15, (T, K, 2)))
    base = pck(pred, gt, alpha=(0.05, 0.1, 0.2, 0.5))
    sh = torch.tensor(shift, dtype=torch.float64)
    moved = pck(pred * scale + sh, gt * scale + sh, alpha=(0.05, 0.1, 0.2, 0.5))
    for a in base: assert_near(moved[a], base[a], dtype=torch.float64)
    vals = list(base.values())
    assert all(x <= y for x, y in zip(vals, vals[1:]))  # larger α, more correct keypoints
    assert pck(gt, gt)[0.1] == 1.0


def test_pck_conventions():
    gt = torch.tensor([[[0., 0.], [30., 40.]]])  # (1, 2, 2): box 30 x 40, diagonal 50
    assert_near(kp_ref_len(gt).item(), 30.0)  # 0.6 * 50
    assert kp_ref_len(gt, mode='max_side').item() == 40.0
    pred = gt + torch.tensor([[[3.0, 0.0], [0.0, 3.5]]])
    assert pck(pred, gt, alpha=0.1) == {0.1: 0.5}  # 3 <= 3.0 < 3.5
    assert pck(pred, gt, ref_len=kp_ref_len(gt, mode='max_side'), alpha=0.1) == {0.1: 1.0}
    assert pck(pred[0], gt[0], alpha=0.1) == {0.1: 0.5}  # (K, 2) accepted
    gt3 = torch.tensor([[[0., 0.], [30., 40.], [200., 0.]]])  # joint 2 invisible: not in the box, not scored
    pred3 = gt3 + torch.tensor([[[3.0, 0.0], [0.0, 0.0], [50.0, 0.0]]])
    vis = torch.tensor([[True, True, False]])
    assert_near(kp_ref_len(gt3, visible=vis).item(), 30.0)
    assert pck(pred3, gt3, alpha=0.1, visible=vis) == {0.1: 1.0}
    assert_near(pck(pred3, gt3, alpha=0.1)[0.1], 2 / 3)  # box 200 x 40 when all visible: ref 122.4
    with pytest.raises(ValueError, match='visible'): pck(pred, gt, visible=torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match='same shape'): pck(pred[:, :1], gt)


@pytest.mark.gpu
def test_metrics_on_cuda_match_cpu():
    rng = np.random.default_rng(5)
    a, b = (torch.from_numpy(blob_masks(rng, 4, 96, 160, 0.55)) for _ in range(2))
    for fn in (jaccard, boundary_f):
        assert_near(fn(a.cuda(), b.cuda()).cpu(), fn(a, b))
    assert dilate(a.cuda(), 5).device.type == 'cuda'
