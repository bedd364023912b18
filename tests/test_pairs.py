"""The pair pipeline (nbs/06a_pairs.ipynb): sources of every kind and their errors, pairs, workers, synthetic pairs."""
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from contrastcorr.affinity import assert_near
from contrastcorr.data import asset_path
from contrastcorr.pairs import PairDataset, make_sources, pair_loader, synthetic_pairs


def write_video(path, n_frames, size=(48, 64)):
    import av
    with av.open(str(path), 'w') as c:
        s = c.add_stream('mpeg4', rate=10)
        s.height, s.width, s.pix_fmt = *size, 'yuv420p'
        for i in range(n_frames):
            img = np.full((*size, 3), 20 * i % 255, np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format='rgb24')): c.mux(p)
        for p in s.encode(): c.mux(p)


def write_frames(folder, n, size=(40, 56)):
    folder.mkdir(parents=True)
    for i in range(n):
        pixels = np.random.default_rng(i).integers(0, 255, (*size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f'{i:05d}.jpg')


# ---------------------------------------------------------------- data
def test_sources_of_every_kind(tmp_path):
    write_frames(tmp_path / 'frames', 5)
    write_frames(tmp_path / 'nested' / 'a' / 'frames', 3)        # TrackingNet-like: folders of frame folders
    write_video(tmp_path / 'nested' / 'b.mp4', 6)
    davis = tmp_path / 'davis'                                   # a DAVIS root holding two sequences
    for s in ('blackswan', 'kite-surf'):
        shutil.copytree(asset_path('davis', 'JPEGImages', '480p', s), davis / 'JPEGImages' / '480p' / s)
    vids = make_sources(['synthetic:3', tmp_path / 'frames', tmp_path / 'nested', davis,
                         asset_path('videos', 'bikes_short.mp4')], max_side=64)
    kinds = [type(v).__name__ for v in vids]
    assert kinds == (['SyntheticClip'] * 3 +
                     ['FrameFolder', 'FrameFolder', 'VideoFile', 'FrameFolder', 'FrameFolder', 'VideoFile'])
    assert [v.n_frames for v in vids[3:6]] == [5, 3, 6]
    assert vids[5].frame(2).shape == (3, 48, 64)
    assert vids[-1].frame(0).shape == (3, 27, 64)                # 272×640 → long side 64
    ds = PairDataset(vids, ref_size=32, target_size=64, max_gap=50)
    for k in range(2 * len(vids)):
        p = ds[k]
        assert p['ref'].shape == (3, 32, 32) and p['target'].shape == (3, 64, 64) and p['ref'].dtype == torch.uint8
        t0, t1 = p['frames'].tolist()
        assert 1 <= t1 - t0 <= vids[p['video']].n_frames - 1


def test_bad_inputs_name_the_file(tmp_path):
    (tmp_path / 'empty').mkdir()
    write_frames(tmp_path / 'one', 1)
    write_video(tmp_path / 'one.mp4', 1)
    (tmp_path / 'garbage.mp4').write_bytes(b'\x00' * 100)
    write_frames(tmp_path / 'corrupt', 3)
    (tmp_path / 'corrupt' / '00002.jpg').write_bytes(b'\xff\xd8 truncated')
    cases = [(tmp_path / 'missing', 'does not exist'), (tmp_path / 'empty', 'no videos found'),
             (tmp_path / 'one', 'has 1 frame(s)'), (tmp_path / 'one.mp4', 'has 1 frame(s)'),
             (tmp_path / 'garbage.mp4', 'cannot read video')]
    for path, msg in cases:
        with pytest.raises((ValueError, FileNotFoundError)) as e: make_sources([path])
        assert msg in str(e.value) and str(path) in str(e.value), (path, str(e.value))
    with pytest.raises(ValueError, match=r'cannot read frame .*corrupt/00002\.jpg'):
        make_sources([tmp_path / 'corrupt'])[0].frame(2)
    with pytest.raises(ValueError, match='must be a positive multiple of 8'): PairDataset(['synthetic:1'], ref_size=20)


def test_workers_give_the_same_batches():
    ds = PairDataset(['synthetic:3', asset_path('videos', 'bikes_short.mp4')], ref_size=32, target_size=64, max_gap=5)
    a = list(pair_loader(ds, 2, start=0, stop=4))
    b = list(pair_loader(ds, 2, start=0, stop=4, num_workers=2))
    c = list(pair_loader(ds, 2, start=2, stop=4))                # resuming at step 2
    for x, y in zip(a, b): assert all(torch.equal(x[k], y[k]) for k in ('ref', 'ref_t', 'target', 'index'))
    for x, y in zip(a[2:], c): assert torch.equal(x['target'], y['target'])


def test_synthetic_pairs_boxes_say_where_the_crop_was_cut():
    from contrastcorr.tracking import crop
    r, t, boxes = synthetic_pairs(3, ref_crop=32, target_size=64, gap=0, seed=5, return_boxes=True)
    assert r.shape == (3, 3, 32, 32) and t.shape == (3, 3, 64, 64) and boxes.shape == (3, 4)
    assert_near(crop(t, boxes * 8, 32), r)                      # gap 0: the crop is in the target, at the box
    wr, wt = synthetic_pairs(3, ref_crop=32, target_size=64, gap=2, stage='warmup', seed=5)
    assert wr.shape == wt.shape == (3, 3, 32, 32)
    with pytest.raises(ValueError, match='must not exceed'): synthetic_pairs(1, ref_crop=72, target_size=64)
