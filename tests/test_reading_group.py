"""The reading-group guide (nbs/tutorials/reading_group.ipynb) points at things that exist.

Every link lands on an existing notebook *and* an existing heading in it (anchors as nbconvert writes them: the
heading's text with spaces turned into '-'); every function named in backticks as `contrastcorr.x.y` is an importable
attribute; every part of the guide ends with 2–4 questions for discussion; the parts cover the paper.
"""

import html
import importlib
import json
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from nbconvert.filters.markdown_mistune import markdown2html_mistune

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / 'nbs' / 'tutorials' / 'reading_group.ipynb'


def _markdown(nb_path):
    "The markdown cells of a notebook, in order."
    cells = json.loads(Path(nb_path).read_text(encoding='utf-8'))['cells']
    return [''.join(c['source']) for c in cells if c['cell_type'] == 'markdown']


def heading_ids(nb_path):
    "Percent-decoded anchor ids of every heading of a notebook, rendered the way nbconvert renders them."
    ids = set()
    for src in _markdown(nb_path):
        ids |= {unquote(html.unescape(i)) for i in re.findall(r'<h[1-6] id="([^"]+)"', markdown2html_mistune(src))}
    return ids


def guide_links():
    "Every href of the guide's markdown, as a renderer sees it (so balanced parentheses and escapes are handled)."
    hrefs = []
    for src in _markdown(GUIDE):
        hrefs += [html.unescape(h) for h in re.findall(r'<a href="([^"]+)"', markdown2html_mistune(src))]
    return hrefs


def local_links():
    return [h for h in guide_links() if not urlsplit(h).scheme and not h.startswith('#')]


def named_functions():
    "Every `contrastcorr.x.y` the guide names in backticks, once each."
    names = re.findall(r'`(contrastcorr(?:\.\w+)+)`', '\n'.join(_markdown(GUIDE)))
    return sorted(set(names))


def resolve(name):
    "The object a dotted name refers to: the longest importable module prefix, then attributes."
    parts = name.split('.')
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module('.'.join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for p in parts[i:]:
            obj = getattr(obj, p)
        return obj
    raise ModuleNotFoundError(name)


def parts():
    "(H2 title, its markdown up to the next H2) for every part of the guide."
    text = '\n\n'.join(_markdown(GUIDE))
    chunks = re.split(r'^## ', text, flags=re.M)[1:]
    return [(c.splitlines()[0].strip(), c) for c in chunks]


def test_anchor_rule():
    "The anchor rule the guide relies on: nbconvert's heading ids are the text with spaces -> '-'."
    assert heading_ids(ROOT / 'nbs' / '01_affinity.ipynb') >= {'1.-The-dense-affinity', '4.-Mutual-matching'}
    assert re.findall(r'<h2 id="([^"]+)"', markdown2html_mistune('## 7. Self-reconstruction (official code)')) == [
        '7.-Self-reconstruction-(official-code)'
    ]


def test_guide_is_link_rich():
    assert len(local_links()) >= 40 and len(named_functions()) >= 30


@pytest.mark.parametrize('href', sorted(set(local_links())))
def test_link_lands_on_a_heading(href):
    path, _, anchor = href.partition('#')
    target = (GUIDE.parent / unquote(path)).resolve()
    assert target.suffix == '.ipynb' and target.is_file(), f'{href}: no notebook {target}'
    assert anchor, f'{href}: link to a section (notebook path + heading anchor), not a whole notebook'
    ids = heading_ids(target)
    assert unquote(anchor) in ids, (
        f'{href}: no heading with anchor {unquote(anchor)!r} in {target.name}; it has {sorted(ids)}'
    )


@pytest.mark.parametrize('name', named_functions())
def test_named_function_exists(name):
    try:
        resolve(name)
    except (ModuleNotFoundError, AttributeError) as e:
        pytest.fail(f'the guide names `{name}`, which does not exist: {e}')


def test_every_part_has_questions():
    found = parts()
    assert len(found) >= 15
    for title, body in found:
        assert '**Questions for discussion**' in body, f'part {title!r} has no questions'
        qs = re.findall(r'^\d+\. ', body.split('**Questions for discussion**')[1], flags=re.M)
        assert 2 <= len(qs) <= 4, f'part {title!r} has {len(qs)} questions, expected 2-4'


def test_parts_cover_the_paper():
    titles = ' | '.join(t.lower() for t, _ in parts())
    for topic in [
        'introduction',
        'related work',
        'affinity',
        'tracking',
        'intra-video',
        'inter-video',
        'losses',
        'training',
        'davis',
        'jhmdb',
        'vip',
        'ablations',
        'official code differs',
        'published numbers',
    ]:
        assert topic in titles, f'no part about {topic!r}: {titles}'
