"""Build a local training folder of real video for `contrastcorr train --data`: short clips of small JPEG frames.

Sources are any video files or frame folders you own (`inputs`), and/or the permissively licensed public clips listed
in `PUBLIC_SOURCES` below, read from local copies of their GitHub repositories (`--public ROOT`: ROOT holds either
`git clone`s named `<name>` or bare git dirs `<owner>+<name>/repo`; files are read at the pinned commit when git can).
Nothing is downloaded. Every clip is written as `OUT/<video>_cNN/00000.jpg ...` (long side `--max-side`, about `--fps`
frames per second, at most `--clip-frames` frames, at most `--max-clips` evenly spaced clips per video) and
`OUT/manifest.json` records where each clip came from (repository, commit, path, licence, frame range).

DAVIS *val* sequences are evaluation data and are refused: frame folders under a DAVIS root whose ImageSets lists
them as val are skipped (DAVIS train sequences are fine).

    python tools/make_training_set.py --public ~/repos --out ~/contrastcorr_train            # the public clips
    python tools/make_training_set.py ~/Videos/holiday.mp4 ~/Videos/clips --out ~/my_train     # your own videos
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# (owner/name, commit, path in the repository, licence of the repository). Test patterns, clips with drawn overlays and
# a 48-px clip are left out; so are DAVIS/SA-V samples that some of these repositories also carry.
PUBLIC_SOURCES = [
    *[
        ('IDEA-Research/Grounded-SAM-2', '2c0178f77480f4b07107bcbfa8573fb3db3ebee8', p, 'Apache-2.0')
        for p in (
            'demo/data/gallery/01_dog.mp4',
            'demo/data/gallery/02_cups.mp4',
            'demo/data/gallery/03_blocks.mp4',
            'demo/data/gallery/04_coffee.mp4',
            'demo/data/gallery/05_default_juggle.mp4',
            'notebooks/videos/bedroom.mp4',
            'notebooks/videos/car',
        )
    ],
    *[
        ('andrewssobral/bgslibrary', '4622bc9cded1c5504cec6db47db07b3e3c782ecc', f'dataset/{p}', 'MIT')
        for p in ('video.avi', 'video02.avi', 'video03.avi')
    ],
    *[
        ('Zulko/moviepy', '7ffa4f00376237137a25fe1c777355c37753e9af', f'media/{p}', 'MIT')
        for p in ('big_buck_bunny_0_30.webm', 'big_buck_bunny_432_433.webm', 'chaplin.mp4', 'fire2.mp4')
    ],
    *[
        ('gaomingqi/Track-Anything', 'e6e159273790974e04eeea6673f1f93c035005fc', f'test_sample/{p}', 'MIT')
        for p in ('test-sample2.mp4', 'test-sample4.mp4', 'test-sample13.mp4')
    ],
    *[
        ('open-mmlab/mmaction2', '4d6c93474730cad2f25e51109adcf96824efc7a3', p, 'Apache-2.0')
        for p in ('demo/demo.mp4', 'demo/demo_skeleton.mp4', 'demo/test_video_structuralize.mp4', 'tests/data/test.mp4')
    ],
    *[
        ('KwaiVGI/LivePortrait', '1986663be3b6902605d32200c01f4bfd36cda83d', f'assets/examples/{p}', 'MIT')
        for p in (
            'driving/d0.mp4',
            'driving/d3.mp4',
            'driving/d6.mp4',
            'driving/d10.mp4',
            'driving/d14.mp4',
            'source/s18.mp4',
            'source/s20.mp4',
            'source/s32.mp4',
        )
    ],
]
VIDEO_EXTS = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v', '.mpg', '.mpeg')
IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp')


def _git_dir(root: Path, repo: str) -> Path | None:
    owner, name = repo.split('/')
    for d in (root / f'{owner}+{name}' / 'repo', root / name / '.git', root / f'{owner}+{name}'):
        if (d / 'HEAD').is_file():
            return d
    return None


def fetch_public(root: Path, tmp: Path, only=None) -> list[tuple[Path, dict]]:
    "Copy each PUBLIC_SOURCES entry out of its local repository into `tmp`; missing repositories are reported and skipped."
    out, missing = [], set()
    for repo, commit, path, licence in PUBLIC_SOURCES:
        if only and not any(o in path for o in only):
            continue
        info = dict(repo=repo, commit=commit, path=path, licence=licence)
        wt = root / repo.split('/')[1] / path  # a working tree: use the file as it is there
        if wt.exists():
            out.append((wt, info))
            continue
        g = _git_dir(root, repo)
        if g is None:
            missing.add(repo)
            continue
        dst = tmp / repo.replace('/', '+') / path
        dst.parent.mkdir(parents=True, exist_ok=True)
        ls = subprocess.run(
            ['git', f'--git-dir={g}', 'ls-tree', '-r', '--name-only', commit, '--', path],
            capture_output=True,
            text=True,
        )
        names = ls.stdout.split() if ls.returncode == 0 else []
        if not names:
            print(f'  not in {repo}@{commit[:7]}: {path}', file=sys.stderr)
            continue
        for n in names:  # one file, or the frames of a folder
            f = tmp / repo.replace('/', '+') / n
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(
                subprocess.run(
                    ['git', f'--git-dir={g}', 'show', f'{commit}:{n}'], capture_output=True, check=True
                ).stdout
            )
        out.append((dst, info))
    for r in sorted(missing):
        print(f'  no local copy of {r} under {root} (git clone https://github.com/{r})', file=sys.stderr)
    return out


def davis_val(path: Path) -> bool:
    "Is `path` a frame folder of a DAVIS val sequence (root/JPEGImages/<res>/<seq>, root/ImageSets/*/val.txt lists it)?"
    p = path.resolve()
    if len(p.parents) < 3 or p.parents[1].name != 'JPEGImages':
        return False
    names = set()
    for f in (p.parents[2] / 'ImageSets').glob('*/val.txt'):
        names |= set(f.read_text().split())
    return p.name in names


def expand(inputs) -> list[tuple[Path, dict]]:
    "Video files and frame folders under `inputs` (recursive), each with a provenance dict."
    out = []
    for x in map(Path, inputs):
        if x.is_file() and x.suffix.lower() in VIDEO_EXTS:
            out.append((x, dict(path=str(x))))
            continue
        if not x.is_dir():
            print(f'  skipped (not a video or folder): {x}', file=sys.stderr)
            continue
        if any(q.suffix.lower() in IMAGE_EXTS for q in x.iterdir()):
            if davis_val(x):
                print(f'  skipped DAVIS val sequence (evaluation data): {x}', file=sys.stderr)
            else:
                out.append((x, dict(path=str(x))))
            continue
        out += expand(sorted(x.iterdir()))
    return out


def frames_of(src: Path, fps: float):
    "(frame index, PIL image) of `src` at about `fps` frames per second; frame folders count as 30 fps."
    from PIL import Image

    if src.is_dir():
        files = sorted(p for p in src.iterdir() if p.suffix.lower() in IMAGE_EXTS)
        stride = max(1, round(30 / fps))
        for i, p in enumerate(files[::stride]):
            with Image.open(p) as im:
                yield i * stride, im.convert('RGB')
        return
    import av

    with av.open(str(src)) as c:
        s = c.streams.video[0]
        stride = max(1, round(float(s.average_rate or 30) / fps))
        for i, fr in enumerate(c.decode(video=0)):
            if i % stride == 0:
                yield i, fr.to_image()


def _shrink(im, side: int):
    "Resize a PIL image so its long side is at most `side` (even sizes, for video encoders)."
    from PIL import Image

    s = min(1.0, side / max(im.size))
    w, h = 2 * round(im.width * s / 2), 2 * round(im.height * s / 2)
    return im if (w, h) == im.size else im.resize((w, h), Image.Resampling.LANCZOS)


def _write_mp4(ims, path: Path, fps: float, crf: int):
    "H.264 (yuv420p) clip of PIL images."
    import av

    with av.open(str(path), 'w') as c:
        s = c.add_stream('libx264', rate=round(fps))
        s.width, s.height, s.pix_fmt, s.options = ims[0].width, ims[0].height, 'yuv420p', {'crf': str(crf)}
        for im in ims:
            for pkt in s.encode(av.VideoFrame.from_image(im)):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)


def write_clips(src: Path, info: dict, out: Path, a) -> list[dict]:
    "Downscale `src` and split it into at most `a.max_clips` evenly spaced clips of `a.clip_frames` frames."
    frames = [(i, im) for i, im in frames_of(src, a.fps)]
    if len(frames) < 2 or min(frames[0][1].size) < a.min_side:
        print(f'  skipped (too short or too small): {src}')
        return []
    n_clips = min(a.max_clips, max(1, len(frames) // a.clip_frames))
    step = (len(frames) - a.clip_frames) / max(1, n_clips - 1) if len(frames) > a.clip_frames else 0
    stem = (info.get('repo', '').replace('/', '+') + '_' if 'repo' in info else '') + src.stem
    clips = []
    for c in range(n_clips):
        part = frames[round(c * step) : round(c * step) + a.clip_frames]
        name = f'{stem}_c{c:02d}'
        ims = [_shrink(im, a.max_side) for _, im in part]
        if a.format == 'mp4':
            _write_mp4(ims, out / f'{name}.mp4', a.fps, a.crf)
        else:
            (out / name).mkdir(parents=True, exist_ok=True)
            for j, im in enumerate(ims):
                im.save(out / name / f'{j:05d}.jpg', quality=a.quality)
        im = ims[-1]
        clips.append(
            dict(
                clip=name + ('.mp4' if a.format == 'mp4' else ''),
                **info,
                source_frames=[part[0][0], part[-1][0]],
                frames=len(part),
                stride=part[1][0] - part[0][0] if len(part) > 1 else 1,
                size=list(im.size),
            )
        )
    return clips


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('inputs', nargs='*', help='your own video files, frame folders, or folders of them')
    p.add_argument('--public', type=Path, help='folder with local copies of the PUBLIC_SOURCES repositories')
    p.add_argument(
        '--out', type=Path, required=True, help='training folder to write (pass it to contrastcorr train --data)'
    )
    p.add_argument(
        '--only', nargs='*', default=None, help='keep only sources whose repository path contains one of these'
    )
    p.add_argument('--max-side', type=int, default=320, help='long side of the stored frames, px')
    p.add_argument('--fps', type=float, default=15, help='about this many frames per second are kept')
    p.add_argument('--clip-frames', type=int, default=60, help='frames per clip')
    p.add_argument('--max-clips', type=int, default=4, help='clips per source video')
    p.add_argument('--min-side', type=int, default=96, help='skip videos whose short side is smaller, px')
    p.add_argument('--format', choices=('jpg', 'mp4'), default='jpg', help='frame folders (jpg) or H.264 clips (mp4)')
    p.add_argument('--quality', type=int, default=90, help='JPEG quality')
    p.add_argument('--crf', type=int, default=23, help='H.264 quality with --format mp4 (lower: better, larger)')
    a = p.parse_args(argv)
    if not a.inputs and not a.public:
        p.error('give video inputs and/or --public ROOT')
    a.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix='cc_public_'))
    try:
        sources = (fetch_public(a.public, tmp, a.only) if a.public else []) + expand(a.inputs)
        if a.only:
            sources = [(src, info) for src, info in sources if any(o in info['path'] for o in a.only)]
        clips = []
        for src, info in sources:
            new = write_clips(src, info, a.out, a)
            print(f'{len(new)} clip(s), {sum(c["frames"] for c in new)} frames  {info.get("repo", "")} {info["path"]}')
            clips += new
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    args = list(sys.argv[1:] if argv is None else argv)
    for flag, name in (('--public', 'REPOS'), ('--out', a.out.name)):  # no paths of this machine in the manifest
        if flag in args:
            args[args.index(flag) + 1] = name
    cmd = 'python tools/make_training_set.py ' + ' '.join(args)
    (a.out / 'manifest.json').write_text(json.dumps(dict(command=cmd, clips=clips), indent=1))
    print(f'{len(clips)} clips, {sum(c["frames"] for c in clips)} frames in {a.out}')


if __name__ == '__main__':
    main()
