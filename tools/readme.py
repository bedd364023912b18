"""Write README.md from nbs/index.ipynb without Quarto (nbdev_readme needs it; we build offline).

`python tools/readme.py` writes README.md; `--check` exits 1 when README.md is out of date.
Rules: markdown cells are copied; code cells are shown as Python blocks with their text output,
except cells marked `#| hide`; `#|` directive lines are dropped.
"""
import json
import re
import sys
from pathlib import Path

root = Path(__file__).resolve().parents[1]
header = "<!-- Generated from nbs/index.ipynb by tools/readme.py: edit the notebook, not this file. -->\n\n"


def _directives(src):
    return [line[3:].strip() for line in src.splitlines() if line.startswith("#|")]


def _text_outputs(cell):
    out = []
    for o in cell.get("outputs", []):
        if o["output_type"] == "stream" and o.get("name") == "stdout":
            out.append("".join(o["text"]))
        elif o["output_type"] in ("execute_result", "display_data"):
            data = o.get("data", {})
            if "text/markdown" in data:
                out.append(("md", "".join(data["text/markdown"])))
            elif "text/plain" in data and "image/png" not in data:
                out.append("".join(data["text/plain"]))
    return out


def render(nb_path=root / "nbs" / "index.ipynb"):
    "Markdown text of the notebook at `nb_path`."
    nb = json.loads(Path(nb_path).read_text(encoding="utf-8"))
    parts = []
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        if cell["cell_type"] == "markdown":   # links between notebooks are relative to nbs/; the README sits above it
            parts.append(re.sub(r"\]\((?![a-z]+:|/|#)([^)]+\.ipynb)", r"](nbs/\1", src.strip()))
        elif cell["cell_type"] == "code":
            dirs = _directives(src)
            if any(d.startswith("hide") for d in dirs):
                continue
            code = "\n".join(line for line in src.splitlines() if not line.startswith("#|")).strip()
            if code and not any(d.startswith("echo: false") for d in dirs):
                parts.append(f"```python\n{code}\n```")
            for o in _text_outputs(cell):
                if isinstance(o, tuple):
                    parts.append(o[1].strip())
                else:
                    parts.append(f"```\n{o.rstrip()}\n```")
    return header + "\n\n".join(p for p in parts if p) + "\n"


if __name__ == "__main__":
    text, readme = render(), root / "README.md"
    if "--check" in sys.argv:
        if readme.read_text(encoding="utf-8") != text:
            sys.exit("README.md is out of date with nbs/index.ipynb: run `make readme`.")
    else:
        readme.write_text(text, encoding="utf-8")
