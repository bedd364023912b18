"Property and longer tests of contrastcorr.losses (the notebook 05_losses has the worked examples)."
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastcorr.affinity import assert_near, mutual_match
from contrastcorr.losses import (
    colour_switch_loss,
    concentration_loss,
    cons_loss,
    cycle_coords,
    cycle_loss,
    inter_loss,
    intra_loss,
    lab_l1,
    self_recon_loss,
    self_reconstruct,
    sparse_loss,
    switch_reconstruct,
    window_variance,
)
from contrastcorr.tracking import cell_grid
from contrastcorr.transforms import inter_transform, intra_transform

settings.register_profile('ci', max_examples=20, deadline=None)
settings.load_profile('ci')


def _batch(B=3, C=16, h=8, w=8, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    F_r = scale * torch.nn.functional.normalize(torch.randn(B, C, h, w, generator=g), dim=1)
    F_t = scale * torch.nn.functional.normalize(torch.randn(B, C, h, w, generator=g), dim=1)
    L_r, L_t = torch.rand(B, 3, h, w, generator=g) * 2 - 1, torch.rand(B, 3, h, w, generator=g) * 2 - 1
    return F_r, F_t, L_r, L_t


def _all(F_r, F_t, L_r, L_t, tau):
    hw = F_r.shape[-2:]
    it = intra_transform(F_r, F_t, L_r, tau)
    nt = inter_transform(F_r, F_t, L_r, tau, intra=it)
    return {'intra': intra_loss(it.L_hat, L_t), 'inter': inter_loss(nt.L_hat, L_t),
            'cons': cons_loss(nt.L_hat, it.L_hat),
            'sparse': sparse_loss(nt.own_mass), 'cycle': cycle_loss(it.S, hw), 'self': self_recon_loss(F_r, L_r, tau),
            'switch': colour_switch_loss(it.A_rt, L_t, L_r), 'conc': concentration_loss(it.S, hw, hw)}


@given(dL=st.floats(-1, 1), da=st.floats(-1, 1), db=st.floats(-1, 1), w=st.floats(0, 20))
def test_lab_l1_closed_form(dL, da, db, w):
    x = torch.rand(2, 3, 4, 5)
    y = x + torch.tensor([dL, da, db])[:, None, None]
    # y − x is rounded at the scale of the inputs (x in [0, 1)), not of the difference: compare at that scale
    assert_near(lab_l1(y, x, ab_weight=w), torch.tensor(abs(dL) + w * (abs(da) + abs(db))), scale=1 + 2 * w)


def test_lab_l1_threshold_and_reduction():
    x = torch.zeros(3, 3, 2, 2)
    y = x.clone(); y[0, 1] = 1.0; y[1, 0] = 0.5                    # per-sample: 10, 0.5, 0
    assert_near(lab_l1(y, x, reduction='none'), torch.tensor([10., 0.5, 0.]))
    assert_near(lab_l1(y, x, thr=2.5), torch.tensor(0.5 / 3))
    with pytest.raises(ValueError, match='`reduction`'):
        lab_l1(y, x, reduction='sum')


def test_single_video_sparse_and_cons_are_zero():
    F_r, F_t, L_r, L_t = _batch(B=1)
    losses = _all(F_r, F_t, L_r, L_t, 0.1)
    assert losses['sparse'].item() == 0.0 and losses['cons'].item() == 0.0
    assert_near(losses['inter'], losses['intra'])


@given(n=st.integers(2, 8), m=st.integers(2, 8), dx=st.integers(-3, 3), dy=st.integers(-3, 3))
def test_cycle_zero_for_any_circular_translation(n, m, dx, dy):
    idx = torch.arange(n * m).view(n, m).roll((dy, dx), (0, 1)).flatten()
    S = torch.eye(n * m)[:, idx][None] / 1e-3                     # a permutation affinity, very sharp
    assert_near(cycle_loss(S, (n, m)), torch.tensor(0.))
    assert_near(cycle_coords(S, (n, m))[0], cell_grid((n, m), True))


def test_cycle_detects_many_to_one():
    S = torch.zeros(1, 16, 16); S[0, :, 0] = 1e3                  # every reference position goes to target 0
    assert cycle_loss(S, (4, 4)) > 0.3


def test_concentration_known_values():
    d = 2 / 32
    expected = 2 * (8 ** 2 - 1) / 12 * d ** 2
    S = torch.eye(1024)[None] / 1e-3
    assert_near(concentration_loss(S, 32, 32), torch.tensor(expected))
    shift = torch.arange(1024).view(32, 32).roll(1, 0).flatten()   # vertical one-cell circular shift
    per = concentration_loss(S[:, shift].transpose(1, 2), 32, 32, reduction='none').view(4, 4)
    assert_near(per[1:3], torch.full((2, 4), expected))
    grid = cell_grid((32, 32), True).T.reshape(1, 2, 32, 32)
    assert_near(window_variance(grid + torch.tensor([0.3, -0.2])[:, None, None]), torch.full((1, 16), expected / 2))
    assert concentration_loss(torch.zeros(1, 1024, 1024), 32, 32) < 1e-10   # uniform: everything collapses


def test_concentration_rectangular_and_errors():
    S = torch.randn(2, 16 * 24, 8 * 16)
    assert torch.isfinite(concentration_loss(S, (16, 24), (8, 16)))
    with pytest.raises(ValueError, match="reduction='none' needs size_r == size_t"):
        concentration_loss(S, (16, 24), (8, 16), reduction='none')
    with pytest.raises(ValueError, match='h·w'):
        concentration_loss(S, (16, 16), (8, 16))


def test_mutual_match_known_value():
    out = mutual_match(torch.tensor([[[4., 1.], [2., 3.]]]))
    assert_near(out, torch.tensor([[[4., 1 / 12], [2 / 3, 3.]]]))


def test_self_reconstruction_excludes_self():
    F_r, _, L_r, _ = _batch(B=2, C=64)                            # random features: self is by far the best match
    L_hat = self_reconstruct(F_r, L_r, tau=1e-3)
    assert (L_hat - L_r).abs().mean() > 0.1                      # it may not copy itself
    Fp = torch.nn.functional.normalize(torch.randn(1, 8, 5), dim=1).repeat(1, 1, 2)
    Lp = torch.rand(1, 3, 5).repeat(1, 1, 2)
    assert_near(self_recon_loss(Fp, Lp, tau=1e-3), torch.tensor(0.))


def test_switch_with_doubly_stochastic_affinity():
    perm = torch.randperm(12)
    A = torch.eye(12)[:, perm][None]                              # A[k, j] = 1 iff k = perm[j]
    L_t = torch.rand(1, 3, 12)
    assert_near(switch_reconstruct(A, L_t), L_t[:, :, perm.argsort()])
    assert_near(colour_switch_loss(A, L_t, L_t[:, :, perm.argsort()]), torch.tensor(0.))


@pytest.mark.parametrize('tau', [1e-3, 1e-4])
def test_small_tau_finite_losses_and_gradients(tau):
    F_r, F_t, L_r, L_t = _batch(scale=30.0)
    F_r.requires_grad_(); F_t.requires_grad_()
    losses = _all(F_r, F_t, L_r, L_t, tau)
    assert all(torch.isfinite(v) for v in losses.values()), losses
    sum(losses.values()).backward()
    assert torch.isfinite(F_r.grad).all() and torch.isfinite(F_t.grad).all()


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_autocast_matches_float32(dtype):
    F_r, F_t, L_r, L_t = _batch(seed=3)
    ref = _all(F_r.to(dtype).float(), F_t.to(dtype).float(), L_r, L_t, 0.05)
    with torch.autocast('cpu', dtype=dtype):
        amp = _all(F_r.to(dtype), F_t.to(dtype), L_r, L_t, 0.05)
    for k in ref:
        assert amp[k].dtype == torch.float32, k
        assert_near(amp[k], ref[k])


def test_errors_name_arguments():
    with pytest.raises(ValueError, match='`own_mass`'):
        sparse_loss([1.0])
    with pytest.raises(ValueError, match='`pred`'):
        intra_loss(torch.zeros(2, 2, 4), torch.zeros(2, 2, 4))
    with pytest.raises(ValueError, match='`L_t` must be'):
        colour_switch_loss(torch.rand(1, 4, 6), torch.rand(1, 3, 5), torch.rand(1, 3, 4))
    with pytest.raises(ValueError, match='at least 2 positions'):
        self_reconstruct(torch.rand(1, 3, 1), torch.rand(1, 3, 1))
    with pytest.raises(ValueError, match='`U` must be'):
        window_variance(torch.rand(1, 3, 8, 8))
