"""The widgets in a real browser: JupyterLab + headless Chromium, driven by Playwright.

Opens `nbs/10_widgets.ipynb` (a copy without outputs, in a temp dir) in JupyterLab, runs all cells from the menu,
checks that every widget rendered (no "Loading widget", no "Error displaying widget", no traceback), clicks a pixel
of the known-shift affinity explorer and checks that the heat-map moved to the shifted place, and steps the tracking
viewer and the propagation player. Screenshots go to $CC_SCREENSHOT_DIR (default: a temp dir); their paths are printed.

Needs Debian's `chromium` and the `playwright` Python package (not its bundled browsers): `tools/ci_browser_setup.sh`
installs both. Skipped, with the reason, only when one of them is missing.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO/'nbs'/'10_widgets.ipynb'
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
try:
    from playwright.sync_api import sync_playwright
except ImportError:
    sync_playwright = None

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None,
                       reason="no `chromium` on PATH (apt-get install chromium, or run tools/ci_browser_setup.sh)"),
    pytest.mark.skipif(sync_playwright is None, reason="the `playwright` package is not installed "
                       "(pip install playwright, or run tools/ci_browser_setup.sh)"),
]
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic']
SHIFT = (11, -6)   # (dx, dy) px of the notebook's known-shift explorer
# Bounds for a loaded machine (2 cores shared with trainings): the run may be slow, so its wait is on progress — it
# fails when no cell finishes for STALL_S, when the run stops with cells left (an error), or after RUN_ALL_S in all.
RUN_ALL_S, STALL_S = 1200, 240
KERNEL_S = 90      # one round trip through the kernel (a click answered, a slider applied)
START_S = 180      # JupyterLab's server, the page, the kernel


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _write(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def _lab_home(tmp):
    """A private JupyterLab home: the notebook without outputs or its export cell,
    settings (all cells in the DOM, no news), no state from ~."""
    nb = json.loads(NOTEBOOK.read_text())
    # the closing `nbdev_export()` cell needs the repo's settings.ini and would write into the repo: not here
    nb['cells'] = [c for c in nb['cells'] if 'nbdev_export' not in ''.join(c['source'])]
    for c in nb['cells']:
        if c['cell_type'] == 'code': c['outputs'], c['execution_count'] = [], None
    nb['metadata'].pop('widgets', None)
    _write(tmp/'work'/NOTEBOOK.name, nb)
    settings = tmp/'settings'
    _write(settings/'@jupyterlab'/'notebook-extension'/'tracker.jupyterlab-settings', {'windowingMode': 'none'})
    _write(settings/'@jupyterlab'/'apputils-extension'/'notification.jupyterlab-settings',
           {'fetchNews': 'false', 'checkForUpdates': False})
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(tmp/'workspaces'),
               JUPYTER_CONFIG_DIR=str(tmp/'config'), JUPYTER_RUNTIME_DIR=str(tmp/'runtime'),
               IPYTHONDIR=str(tmp/'ipython'), MPLCONFIGDIR=str(tmp/'mpl'), OMP_NUM_THREADS='1')
    return tmp/'work', env


def _start_lab(workdir, env, port, log):
    cmd = [sys.executable, '-m', 'jupyterlab', '--no-browser', '--allow-root', '--ip=127.0.0.1', f'--port={port}',
           '--ServerApp.token=', '--ServerApp.password=', '--ServerApp.disable_check_xsrf=True',
           f'--ServerApp.root_dir={workdir}', '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate']
    # own session: the server and the kernels it starts form one process group we can stop as a whole
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f'http://127.0.0.1:{port}'
    t0 = time.time()
    while time.time() - t0 < START_S:
        if proc.poll() is not None: raise RuntimeError(f"JupyterLab exited with {proc.returncode}; see {log.name}")
        try:
            with urllib.request.urlopen(url + '/api/status', timeout=2): return proc, url
        except OSError: time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer on {url} within {START_S} s ({_load()}); see {log.name}")


def _stop(proc):
    "Terminate JupyterLab (it shuts its kernels down), then kill whatever is left of its process group."
    if proc.poll() is None:
        try: os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError: pass
        try: proc.wait(15)
        except subprocess.TimeoutExpired: pass
    try: os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError: pass
    proc.wait(5)


def _load():
    return 'load average {:.1f} {:.1f} {:.1f} on {} cores'.format(*os.getloadavg(), os.cpu_count())


def _wait(cond, timeout, what, interval=0.25):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = cond()
        if v: return v
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} ({_load()})")


def _eff(widget):
    "The effective number of cells shown in an explorer's read-out."
    return float(widget.locator('.cc-readout').inner_text().split('effective cells ')[1].split()[0])


def _yx(s):
    return tuple(float(v) for v in s.split(','))


def _click_pixel(frame, yx, size):
    "Click pixel (y, x) of a `.cc-frame` whose image is size = (H, W) pixels, wherever the browser scaled it."
    box = frame.bounding_box()
    frame.click(position={'x': (yx[1] + 0.5) / size[1] * box['width'], 'y': (yx[0] + 0.5) / size[0] * box['height']})


def _answered(widget, direction, yx, what):
    "Wait until the kernel's answer for a click near pixel `yx` is on screen; return the pixel the browser sent."
    def done():
        got = widget.get_attribute('data-result-for') or ''
        if not got.startswith(direction + ' '): return None
        y, x = (int(v) for v in got.split(' ')[1].split(','))
        # a 1-px slack: sub-pixel rounding of the scaled image
        return (y, x) if abs(y - yx[0]) <= 1 and abs(x - yx[1]) <= 1 else None
    return _wait(done, KERNEL_S, what)


def _dismiss_kernel_dialog(page):
    "Accept JupyterLab's 'Select Kernel' dialog if it shows (it does when a notebook has no kernelspec)."
    dialog = page.locator('.jp-Dialog', has_text='Select Kernel')
    if dialog.count(): dialog.locator('button', has_text='Select').click()


def _run_all(page):
    page.locator('.lm-MenuBar-itemLabel', has_text='Run').first.click()
    page.locator('.lm-Menu-itemLabel', has_text='Run All Cells').first.click()


def _prompts(page):
    return page.eval_on_selector_all('.jp-CodeCell .jp-InputPrompt', 'els => els.map(e => e.textContent.trim())')


def _ran(prompt):
    "True for the prompt of a cell that finished ('[12]:'); '[*]:' runs or waits, '[ ]:' has not been run."
    return prompt.startswith('[') and prompt[1:-2].strip().isdigit()


def _wait_run_all(page, n_code):
    """Wait until every code cell ran; return the seconds it took. Fails, saying how far the run got, when no cell
    finished for STALL_S, when no cell runs or waits any more with cells left (an error stopped Run All: its text
    is quoted), or after RUN_ALL_S."""
    t0 = progress_t = time.time()
    done_before, started, stopped_since = -1, False, None
    while True:
        prompts, now = _prompts(page), time.time()
        done = sum(map(_ran, prompts))
        if done == n_code: return now - t0
        if done > done_before: done_before, progress_t = done, now
        started = started or done > 0 or '[*]:' in prompts      # a loaded browser may take a while to queue them
        stopped_since = (stopped_since or now) if started and '[*]:' not in prompts else None
        where = f"{done}/{n_code} code cells ran after {now - t0:.0f} s ({_load()})"
        if stopped_since is not None and now - stopped_since > 10:
            text = page.locator('.jp-NotebookPanel').inner_text()
            err = text[text.find('Traceback'):][:400] if 'Traceback' in text else 'no traceback on the page'
            raise AssertionError(f"Run All stopped: {where}; the first error: {err}")
        if now - progress_t > STALL_S:
            raise AssertionError(f"no cell finished for {STALL_S} s: {where}; prompts {sorted(set(prompts))}")
        if now - t0 > RUN_ALL_S: raise AssertionError(f"Run All took over {RUN_ALL_S} s: {where}")
        time.sleep(1)


def test_widgets_notebook_in_jupyterlab():
    t_start = time.time()
    tmp = Path(tempfile.mkdtemp(prefix='cc-browser-'))
    shots = Path(os.environ.get('CC_SCREENSHOT_DIR') or tmp/'screenshots')
    shots.mkdir(parents=True, exist_ok=True)
    workdir, env = _lab_home(tmp)
    log = open(tmp/'jupyterlab.log', 'w')
    proc, url = _start_lab(workdir, env, _free_port(), log)
    try:
        with sync_playwright() as pw:   # leaving the block stops Playwright and kills the browser it launched
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={'width': 1500, 'height': 1000})
            page.set_default_timeout(30_000)
            try: _drive(page, url, workdir, shots)
            except BaseException:
                page.screenshot(path=str(shots/'failure.png'))
                raise
            browser.close()
    finally:
        _stop(proc)
        log.close()
    print('screenshots:', *sorted(str(p) for p in shots.glob('*.png')), sep='\n  ')
    print(f"browser test: {time.time() - t_start:.1f} s")


def _drive(page, url, workdir, shots):
    "Open the notebook, run it, check and poke every widget, take screenshots."
    page.goto(f'{url}/lab/tree/{NOTEBOOK.name}')
    page.wait_for_selector('.jp-NotebookPanel .jp-CodeCell', timeout=START_S * 1000)
    page.wait_for_timeout(1000)
    _dismiss_kernel_dialog(page)
    page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]', timeout=START_S * 1000)
    n_code = sum(c['cell_type'] == 'code' for c in json.loads((workdir/NOTEBOOK.name).read_text())['cells'])
    _wait(lambda: len(_prompts(page)) == n_code, 30, f"all {n_code} code cells in the page")

    _run_all(page)
    print(f"run all: {_wait_run_all(page, n_code):.1f} s ({_load()})")
    panel = page.locator('.jp-NotebookPanel')
    _wait(lambda: 'Loading widget' not in panel.inner_text(), KERNEL_S, 'widgets to finish loading')
    text = panel.inner_text()
    for bad in ('Error displaying widget', 'Traceback', 'Kernel Restarting'):
        assert bad not in text, f"{bad!r} in the notebook after Run All"
    for cls in ('cc-explorer', 'cc-tracking', 'cc-player'):
        assert page.locator(f'.{cls}').count() >= 1, f"no .{cls} widget rendered"

    # the known-shift explorer: click the reference, the heat-map must peak at the shifted place
    ex = page.locator('.cc-explorer[data-title^="known shift"]').first
    ex.scroll_into_view_if_needed()
    size = (96, 128)
    heat_before = ex.locator('.cc-frame[data-side="tgt"] .cc-heat').get_attribute('src')
    y, x = 70, 90
    _click_pixel(ex.locator('.cc-frame[data-side="ref"]'), (y, x), size)
    y, x = _answered(ex, 'r2t', (y, x), 'the kernel to answer the click')
    cy, cx = (y // 8 + 0.5) * 8, (x // 8 + 0.5) * 8
    want = (cy + SHIFT[1], cx + SHIFT[0])
    peak, sa = _yx(ex.get_attribute('data-peak')), _yx(ex.get_attribute('data-soft-argmax'))
    print(f"clicked ({y}, {x}) in the reference: peak {peak}, soft-argmax {sa}, expected {want}")
    assert all(abs(a - b) <= 8 for a, b in zip(peak, want)), (peak, want)
    assert all(abs(a - b) <= 8 for a, b in zip(sa, want)), (sa, want)
    assert ex.locator('.cc-frame[data-side="tgt"] .cc-heat').get_attribute('src') != heat_before
    ex.screenshot(path=str(shots/'explorer_known_shift_r2t.png'))
    # the reverse direction: click the target, the map is over the reference at (y - dy, x - dx)
    y, x = 40, 60
    _click_pixel(ex.locator('.cc-frame[data-side="tgt"]'), (y, x), size)
    y, x = _answered(ex, 't2r', (y, x), 'the kernel to answer the reverse click')
    want = ((y // 8 + 0.5) * 8 - SHIFT[1], (x // 8 + 0.5) * 8 - SHIFT[0])
    sa = _yx(ex.get_attribute('data-soft-argmax'))
    assert all(abs(a - b) <= 8 for a, b in zip(sa, want)), (sa, want)
    assert ex.locator('.cc-frame[data-side="ref"] .cc-heat').is_visible()
    ex.screenshot(path=str(shots/'explorer_known_shift_t2r.png'))
    # the τ slider (sent on release): near its right end τ > 1 and the map floods the frame
    tau_in = ex.locator('input.cc-tau')
    box = tau_in.bounding_box()
    tau_in.click(position={'x': box['width'] * 0.95, 'y': box['height'] / 2})
    _wait(lambda: float(ex.get_attribute('data-tau')) > 1, KERNEL_S, 'the τ slider to reach the kernel')
    _wait(lambda: _eff(ex) > 50, KERNEL_S, 'a wide heat-map at large τ')
    ex.screenshot(path=str(shots/'explorer_known_shift_large_tau.png'))
    # follow the mouse: hovering (debounced) sends the cell under the pointer
    ex.locator('input.cc-hover').check()
    frame = ex.locator('.cc-frame[data-side="ref"]')
    fb = frame.bounding_box()
    page.mouse.move(fb['x'] + (100 + 0.5) / size[1] * fb['width'], fb['y'] + (20 + 0.5) / size[0] * fb['height'])
    _answered(ex, 'r2t', (20, 100), 'the hovered pixel to reach the kernel')
    ex.locator('input.cc-hover').uncheck()

    # the DAVIS explorer: the water spreads, the beak does not
    dv = page.locator('.cc-explorer[data-title^="DAVIS"]').first
    dv.scroll_into_view_if_needed()
    _click_pixel(dv.locator('.cc-frame[data-side="ref"]'), (200, 300), (240, 424))
    _answered(dv, 'r2t', (200, 300), 'the DAVIS explorer to answer')
    water = _eff(dv)
    dv.screenshot(path=str(shots/'explorer_davis_water.png'))
    _click_pixel(dv.locator('.cc-frame[data-side="ref"]'), (54, 233), (240, 424))
    _answered(dv, 'r2t', (54, 233), 'the DAVIS explorer to answer')
    beak = _eff(dv)
    print(f"DAVIS explorer: effective cells water {water}, beak {beak}")
    assert beak < 3 < water
    dv.screenshot(path=str(shots/'explorer_davis_beak.png'))

    # tracking viewer: the ▶ button steps to the next video
    tv = page.locator('.cc-tracking').first
    tv.scroll_into_view_if_needed()
    box0 = tv.get_attribute('data-track-box')
    tv.locator('button', has_text='▶').click()
    _wait(lambda: tv.get_attribute('data-index') == '1' and tv.get_attribute('data-track-box') != box0, KERNEL_S,
          'the viewer to step')
    tv.screenshot(path=str(shots/'tracking_viewer.png'))

    # propagation player: click on the frame slider's track, then play and pause
    pl = page.locator('.cc-player').first
    pl.scroll_into_view_if_needed()
    n = 25
    slider = pl.locator('input.cc-frame-slider')
    box = slider.bounding_box()
    slider.click(position={'x': box['width'] * 0.25, 'y': box['height'] / 2})
    _wait(lambda: abs(int(pl.get_attribute('data-frame')) - round(0.25 * (n - 1))) <= 2, KERNEL_S,
          'the player to jump to ~frame 6')
    assert 0 < float(pl.get_attribute('data-j')) <= 1
    start = int(pl.get_attribute('data-frame'))
    pl.locator('button.cc-play').click()
    _wait(lambda: int(pl.get_attribute('data-frame')) >= start + 2, KERNEL_S, 'playback to advance two frames')
    pl.locator('button.cc-play').click()
    pl.screenshot(path=str(shots/'propagation_player.png'))
    page.screenshot(path=str(shots/'jupyterlab.png'))
