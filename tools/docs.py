"""Build the docs site from the notebooks, offline (nbdev_docs needs Quarto; we do without it).

`make docs` (= `python tools/docs.py [--out _docs] [--nbs nbs] [--jobs 2]`) writes one HTML page per
notebook in nbs/ (recursive; files and folders starting with `_` or `.` are skipped, as nbdev does) plus `docs.css`;
open `_docs/index.html`. It warns about notebooks committed with error outputs or without outputs.
tests/test_docs.py checks the site.

How: each notebook goes through nbdev's own docs processors (`FilterDefaults`, as `nbdev_proc_nbs` runs them:
frontmatter from the H1 title and `> subtitle`, `#| hide` cells removed, directive lines dropped, magics and ANSI
codes stripped, backticked names linked), minus those that execute code (`show_doc`) or only matter to Quarto. Unlike
nbdev's default, `#| export` code stays visible: the code is the lesson. Quarto cell options `#| echo: false`,
`#| output: false` and `#| include: false` are honoured. nbconvert then renders the committed outputs (nothing is
executed; images are embedded as data URIs). Every page carries a sidebar listing all pages in reading order
(index first, numbered notebooks, then each subfolder such as tutorials/ as a section) under their H1 titles.
Equations ($…$ and $$…$$ in markdown) are converted at build time to MathML with latex2mathml (a dev requirement), which
browsers render natively: the pages need nothing from the network. An equation latex2mathml cannot parse stays as
its TeX, marked, and the build warns about it.
"""
import argparse
import contextlib
import html
import json
import multiprocessing as mp
import os
import re
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from itertools import repeat
from pathlib import Path
from urllib.parse import quote, unquote

root = Path(__file__).resolve().parents[1]
# Static rendering: a saved picture beats a widget or script that needs a live kernel or a CDN.
PRIORITY = ["image/png", "image/jpeg", "image/svg+xml", "text/html", "text/markdown", "text/latex", "text/plain"]
_quarto_opt = re.compile(r"^\s*#\|\s*([\w-]+)\s*:\s*(.*?)\s*$")


def find_notebooks(nbs=root / "nbs"):
    "Notebooks under `nbs` in reading order: index first, then by name, subfolders after the files above them."
    def key(p):
        rel = p.relative_to(nbs)
        return (len(rel.parts) > 1, *[(q != "index.ipynb", q) for q in rel.parts])
    found = [p for p in Path(nbs).rglob("*.ipynb")
             if not any(q.startswith(("_", ".")) for q in p.relative_to(nbs).parts)]
    return sorted(found, key=key)


def page_path(nb_path, nbs=root / "nbs"):
    "Page of a notebook, relative to the site root, named as nbdev/Quarto name it (`00_data.ipynb` -> `data.html`)."
    from nbdev.doclinks import _nbpath2html
    return _nbpath2html(Path(nb_path).relative_to(nbs))


def _procs():
    "nbdev's docs processors, minus those that execute code or only make sense to Quarto; exported code stays visible."
    from nbdev import processors as P
    skip = {P.add_show_docs, P.clean_show_doc, P.exec_show_docs, P.insert_warning, P.add_fold, P.mv_exports,
            P.rm_export}
    return [p for p in P.FilterDefaults().procs() if p not in skip]


def _quarto_options(nb):
    "Apply Quarto's `echo`/`output`/`include` cell options as nbconvert tags; drop directive lines and empty cells."
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            lines = cell.source.splitlines()
            n = next((i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#|")),
                     len(lines))
            opts = dict(m.groups() for m in map(_quarto_opt.match, lines[:n]) if m)
            if opts.get("include") == "false": continue
            tags = cell.metadata.setdefault("tags", [])
            if opts.get("echo") == "false": tags.append("remove_input")
            if opts.get("output") == "false": tags.append("remove_output")
            cell.source = "\n".join(lines[n:]).rstrip()
            if not cell.source and not cell.get("outputs"): continue
        cells.append(cell)
    nb.cells = cells


WIDGET = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = '<p class="widget-note">Interactive widget: run the notebook in Jupyter to use it.</p>'


def _widget_notes(nb):
    "A live widget needs a kernel: say so instead of printing its repr."
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if WIDGET in o.get("data", {}): o["data"] = {"text/html": WIDGET_NOTE}


def _anchors(cell):
    "Anchor ids for the names a code cell defines, as nbdev's doc links spell them (`encoder`, `encoder.forward`)."
    import ast
    try: tree = ast.parse(cell.source)
    except SyntaxError: return []
    defs = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    ids = []
    for node in tree.body:
        if isinstance(node, defs):
            ids.append(node.name.lower())
            if isinstance(node, ast.ClassDef):
                ids += [f"{node.name}.{m.name}".lower() for m in node.body if isinstance(m, defs)]
    return ids


def process(nb_path):
    "The notebook at `nb_path` after nbdev's docs processors: (nbformat notebook, frontmatter dict)."
    import nbformat
    from execnb.nbio import nb2str, read_nb
    from nbdev.process import NBProcessor
    nb = read_nb(nb_path)
    exported = {c.get("id"): c for c in nb.cells
                if c.cell_type == "code" and re.search(r"^#\|\s*export[is]?\b", c.source, re.M)}
    NBProcessor(nb=nb, procs=_procs()).process()
    fm = getattr(nb, "frontmatter_", {}) or {}
    nb.cells = [c for c in nb.cells if not (c.cell_type == "raw" and c.source.startswith("---"))]
    _quarto_options(nb)
    _widget_notes(nb)
    for c in nb.cells:
        if c.get("id") in exported: c.metadata["anchors"] = _anchors(c)
    return nbformat.reads(nb2str(nb), as_version=4), fm


def _as_is(text):
    return text.decode() if isinstance(text, bytes) else str(text)


def _exporter():
    from nbconvert import HTMLExporter
    from traitlets.config import Config
    c = Config()
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_input_tags = {"remove_input"}
    c.TagRemovePreprocessor.remove_all_outputs_tags = {"remove_output"}
    c.NbConvertBase.display_data_priority = PRIORITY
    c.HTMLExporter.exclude_input_prompt = c.HTMLExporter.exclude_output_prompt = True
    c.HTMLExporter.embed_images = True  # images a markdown cell links to travel inside the page
    c.HTMLExporter.anchor_link_text = "#"
    # The classic template runs every highlighted code cell through bleach; pygments' HTML is already escaped and the
    # notebooks are ours, so skip it (it was half of the build time).
    c.HTMLExporter.filters = {"clean_html": _as_is}
    return HTMLExporter(config=c, template_name="basic")


def _add_anchors(body, nb):
    "Put id anchors on cells that define exported names, so nbdev's `data.html#asset_path` links land."
    for c in nb.cells:
        ids = c.metadata.get("anchors")
        if not ids or "id" not in c: continue
        spans = "".join(f'<span id="{html.escape(i)}"></span>' for i in ids)
        body = re.sub(rf'(<div [^>]*id="cell-id={re.escape(c.id)}"[^>]*>)', lambda m: m.group(1) + spans, body, count=1)
    return body


def _local_links(body, depth):
    "Point nbdev's absolute doc links to this project at the local pages."
    from nbdev.config import get_config
    cfg = get_config()
    base = cfg.doc_host.rstrip("/") + "/" + cfg.doc_baseurl.strip("/") + "/"
    return body.replace(f'href="{base}', f'href="{"../" * depth}')


_ANCHOR_SAFE = "?/:@!$&'()*+,;="   # characters nbconvert leaves unencoded in heading ids

def _notebook_links(body, src, nbs, href):
    "Point relative links between notebooks (`../01_affinity.ipynb#1.-The-dense-affinity`) at their pages."
    def fix(m):
        target = (src.parent / m.group(1)).resolve()
        if not target.is_file(): return m.group(0)
        anchor = m.group(2) and "#" + quote(unquote(m.group(2)[1:]), safe=_ANCHOR_SAFE)   # nbconvert's id spelling
        return f'href="{os.path.relpath(page_path(target, nbs), href.parent)}{anchor or ""}"'
    return re.sub(r'href="(?![a-z]+:)([^"#]+\.ipynb)(#[^"]*)?"', fix, body)


def _nav(pages, current):
    "Sidebar: every page in reading order, subfolders as sections, the current page's H2s beneath it."
    up, out, section = "../" * (len(current["href"].parts) - 1), [], None
    for p in pages:
        sec = p["href"].parts[0] if len(p["href"].parts) > 1 else None
        if sec != section:
            section = sec
            out.append(f'<li class="section">{html.escape(sec.replace("_", " ").capitalize())}</li>')
        cls = ' class="current"' if p is current else ""
        out.append(f'<li{cls}><a href="{up}{p["href"].as_posix()}">{p["title"]}</a>')
        if p is current and p["toc"]:
            out.append('<ul class="toc">' + "".join(f'<li><a href="#{i}">{t}</a></li>' for i, t in p["toc"]) + "</ul>")
        out.append("</li>")
    return "\n".join(out)


_DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.S)
# $…$ as pandoc reads it: no space inside the dollars, no digit or letter right after the closing one ("$5 and $6")
_INLINE = re.compile(r"(?<![\\$\w])\$(?![\s$])((?:\\\$|[^$])+?)(?<![\s\\])\$(?![\w$])")


def _mathml(m, display, failed):
    "One equation (a regex match on HTML-escaped TeX) as MathML; kept as marked TeX when latex2mathml cannot parse it."
    from latex2mathml.converter import convert
    tex = html.unescape(m.group(1))
    try: out = convert(tex, display=display)
    except Exception as e:   # latex2mathml raises its own exception types for TeX it cannot parse
        out, why = None, type(e).__name__
    else:   # a command it does not know comes through as the literal text `\\name`
        unknown = re.findall(r">(\\[A-Za-z]+)<", out)
        if unknown: out, why = None, f"unknown {', '.join(unknown)}"
    if out is not None: return out
    failed.append(f"{tex[:60]!r} ({why})")
    return f'<span class="math unrendered">{html.escape(m.group(0), quote=False)}</span>'


def _render_math(body, failed):
    "TeX in the text of a page (not in code, not inside tags' attributes) -> MathML, which the browser typesets."
    parts = re.split(r"(<pre.*?</pre>|<code.*?</code>|<[^>]*>)", body, flags=re.S)
    for i in range(0, len(parts), 2):
        parts[i] = _DISPLAY.sub(lambda m: _mathml(m, "block", failed), parts[i])
        parts[i] = _INLINE.sub(lambda m: _mathml(m, "inline", failed), parts[i])
    return "".join(parts)


def _inline_md(text):
    "A title or subtitle (markdown, maybe TeX) as inline HTML."
    from nbconvert.filters.markdown_mistune import markdown2html_mistune
    out = markdown2html_mistune(str(text)).strip()
    return out[3:-4] if out.startswith("<p>") and out.endswith("</p>") else out


def _toc(body):
    "(id, text) of the H2 headings of a page."
    hs = re.findall(r'<h2 id="([^"]+)"[^>]*>(.*?)</h2>', body, flags=re.S)
    return [(i, re.sub(r"<a class=\"anchor-link\".*?</a>", "", t, flags=re.S).strip()) for i, t in hs]


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{text_title} – {site}</title>
<link rel="stylesheet" href="{up}docs.css">
</head><body>
<nav class="sidebar"><a class="site" href="{up}index.html">{site}</a><ul>
{nav}
</ul></nav>
<main>
<header><h1 class="title">{title}</h1>{subtitle}</header>
{body}
<footer class="pager">{prev}{next}</footer>
</main></body></html>
"""

CSS = """
:root { --fg: #1f2328; --muted: #57606a; --accent: #0b5cad; --bg-code: #f6f8fa; --line: #d8dee4; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg);
  font: 16px/1.6 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
.sidebar { position: fixed; top: 0; bottom: 0; left: 0; width: 270px; overflow-y: auto; padding: 1.2rem 1rem;
  background: #fafbfc; border-right: 1px solid var(--line); font-size: 0.9rem; }
.sidebar .site { display: block; font-weight: 700; font-size: 1.15rem; color: var(--fg); margin-bottom: 0.8rem; }
.sidebar ul { list-style: none; margin: 0; padding: 0; }
.sidebar li { margin: 0.15rem 0; }
.sidebar li > a { display: block; padding: 0.15rem 0.4rem; border-radius: 4px; color: var(--fg); }
.sidebar li.current > a { background: #e7f0fa; color: var(--accent); font-weight: 600; }
.sidebar li.section { margin-top: 0.9rem; font-weight: 700; color: var(--muted); text-transform: uppercase;
  font-size: 0.75rem; }
.sidebar ul.toc { margin: 0.1rem 0 0.4rem 0.8rem; border-left: 2px solid var(--line); font-size: 0.82rem; }
.sidebar ul.toc a { color: var(--muted); }
main { margin-left: 270px; max-width: 1120px; padding: 1.5rem 2.5rem 3rem; }
header { margin-bottom: 1.5rem; border-bottom: 1px solid var(--line); }
h1.title { margin: 0.2rem 0 0.3rem; font-size: 2rem; line-height: 1.25; }
.subtitle { color: var(--muted); font-size: 1.1rem; margin: 0 0 1rem; }
h1, h2, h3 { line-height: 1.3; }
h2 { margin-top: 2.2rem; border-bottom: 1px solid var(--line); padding-bottom: 0.2rem; }
.anchor-link { visibility: hidden; margin-left: 0.3rem; font-size: 0.8em; }
h1:hover .anchor-link, h2:hover .anchor-link, h3:hover .anchor-link { visibility: visible; }
.cell { margin: 0.6rem 0; }
.input_area { background: var(--bg-code); border: 1px solid var(--line); border-radius: 6px; }
.input_area pre, .output_area pre { margin: 0; padding: 0.6rem 0.8rem; overflow-x: auto; font-size: 0.85rem;
  line-height: 1.45;
  font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.output_area pre { border-left: 3px solid var(--line); }
.output_stderr pre { background: #fff8e6; }
.text_cell_render pre { background: var(--bg-code); border: 1px solid var(--line); border-radius: 6px;
  padding: 0.6rem 0.8rem;
  overflow-x: auto; font-size: 0.85rem; }
.output_area img { max-width: 100%; height: auto; display: block; margin: 0.4rem 0; }
.text_cell_render table { border-collapse: collapse; }
.text_cell_render td, .text_cell_render th { border: 1px solid var(--line); padding: 0.2rem 0.5rem; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.88em;
  background: var(--bg-code); padding: 0.05rem 0.25rem; border-radius: 3px; }
pre code { background: none; padding: 0; }
blockquote { margin: 0.8rem 0; padding: 0.1rem 1rem; color: var(--muted); border-left: 4px solid var(--line); }
math[display="block"] { display: block; margin: 0.8rem 0; overflow-x: auto; }
math { font-family: "STIX Two Math", "Latin Modern Math", "Cambria Math", math; }
.math.unrendered { font-family: ui-monospace, monospace; color: #8a4b00; }
.widget-note { margin: 0.3rem 0; padding: 0.4rem 0.8rem; background: #eef6ff; border-radius: 6px; color: var(--muted);
  font-size: 0.9rem; }
.pager { display: flex; justify-content: space-between; margin-top: 3rem; padding-top: 1rem;
  border-top: 1px solid var(--line); }
@media (max-width: 800px) {
  .sidebar { position: static; width: auto; border-right: 0; border-bottom: 1px solid var(--line); }
  main { margin-left: 0; padding: 1rem; } }
"""


@contextlib.contextmanager
def _in_repo():
    "nbdev finds settings.ini from the working directory."
    old = os.getcwd()
    os.chdir(root)
    try: yield
    finally: os.chdir(old)


def build(out=root / "_docs", nbs=root / "nbs", quiet=False, jobs=2):
    "Write the site for the notebooks in `nbs` to `out` (`jobs` processes); returns the pages (src, href, title)."
    with _in_repo(): return _build(Path(out).resolve(), Path(nbs).resolve(), quiet, jobs)


_EXPORTER = None


def _problems(src):
    "What a reader of the page would notice: error outputs, or a notebook committed without running it."
    outs = [o for c in json.loads(src.read_text(encoding="utf-8"))["cells"] for o in c.get("outputs", [])]
    errors = sum(o["output_type"] == "error" for o in outs)
    return ([f"{src.name}: {errors} error output(s)"] * bool(errors)
            + [f"{src.name}: no outputs (not executed?)"] * (not outs))


def _render(src, nbs):
    "One notebook as a page: processed, rendered, links made local."
    nb, fm = process(src)
    body, _ = _EXPORTER.from_notebook_node(nb, resources={"metadata": {"path": str(src.parent)}})
    href = page_path(src, nbs)
    body = _notebook_links(_local_links(_add_anchors(body, nb), len(href.parts) - 1), src, nbs, href)
    failed = []
    body = _render_math(body, failed)
    title = _inline_md(fm.get("title") or src.stem)
    subtitle = _render_math(_inline_md(fm.get("description", "")), failed)
    return dict(src=src, href=href, title=title, text_title=re.sub(r"<[^>]+>", "", title),
                subtitle=subtitle, body=body, toc=_toc(body),
                problems=_problems(src) + [f"{src.name}: equation left as TeX: {f}" for f in failed])


def _build(out, nbs, quiet, jobs):
    global _EXPORTER
    from nbdev.config import get_config
    from nbdev.doclinks import NbdevLookup
    from pygments.formatters import HtmlFormatter
    t0, site, srcs = time.time(), get_config().title, find_notebooks(nbs)
    _EXPORTER = _exporter()
    NbdevLookup()  # build nbdev's (cached) symbol table once, before any fork
    if jobs > 1 and len(srcs) > 1 and "fork" in mp.get_all_start_methods():
        with ProcessPoolExecutor(jobs, mp_context=mp.get_context("fork")) as ex:
            pages = list(ex.map(_render, srcs, repeat(nbs)))
    else: pages = [_render(src, nbs) for src in srcs]
    if len({p["href"] for p in pages}) != len(pages):
        sys.exit(f"two notebooks map to the same page: {sorted(str(p['href']) for p in pages)}")
    if out.exists() and any(out.iterdir()) and not (out / "docs.css").exists():
        sys.exit(f"{out} is not empty and not a site built by this tool: not replacing it")
    if out.exists(): shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / "docs.css").write_text(CSS + HtmlFormatter(style="default").get_style_defs(".highlight"), encoding="utf-8")
    for i, p in enumerate(pages):
        up = "../" * (len(p["href"].parts) - 1)
        link = lambda q, rel, arrow: (f'<a rel="{rel}" href="{up}{q["href"].as_posix()}">{arrow}{q["title"]}</a>'
                                      if q else "<span></span>")
        text = PAGE.format(
            title=p["title"], text_title=p["text_title"], site=html.escape(site), up=up,
            nav=_nav(pages, p), subtitle=f'<p class="subtitle">{p["subtitle"]}</p>' if p["subtitle"] else "",
            body=p["body"], prev=link(pages[i - 1] if i else None, "prev", "← "),
            next=link(pages[i + 1] if i + 1 < len(pages) else None, "next", "→ "))
        dest = out / p["href"]
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text, encoding="utf-8")
    for p in pages:
        for problem in p["problems"]: print(f"warning: {problem}", file=sys.stderr)
    if not quiet: print(f"wrote {len(pages)} pages to {out} in {time.time() - t0:.1f}s")
    return [dict(src=p["src"], href=p["href"], title=p["text_title"]) for p in pages]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(root / "_docs"), help="output folder (replaced)")
    ap.add_argument("--nbs", default=str(root / "nbs"), help="notebook folder")
    ap.add_argument("--jobs", type=int, default=2, help="notebooks rendered in parallel (1: no worker processes)")
    a = ap.parse_args()
    build(a.out, a.nbs, jobs=a.jobs)
