"""Nothing in the product points at what a user does not have: no absolute path of a development machine, no
`../shared`, no design notes, no internal tracker wording, and every repository file the text names exists.
Scanned: every notebook (sources and outputs), README.md, data/SOURCES.md and the docs builder's own text."""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# an absolute path under a folder where machines keep checkouts, scratch and homes (not part of a URL or a relative
# path); Windows drives too. Illustrative paths in examples (`--data /data/TrackingNet`) are allowed.
ABSOLUTE = re.compile(r"(?<![\w/:.~-])/(?:work|tmp|home|root|Users|mnt|var|opt|private|srv|scratch|Volumes|media)"
                      r"/[\w.-]+|\b[A-Z]:\\\\?[A-Za-z]")
INTERNAL = re.compile(r"\.\./shared|\bDESIGN(?:\.md| ?§)|\bissue (?:asks|says|wants|requires|#?\d+)", re.I)
REPO_FILE = re.compile(r"`((?:nbs|data|tools|tests|contrastcorr)/[\w./-]+)`")
MD_LINK = re.compile(r"\]\((?!https?:|mailto:|#)([^)\s#]+)")

def _texts(path: Path):
    "(where, text) for every source and text output of a notebook, or the whole text of another file."
    if path.suffix != '.ipynb':
        yield str(path.relative_to(ROOT)), path.read_text(encoding='utf-8'); return
    for i, c in enumerate(json.loads(path.read_text(encoding='utf-8'))['cells']):
        where = f"{path.relative_to(ROOT)} cell {i}"
        yield f"{where} ({c['cell_type']})", ''.join(c['source'])
        for o in c.get('outputs', []):
            yield where + ' output', ''.join(o.get('text', ''))
            yield from ((where + ' output', ''.join(v)) for k, v in o.get('data', {}).items()
                        if k.startswith('text/') and k != 'text/html')
            if 'traceback' in o: yield where + ' output', '\n'.join(o['traceback'])

FILES = sorted(ROOT.glob('nbs/**/*.ipynb')) + [ROOT/'README.md', ROOT/'data'/'SOURCES.md']

def _hits(pattern):
    return [f"{w}: {m.group(0)!r}" for p in FILES if p.exists() for w, t in _texts(p) for m in pattern.finditer(t)]

def test_no_absolute_paths(): assert not _hits(ABSOLUTE), '\n'.join(_hits(ABSOLUTE)[:20])

def test_no_internal_references(): assert not _hits(INTERNAL), '\n'.join(_hits(INTERNAL)[:20])

def _missing(path: Path, where: str, text: str):
    for m in REPO_FILE.finditer(text):
        name = m.group(1).rstrip('.')
        if any(ch in name for ch in '*{<') or name.startswith('contrastcorr/assets'): continue   # patterns; installed
        if not (ROOT/name).exists(): yield name
    if path.suffix == '.md' or where.endswith('(markdown)'):   # links are markdown's; code has `](` for other reasons
        for m in MD_LINK.finditer(text):
            target = (path.parent/m.group(1)).resolve()
            if not (target.exists() or target.with_suffix('.ipynb').exists()): yield m.group(1)

def test_named_repository_files_exist():
    bad = [f"{w}: {name}" for p in FILES if p.exists() for w, t in _texts(p) for name in _missing(p, w, t)]
    assert not bad, '\n'.join(bad[:20])

@pytest.mark.parametrize('text, pattern', [('see /work/main/data', ABSOLUTE), ('../shared/data', INTERNAL),
                                           ('DESIGN §2', INTERNAL), ('the issue asks for', INTERNAL)])
def test_the_scan_catches(text, pattern):
    assert pattern.search(text)

@pytest.mark.parametrize('text', ['https://github.com/ajabri/videowalk', 'data/davis/JPEGImages', '`/proc/self/statm`',
                                  '1/8 resolution', 'a/b ratio'])
def test_the_scan_allows(text):
    assert not ABSOLUTE.search(text)
