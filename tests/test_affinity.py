"Property-based checks: every memory-safe propagation form equals the dense definition."
import pytest
import torch
from hypothesis import given, settings, strategies as st

from contrastcorr.affinity import affinity, reconstruct, propagate_labels, propagate_labels_dense, mutual_match


@st.composite
def problems(draw):
    B, C, T = draw(st.integers(1, 2)), draw(st.integers(1, 6)), draw(st.integers(1, 3))
    h, w, D = draw(st.integers(1, 5)), draw(st.integers(1, 5)), draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    F_t = torch.randn(B, C, h, w, generator=g, dtype=torch.float64)
    F_r = torch.randn(B, C, T, h, w, generator=g, dtype=torch.float64)
    L_r = torch.rand(B, D, T, h, w, generator=g, dtype=torch.float64)
    kw = dict(tau=draw(st.sampled_from([0.05, 0.3, 1.0, 3.0])),
              topk=draw(st.one_of(st.none(), st.integers(1, T * h * w))),
              radius=draw(st.one_of(st.none(), st.floats(0, 4))),
              window=draw(st.lists(st.booleans(), min_size=T, max_size=T)),
              mutual=draw(st.booleans()),
              softmax_over=draw(st.sampled_from(['topk', 'all'])))
    if kw['mutual']: F_t, F_r = F_t.relu() + 0.01, F_r.relu() + 0.01   # mutual matching assumes non-negative scores
    return F_t, F_r, L_r, kw, draw(st.integers(1, 64))


@settings(max_examples=150, deadline=None)
@given(problems())
def test_fast_equals_dense(problem):
    F_t, F_r, L_r, kw, max_elems = problem
    fast = propagate_labels(F_t, F_r, L_r, max_elems=max_elems, **kw)
    dense = propagate_labels_dense(F_t, F_r, L_r, **kw)
    torch.testing.assert_close(fast, dense, rtol=1e-6, atol=1e-8)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 3), st.integers(1, 8), st.integers(1, 20), st.integers(1, 20), st.integers(0, 10**6))
def test_affinity_columns_are_distributions(B, C, N_r, N_t, seed):
    g = torch.Generator().manual_seed(seed)
    A = affinity(torch.randn(B, C, N_r, generator=g), torch.randn(B, C, N_t, generator=g), tau=0.1)
    torch.testing.assert_close(A.sum(1), torch.ones(B, N_t))
    assert (A >= 0).all()
    L_r = torch.rand(B, 3, N_r, generator=g)
    L_hat = reconstruct(L_r, A)
    # a convex combination stays inside the range of the reference labels
    assert (L_hat <= L_r.amax(2, keepdim=True) + 1e-6).all() and (L_hat >= L_r.amin(2, keepdim=True) - 1e-6).all()


def test_mutual_match_known_value():
    out = mutual_match(torch.tensor([[[4., 1.], [2., 3.]]]))
    torch.testing.assert_close(out, torch.tensor([[[4., 1 / 12], [2 / 3, 3.]]]))


def test_topk_one_picks_nearest_neighbour():
    F_r = torch.eye(4).view(1, 4, 1, 2, 2)                      # four orthogonal reference cells
    F_t = torch.eye(4)[:, [3, 2, 1, 0]].reshape(1, 4, 2, 2)       # target = reference reversed
    L_r = torch.arange(4.).view(1, 1, 1, 2, 2)
    out = propagate_labels(F_t, F_r, L_r, tau=1.0, topk=1)
    torch.testing.assert_close(out.flatten(), torch.tensor([3., 2., 1., 0.]))


def test_autograd_flows_through_fast_form():
    F_t = torch.randn(1, 4, 3, 3, requires_grad=True)
    F_r = torch.randn(1, 4, 2, 3, 3)
    L_r = torch.rand(1, 2, 2, 3, 3)
    propagate_labels(F_t, F_r, L_r, tau=0.2, topk=5).sum().backward()
    assert F_t.grad is not None and F_t.grad.abs().sum() > 0


@pytest.mark.parametrize("bad, msg", [
    (dict(tau=0.0), "`tau` must be > 0"),
    (dict(topk=0), "`topk` must be in"),
    (dict(softmax_over='none'), "`softmax_over`"),
])
def test_bad_arguments(bad, msg):
    F_t, F_r, L_r = torch.randn(1, 2, 2, 2), torch.randn(1, 2, 1, 2, 2), torch.rand(1, 1, 1, 2, 2)
    with pytest.raises(ValueError, match=msg.replace('(', r'\(').replace('`', '`')):
        propagate_labels(F_t, F_r, L_r, **{'tau': 1.0, **bad})
