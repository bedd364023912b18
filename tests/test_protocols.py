"""The `crw` and `contrastcorr` presets against the ORIGINAL test-time code of CRW and of official ContrastCorr.

tests/data/protocol_fixture.npz (178 KB) holds a tiny synthetic video given as FIXED features, so no network is
involved: `feats` float16 (T=24, C=12, 16, 24), non-negative like ReLU features, for frames of 125×190 px (sizes that
are not multiples of 8, like DAVIS' 854); `first_mask` (125, 190) with objects 1 and 2; `grey` (T,): frame t is a
flat grey frame of that level, which is how the encoder stand-ins (theirs and ours) know which frame they are given.
And what the originals computed from it:

- `crw_r12` masks (T, H, W) and `crw_r12_soft` soft labels at the grid (T, D, h, w): CRW's label propagation,
  github.com/ajabri/videowalk at 047f3f40135a4b1be2f837793b89c3dbfe7a6683: `code/test.py::test`, fed by
  `code/data/vos.py::VOSDataset` (which prepends 20 copies of frame 0 and resizes the one-hot labels with cv2), with
  `code/utils/test_utils.py::mem_efficient_batched_affinity` (top-k, softmax), `dump_predictions` (cv2 upsampling,
  argmax) and `code/utils/__init__.py::MaskedAttention` (the window, distance < radius), run with its README's DAVIS
  flags `--topk 10 --videoLen 20 --radius 12 --temperature 0.05 --cropSize -1`. `crw_r4*`: the same with `--radius 4`,
  so that the window binds on this small grid.
- `contrastcorr_s128` masks (T, H, W): ContrastCorr's official test, github.com/594422814/ContrastCorr at
  9b117944275933132fad6921bbabb3afddca60bd: `test.py::test` and `forward` with `libs/test_utils.py` (`read_seg`,
  `read_frame`, `transform_topk`), `libs/net_utils.py::MutualMatching` and `libs/utils.py::norm_mask`, run with its
  defaults (`--pre_num 7 --temp 1 --topk 5`) except `-s 128` (short side 128, working size 128×192) instead of 560.

They were made by `python tools/make_protocol_fixtures.py --crw <videowalk checkout> --contrastcorr <ContrastCorr
checkout>` (on a CPU, one thread; torch 2.13.0, OpenCV 5.1.0, imageio 2.38.2, Pillow 13.0.0), which only writes the
video in the layout their loaders read, stubs what they import but do not use here, and replaces their encoders by a
lookup of the fixed features: see its docstring.

What is compared: CRW's soft labels within float32 tolerance; masks identical at every pixel except where CRW's own
upsampled soft labels tie within 1e-4 (there cv2's and torch's bilinear rounding, ~1e-6 apart, pick the winner),
and IoU >= 0.99 on every frame after the first (the mean over objects, as DAVIS' J; CRW writes frame 0 as its
labels' round trip through the grid, we write the given mask). ContrastCorr's masks: identical, every pixel of
every frame.
"""
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from contrastcorr.affinity import assert_near
from contrastcorr.propagation import (
    PRESETS,
    frames_to_input,
    mask_to_labels,
    object_ids,
    propagate_iter,
    propagate_video,
)

FIXTURE = Path(__file__).parent / 'data' / 'protocol_fixture.npz'


@pytest.fixture(scope='module')
def fx():
    d = dict(np.load(FIXTURE))
    T, _, H, W = len(d['grey']), None, *d['first_mask'].shape
    d['frames'] = torch.from_numpy(d['grey']).view(T, 1, 1, 1).expand(T, 3, H, W).contiguous()   # (T, 3, H, W) uint8
    return d


class FixedFeatures(torch.nn.Module):
    "An encoder that returns the fixture's features of whichever flat grey frame it is given (unit Lab, any size)."
    def __init__(self, d):
        super().__init__()
        self.feats = torch.from_numpy(d['feats'].astype(np.float32))                  # (T, C, h, w)
        self.keys = frames_to_input(d['frames'][:, :, :1, :1])[:, 0, 0, 0]            # L of each frame's grey level
    def forward(self, x): return self.feats[(x[:, 0, 0, 0, None] - self.keys).abs().argmin(-1)]


def ious(ours, theirs):
    "Per-object IoU (K,) of two id maps (H, W), over the objects in either; empty in both counts as 1."
    ks = [k for k in np.union1d(np.unique(ours), np.unique(theirs)) if k != 0]
    return np.array([((ours == k) & (theirs == k)).sum() / max(1, ((ours == k) | (theirs == k)).sum()) for k in ks])


def crw_config(radius, **kw): return replace(PRESETS['crw'], radius=radius, dtype='float32', **kw)


@pytest.mark.parametrize('radius', [12, 4])
def test_crw_soft_labels_equal_crw(fx, radius):
    first = torch.from_numpy(fx['first_mask'])
    ids = object_ids(first)
    L_0 = mask_to_labels(first, ids, first.shape)                                     # (D, h, w)
    theirs = torch.from_numpy(fx[f'crw_r{radius}_soft'])                              # (T, D, h, w)
    for t, L_t in propagate_iter(fx['frames'], L_0, FixedFeatures(fx), crw_config(radius)):
        assert_near(L_t, theirs[t], scale=1, what=f'soft labels of frame {t}')


@pytest.mark.parametrize('radius', [12, 4])
def test_crw_masks_equal_crw(fx, radius):
    ours = propagate_video(fx['frames'], torch.from_numpy(fx['first_mask']), FixedFeatures(fx), crw_config(radius),
                           progress=False).numpy()
    theirs = fx[f'crw_r{radius}']
    H, W = theirs.shape[1:]
    up = F.interpolate(torch.from_numpy(fx[f'crw_r{radius}_soft']), size=(H, W), mode='bilinear', align_corners=False)
    top2 = up.topk(2, dim=1).values                                                   # (T, 2, H, W)
    tie = (top2[:, 0] - top2[:, 1] < 1e-4).numpy()                                    # their winner is float rounding
    for t in range(1, len(ours)):
        differ = ours[t] != theirs[t]
        assert not (differ & ~tie[t]).any(), f'frame {t}: {(differ & ~tie[t]).sum()} px differ away from ties'
        assert ious(ours[t], theirs[t]).mean() >= 0.99, f'frame {t}: IoU per object {ious(ours[t], theirs[t])}'


def test_crw_fixture_needs_the_filled_context(fx):
    "The fixture can fail: counting frame 0 once (no padding copies) leaves CRW's masks far behind on early frames."
    ours = propagate_video(fx['frames'][:8], torch.from_numpy(fx['first_mask']), FixedFeatures(fx),
                           crw_config(12, fill_context=False), progress=False).numpy()
    assert min(ious(ours[t], fx['crw_r12'][t]).mean() for t in range(1, 8)) < 0.9


def test_crw_preset_default_dtype_matches_too(fx):
    "With dtype 'auto' (bfloat16 choice where the CPU is fast at it) the masks still agree with CRW's."
    ours = propagate_video(fx['frames'], torch.from_numpy(fx['first_mask']), FixedFeatures(fx), PRESETS['crw'],
                           progress=False).numpy()
    for t in range(1, len(ours)): assert ious(ours[t], fx['crw_r12'][t]).mean() >= 0.99, f'frame {t}'


def test_contrastcorr_masks_equal_official(fx):
    cfg = replace(PRESETS['contrastcorr'], short_side=128)
    ours = propagate_video(fx['frames'], torch.from_numpy(fx['first_mask']), FixedFeatures(fx), cfg,
                           progress=False).numpy()
    theirs = fx['contrastcorr_s128']
    assert ours.shape == theirs.shape
    for t in range(len(ours)):
        assert (ours[t] == theirs[t]).all(), f'frame {t}: {(ours[t] != theirs[t]).sum()} px differ'
