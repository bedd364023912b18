"""Regenerate tests/data/protocol_fixture.npz: the masks the ORIGINAL test-time code of CRW and of ContrastCorr computes
from fixed features, so tests/test_protocols.py can check the `crw` and `contrastcorr` presets against them.

    python tools/make_protocol_fixtures.py --crw PATH/TO/videowalk --contrastcorr PATH/TO/ContrastCorr [--work DIR]

PATH/TO/videowalk: a checkout of github.com/ajabri/videowalk (used at 047f3f40135a4b1be2f837793b89c3dbfe7a6683);
PATH/TO/ContrastCorr: a checkout of github.com/594422814/ContrastCorr (used at
9b117944275933132fad6921bbabb3afddca60bd). Neither is part of this repository, and nothing of theirs is copied here:
this script only writes a tiny video to disk in the layout each loader reads, imports their modules and calls their
test-time functions, with the shims they need to run on a CPU-only machine without their training-time dependencies:

- the encoder is replaced by a lookup that returns the fixed features of the frame it is given (each frame is one
  flat grey level, which identifies it); everything after the encoder is theirs;
- CRW (`code/test.py::test`, `code/data/vos.py::VOSDataset`, `code/utils/test_utils.py`): modules only its training or
  visualisation imports (torchvision, visdom, wandb, sklearn, skimage, kornia) are stubbed; run with the flags of its
  README's DAVIS command (--topk 10 --videoLen 20 --radius 12 --temperature 0.05 --cropSize -1), once more with
  --radius 4 so the window binds on the small grid; masks read back from its `*_mask.png` colours;
- ContrastCorr (`test.py::test`, `forward`, `libs/test_utils.py::read_seg/read_frame/transform_topk`,
  `libs/net_utils.py::MutualMatching`, `libs/utils.py::norm_mask`): `Tensor.cuda` is the identity, torchvision and
  scipy.io are stubbed, `scipy.misc.imresize` (removed from SciPy 1.3) is SciPy 1.2's PIL-based definition, and
  `PIL.PILLOW_VERSION` is set; run with its defaults (--pre_num 7 --temp 1 --topk 5) but `-s 128` (short side 128
  instead of 560) so the test stays small.
It needs OpenCV and imageio (their dependencies, not this project's) importable, e.g. through PYTHONPATH.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import types
from pathlib import Path

import numpy as np
import torch
from PIL import Image

T, C, H, W = 24, 12, 125, 190          # frames, feature channels, frame size (not multiples of 8, as DAVIS's 854 px)
h, w = -(-H // 8), -(-W // 8)         # stride-8 grid: 16 × 24
GREY = 20 + 8 * np.arange(T)          # frame t is one flat grey level: how the encoder shims know which frame they see
CC_SHORT = 128                        # ContrastCorr's -s (working size 128 × 192, a multiple of 64)


def palette():
    "The DAVIS palette (PASCAL VOC colour map): id -> RGB."
    p = np.zeros((256, 3), np.uint8)
    for i in range(256):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j); g |= ((c >> 1) & 1) << (7 - j); b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        p[i] = r, g, b
    return p


def make_inputs(seed: int = 0) -> dict:
    "A tiny synthetic video: non-negative features (T, C, h, w) of a textured background and two moving objects, mask."
    rng = np.random.default_rng(seed)
    bg, o1, o2 = rng.standard_normal((C, h, w)), rng.standard_normal((C, 5, 6)), rng.standard_normal((C, 4, 4))
    feats, mask = np.empty((T, C, h, w), np.float32), np.zeros((H, W), np.uint8)
    for t in range(T):
        f = bg.copy()
        y1, x1 = 3 + t // 6, 2 + t // 2                                  # object 1 drifts right (and a little down)
        y2, x2 = 10 - t // 5, 18 - t // 4                                # object 2 drifts up and left
        f[:, y1:y1 + 5, x1:x1 + 6] = o1
        f[:, y2:y2 + 4, x2:x2 + 4] = o2
        feats[t] = np.maximum(f + 0.15 * rng.standard_normal((C, h, w)), 0) + 0.02   # after a ReLU; no all-zero cell
    yy, xx = np.mgrid[:H, :W]
    mask[(yy >= 27) & (yy < 62) & (xx >= 18) & (xx < 61)] = 1           # object 1, its edges off the cell grid
    mask[(yy - 12 * 8) ** 2 + (xx - 20 * 8) ** 2 < 15 ** 2] = 2                              # object 2, a disc
    return dict(feats=feats.astype(np.float16), first_mask=mask, grey=GREY.astype(np.uint8))


class _Stub(types.ModuleType):
    "A module (or class, or function) that only has to exist: any attribute is another stub; calling it returns a stub."
    def __init__(self, name, *args, **kwargs): super().__init__(str(name))
    def __getattr__(self, name):
        if name.startswith('__'): raise AttributeError(name)
        return _Stub(f'{self.__name__}.{name}')
    def __call__(self, *args, **kwargs): return _Stub(self.__name__ + '()')


CRW_STUBS = ('torchvision', 'torchvision.transforms', 'torchvision.models', 'torchvision.models.video',
             'torchvision.models.video.resnet', 'torchvision.models.resnet', 'torchvision.datasets',
             'torchvision.datasets.video_utils', 'torchvision.datasets.utils', 'torchvision.datasets.folder',
             'torchvision.datasets.vision', 'skimage', 'sklearn', 'sklearn.decomposition', 'visdom', 'wandb', 'kornia',
             'kornia.augmentation')   # what CRW's modules import for training or visualisation only


def _stub_modules(*names):
    for n in names: sys.modules.setdefault(n, _Stub(n))


def _load(name: str, path: Path):
    "Import their file `path` as module `name` (both repositories have a top-level test.py)."
    if name in sys.modules: return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _write_frames(folder: Path, ext: str):
    folder.mkdir(parents=True, exist_ok=True)
    for t, g in enumerate(GREY):
        Image.fromarray(np.full((H, W, 3), g, np.uint8)).save(folder / f'{t:05d}.{ext}', quality=95)


def _write_mask(path: Path, m):
    im = Image.fromarray(m)
    im.putpalette(palette().ravel())
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)


def run_crw(root: Path, inp: dict, radius: float, work: Path) -> np.ndarray:
    "Masks (T, H, W) and soft labels (T, D, h, w) of CRW's `test.test` on the fixed features (README flags, `radius`)."
    code = root / 'code'
    sys.path.insert(0, str(code))
    _stub_modules(*CRW_STUBS)
    import utils  # noqa: E401  (their modules)
    import utils.arguments

    from data import vos
    crw_test = _load('crw_test', code / 'test.py')
    run = work / f'crw_r{radius:g}'
    _write_frames(run / 'JPEGImages' / 'v', 'png')
    for t in range(T): _write_mask(run / 'Annotations' / 'v' / f'{t:05d}.png',
                                   inp['first_mask'] if t == 0 else np.zeros((H, W), np.uint8))
    (run / 'list.txt').write_text(f"{run / 'JPEGImages' / 'v'} {run / 'Annotations' / 'v'}\n")
    sys.argv = ['test.py', '--filelist', str(run / 'list.txt'), '--model-type', 'scratch',
                '--save-path', str(run / 'out'), '--topk', '10', '--videoLen', '20', '--radius', str(radius),
                '--temperature', '0.05', '--cropSize', '-1', '--workers', '0']
    args = utils.arguments.test_args()
    args.imgSize = args.cropSize
    feats = torch.from_numpy(inp['feats'].astype(np.float32))          # (T, C, h, w)
    mean, std = 0.485, 0.229                                            # their ImageNet normalisation of channel 0
    keys = torch.tensor((GREY / 255 - mean) / std, dtype=torch.float32)

    class Lookup(torch.nn.Module):
        "Stands in for their encoder: (B, 3, t, H, W) images -> their fixed features (B, C, t, h, w)."
        def forward(self, x):
            idx = (x[0, 0, :, 0, 0, None] - keys).abs().argmin(-1)     # which frame each image is
            return feats[idx].permute(1, 0, 2, 3)[None]

    class Model(torch.nn.Module):
        "Stands in for their CRW model: `.encoder`, and the call `infer_downscale` makes (320 px -> stride 8)."
        def __init__(self):
            super().__init__()
            self.encoder, self.device_anchor = Lookup(), torch.nn.Parameter(torch.zeros(1))
        def forward(self, x, just_feats=False): return None, torch.zeros(1, 1, 1, 40, 40)
    model = Model()
    args.mapScale = crw_test.test_utils.infer_downscale(model)
    loader = torch.utils.data.DataLoader(vos.VOSDataset(args), batch_size=1, shuffle=False, num_workers=0)
    (run / 'out').mkdir(parents=True, exist_ok=True)                    # as their `main` does
    crw_test.vis = None                                                 # as their `__main__` does without --visdom
    soft, dump = [], crw_test.test_utils.dump_predictions
    def recording_dump(pred, *a):   # their soft labels (h, w, D) at the grid, kept, then their own dump
        soft.append(pred.copy())
        return dump(pred, *a)
    crw_test.test_utils.dump_predictions = recording_dump
    try:
        with torch.no_grad(): crw_test.test(loader, model, args)
    finally: crw_test.test_utils.dump_predictions = dump
    rgb2id = {tuple(c): i for i, c in enumerate(palette()[:8])}
    out = []
    for t in range(T):   # each pixel holds its label's colour as cv2 read it (BGR), as their convert_davis.py reads it
        bgr = np.array(Image.open(run / 'out' / f'0_{t}_mask.png').convert('RGB'))
        ids = np.zeros((H, W), np.uint8)
        for c in np.unique(bgr.reshape(-1, 3), axis=0): ids[(bgr == c).all(-1)] = rgb2id[tuple(c[::-1])]
        out.append(ids)
    return np.stack(out), np.stack(soft).transpose(0, 3, 1, 2)          # (T, H, W) ids, (T, D, h, w) soft labels


def _imresize(arr, size, interp='bilinear', mode=None):
    "SciPy 1.2's `scipy.misc.imresize` (toimage -> PIL resize -> fromimage) for the 2-D calls ContrastCorr makes."
    arr = np.asarray(arr)
    if mode == 'F': im = Image.frombytes('F', (arr.shape[1], arr.shape[0]), arr.astype(np.float32).tobytes())
    elif arr.dtype == np.uint8: im = Image.frombytes('L', (arr.shape[1], arr.shape[0]), arr.tobytes())
    else: raise NotImplementedError(f'imresize shim: mode={mode}, dtype={arr.dtype}')
    resample = {'nearest': 0, 'lanczos': 1, 'bilinear': 2, 'bicubic': 3, 'cubic': 3}[interp]
    return np.array(im.resize((size[1], size[0]), resample=resample))


def run_contrastcorr(root: Path, inp: dict, work: Path) -> np.ndarray:
    "Masks (T, H, W) of ContrastCorr's `test.test` on the fixed features (defaults, short side `CC_SHORT`)."
    import PIL
    PIL.PILLOW_VERSION = PIL.__version__
    misc = types.ModuleType('scipy.misc'); misc.imresize = _imresize
    scipy = _Stub('scipy'); scipy.misc = misc
    sys.modules.update({'scipy': scipy, 'scipy.misc': misc})
    _stub_modules('scipy.io', 'torchvision', 'torchvision.models')
    torch.Tensor.cuda = lambda self, *a, **k: self                      # CPU only
    sys.path.insert(0, str(root))
    cwd = os.getcwd()
    os.chdir(root)                                                      # their palette path is relative
    try:
        cc_test = _load('cc_test', root / 'test.py')
        run = work / 'contrastcorr'
        _write_frames(run / 'JPEGImages' / 'v', 'jpg')
        _write_mask(run / 'Annotations' / 'v' / '00000.png', inp['first_mask'])
        cc_test.args = argparse.Namespace(out_dir=str(run / 'out'), scale_size=[CC_SHORT], pre_num=7, temp=1.0, topk=5)
        model = cc_test.Model(pretrainRes=False, temp=1.0, uselayer=4)
        frame_list = cc_test.read_frame_list(str(run / 'JPEGImages' / 'v'))
        tr = cc_test.create_transforms()
        keys = torch.stack([model.normalize((cc_test.read_frame(f, tr, [CC_SHORT])[0] + 1) / 2)[0, 0, 0, 0]
                            for f in frame_list])                       # what the network sees of each frame
        feats = torch.from_numpy(inp['feats'].astype(np.float32))

        class Lookup(torch.nn.Module):
            "Stands in for their ResNet-18: normalised (B, 3, H, W) images -> the fixed features (B, C, h, w)."
            def forward(self, x): return feats[(x[:, 0, 0, 0, None] - keys).abs().argmin(-1)]
        model.gray_encoder = Lookup()
        model.eval()
        _, first_seg, seg_ori = cc_test.read_seg(str(run / 'Annotations' / 'v' / '00000.png'), [CC_SHORT])
        cc_test.test(model, frame_list, str(run / 'JPEGImages' / 'v'), first_seg, seg_ori)
        return np.stack([np.array(Image.open(run / 'out' / 'v' / f'{t:05d}.png')) for t in range(T)])
    finally: os.chdir(cwd)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--crw', type=Path, required=True, help='checkout of ajabri/videowalk')
    p.add_argument('--contrastcorr', type=Path, required=True, help='checkout of 594422814/ContrastCorr')
    p.add_argument('--work', type=Path, default=Path('protocol_fixture_work'), help='scratch folder for their files')
    p.add_argument('--out', type=Path, default=Path(__file__).resolve().parents[1] / 'tests/data/protocol_fixture.npz')
    a = p.parse_args(argv)
    work = a.work.resolve()
    torch.set_num_threads(1)
    inp = make_inputs()
    res = {}
    for r in (12, 4): res[f'crw_r{r}'], res[f'crw_r{r}_soft'] = run_crw(a.crw.resolve(), inp, r, work)
    res['contrastcorr_s128'] = run_contrastcorr(a.contrastcorr.resolve(), inp, work)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(a.out, **inp, **res)
    print(f"wrote {a.out} ({a.out.stat().st_size / 1024:.0f} KB):", {k: v.shape for k, v in res.items()})


if __name__ == '__main__':
    main()
