"Property and longer tests of contrastcorr.tracking (the notebook 03_tracking has the worked examples)."
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastcorr.affinity import assert_near
from contrastcorr.data import synthetic_pair_with_shift, unit_lab
from contrastcorr.tracking import (
    boxes_to_xyxy,
    cell_grid,
    cells_to_normalized,
    clamp_boxes,
    context_features,
    coords_to_box,
    crop,
    normalized_to_cells,
    random_fourier_features,
    random_patch_boxes,
    soft_argmax,
    track_patch,
    xyxy_to_boxes,
)

settings.register_profile('ci', max_examples=25, deadline=None)
settings.load_profile('ci')


@given(h=st.integers(1, 9), w=st.integers(1, 9))
def test_grid_roundtrip_and_range(h, w):
    g = cell_grid((h, w))
    n = cells_to_normalized(g, (h, w))
    assert n.abs().max() < 1
    assert_near(normalized_to_cells(n, (h, w)), g)
    assert_near(g.mean(0), torch.tensor([w / 2, h / 2]))


@given(H=st.integers(4, 12), W=st.integers(4, 12), ph=st.integers(1, 4), pw=st.integers(1, 4), seed=st.integers(0, 99))
def test_cell_aligned_crop_is_slicing(H, W, ph, pw, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 2, H, W, generator=g)
    boxes = random_patch_boxes(3, (H, W), (ph, pw), g)
    out = crop(x, boxes, (ph, pw))
    for b, (x0, y0, _, _) in enumerate(boxes_to_xyxy(boxes).long().tolist()):
        assert_near(out[b], x[b, :, y0:y0 + ph, x0:x0 + pw])


@given(cx=st.floats(-20, 40), cy=st.floats(-20, 40), w=st.floats(0.5, 30), h=st.floats(0.5, 30))
def test_clamp_boxes_inside_and_idempotent(cx, cy, w, h):
    b = clamp_boxes(torch.tensor([[cx, cy, w, h]]), (10, 16))
    x0, y0, x1, y1 = boxes_to_xyxy(b)[0].tolist()
    assert x0 >= -1e-5 and y0 >= -1e-5 and x1 <= 16 + 1e-5 and y1 <= 10 + 1e-5
    assert_near(clamp_boxes(b, (10, 16)), b)
    assert_near(xyxy_to_boxes(boxes_to_xyxy(b)), b)


def test_crop_gradcheck_input_and_box():
    x = torch.randn(2, 2, 7, 9, dtype=torch.float64, requires_grad=True)
    # no sample on a cell centre
    b = torch.tensor([[4.3, 3.45, 3.3, 2.7], [5.1, 3.9, 4.6, 3.1]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, b: crop(x, b, (3, 4)), (x, b), eps=1e-6, atol=1e-5)


def test_soft_argmax_small_tau_is_argmax():
    S = torch.randn(2, 5, 12)                                   # (B, N, h·w) on a 3×4 map
    idx = S.argmax(-1)
    assert_near(soft_argmax(S / 1e-4, (3, 4)), cell_grid((3, 4))[idx])


@given(dx=st.floats(-4, 4), dy=st.floats(-4, 4))
def test_rff_translation_found(dx, dy):
    d = torch.tensor([dx, dy])
    p_ref = cell_grid((6, 6)) + 5
    F_r = random_fourier_features(p_ref).T.reshape(1, -1, 6, 6)
    F_t = random_fourier_features(cell_grid((16, 16)) - d).T.reshape(1, -1, 16, 16)
    box, coords = track_patch(F_r, F_t, tau=0.05)
    assert (box[0, :2] - (p_ref + d).mean(0)).abs().max() < 0.5
    assert (coords[0] - (p_ref + d)).abs().max() < 0.75         # every point, not just the mean


@pytest.mark.parametrize('s', [0.6, 0.8, 1.25, 1.7])
def test_rff_scale_direction_and_value(s):
    c = torch.tensor([8., 8.])
    p_ref = cell_grid((6, 6)) + 5
    F_r = random_fourier_features(p_ref).T.reshape(1, -1, 6, 6)
    F_t = random_fourier_features(c + (cell_grid((16, 16)) - c) / s).T.reshape(1, -1, 16, 16)
    box, _ = track_patch(F_r, F_t, tau=0.05, scale=True, scale_range=(0.25, 4))
    assert ((box[0, 2:] - 6 * s).abs() < 0.15 * 6 * s).all()
    fixed, _ = track_patch(F_r, F_t, tau=0.05)
    assert fixed[0, 2:].tolist() == [6.0, 6.0]


def test_image_translation_many_seeds():
    "Raw Lab context features find a translated texture within one cell on most textures (some are washed out)."
    errs = []
    for seed in range(6):
        for shift in [(13, -7), (-20, 11), (5, 3), (-9, -14)]:
            f0, f1 = synthetic_pair_with_shift((128, 128), shift, seed=seed)
            F0, F1 = [context_features(unit_lab(f[None])) for f in (f0, f1)]
            box, _ = track_patch(F0[..., 4:10, 5:11], F1, tau=0.002)
            truth = torch.tensor([8 + shift[0] / 8, 7 + shift[1] / 8])
            errs.append((box[0, :2] - truth).abs().max().item())
    errs = torch.tensor(errs)
    assert errs.median() < 0.5 and (errs < 1).float().mean() >= 0.9, errs


def test_scale_needs_two_cells_and_shapes():
    with pytest.raises(ValueError, match='at least 2×2'):
        coords_to_box(torch.zeros(1, 3, 2), (1, 3), (8, 8), scale=True)
    with pytest.raises(ValueError, match='`coords` must be'):
        coords_to_box(torch.zeros(1, 3, 3), (1, 3), (8, 8))
    with pytest.raises(ValueError, match='`out_size`'):
        crop(torch.zeros(1, 1, 4, 4), torch.tensor([[2., 2., 2., 2.]]), (0, 2))


def test_float64_and_grad_to_features():
    F_r = torch.randn(2, 8, 3, 3, dtype=torch.float64, requires_grad=True)
    F_t = torch.randn(2, 8, 6, 7, dtype=torch.float64)
    box, coords = track_patch(F_r, F_t, tau=0.5, scale=True)
    assert box.dtype == torch.float64 and coords.shape == (2, 9, 2)
    crop(F_t, box, 3).sum().backward()
    assert F_r.grad.abs().sum() > 0
    assert math.isfinite(F_r.grad.abs().sum().item())
