"""Longer tests of contrastcorr.model: training, gradients, switched-off terms, autocast, a 2-process gloo run, CUDA.

Notebook 06 has the worked examples."""
import dataclasses
import re
import tempfile

import pytest
import torch
import torch.multiprocessing as mp

import contrastcorr.model as cm
from contrastcorr.affinity import assert_near
from contrastcorr.encoder import ColourAE
from contrastcorr.model import STAGE_TERMS, TERMS, ContrastCorr, ModelConfig, gather_inter_transform
from contrastcorr.pairs import synthetic_pairs
from contrastcorr.transforms import inter_transform

TINY = dict(width=16, depth=2)   # smallest encoder: these tests check plumbing, not capacity


def _alone(term, **kw):
    "A config with only `term` switched on."
    return ModelConfig(**{f'w_{t}': float(t == term) for t in TERMS}, **kw)


@pytest.fixture(scope='module')
def pairs():
    return synthetic_pairs(4, seed=3)


@pytest.fixture(scope='module')
def warm_pairs():
    return synthetic_pairs(4, stage='warmup', seed=3)


def test_presets():
    P, Off, T = ModelConfig.paper(), ModelConfig.official(), ModelConfig.tutorial()
    assert P.active() == T.active() == ('intra', 'inter', 'cons', 'sparse', 'cycle')
    assert Off.active() == ('intra', 'cons', 'sparse', 'self', 'switch', 'conc')
    assert (Off.w_switch, Off.w_conc, Off.loss_thr, Off.tau, Off.track_scale, Off.l2_norm, Off.target) == \
        (0.1, 0.3, 2.5, 1.0, False, False, 'colour_ae')
    # the crop sizes are the training config's (test_train)
    assert (P.width, P.depth, Off.width, Off.depth) == (64, 4, 64, 4)
    assert (T.width, T.depth, T.target, T.tau, T.l2_norm) == (32, 3, 'lab', 0.07, True)
    assert ModelConfig(**dataclasses.asdict(Off)) == Off   # a checkpoint can store the config as a dict


@pytest.mark.parametrize('kw, msg', [(dict(tau=0), 'tau=0 (must be a number > 0)'),
                                     (dict(patch_size=0), 'patch_size=0 (must be None'),
                                     (dict(loss_thr=-1), 'loss_thr=-1 (must be None or a number > 0)'),
                                     (dict(width=2.5), 'width=2.5 (must be an integer >= 1)'),
                                     (dict(depth=5), 'depth=5 (must be 2, 3 or 4'),
                                     (dict(ab_weight=-3), 'ab_weight=-3 (must be a number >= 0)'),
                                     (dict(channels_last='no'), "channels_last='no' (must be None (NCHW"),
                                     (dict(w_cycle=float('nan')), 'w_cycle=nan (must be a weight >= 0')])
def test_config_errors(kw, msg):
    with pytest.raises(ValueError, match=re.escape(msg)): ModelConfig(**kw)


def test_input_errors(pairs):
    r, t = pairs
    m = ContrastCorr(ModelConfig(**TINY))
    with pytest.raises(TypeError, match='`lab_r` must be a float tensor'): m((r * 100).byte(), t)
    with pytest.raises(ValueError, match='multiples of 8'): m(r[..., :60], t)
    with pytest.raises(ValueError, match='same number of videos'): m(r, t[:2])
    with pytest.raises(ValueError, match='must fit in the target'): ContrastCorr(ModelConfig(**TINY))(t, r)
    with pytest.raises(ValueError, match='does not fit in the reference crop'):
        ContrastCorr(ModelConfig(patch_size=9, **TINY))(r, t)
    with pytest.raises(TypeError, match='must be a ModelConfig'): ContrastCorr(dict(width=16))


@pytest.mark.parametrize('cfg', [ModelConfig(**TINY), ModelConfig.official(target='lab', **TINY)],
                         ids=['paper-terms', 'official-terms'])
def test_single_video_inter_is_intra(pairs, cfg):
    r, t = pairs
    torch.manual_seed(0)
    m = ContrastCorr(cfg).eval()
    with torch.no_grad(): out = m(r[:1], t[:1])
    assert_near(out.recon_inter, out.recon_intra)
    assert abs(out.terms['sparse'].item()) < 1e-6 and abs(out.terms['cons'].item()) < 1e-5
    assert_near(out.own_mass, torch.ones_like(out.own_mass))


@pytest.mark.parametrize('seed', [1])
def test_training_decreases_loss(seed):
    "Thirty Adam steps of the tutorial preset on 4 fixed synthetic pairs: the loss (eval mode, no dropout) falls."
    torch.manual_seed(seed)
    r, t = synthetic_pairs(4, seed=seed)
    m = ContrastCorr(ModelConfig.tutorial())
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad(): before = m.eval()(r, t).loss.item()
    m.train()
    for _ in range(30):
        out = m(r, t, generator=g)
        opt.zero_grad(); out.loss.backward(); opt.step()
    with torch.no_grad(): after = m.eval()(r, t).loss.item()
    assert after < 0.6 * before, (before, after)


@pytest.mark.parametrize('target', ['lab', 'colour_ae'])
@pytest.mark.parametrize('term', TERMS)
def test_each_term_reaches_the_encoder(pairs, term, target):
    r, t = pairs
    torch.manual_seed(0)
    m = ContrastCorr(_alone(term, target=target, **TINY), ColourAE() if target == 'colour_ae' else None)
    out = m(r, t, generator=torch.Generator().manual_seed(0))
    assert tuple(out.terms) == (term,)
    out.loss.backward()
    for name, p in m.encoder.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert m.encoder.conv1.weight.grad.abs().sum() > 0
    if target == 'colour_ae': assert all(p.grad is None for p in m.colour_ae.parameters())


@pytest.mark.parametrize('term', STAGE_TERMS['warmup'])
def test_each_warmup_term_reaches_the_encoder(warm_pairs, term):
    r, t = warm_pairs
    m = ContrastCorr(_alone(term, **TINY))
    out = m(r, t, stage='warmup')
    assert tuple(out.terms) == (term,) and out.box is None and out.recon_inter is None
    out.loss.backward()
    assert m.encoder.conv1.weight.grad.abs().sum() > 0


def test_switched_off_terms_are_not_computed(pairs, monkeypatch):
    r, t = pairs
    def boom(*a, **k): raise AssertionError('computed a switched-off term')
    for name in ('inter_transform', 'gather_inter_transform', 'cycle_loss', 'concentration_loss', 'self_reconstruct',
                 'switch_reconstruct', 'inter_loss', 'cons_loss', 'sparse_loss'):
        monkeypatch.setattr(cm, name, boom)
    out = ContrastCorr(_alone('intra', **TINY))(r, t)
    assert tuple(out.terms) == ('intra',) and out.recon_inter is None and out.own_mass is None


def test_official_terms_with_colour_ae_and_random_patch(pairs):
    r, t = pairs
    cfg = ModelConfig.official(patch_size=4, conc_win=4, **TINY)
    m = ContrastCorr(cfg, ColourAE())
    out = m(r, t, generator=torch.Generator().manual_seed(0))
    assert tuple(out.terms) == ('intra', 'cons', 'sparse', 'self', 'switch', 'conc')
    assert out.recon_intra.shape == out.target.shape == (4, 3, 32, 32)
    # cell-aligned 4×4-cell patches
    assert ((out.ref_box[:, :2] - 2) % 1 == 0).all() and (out.ref_box[:, 2:] == 4).all()
    assert (out.box[:, 2:] == 4).all()                                                       # official: fixed box
    assert torch.isfinite(out.loss)
    out.loss.backward()


def test_loss_thr_drops_samples_from_intra_and_switch(pairs):
    r, t = pairs
    torch.manual_seed(0)
    kw = dict(w_inter=0, w_cons=0, w_sparse=0, w_cycle=0, w_switch=0.1, **TINY)
    keep = ContrastCorr(ModelConfig(**kw))(r, t)
    torch.manual_seed(0)
    drop = ContrastCorr(ModelConfig(loss_thr=1e-3, **kw))(r, t)
    assert keep.terms['intra'] > 0 and keep.terms['switch'] > 0
    assert drop.terms['intra'] == 0 and drop.terms['switch'] == 0


def test_bf16_autocast_cpu(pairs):
    r, t = pairs
    torch.manual_seed(0)
    m = ContrastCorr(ModelConfig(**TINY)).eval()
    with torch.no_grad():
        ref = m(r, t)
        with torch.autocast('cpu', dtype=torch.bfloat16): amp = m(r, t)
    assert torch.isfinite(amp.loss) and amp.loss.dtype == torch.float32
    assert abs(amp.loss.item() - ref.loss.item()) < 0.05 * ref.loss.item()
    m.train()
    with torch.autocast('cpu', dtype=torch.bfloat16): out = m(r, t)
    out.loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in m.encoder.parameters())


# ---- two processes, gloo backend ----

def _ddp_worker(rank, world, tmp):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'file://{tmp}/init', rank=rank, world_size=world)
    res = {}
    # 1. the function: this rank's slice of a global batch
    g = torch.Generator().manual_seed(0)
    B, C, D, h, w = 3, 8, 3, 4, 4
    F_r, F_t = torch.randn(world * B, C, h, w, generator=g), torch.randn(world * B, C, h, w, generator=g)
    L_r = torch.rand(world * B, D, h, w, generator=g)
    mine = slice(rank * B, rank * B + B)
    fr, ft = F_r[mine].clone().requires_grad_(), F_t[mine].clone().requires_grad_()
    out = gather_inter_transform(fr, ft, L_r[mine], 0.5)
    (out.L_hat.square().sum() + out.own_mass.sum()).backward()   # each rank's part of the global loss
    res['fn'] = (out.L_hat.detach(), out.own_mass.detach(), fr.grad, ft.grad)
    # 2. the model (eval: BatchNorm running statistics, no dropout): same weights on every rank
    r, t = synthetic_pairs(2 * world, seed=7)
    torch.manual_seed(0)
    m = ContrastCorr(ModelConfig(**TINY))
    with torch.no_grad(): o = m.eval()(r[2 * rank:2 * rank + 2], t[2 * rank:2 * rank + 2])
    res['model'] = (o.recon_inter, o.own_mass)
    # 3. DistributedDataParallel training: every parameter gets a gradient, ranks stay in sync
    ddp = DDP(m.train())
    opt = torch.optim.Adam(ddp.parameters(), lr=1e-3)
    for step in range(2):
        loss = ddp(r[2 * rank:2 * rank + 2], t[2 * rank:2 * rank + 2],
                   generator=torch.Generator().manual_seed(step)).loss
        opt.zero_grad(); loss.backward()
        res.setdefault('missing_grads', [n for n, p in m.named_parameters() if p.grad is None])
        opt.step()
    res['params'] = torch.cat([p.detach().flatten() for p in m.parameters()])
    torch.save(res, f'{tmp}/rank{rank}.pt')
    dist.destroy_process_group()


def test_gather_negatives_two_processes_gloo():
    world = 2
    with tempfile.TemporaryDirectory() as tmp:
        mp.start_processes(_ddp_worker, args=(world, tmp), nprocs=world, start_method='spawn')
        res = [torch.load(f'{tmp}/rank{r}.pt') for r in range(world)]
    # single process, concatenated batch
    g = torch.Generator().manual_seed(0)
    B, C, D, h, w = 3, 8, 3, 4, 4
    F_r = torch.randn(world * B, C, h, w, generator=g).requires_grad_()
    F_t = torch.randn(world * B, C, h, w, generator=g).requires_grad_()
    L_r = torch.rand(world * B, D, h, w, generator=g)
    ref = inter_transform(F_r, F_t, L_r, 0.5)
    (ref.L_hat.square().sum() + ref.own_mass.sum()).backward()
    r, t = synthetic_pairs(2 * world, seed=7)
    torch.manual_seed(0)
    m = ContrastCorr(ModelConfig(**TINY))
    with torch.no_grad(): o = m.eval()(r, t)
    for rank, rr in enumerate(res):
        mine = slice(rank * B, rank * B + B)
        L_hat, own, dfr, dft = rr['fn']
        assert_near(L_hat, ref.L_hat[mine]); assert_near(own, ref.own_mass[mine], scale=1)
        assert_near(dfr, F_r.grad[mine]); assert_near(dft, F_t.grad[mine])   # gradients of the global loss
        two = slice(2 * rank, 2 * rank + 2)
        assert_near(rr['model'][0], o.recon_inter[two]); assert_near(rr['model'][1], o.own_mass[two], scale=1)
        assert rr['missing_grads'] == [], rr['missing_grads']
    assert_near(res[0]['params'], res[1]['params'])   # DDP kept the replicas identical
    with pytest.raises(AssertionError):                # negatives matter: two videos alone give another result
        assert_near(o.recon_inter[:2], ContrastCorr(ModelConfig(**TINY)).eval()(r[:2], t[:2]).recon_inter)


# ---- CUDA ----

@pytest.mark.gpu
def test_cuda_same_checks():
    dev = torch.device('cuda')
    r, t = synthetic_pairs(4, seed=3, device=dev)
    torch.manual_seed(0)
    m = ContrastCorr(ModelConfig(w_self=1, w_switch=0.1, w_conc=0.3)).to(dev)
    out = m(r, t, generator=torch.Generator(dev).manual_seed(0))
    assert out.loss.device.type == 'cuda' and tuple(out.terms) == TERMS and torch.isfinite(out.loss)
    out.loss.backward()
    assert m.encoder.conv1.weight.grad.abs().sum() > 0
    m.eval()
    with torch.no_grad():
        one = m(r[:1], t[:1])
        assert_near(one.recon_inter, one.recon_intra)
        ref = m(r, t)
        with torch.autocast('cuda', dtype=torch.bfloat16): amp = m(r, t)
    assert torch.isfinite(amp.loss) and abs(amp.loss.item() - ref.loss.item()) < 0.05 * ref.loss.item()
    cpu = ContrastCorr(m.config)
    cpu.load_state_dict({k: v.cpu() for k, v in m.state_dict().items()})
    with torch.no_grad(): ref_cpu = cpu.eval()(r.cpu(), t.cpu())
    assert abs(ref_cpu.loss.item() - ref.loss.item()) < 5e-2 * ref.loss.item()   # cuDNN may use TF32
    ae = ContrastCorr(ModelConfig.official(**TINY), ColourAE().to(dev)).to(dev)
    out = ae(r, t)
    out.loss.backward()
    assert torch.isfinite(out.loss)


# One training step's loss terms and encoder gradient norms on a fixed batch, recorded with the code before the
# training-step speed-ups (main a406b8b, float32, AVX-512 kernels): layout and operation-order changes must keep them
# within the float32 tolerance (scale: the largest recorded value of each group).
STEP_RECORD = {'tutorial': {'terms': {'intra': 4.986588001251221,
                                      'inter': 6.391502380371094,
                                      'cons': 3.835158586502075,
                                      'sparse': 0.6900932788848877,
                                      'cycle': 0.48603546619415283},
                            'grads': {'conv1.weight': 81.37259674072266,
                                      'bn1.weight': 1.5430268049240112,
                                      'all': 87.95934295654297}},
               'official': {'terms': {'intra': 6.1531219482421875,
                                      'cons': 0.0014542249264195561,
                                      'sparse': 0.5077065825462341,
                                      'self': 7.27835750579834,
                                      'switch': 0.7279160022735596,
                                      'conc': 0.020534202456474304},
                            'grads': {'conv1.weight': 143.990478515625,
                                      'bn1.weight': 4.949269771575928,
                                      'all': 165.55323791503906}}}


def _recorded_step(preset, **kw):
    "Loss terms and encoder gradient norms of one step on the batch `STEP_RECORD` was made with."
    torch.manual_seed(0)
    if preset == 'official': kw = dict(width=32, depth=3, loss_thr=None, **kw)   # small encoder; every term non-zero
    cfg = getattr(ModelConfig, preset)(**kw)
    model = ContrastCorr(cfg, ColourAE() if cfg.target == 'colour_ae' else None).train()
    lab_r, lab_t = synthetic_pairs(2 if preset == 'official' else 4, 64, 128, seed=5)
    out = model(lab_r, lab_t, generator=torch.Generator().manual_seed(1))
    out.loss.backward()
    grads = {n: p.grad.norm() for n, p in model.encoder.named_parameters() if n in ('conv1.weight', 'bn1.weight')}
    grads['all'] = torch.stack([p.grad.norm() for p in model.encoder.parameters()]).norm()
    return {k: v.detach() for k, v in out.terms.items()}, grads


@pytest.mark.parametrize('preset', ['tutorial', 'official'])
@pytest.mark.parametrize('channels_last', [False, True])
def test_step_matches_the_record(preset, channels_last):
    terms, grads = _recorded_step(preset, channels_last=channels_last)
    rec = STEP_RECORD[preset]
    assert list(terms) == list(rec['terms']) and list(grads) == list(rec['grads'])
    assert_near(torch.stack(list(terms.values())), torch.tensor(list(rec['terms'].values())), what=f'{preset} terms')
    # Gradient norms are not a fixed-order float32 sum: through the tracker and the crop sampling they moved by up to
    # 0.4% on a CPU leg without vector kernels (the loss terms by < 1e-4), while a change to the method moves them by
    # far more; so they are held to 1% of the record, an explicit bound rather than the float32 policy.
    g, r = torch.stack(list(grads.values())), torch.tensor(list(rec['grads'].values()))
    assert (g - r).abs().max() <= 1e-2 * r.abs().max(), f'{preset} grads {g.tolist()} vs the record {r.tolist()}'


def test_encoder_layout_auto(pairs):
    "channels_last=None: NCHW for float32 on the CPU (faster there), NHWC under autocast; the weights follow the input."
    m = ContrastCorr(ModelConfig.official(**TINY, target='lab'))
    assert m.config.channels_last is None and ModelConfig.paper().channels_last is None and ModelConfig().channels_last
    m(*pairs)
    assert m.layout == torch.contiguous_format and m.encoder.conv1.weight.is_contiguous()
    with torch.autocast('cpu', dtype=torch.bfloat16): m(*pairs)
    assert m.layout == torch.channels_last and m.encoder.conv1.weight.is_contiguous(memory_format=torch.channels_last)
