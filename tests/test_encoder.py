"""Longer and property-based tests of `contrastcorr.encoder`.

The notebook nbs/02_encoder.ipynb holds the quick ones."""
import json
import warnings
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastcorr.affinity import assert_near
from contrastcorr.checks import check_frames
from contrastcorr.data import DavisDataset, asset_path, sample_davis_root
from contrastcorr.encoder import (
    OFFICIAL_IGNORED,
    BasicBlock,
    ColourAE,
    Encoder,
    LabCells,
    OfficialInput,
    channel_dropout,
    encoder_from,
    fake_official_checkpoint,
    lab_targets,
    load_official,
    n_params,
    official_layout,
    pca_rgb,
    random_lab_crops,
    train_colour_ae,
)

SHARED = Path(__file__).resolve().parents[1].parent/'shared'/'data'


# ---------------------------------------------------------------- encoder
def test_param_counts():
    assert n_params(Encoder()) == 11_176_512  # torchvision resnet18 (11,689,512) minus fc (513,000)
    assert n_params(Encoder(width=32, depth=3)) == 699_168
    assert Encoder().out_channels == 512 and Encoder(width=32).out_channels == 256


def test_full_size_output():
    enc = Encoder().eval()
    with torch.no_grad(): y = enc(torch.randn(1, 3, 256, 256))
    assert y.shape == (1, 512, 32, 32) and (y >= 0).all()


@settings(max_examples=25, deadline=None)
@given(width=st.integers(1, 12), depth=st.sampled_from([2, 3, 4]), B=st.integers(1, 2),
       h=st.integers(1, 6), w=st.integers(1, 6))
def test_output_shape(width, depth, B, h, w):
    enc = Encoder(width=width, depth=depth).eval()
    with torch.no_grad(): y = enc(torch.randn(B, 3, 8 * h, 8 * w))
    assert y.shape == (B, enc.out_channels, h, w) and enc.out_channels == width * 2 ** (depth - 1)


def test_in_ch():
    enc = Encoder(width=8, depth=2, in_ch=1)
    assert enc(torch.randn(2, 1, 16, 24)).shape == (2, 16, 2, 3)
    with pytest.raises(ValueError, match=r'\(B, in_ch=1, H, W\)'): enc(torch.randn(2, 3, 16, 16))


def test_torchvision_names_and_strides():
    enc = Encoder()
    names = list(enc.state_dict())
    for i in range(1, 5):
        for b in (0, 1):
            for part in ('conv1.weight', 'bn1.weight', 'bn1.running_mean', 'conv2.weight', 'bn2.bias'):
                assert f'layer{i}.{b}.{part}' in names
    assert [f'layer{i}.0.downsample.0.weight' in names for i in range(1, 5)] == [False, True, True, True]
    assert enc.conv1.stride == (2, 2) and enc.layer2[0].conv1.stride == (2, 2)
    for m in enc.modules():  # no dilation anywhere
        if isinstance(m, torch.nn.Conv2d): assert m.dilation == (1, 1)
    assert enc.layer3[0].conv1.stride == enc.layer4[0].conv1.stride == (1, 1)


def test_depth_drops_layers():
    names = {k.split('.')[0] for k in Encoder(depth=3).state_dict()}
    assert 'layer3' in names and 'layer4' not in names
    assert 'layer3' not in {k.split('.')[0] for k in Encoder(depth=2).state_dict()}


def test_block_is_a_residual():
    """With the second BN zeroed a block reduces to ReLU(shortcut(x)): the identity when the shape is kept."""
    blk = BasicBlock(4, 4).eval()
    torch.nn.init.zeros_(blk.bn2.weight)
    x = torch.randn(2, 4, 8, 8)
    assert_near(blk(x), x.relu())


@pytest.mark.parametrize('x,match', [
    (torch.randn(3, 32, 32), r'\(B, in_ch=3, H, W\)'),
    (torch.randn(1, 4, 32, 32), r'\(B, in_ch=3, H, W\)'),
    (torch.randn(1, 3, 33, 32), 'multiples of 8'),
    (torch.randn(1, 3, 32, 36), r'e\.g\. to \(32, 32\)'),
])
def test_bad_inputs_value(x, match):
    with pytest.raises(ValueError, match=match): Encoder(width=4, depth=2)(x)


def test_bad_inputs_type():
    with pytest.raises(TypeError, match='float tensor'):
        Encoder(width=4, depth=2)(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(TypeError, match='torch.Tensor'): check_frames([[1.0]], 'x', lab=True)


@pytest.mark.parametrize('kw,match', [(dict(width=0), '`width`'), (dict(width=2.0), '`width`'),
                                      (dict(in_ch=True), '`in_ch`'), (dict(depth=1), '`depth`'),
                                      (dict(depth=5), '`depth`')])
def test_bad_config(kw, match):
    with pytest.raises(ValueError, match=match): Encoder(**kw)


def test_backward_and_train_mode():
    enc = Encoder(width=8, depth=3).train()
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    enc(x).square().mean().backward()
    assert x.grad is not None and all(p.grad is not None for p in enc.parameters())


def test_cpu_bf16_autocast():
    enc = Encoder(width=8, depth=3)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        y = enc(torch.randn(2, 3, 32, 32))
    assert y.dtype == torch.bfloat16 and y.shape == (2, 32, 4, 4)
    y.float().mean().backward()
    assert torch.isfinite(enc.conv1.weight.grad).all()


@pytest.mark.gpu
def test_cuda_bf16_autocast_forward_backward():
    enc = Encoder().cuda()
    x = torch.randn(2, 3, 128, 128, device='cuda')
    with torch.autocast('cuda', dtype=torch.bfloat16):
        y = enc(x)
    assert y.device.type == 'cuda' and y.dtype == torch.bfloat16 and y.shape == (2, 512, 16, 16)
    y.float().square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in enc.parameters())
    lab_r, lab_t = channel_dropout(x, x, generator=torch.Generator(device='cuda').manual_seed(0))
    assert lab_r.device.type == 'cuda' and lab_targets(lab_t).shape == (2, 3, 16, 16)


# ---------------------------------------------------------------- official checkpoint
def test_layout_shipped_and_matches_shared():
    layout = official_layout()
    assert len(layout) == 148 and sum(k.startswith('gray_encoder.') for k in layout) == 120
    assert all(k.startswith(('gray_encoder.',) + OFFICIAL_IGNORED) for k in layout)
    src = SHARED/'official-checkpoint'/'state_dict_layout.json'
    if src.exists():  # the shipped copy is the team's file, unchanged
        assert json.loads(src.read_text()) == json.loads(asset_path('official_checkpoint_layout.json').read_text())


def test_layout_is_our_encoder():
    ours = {k: tuple(v.shape) for k, v in Encoder().state_dict().items()}
    theirs = {k.removeprefix('gray_encoder.'): v for k, v in official_layout().items() if k.startswith('gray_encoder.')}
    assert ours == theirs


@pytest.mark.parametrize('data_parallel', [False, True])
@pytest.mark.parametrize('wrap', ['checkpoint', 'bare', 'file'])
def test_load_official_roundtrip(data_parallel, wrap, tmp_path):
    ckpt = fake_official_checkpoint(seed=3, data_parallel=data_parallel)
    src = ckpt if wrap == 'checkpoint' else ckpt['state_dict']
    if wrap == 'file':
        torch.save(ckpt, tmp_path/'checkpoint_latest.pth.tar')
        src = str(tmp_path/'checkpoint_latest.pth.tar')
    enc = load_official(Encoder(), src)
    pre = ('module.' if data_parallel else '') + 'gray_encoder.'
    sd = enc.state_dict()
    assert len(sd) == 120
    for k, v in sd.items():
        ref = ckpt['state_dict'][pre + k]
        assert v.dtype == ref.dtype and torch.equal(v, ref), k


def test_load_official_changes_outputs_deterministically():
    ckpt = fake_official_checkpoint(seed=4)
    a, b = load_official(Encoder(width=64).eval(), ckpt), load_official(Encoder(width=64).eval(), ckpt)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad(): assert torch.equal(a(x), b(x))


def test_load_official_errors():
    sd = fake_official_checkpoint()['state_dict']
    with pytest.raises(ValueError, match=r'shape mismatches \(\d+\): '
                                         r'conv1\.weight: checkpoint \(64, 3, 7, 7\) vs encoder \(64, 1, 7, 7\)'):
        load_official(Encoder(in_ch=1), sd)
    with pytest.raises(ValueError, match=r'missing keys \(2\): bn1\.running_mean, layer2\.1\.conv2\.weight'):
        dropped = ('gray_encoder.bn1.running_mean', 'gray_encoder.layer2.1.conv2.weight')
        load_official(Encoder(), {k: v for k, v in sd.items() if k not in dropped})
    with pytest.raises(ValueError, match=r'unexpected keys \(2\): gray_encoder\.fc\.weight, head\.bias'):
        load_official(Encoder(), {**sd, 'gray_encoder.fc.weight': torch.zeros(3), 'head.bias': torch.zeros(3)})
    with pytest.raises(ValueError, match=r'unexpected keys \(30\)'):  # a depth-3 encoder does not hold layer4
        load_official(Encoder(depth=3), sd)
    with pytest.raises(ValueError, match='no `gray_encoder.\\*` keys'): load_official(Encoder(), Encoder().state_dict())
    with pytest.raises(TypeError, match='path or a dict'): load_official(Encoder(), [1, 2])


def test_load_official_not_strict():
    sd = fake_official_checkpoint(seed=5)['state_dict']
    with pytest.warns(UserWarning, match=r'unexpected keys \(30\): gray_encoder\.layer4'):
        enc = load_official(Encoder(depth=3), sd, strict=False)
    assert torch.equal(enc.layer3[0].downsample[0].weight, sd['gray_encoder.layer3.0.downsample.0.weight'])
    with pytest.raises(ValueError, match='shape mismatches'):  # shapes are never forgiven
        load_official(Encoder(width=32), sd, strict=False)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        load_official(Encoder(), sd, strict=False)  # a perfect fit warns about nothing


# ---------------------------------------------------------------- encoders by name, encoder files

def test_encoder_specs(tmp_path):
    lab = encoder_from('lab')
    assert isinstance(lab, LabCells) and lab(torch.zeros(1, 3, 16, 24)).shape == (1, 12, 2, 3)
    r1, r2 = encoder_from('random'), encoder_from('random:16:2')
    assert (r1.width, r1.depth, r2.width, r2.depth) == (64, 4, 16, 2) and not r2.training
    assert torch.equal(r2.conv1.weight, encoder_from('random:16:2').conv1.weight)          # seeded
    state = torch.random.get_rng_state()
    encoder_from('random:16:2')
    assert torch.equal(state, torch.random.get_rng_state())                                # caller's RNG untouched
    for bad in ('random:x', 'random:16:9'):
        with pytest.raises(ValueError): encoder_from(bad)
    with pytest.raises(TypeError, match='nn.Module'): encoder_from(3)


def test_checkpoints(tmp_path):
    enc = Encoder(width=16, depth=3).eval()
    torch.save({'config': {'width': 16, 'depth': 3}, 'encoder': enc.state_dict(), 'epoch': 3}, tmp_path / 'ours.pt')
    x = torch.randn(1, 3, 32, 40)
    assert_near(encoder_from(tmp_path / 'ours.pt')(x), enc(x))
    for dp in (False, True):
        torch.save(fake_official_checkpoint(seed=1, data_parallel=dp), tmp_path / 'official.pth.tar')
        off = encoder_from(tmp_path / 'official.pth.tar')
        assert isinstance(off, OfficialInput) and off(x).shape == (1, 512, 4, 5)
    torch.save({'config': {'width': 8}, 'encoder': enc.state_dict()}, tmp_path / 'wrong.pt')
    with pytest.raises(ValueError, match='does not fit Encoder'): encoder_from(tmp_path / 'wrong.pt')
    torch.save({'model': {}}, tmp_path / 'other.pt')
    with pytest.raises(ValueError, match=r"neither ours.*'model'"): encoder_from(tmp_path / 'other.pt')
    (tmp_path / 'junk.pt').write_bytes(b'\x00garbage')
    with pytest.raises(ValueError, match='cannot read encoder checkpoint .*junk.pt'): encoder_from(tmp_path / 'junk.pt')
    with pytest.raises(FileNotFoundError, match='missing.pt'): encoder_from(tmp_path / 'missing.pt')



# ---------------------------------------------------------------- channel dropout
def test_channel_dropout_distribution():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 4, 4)
    ks, pairs = torch.zeros(3), {}
    for _ in range(6000):
        _, _, d = channel_dropout(x, x, generator=g, return_channels=True)
        ks[len(d)] += 1
        pairs[d] = pairs.get(d, 0) + 1
    assert ((ks / 6000 - torch.tensor([0.3, 0.35, 0.35])).abs() < 0.025).all()   # sampling noise: 4σ ≈ 0.025
    assert set(pairs) == {(), (0,), (1,), (2,), (0, 1), (0, 2), (1, 2)}
    for d in [(0,), (1,), (2,), (0, 1), (0, 2), (1, 2)]: assert abs(pairs[d] / 6000 - 0.35 / 3) < 0.02


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), p=st.floats(0, 1), lead=st.lists(st.integers(1, 3), max_size=2))
def test_channel_dropout_properties(seed, p, lead):
    g1, g2 = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
    # no zeros: a zero output means dropped
    x_r, x_t = torch.rand(*lead, 3, 4, 6) + 0.1, torch.rand(*lead, 3, 8, 2) + 0.1
    y_r, y_t, d = channel_dropout(x_r, x_t, generator=g1, p_keep_all=p, return_channels=True)
    assert y_r.shape == x_r.shape and y_t.shape == x_t.shape
    for x, y in ((x_r, y_r), (x_t, y_t)):
        for c in range(3):
            if c in d: assert (y[..., c, :, :] == 0).all()
            else: assert_near(y[..., c, :, :], x[..., c, :, :] * 3 / (3 - len(d)))
    again = channel_dropout(x_r, x_t, generator=g2, p_keep_all=p)
    assert all(torch.equal(a, b) for a, b in zip(again, (y_r, y_t)))  # reproducible


def test_channel_dropout_extremes_and_inputs():
    x = torch.randn(1, 3, 4, 4)
    g = torch.Generator().manual_seed(1)
    assert all(channel_dropout(x, x, g, p_keep_all=0.0, return_channels=True)[2] for _ in range(50))
    assert not any(channel_dropout(x, x, g, p_keep_all=1.0, return_channels=True)[2] for _ in range(50))
    x0 = x.clone()
    channel_dropout(x, x, g, p_keep_all=0.0)
    assert torch.equal(x, x0)  # not in place
    with pytest.raises(ValueError, match='lab_t'): channel_dropout(x, x[:, :1])
    with pytest.raises(ValueError, match='p_keep_all'): channel_dropout(x, x, p_keep_all=-0.1)
    y_r, _ = channel_dropout(x.double(), x.double(), g, p_keep_all=0.0)
    assert y_r.dtype == torch.float64


# ---------------------------------------------------------------- targets
@settings(max_examples=30, deadline=None)
@given(D=st.integers(1, 4), h=st.integers(1, 4), w=st.integers(1, 4), s=st.sampled_from([1, 2, 4, 8]))
def test_lab_targets_block_means(D, h, w, s):
    x = torch.randn(2, D, h * s, w * s)
    ref = x.reshape(2, D, h, s, w, s).mean((3, 5))
    assert_near(lab_targets(x, stride=s), ref)


def test_lab_targets_errors():
    with pytest.raises(ValueError, match='multiples of stride=8'): lab_targets(torch.randn(1, 3, 12, 16))
    with pytest.raises(ValueError, match=r'\(\.\.\., D, H, W\)'): lab_targets(torch.zeros(3, 8, 8, dtype=torch.uint8))


def test_colour_ae_shapes_and_errors():
    ae = ColourAE(width=4, latent=6)
    z = ae.encode(torch.rand(2, 3, 24, 40) * 2 - 1)
    assert z.shape == (2, 6, 3, 5) and ae.decode(z).shape == (2, 3, 24, 40)
    with pytest.raises(ValueError, match='multiples of 8'): ae.encode(torch.randn(1, 3, 20, 16))
    with pytest.raises(ValueError, match='latent=6'): ae.decode(torch.randn(1, 5, 2, 2))


def test_random_lab_crops():
    frames = [torch.randint(0, 256, (3, 3, 40, 50), dtype=torch.uint8),
              torch.full((2, 3, 32, 32), 255, dtype=torch.uint8)]
    x = random_lab_crops(frames, 10, 32, generator=torch.Generator().manual_seed(0))
    assert x.shape == (10, 3, 32, 32) and x.abs().max() <= 1.01
    with pytest.raises(ValueError, match='larger than a frame'): random_lab_crops(frames, 1, 48)
    with pytest.raises(TypeError, match='uint8 RGB'): random_lab_crops(torch.rand(2, 3, 32, 32), 1, 16)


def test_train_colour_ae_beats_untrained():
    """The trained autoencoder reconstructs held-out frames clearly better than an untrained one (can fail honestly)."""
    davis = DavisDataset(sample_davis_root())
    # the 25-frame sequences: 20 + 5 held out
    clips = [davis.frames(s, size=(240, 432)) for s in ('blackswan', 'kite-surf')]
    ae = train_colour_ae([c[:20] for c in clips], steps=150, seed=0)
    assert not ae.training and not any(p.requires_grad for p in ae.parameters())
    assert len(ae.train_losses) == 150
    x = random_lab_crops([c[20:] for c in clips], 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        err, err0 = (ae(x) - x).abs().mean(), (ColourAE()(x) - x).abs().mean()
    assert err < 0.6 * err0, (err, err0)


def test_train_colour_ae_seeded_and_global_rng_untouched():
    frames = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    torch.manual_seed(123); before = torch.rand(1)
    torch.manual_seed(123)
    a = train_colour_ae(frames, steps=2, crop=16, batch_size=2, width=2, latent=2, seed=7)
    after = torch.rand(1)
    b = train_colour_ae(frames, steps=2, crop=16, batch_size=2, width=2, latent=2, seed=7)
    assert torch.equal(before, after)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    with pytest.raises(ValueError, match='multiple of 8'): train_colour_ae(frames, steps=1, crop=12)


def test_pca_rgb():
    feats = torch.zeros(4, 3, 5)
    feats[0, :, :2] = 1.0  # two regions → the first component separates them
    img = pca_rgb(feats)
    assert img.shape == (3, 5, 3) and img.min() >= 0 and img.max() <= 1
    assert_near(img[:, :2, 0], img[0, 0, 0].expand(3, 2))
    assert (img[:, :2, 0] != img[:, 2:, 0].mean()).all()
