"README.md is generated offline from nbs/index.ipynb by tools/readme.py (Quarto cannot be installed here)."

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

root = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location('readme', root / 'tools' / 'readme.py')
readme = importlib.util.module_from_spec(spec)
spec.loader.exec_module(readme)


def test_readme_is_in_step_with_index():
    assert subprocess.run([sys.executable, str(root / 'tools' / 'readme.py'), '--check']).returncode == 0


def test_render_rules(tmp_path):
    cell = lambda kind, src, **kw: dict(cell_type=kind, source=src, metadata={}, **kw)
    nb = dict(
        cells=[
            cell('markdown', '# Title\n\n> subtitle'),
            cell('code', '#| hide\nsecret = 1', outputs=[], execution_count=1),
            cell(
                'code',
                '#| export\nx = 2\nprint(x)',
                execution_count=2,
                outputs=[dict(output_type='stream', name='stdout', text=['2\n'])],
            ),
            cell(
                'code',
                'fig',
                execution_count=3,
                outputs=[
                    dict(
                        output_type='display_data', data={'image/png': 'AAAA', 'text/plain': ['<Figure>']}, metadata={}
                    )
                ],
            ),
        ],
        metadata={},
        nbformat=4,
        nbformat_minor=5,
    )
    p = tmp_path / 'index.ipynb'
    p.write_text(json.dumps(nb))
    md = readme.render(p)
    assert '# Title' in md and 'secret' not in md and '#|' not in md
    assert '```python\nx = 2\nprint(x)\n```' in md and '```\n2\n```' in md
    assert '<Figure>' not in md  # figures are not dumped as their text repr


def test_check_fails_when_stale(tmp_path):
    (tmp_path / 'tools').mkdir()
    (tmp_path / 'nbs').mkdir()
    (tmp_path / 'tools' / 'readme.py').write_text((root / 'tools' / 'readme.py').read_text())
    (tmp_path / 'nbs' / 'index.ipynb').write_text((root / 'nbs' / 'index.ipynb').read_text())
    (tmp_path / 'README.md').write_text('stale')
    res = subprocess.run(
        [sys.executable, str(tmp_path / 'tools' / 'readme.py'), '--check'], capture_output=True, text=True
    )
    assert res.returncode == 1 and 'out of date' in res.stderr
