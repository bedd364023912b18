"""The offline docs site (`make docs`, tools/docs.py): built once into a temporary folder, then checked per notebook.

Checks: every notebook in nbs/ (recursive, skipping `_`/`.` names, as nbdev does) has a page; each page shows all the
figures its notebook's visible cells hold (and at least one, except the landing page); the committed notebooks hold
no error outputs and no page shows one; every page's sidebar links every page; `#| hide` cells do not appear while
`#| export` code does, without directive lines; links between pages land on existing anchors; the Quarto configs
(kept for users who have Quarto) are valid YAML.
"""
import json
import re
import resource
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest
from nbdev.doclinks import _nbpath2html

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'
NOTEBOOKS = sorted(p for p in NBS.rglob('*.ipynb')
                   if not any(q.startswith(('_', '.')) for q in p.relative_to(NBS).parts))
IMAGES = ('image/png', 'image/jpeg')
_directive = re.compile(r'^\s*#\|\s*(.*?)\s*$')


def _cells(nb_path):
    return json.loads(nb_path.read_text(encoding='utf-8'))['cells']


def _directives(cell):
    "The leading `#|` directives of a code cell, e.g. {'hide', 'export', 'echo: false'}."
    out = set()
    for line in ''.join(cell['source']).splitlines():
        if not line.strip(): continue
        m = _directive.match(line)
        if not m: break
        out.add(re.sub(r'\s*:\s*', ': ', m.group(1)).rstrip(': '))
    return out


def _hidden(cell):
    d = _directives(cell)
    return cell['cell_type'] == 'code' and ('hide' in d or 'include: false' in d)


def _shown_images(cell):
    if cell['cell_type'] != 'code' or _hidden(cell) or 'output: false' in _directives(cell): return 0
    return sum(any(m in o.get('data', {}) for m in IMAGES) for o in cell.get('outputs', []))


def _code(cell):
    "Source lines of a cell, directive lines dropped."
    return [line for line in ''.join(cell['source']).splitlines() if line.strip() and not _directive.match(line)]


class Page(HTMLParser):
    "What the checks need from a page: its text, the text and images of its output areas, its code, links and ids."
    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.text, self.out_text, self.code, self.imgs, self.out_imgs = [], [], [], 0, 0
        self.hrefs, self.nav_hrefs, self.ids, self.classes = [], [], set(), []
        self._divs, self._in, self._nav = 0, {}, False  # _in: region class -> div depth where it opened
        self.feed(text)
        self.text, self.out_text, self.code = ''.join(self.text), ''.join(self.out_text), ''.join(self.code)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if 'id' in a: self.ids.add(a['id'])
        cls = (a.get('class') or '').split()
        self.classes += cls
        if tag == 'div':
            self._divs += 1
            for region in ('output_area', 'input_area'):
                if region in cls and region not in self._in: self._in[region] = self._divs
        if tag == 'nav': self._nav = True
        if tag == 'img':
            self.imgs += 1
            self.out_imgs += 'output_area' in self._in
        if tag == 'a' and 'href' in a:
            self.hrefs.append(a['href'])
            if self._nav: self.nav_hrefs.append(a['href'])

    def handle_endtag(self, tag):
        if tag == 'div':
            self._in = {k: v for k, v in self._in.items() if v != self._divs}
            self._divs -= 1
        if tag == 'nav': self._nav = False

    def handle_data(self, data):
        self.text.append(data)
        if 'output_area' in self._in: self.out_text.append(data)
        if 'input_area' in self._in: self.code.append(data)


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    "Build the site once with the same command `make docs` runs; {notebook: parsed page}, plus its CPU seconds."
    out = tmp_path_factory.mktemp('site') / '_docs'
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run([sys.executable, str(ROOT / 'tools' / 'docs.py'), '--out', str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    pages = {nb: out / _nbpath2html(nb.relative_to(NBS)) for nb in NOTEBOOKS}
    parsed = {nb: Page(p.read_text(encoding='utf-8')) for nb, p in pages.items() if p.is_file()}
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
    return dict(out=out, pages=pages, parsed=parsed, cpu=cpu, log=r.stdout + r.stderr)


def test_notebooks_found():
    assert NBS / 'index.ipynb' in NOTEBOOKS and len(NOTEBOOKS) > 1


def test_every_notebook_has_a_page(site):
    missing = [str(nb.relative_to(ROOT)) for nb, p in site['pages'].items() if not p.is_file()]
    assert not missing, f'no page for {missing}'
    assert (site['out'] / 'index.html').is_file() and (site['out'] / 'docs.css').is_file()
    built = {p.relative_to(site['out']) for p in site['out'].rglob('*.html')}
    assert built == {p.relative_to(site['out']) for p in site['pages'].values()}, 'pages without a notebook'


def test_build_is_quick(site):
    "CPU seconds, not wall time: the build machine is shared. ~10 s for 10 notebooks here."
    assert site['cpu'] < 4 * max(15, len(NOTEBOOKS)), f"docs build took {site['cpu']:.0f} CPU seconds"


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=lambda p: str(p.relative_to(NBS)))
def test_page_has_its_figures(site, nb):
    page, want = site['parsed'][nb], sum(map(_shown_images, _cells(nb)))
    assert page.out_imgs == want, f'{nb.name}: {page.out_imgs} <img> in outputs, the notebook shows {want} images'
    if nb.name != 'index.ipynb':
        assert want > 0, f'{nb.name} shows no figure: execute it and commit it with its outputs'


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=lambda p: str(p.relative_to(NBS)))
def test_no_error_outputs(site, nb):
    errors = [''.join(c['source'])[:80] for c in _cells(nb)
              for o in c.get('outputs', []) if o['output_type'] == 'error']
    assert not errors, f'{nb.name} is committed with error outputs in cells starting {errors}'
    page = site['parsed'][nb]
    assert 'output_error' not in page.classes and 'Traceback' not in page.out_text, f'{nb.name}: page shows an error'


def test_nav_links_every_page(site):
    for nb, page in site['parsed'].items():
        here = site['pages'][nb].parent
        linked = {(here / h.split('#')[0]).resolve() for h in page.nav_hrefs if not h.startswith(('#', 'http'))}
        missing = [str(p.relative_to(site['out'])) for p in site['pages'].values() if p.resolve() not in linked]
        assert not missing, f'{nb.name}: navigation lacks {missing}'
    nav = site['parsed'][NBS / 'index.ipynb'].nav_hrefs
    assert nav[0] == 'index.html'


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=lambda p: str(p.relative_to(NBS)))
def test_hidden_cells_absent_exported_code_shown(site, nb):
    cells, page = _cells(nb), site['parsed'][nb]
    visible = {line.strip() for c in cells if not _hidden(c) for line in _code(c)}
    for c in cells:
        if _hidden(c):
            leaked = [line for line in _code(c)
                      if line.strip() not in visible and len(line.strip()) > 6 and line.strip() in page.text]
            assert not leaked, f'{nb.name}: hidden cell shows up on the page: {leaked}'
        elif c['cell_type'] == 'code' and _directives(c) & {'export', 'exports'} and _code(c):
            assert _code(c)[0].strip() in page.code, f'{nb.name}: exported code missing: {_code(c)[0]}'
    assert not re.search(r'^\s*#\|', page.code, flags=re.M), f'{nb.name}: directive lines left in the code'


def test_equations_are_mathml(site):
    "Every equation of every notebook becomes MathML when the site is built: no TeX left over, no script to fetch."
    equation_lines = [line for line in site['log'].splitlines() if 'equation' in line]
    assert 'equation left as TeX' not in site['log'], equation_lines[:10]
    pages_with_math = 0
    for nb, page in site['parsed'].items():
        text = site['pages'][nb].read_text(encoding='utf-8')
        md = ''.join(''.join(c['source']) for c in _cells(nb) if c['cell_type'] == 'markdown')
        if '$' in md and re.search(r'\$[^$\s][^$]*\$', md):
            assert '<math' in text, f'{nb.name}: its equations did not become MathML'
            pages_with_math += 1
        prose = re.sub(r'<pre.*?</pre>|<code.*?</code>', '', text, flags=re.S)
        assert '$$' not in prose, f'{nb.name}: a display equation was left as TeX'
        assert not re.search(r'<script[^>]*\bsrc=', text), f'{nb.name}: the page loads a script'
    assert pages_with_math >= 10


def test_equations_render_offline_in_chromium(site):
    """In a real browser with every network request refused, the MathML is laid out as mathematics: a fraction's
    numerator stands above its denominator (unsupported MathML would flow them side by side as plain text)."""
    chromium = shutil.which('chromium') or shutil.which('chromium-browser')
    if chromium is None:
        pytest.skip('no `chromium` on PATH (apt-get install chromium, or run tools/ci_browser_setup.sh)')
    sync_playwright = pytest.importorskip('playwright.sync_api',
                                          reason='the `playwright` package is not installed').sync_playwright
    refused = []
    def only_files(route):
        if route.request.url.startswith('file:'): return route.continue_()
        refused.append(route.request.url); return route.abort()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True,
                                     args=['--headless', '--no-sandbox', '--disable-gpu',
                                           '--disable-background-networking'])
        try:
            page = browser.new_page(viewport={'width': 1400, 'height': 900})
            page.route('**/*', only_files)
            page.goto(site['pages'][NBS / '01_affinity.ipynb'].as_uri())
            assert page.locator('math').count() > 20
            frac = page.locator('math[display="block"] mfrac').first
            parts = frac.locator(':scope > *')
            num, den = parts.nth(0).bounding_box(), parts.nth(1).bounding_box()
            assert num['y'] + num['height'] <= den['y'] + 2, (num, den)   # stacked, not side by side
            centre_gap = abs((num['x'] + num['width'] / 2) - (den['x'] + den['width'] / 2))
            assert centre_gap < 0.25 * max(num['width'], den['width'])
        finally: browser.close()
    assert not refused, refused


def test_links_between_pages_land(site):
    ids = {p.resolve(): site['parsed'][nb].ids for nb, p in site['pages'].items()}
    for nb, page in site['parsed'].items():
        for h in page.hrefs:
            target, _, anchor = h.partition('#')
            if ':' in target or (target and not target.endswith('.html')): continue
            dest = (site['pages'][nb].parent / target).resolve() if target else site['pages'][nb].resolve()
            assert dest in ids or dest.is_file(), f'{nb.name}: broken link {h}'
            if anchor and dest in ids:
                assert {anchor, unquote(anchor)} & ids[dest], f'{nb.name}: link {h} has no target anchor'


@pytest.mark.parametrize('name', ['_quarto.yml', 'nbdev.yml'])
def test_quarto_config_is_yaml(name):
    yaml = pytest.importorskip('yaml')
    assert isinstance(yaml.safe_load((NBS / name).read_text(encoding='utf-8')), dict)


def _nb(*cells):
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
    def cell(c):
        if isinstance(c, str): return new_markdown_cell(c)
        src, outs = c
        return new_code_cell(src, outputs=[new_output(**o) for o in outs])
    return nbformat.writes(new_notebook(cells=[cell(c) for c in cells]))


PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=='
STDOUT = lambda text: dict(output_type='stream', name='stdout', text=text)


def test_builder_rules(tmp_path):
    "The processing rules on a small made-up project: hidden/echo/output/include, widgets, sections, skipped files."
    nbs, out = tmp_path / 'nbs', tmp_path / 'site'
    (nbs / 'tutorials').mkdir(parents=True)
    (nbs / '.ipynb_checkpoints').mkdir()
    (nbs / 'index.ipynb').write_text(_nb('# Home\n> the landing page', ("print('hi')", [STDOUT('hi\n')])))
    (nbs / '01_alpha.ipynb').write_text(_nb(
        ('#| default_exp alpha', []), '# Alpha `x`\n> about $a^2$', '## Part one',
        ('#| export\ndef f(x):\n    "Identity."\n    return x', []),
        ('#| hide\nSECRET_HIDDEN = 1', [STDOUT('secret output\n')]),
        ('plot()', [dict(output_type='display_data', data={'image/png': PNG, 'text/plain': '<Figure>'})]),
        ('#| echo: false\nECHO_HIDDEN = 2', [STDOUT('echo-output\n')]),
        ('#| output: false\nOUT_SHOWN = 3', [STDOUT('OUTPUT_HIDDEN\n')]),
        ('#| include: false\nINCLUDE_HIDDEN = 4', [STDOUT('include output\n')]),
        'Inline $\\hat L_t = L_r A_{r\\to t}$, costs $5 and $6, code `$x$`, and\n\n'
        '$$\\frac{a}{b} < 1$$\n\nbroken $a^$ here.',
        ('w', [dict(output_type='execute_result', execution_count=1, data={
            'application/vnd.jupyter.widget-view+json': {'model_id': 'x', 'version_major': 2, 'version_minor': 0},
            'text/plain': 'WIDGET_REPR'})])))
    (nbs / 'tutorials' / 'first.ipynb').write_text(_nb('# First tutorial', ('1 + 1', [])))
    for skipped in (nbs / '_draft.ipynb', nbs / '.ipynb_checkpoints' / 'index-checkpoint.ipynb'):
        skipped.write_text(_nb('# Skipped'))
    r = subprocess.run([sys.executable, str(ROOT / 'tools' / 'docs.py'), '--nbs', str(nbs), '--out', str(out),
                        '--jobs', '1'],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert {str(p.relative_to(out)) for p in out.rglob('*') if p.is_file()} == {
        'index.html', 'alpha.html', 'tutorials/first.html', 'docs.css'}
    alpha = Page((out / 'alpha.html').read_text(encoding='utf-8'))
    assert 'def f(x):' in alpha.code and '"Identity."' in alpha.code
    for gone in ('SECRET_HIDDEN', 'secret output', 'ECHO_HIDDEN', 'OUTPUT_HIDDEN', 'INCLUDE_HIDDEN', 'include output',
                 'WIDGET_REPR', 'default_exp', '#|'):
        assert gone not in alpha.text, gone
    assert 'echo-output' in alpha.out_text and 'OUT_SHOWN' in alpha.code and 'run the notebook' in alpha.out_text
    assert alpha.imgs == alpha.out_imgs == 1
    html_text = (out / 'alpha.html').read_text(encoding='utf-8')
    assert '<h1 class="title">Alpha <code>x</code></h1>' in html_text
    # equations become MathML at build time (subtitle too); prices, code and TeX that does not parse stay as they are
    assert '$a^2$' not in html_text and '<msup><mi>a</mi><mn>2</mn></msup>' in html_text
    assert '<mfrac>' in html_text and 'display="block"' in html_text and '<mover accent="true"><mi>L</mi>' in html_text
    assert 'costs $5 and $6' in alpha.text and '<code>$x$</code>' in html_text
    assert '<span class="math unrendered">$a^$</span>' in html_text and 'equation left as TeX' in r.stderr
    assert 'mathjax' not in html_text.lower() and not re.search(r'<script[^>]*\bsrc=', html_text)   # renders offline
    assert 'href="#Part-one"' in html_text  # the page's H2s in the sidebar
    index = Page((out / 'index.html').read_text(encoding='utf-8'))
    assert index.nav_hrefs[:4] == ['index.html', 'index.html', 'alpha.html', 'tutorials/first.html']
    assert 'Tutorials' in index.text and 'First tutorial' in index.text
    first = (out / 'tutorials' / 'first.html').read_text(encoding='utf-8')
    assert 'href="../docs.css"' in first and 'href="../alpha.html"' in first
