"Property and longer tests of contrastcorr.transforms (the notebook 04_transforms has the worked examples)."
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastcorr.affinity import assert_near
from contrastcorr.transforms import InterVideoStream, inter_transform, inter_transform_dense, intra_transform

settings.register_profile('ci', max_examples=20, deadline=None)
settings.load_profile('ci')


def _inputs(B, C, D, N_r, N_t, seed, dtype=torch.float64, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(B, C, N_r, generator=g, dtype=dtype),
            scale * torch.randn(B, C, N_t, generator=g, dtype=dtype),
            torch.rand(B, D, N_r, generator=g, dtype=dtype), torch.rand(B, D, N_t, generator=g, dtype=dtype))


def _run(fn, F_r, F_t, L_r, L_t, tau):
    F_r, F_t, L_r = [x.clone().requires_grad_() for x in (F_r, F_t, L_r)]
    out = fn(F_r, F_t, L_r, tau)
    loss = (out.L_hat - L_t).abs().mean() + (1 - out.own_mass).abs().mean() + out.lse.mean() * 1e-2
    loss.backward()
    return out, (F_r.grad, F_t.grad, L_r.grad)


@given(B=st.integers(1, 5), C=st.integers(1, 6), D=st.integers(1, 4), N_r=st.integers(1, 9), N_t=st.integers(1, 9),
       tau=st.floats(0.05, 3.0), seed=st.integers(0, 1000))
def test_stream_equals_dense_float64(B, C, D, N_r, N_t, tau, seed):
    args = _inputs(B, C, D, N_r, N_t, seed)
    fast, gf = _run(inter_transform, *args, tau)
    dense, gd = _run(inter_transform_dense, *args, tau)
    for a, b in [(fast.L_hat, dense.L_hat), (fast.own_mass, dense.own_mass), (fast.lse, dense.lse),
                 (fast.video_mass, dense.video_mass), *zip(gf, gd)]:
        assert_near(a, b, dtype=torch.float64)


@given(B=st.integers(2, 6), seed=st.integers(0, 1000))
def test_stream_equals_dense_float32(B, seed):
    args = _inputs(B, 16, 3, 20, 20, seed, torch.float32)
    fast, gf = _run(inter_transform, *args, 0.5)
    dense, gd = _run(inter_transform_dense, *args, 0.5)
    assert_near(fast.L_hat, dense.L_hat)
    assert_near(fast.own_mass, dense.own_mass)
    for a, b in zip(gf, gd): assert_near(a, b)


@given(C=st.integers(1, 8), N=st.integers(1, 16), tau=st.floats(0.01, 2.0), seed=st.integers(0, 1000))
def test_single_video_inter_is_intra(C, N, tau, seed):
    F_r, F_t, L_r, _ = _inputs(1, C, 3, N, N, seed, torch.float32)
    inter, intra = inter_transform(F_r, F_t, L_r, tau), intra_transform(F_r, F_t, L_r, tau)
    assert_near(inter.L_hat, intra.L_hat)
    assert torch.equal(inter.own_mass, torch.ones_like(inter.own_mass))


def test_mass_partition_and_reuse_of_intra():
    F_r, F_t, L_r, _ = _inputs(4, 8, 2, 12, 10, 0, torch.float32)
    intra = intra_transform(F_r, F_t, L_r, 0.3)
    a, b = inter_transform(F_r, F_t, L_r, 0.3, intra=intra), inter_transform(F_r, F_t, L_r, 0.3)
    assert_near(a.L_hat, b.L_hat)
    assert_near(a.video_mass.sum(1), torch.ones(4, 10))
    assert_near(a.video_mass.diagonal(dim1=0, dim2=1).T, a.own_mass)


def test_gradcheck_custom_function():
    g = torch.Generator().manual_seed(3)
    args = [torch.randn(4, 3, 5, generator=g, dtype=torch.float64, requires_grad=True),
            torch.randn(4, 3, 4, generator=g, dtype=torch.float64, requires_grad=True),
            torch.rand(4, 2, 5, generator=g, dtype=torch.float64, requires_grad=True),
            torch.randn(4, 4, generator=g, dtype=torch.float64, requires_grad=True),
            torch.rand(4, 2, 4, generator=g, dtype=torch.float64, requires_grad=True)]
    assert torch.autograd.gradcheck(lambda *a: InterVideoStream.apply(*a, 0.6)[:2], args)


@pytest.mark.parametrize('tau', [1e-3, 1e-4])
def test_tiny_temperature_is_finite_and_exact(tau):
    F_r, F_t, L_r, L_t = _inputs(3, 8, 3, 16, 16, 1, torch.float32, scale=10.0)
    out, grads = _run(inter_transform, F_r, F_t, L_r, L_t, tau)
    dense = inter_transform_dense(F_r, F_t, L_r, tau)
    assert all(torch.isfinite(x).all() for x in (out.L_hat, out.own_mass, out.lse, *grads))
    assert_near(out.L_hat, dense.L_hat)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_autocast_low_precision(dtype):
    F_r, F_t, L_r, L_t = _inputs(3, 16, 3, 16, 16, 2, torch.float32)
    ref, gref = _run(inter_transform, F_r.to(dtype).float(), F_t.to(dtype).float(), L_r, L_t, 0.2)
    with torch.autocast('cpu', dtype=dtype):
        out, g = _run(inter_transform, F_r.to(dtype), F_t.to(dtype), L_r, L_t, 0.2)
    assert out.L_hat.dtype == torch.float32 and g[0].dtype == dtype
    assert_near(out.L_hat, ref.L_hat)
    torch.testing.assert_close(g[0].float(), gref[0], atol=1e-2, rtol=1e-2)


def test_layout_in_layout_out():
    F_r, F_t, L_r, _ = _inputs(2, 4, 3, 12, 12, 4, torch.float32)
    flat = inter_transform(F_r, F_t, L_r, 0.5)
    spat = inter_transform(F_r.view(2, 4, 3, 4), F_t.view(2, 4, 4, 3), L_r.view(2, 3, 3, 4), 0.5)
    assert spat.L_hat.shape == (2, 3, 4, 3)
    assert_near(spat.L_hat.flatten(2), flat.L_hat)


def test_errors_name_arguments():
    F_r, F_t, L_r, _ = _inputs(2, 4, 3, 12, 10, 5, torch.float32)
    with pytest.raises(ValueError, match='`L_r` must be'):
        inter_transform(F_r, F_t, L_r[:, :, :5])
    with pytest.raises(ValueError, match='`F_t` must have shape'):
        inter_transform(F_r, F_t[0, 0], L_r)
    with pytest.raises(ValueError, match='`intra` must come from'):
        inter_transform(F_r, F_t, L_r, intra=intra_transform(F_r, F_r, L_r))
