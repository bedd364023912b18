"Property-based checks: every memory-safe propagation form equals the dense definition."

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastcorr.affinity import (
    affinity,
    assert_near,
    mutual_match,
    propagate_labels,
    propagate_labels_dense,
    reconstruct,
    window_mask,
)


@st.composite
def problems(draw):
    B, C, T = draw(st.integers(1, 2)), draw(st.integers(1, 6)), draw(st.integers(1, 3))
    h, w, D = draw(st.integers(1, 5)), draw(st.integers(1, 5)), draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    F_t = torch.randn(B, C, h, w, generator=g, dtype=torch.float64)
    F_r = torch.randn(B, C, T, h, w, generator=g, dtype=torch.float64)
    L_r = torch.rand(B, D, T, h, w, generator=g, dtype=torch.float64)
    kw = dict(
        tau=draw(st.sampled_from([0.05, 0.3, 1.0, 3.0])),
        topk=draw(st.one_of(st.none(), st.integers(1, T * h * w))),
        radius=draw(st.one_of(st.none(), st.floats(0, 4, exclude_min=True))),
        window=draw(st.lists(st.booleans(), min_size=T, max_size=T)),
        mutual=draw(st.booleans()),
        softmax_over=draw(st.sampled_from(['topk', 'all'])),
    )
    if kw['mutual']:
        # mutual matching assumes non-negative scores; abs, not relu: clipping to one value makes exact ties of large
        # weight at the k-th logit, where any choice is right and two correct implementations may differ
        F_t, F_r = F_t.abs() + 0.01, F_r.abs() + 0.01
    return F_t, F_r, L_r, kw, draw(st.integers(1, 64))


@settings(max_examples=150, deadline=None)
@given(problems())
def test_fast_equals_dense(problem):
    F_t, F_r, L_r, kw, max_elems = problem
    fast = propagate_labels(F_t, F_r, L_r, max_elems=max_elems, **kw)
    dense = propagate_labels_dense(F_t, F_r, L_r, **kw)
    assert_near(fast, dense, dtype=torch.float32)  # float64 inputs, but a near-tie at the k-th logit may swap
    # two positions of weight ~1e-8


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 3), st.integers(1, 8), st.integers(1, 20), st.integers(1, 20), st.integers(0, 10**6))
def test_affinity_columns_are_distributions(B, C, N_r, N_t, seed):
    g = torch.Generator().manual_seed(seed)
    A = affinity(torch.randn(B, C, N_r, generator=g), torch.randn(B, C, N_t, generator=g), tau=0.1)
    assert_near(A.sum(1), torch.ones(B, N_t))
    assert (A >= 0).all()
    L_r = torch.rand(B, 3, N_r, generator=g)
    L_hat = reconstruct(L_r, A)
    # a convex combination stays inside the range of the reference labels
    assert (L_hat <= L_r.amax(2, keepdim=True) + 1e-6).all() and (L_hat >= L_r.amin(2, keepdim=True) - 1e-6).all()


def test_mutual_match_known_value():
    out = mutual_match(torch.tensor([[[4.0, 1.0], [2.0, 3.0]]]))
    assert_near(out, torch.tensor([[[4.0, 1 / 12], [2 / 3, 3.0]]]))


def test_topk_one_picks_nearest_neighbour():
    F_r = torch.eye(4).view(1, 4, 1, 2, 2)  # four orthogonal reference cells
    F_t = torch.eye(4)[:, [3, 2, 1, 0]].reshape(1, 4, 2, 2)  # target = reference reversed
    L_r = torch.arange(4.0).view(1, 1, 1, 2, 2)
    out = propagate_labels(F_t, F_r, L_r, tau=1.0, topk=1)
    assert_near(out.flatten(), torch.tensor([3.0, 2.0, 1.0, 0.0]))


def test_autograd_flows_through_fast_form():
    F_t = torch.randn(1, 4, 3, 3, requires_grad=True)
    F_r = torch.randn(1, 4, 2, 3, 3)
    L_r = torch.rand(1, 2, 2, 3, 3)
    propagate_labels(F_t, F_r, L_r, tau=0.2, topk=5).sum().backward()
    assert F_t.grad is not None and F_t.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "bad, msg",
    [
        (dict(tau=0.0), "`tau` must be > 0"),
        (dict(topk=0), "`topk` must be in"),
        (dict(softmax_over='none'), "`softmax_over`"),
    ],
)
def test_bad_arguments(bad, msg):
    F_t, F_r, L_r = torch.randn(1, 2, 2, 2), torch.randn(1, 2, 1, 2, 2), torch.rand(1, 1, 1, 2, 2)
    with pytest.raises(ValueError, match=msg.replace('(', r'\(').replace('`', '`')):
        propagate_labels(F_t, F_r, L_r, **{'tau': 1.0, **bad})


def _noisy_copies(seed, B=1, C=24, T=6, h=14, w=19, D=3):
    "Unit features of a target and T noisy copies of it (the regime of real video), and random labels."
    g = torch.Generator().manual_seed(seed)
    F_t = torch.nn.functional.normalize(torch.randn(B, C, h, w, generator=g), dim=1)
    F_r = torch.nn.functional.normalize(F_t[:, :, None] + 0.8 * torch.randn(B, C, T, h, w, generator=g), dim=1)
    return F_t, F_r, torch.rand(B, D, T, h, w, generator=g)


@pytest.mark.parametrize("seed", range(4))
# CRW: windowed, first frame global
@pytest.mark.parametrize(
    "kw",
    [
        dict(topk=10, radius=4, window=[False] + [True] * 5),
        dict(topk=5, radius=2.5),  # every frame windowed
        dict(topk=10),
    ],
)  # no window: chunked path
@pytest.mark.parametrize("B", [1, 2])
def test_bfloat16_choice_matches_exact(seed, kw, B):
    "Top-k chosen with bfloat16 products and weighed exactly equals the float32 definition."
    F_t, F_r, L_r = _noisy_copies(seed, B=B)
    dense = propagate_labels_dense(F_t, F_r, L_r, tau=0.05, **kw)
    for max_elems in (3000, 2**25):
        fast = propagate_labels(F_t, F_r, L_r, tau=0.05, max_elems=max_elems, dtype=torch.bfloat16, **kw)
        assert_near(fast, dense)


@pytest.mark.parametrize("kw", [dict(topk=5, mutual=True), dict(topk=5, softmax_over='all', radius=3)])
def test_dtype_ignored_where_every_logit_counts(kw):
    "Mutual matching and softmax over all positions need every logit exactly: `dtype` must not change them."
    F_t, F_r, L_r = _noisy_copies(0)
    F_t, F_r = F_t.relu(), F_r.relu()
    assert torch.equal(
        propagate_labels(F_t, F_r, L_r, tau=0.05, dtype=torch.bfloat16, **kw),
        propagate_labels(F_t, F_r, L_r, tau=0.05, **kw),
    )


def test_bfloat16_weights_are_exact_not_rounded():
    "Without the exact rescoring, bfloat16 logits (8-bit mantissa) would move softmax weights by ~1e-2 at tau=0.05."
    F_t, F_r, L_r = _noisy_copies(1)
    kw = dict(tau=0.05, topk=10, radius=4, window=[False] + [True] * 5)
    exact = propagate_labels(F_t, F_r, L_r, **kw)
    rounded = propagate_labels(F_t.bfloat16().float(), F_r.bfloat16().float(), L_r, **kw)  # inputs rounded only
    fast = propagate_labels(F_t, F_r, L_r, dtype=torch.bfloat16, **kw)
    assert (rounded - exact).abs().max() > 1e-4  # rounding really matters at this temperature ...
    assert (fast - exact).abs().max() < 1e-5  # ... and the rescoring removes it


def test_bad_dtype():
    F_t, F_r, L_r = _noisy_copies(0)
    with pytest.raises(TypeError, match='`dtype` must be None or a floating torch.dtype'):
        propagate_labels(F_t, F_r, L_r, topk=3, dtype='bf16')


@pytest.mark.parametrize(
    "kw",
    [
        dict(topk=5, radius=2, window=[False, True, True]),  # windowed, many tiles
        dict(radius=1.5),  # windowed, no top-k
        dict(topk=4),
    ],
)  # chunked
def test_gradients_equal_the_dense_definition(kw):
    "The fast forms are differentiable, and their gradients are the dense definition's (float64)."
    g = torch.Generator().manual_seed(3)
    F_t = torch.randn(1, 4, 6, 7, generator=g, dtype=torch.float64, requires_grad=True)
    F_r = torch.randn(1, 4, 3, 6, 7, generator=g, dtype=torch.float64, requires_grad=True)
    L_r = torch.rand(1, 2, 3, 6, 7, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.rand(1, 2, 6, 7, generator=g, dtype=torch.float64)  # a loss that weighs every output
    fast = torch.autograd.grad(
        (propagate_labels(F_t, F_r, L_r, tau=0.3, max_elems=300, **kw) * w).sum(), (F_t, F_r, L_r)
    )
    dense = torch.autograd.grad((propagate_labels_dense(F_t, F_r, L_r, tau=0.3, **kw) * w).sum(), (F_t, F_r, L_r))
    for a, b in zip(fast, dense):
        assert_near(a, b)


@st.composite
def low_precision_problems(draw):
    """Shapes, windows and k of every kind, on features in the regime of real video (unit vectors, noisy copies of the
    target)."""
    B, T, h, w = draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 9)), draw(st.integers(1, 9))
    F_t, F_r, L_r = _noisy_copies(draw(st.integers(0, 2**31 - 1)), B=B, C=draw(st.integers(8, 32)), T=T, h=h, w=w, D=2)
    radius = draw(st.one_of(st.none(), st.floats(0, 5, exclude_min=True)))
    kw = dict(
        tau=draw(st.sampled_from([0.05, 0.1, 1.0])),
        topk=draw(st.integers(1, T * h * w)),
        radius=radius,
        window=draw(st.lists(st.booleans(), min_size=T, max_size=T)) if radius is not None else None,
    )
    return F_t, F_r, L_r, kw, draw(st.integers(200, 5000))


def _separated(F_t, F_r, tau, topk, radius, window, delta):
    "Per target (B, h, w): True where the exact k-th best allowed logit beats the (2k+1)-th by more than `delta`."
    B, C, T, h, w = F_r.shape
    N = h * w
    S = torch.einsum('bcn,bcm->bnm', F_r.flatten(2).double(), F_t.flatten(2).double()) / tau  # (B, T·N, N)
    if radius is not None:
        near = window_mask(h, w, radius)  # (N, N)
        allowed = torch.cat([near if wi else torch.ones_like(near) for wi in window])  # (T·N, N)
        S = S.masked_fill(~allowed, float('-inf'))
    v = S.sort(dim=1, descending=True).values  # (B, T·N, N)
    if 2 * topk >= T * N:
        return torch.ones(B, h, w, dtype=torch.bool)  # every position rescored
    fewer = torch.isinf(v[:, topk - 1])  # under k allowed positions: all are kept, no choice
    return (((v[:, topk - 1] - v[:, 2 * topk]) > delta) | fewer).view(B, h, w)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(low_precision_problems())
def test_bfloat16_choice_property(problem):
    """Over shapes, windows (some frames global, radius near 0, k above the allowed count) and chunk sizes, bfloat16
    choice
    equals the dense definition at every target whose top-k is separated by more than bfloat16's precision (2^-6 of
    the largest possible logit): a swap needs k+1 other logits within that distance of the k-th best."""
    F_t, F_r, L_r, kw, max_elems = problem
    fast = propagate_labels(F_t, F_r, L_r, max_elems=max_elems, dtype=torch.bfloat16, **kw)
    dense = propagate_labels_dense(F_t, F_r, L_r, **kw)
    ok = _separated(
        F_t, F_r, kw['tau'], kw['topk'], kw['radius'], kw['window'] or [True] * F_r.shape[2], 2**-6 / kw['tau']
    )
    assert ok.float().mean() > 0.5  # the property is not vacuous on these problems
    assert_near(fast.permute(0, 2, 3, 1)[ok], dense.permute(0, 2, 3, 1)[ok])


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [None, torch.bfloat16])
def test_cuda_matches_cpu_definition(dtype):
    "On a GPU the windowed and chunked forms, exact or with bfloat16 choice, equal the CPU dense definition."
    F_t, F_r, L_r = _noisy_copies(5, B=2, C=32, T=6, h=30, w=40)
    for kw in (dict(topk=10, radius=6, window=[False] + [True] * 5), dict(topk=10)):
        dense = propagate_labels_dense(F_t, F_r, L_r, tau=0.05, **kw)
        ok = _separated(F_t, F_r, 0.05, 10, kw.get('radius'), kw.get('window') or [True] * 6, 2**-6 / 0.05)
        out = propagate_labels(F_t.cuda(), F_r.cuda(), L_r.cuda(), tau=0.05, dtype=dtype, **kw).cpu()
        assert_near(out.permute(0, 2, 3, 1)[ok], dense.permute(0, 2, 3, 1)[ok])
        assert ok.float().mean() > 0.5
