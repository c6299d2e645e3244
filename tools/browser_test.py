#!/usr/bin/env python3
"""Browser test of the prototype explorer, in headless Chromium: `report.html` opened as a file, then `Explorer` in JupyterLab.

    python tools/browser_test.py [RUN_DIR]        # default runs/demo (`make demo` makes it)

One line per check, `browser: ok NAME` or `browser: FAILED NAME: why`, then `browser: done, N ok, M failed`. Screenshots go
to _docs/browser/. Exit status: 0 every check passed, 1 a check failed, 77 skipped because no browser is installed
(`apt-get install -y chromium`, or CHROMIUM=/path/to/chrome), or playwright is not (`pip install playwright`).
Nothing is fetched from the network: every request the pages make to another host is refused, and counted as a failure."""
import argparse, json, os, shutil, socket, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = 77
CANDIDATES = ('chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable')
VIEWPORT = {'width': 1400, 'height': 950}

results = []
def check(name: str, ok: bool, why: str = '') -> bool:
    results.append(ok)
    print(f"browser: {'ok' if ok else 'FAILED'} {name}" + ('' if ok or not why else f': {why}'), flush=True)
    return ok

def find_chromium() -> str|None:
    "Chromium from $CHROMIUM or the PATH (Debian's /usr/bin/chromium): playwright's own download needs the network."
    if os.environ.get('CHROMIUM'): return os.environ['CHROMIUM'] if Path(os.environ['CHROMIUM']).is_file() else None
    return next((p for p in map(shutil.which, CANDIDATES) if p), None)

def expected_points(run: Path, n: int) -> tuple[int, int]:
    "Frames and prototypes the explorer must draw, read from the run's files (not from the explorer): scores.csv and the checkpoint."
    import pandas as pd
    from safetensors import safe_open
    s = pd.read_csv(run/'scores.csv')
    clean = s.distortion.fillna('none') == 'none' if 'distortion' in s.columns else True
    s = s[(s.dataset == s.dataset.iloc[-1]) & clean & s.score.notna()].drop_duplicates('path')
    ckpt = next(p for p in (run/'checkpoints'/'best.safetensors', run/'checkpoints'/'last.safetensors') if p.is_file())
    with safe_open(str(ckpt), 'pt') as f: count = int(f.get_tensor('bank.count').sum())
    return min(n, len(s)), count

def offline(page, refused: list):
    "Refuse every request to another host; remember it."
    def route(r):
        url = r.request.url
        if url.startswith(('file:', 'data:', 'blob:', 'about:', 'http://127.0.0.1', 'ws://127.0.0.1')): return r.continue_()
        refused.append(url); r.abort()
    page.route('**/*', route)

def points(page):
    return page.locator('.js-plotly-plot .scatterlayer .trace path.point')

def hover_until(page, locator, panel: str, want: str, tries: int = 40) -> bool:
    "Move the mouse onto the points of `locator` one by one until the hover panel names `want` (points can overlap)."
    for j in range(min(tries, locator.count())):
        box = locator.nth(j).bounding_box()
        if not box: continue
        page.mouse.move(box['x'] + box['width'] / 2, box['y'] + box['height'] / 2)
        try: page.wait_for_function(f"""() => {{ const p = document.querySelector('{panel}');
                                        return p && p.innerText.includes('{want}') && p.querySelector('img') }}""", timeout=3000)
        except Exception: continue
        return box
    return None

def image_loaded(page, selector: str) -> list:
    "naturalWidth of every image under `selector` (0: not loaded); only data: URIs count."
    return page.eval_on_selector_all(selector, "imgs => imgs.map(i => i.src.startsWith('data:image/') ? i.naturalWidth : 0)")

def test_views(page, name: str, view: str, hover_panel: str, detail_panel: str, n_frames: int, n_protos: int, k: int, shots: Path):
    "The checks shared by the report and JupyterLab: points drawn, hover thumbnail, a prototype's nearest frames, a frame's decision."
    pts = points(page)
    check(f'{name}-points', pts.count() == n_frames + n_protos, f'{pts.count()} points drawn, expected {n_frames} frames + {n_protos} prototypes')
    frames = page.locator('.js-plotly-plot .scatterlayer .trace').nth(0).locator('path.point')
    box = hover_until(page, frames, hover_panel, 'frame')
    loaded = image_loaded(page, f'{hover_panel} img') if box else []
    check(f'{name}-hover-thumbnail', bool(loaded) and all(w > 0 for w in loaded), 'no thumbnail shown on hovering a frame' if not box else f'image widths {loaded}')
    page.screenshot(path=str(shots/f'{name}_hover.png'))
    # the last two traces are the prototypes (real, fake): find one the mouse reaches, then click it
    traces = page.locator('.js-plotly-plot .scatterlayer .trace')
    protos = traces.nth(traces.count() - 1).locator('path.point')
    box = hover_until(page, protos, hover_panel, 'prototype') or hover_until(page, traces.nth(traces.count() - 2).locator('path.point'), hover_panel, 'prototype')
    if box:
        page.mouse.click(box['x'] + box['width'] / 2, box['y'] + box['height'] / 2)
        try: page.wait_for_selector(f'{detail_panel} .rp-strip img', timeout=20000)
        except Exception: pass
    strip = image_loaded(page, f'{detail_panel} .rp-strip img')
    check(f'{name}-click-prototype', len(strip) == k and all(w > 0 for w in strip),
          'no prototype reachable by the mouse' if not box else f'{len(strip)} nearest-frame thumbnails (want {k}), widths {strip}')
    page.screenshot(path=str(shots/f'{name}_prototype.png'))
    page.locator(view).first.screenshot(path=str(shots/f'{name}_view.png'))  # the view alone: the docs' picture
    box = hover_until(page, frames, hover_panel, 'frame')
    if box:
        page.mouse.click(box['x'] + box['width'] / 2, box['y'] + box['height'] / 2)
        try: page.wait_for_selector(f'{detail_panel} .rp-decision', timeout=20000)
        except Exception: pass
    text = page.inner_text(detail_panel) if page.locator(detail_panel).count() else ''
    check(f'{name}-click-frame', 'fake prototypes, summed' in text and ('right' in text or 'wrong' in text), f'detail panel says {text[:120]!r}')

def report_checks(browser, run: Path, tmp: Path, shots: Path, n: int, k: int):
    out = tmp/'viz'
    start = time.time()
    cmd = [sys.executable, '-c', 'import sys; from resproto.viz.report import viz_cli; sys.exit(viz_cli())', str(run), '--html', '--out', str(out),
           '--n_features', str(n)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    page_file = out/'report.html'
    if not check('report-written', r.returncode == 0 and page_file.is_file(), f'exit {r.returncode}: {r.stderr.strip()[-300:]}'): return
    print(f'browser: note report.html {page_file.stat().st_size / 1e6:.1f} MB in {time.time() - start:.0f} s', flush=True)
    shutil.copy(page_file, shots/'report.html')
    page, refused = browser.new_page(viewport=VIEWPORT), []
    offline(page, refused)
    page.goto(page_file.as_uri())
    try: page.wait_for_selector('.js-plotly-plot .scatterlayer path.point', timeout=60000)
    except Exception as e: return check('report-plot', False, str(e).splitlines()[0])
    text = page.inner_text('body')
    check('report-sections', all(s in text for s in ('Results', 'ROC, frame level', 'Prototypes and test frames')) and
          page.locator('img[src^="data:image/png"]').count() >= 3, 'missing the results table, ROC or explorer section')
    test_views(page, 'report', '.rp-explorer', '.rp-hover', '.rp-detail', *expected_points(run, n), k, shots)
    check('report-offline', not refused, f'requests to other hosts: {refused[:3]}')
    page.close()

KERNEL_IDLE = """() => { const w = window.jupyterapp.shell.currentWidget, k = w && w.sessionContext && w.sessionContext.session &&
                                   w.sessionContext.session.kernel; return k && k.status === 'idle'; }"""

NOTEBOOK = """from resproto.viz.explorer import Explorer
Explorer({run!r}, n={n}, k={k})"""

def lab_checks(browser, run: Path, tmp: Path, shots: Path, n: int, k: int):
    import nbformat
    nb_dir = tmp/'lab'; nb_dir.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(NOTEBOOK.format(run=str(run.resolve()), n=n, k=k))])
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
    nbformat.write(nb, nb_dir/'explorer.ipynb')
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    token = 'resproto-browser-test'
    env = {**os.environ, 'JUPYTER_RUNTIME_DIR': str(tmp/'runtime'), 'JUPYTERLAB_WORKSPACES_DIR': str(tmp/'workspaces'),
           'JUPYTER_CONFIG_DIR': str(tmp/'config'), 'PYTHONPATH': os.pathsep.join(filter(None, [str(ROOT), os.environ.get('PYTHONPATH')]))}
    page_config = tmp/'config'/'labconfig'/'page_config.json'  # no "news?" pop-up over the view
    page_config.parent.mkdir(parents=True)
    page_config.write_text(json.dumps({'disabledExtensions': {'@jupyterlab/apputils-extension:announcements': True}}))
    log = open(tmp/'lab.log', 'w')
    lab = subprocess.Popen([sys.executable, '-m', 'jupyterlab', '--no-browser', f'--port={port}', '--ip=127.0.0.1', f'--IdentityProvider.token={token}',
                            f'--ServerApp.root_dir={nb_dir}', '--expose-app-in-browser', '--LabApp.news_url=',
                            '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate', '--allow-root'],
                           stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        url = f'http://127.0.0.1:{port}'
        up = False
        for _ in range(120):
            try:
                with socket.create_connection(('127.0.0.1', port), timeout=1): up = True; break
            except OSError: time.sleep(0.5)
        if not check('lab-start', up and lab.poll() is None, f'JupyterLab did not start (log: {tmp/"lab.log"})'): return
        page, refused = browser.new_page(viewport=VIEWPORT), []
        offline(page, refused)
        page.goto(f'{url}/lab/tree/explorer.ipynb?token={token}')
        try:
            page.wait_for_function("() => window.jupyterapp && document.querySelector('.jp-Notebook')", timeout=120000)
            page.wait_for_function(KERNEL_IDLE, timeout=120000)
        except Exception as e: return check('lab-kernel', False, f'no idle kernel in the notebook: {str(e).splitlines()[0]}')
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")  # not awaited: the cell runs on
        try: page.wait_for_selector('.jp-OutputArea .js-plotly-plot .scatterlayer path.point', timeout=300000)
        except Exception as e:
            page.screenshot(path=str(shots/'lab_failed.png'))
            errors = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
            return check('lab-plot', False, (errors.first.inner_text()[-300:] if errors.count() else str(e).splitlines()[0]))
        page.evaluate("() => window.jupyterapp.commands.execute('application:toggle-left-area')")  # room for the view
        page.wait_for_timeout(1000)
        page.locator('.resproto-caption').scroll_into_view_if_needed()
        test_views(page, 'lab', '.jp-OutputArea-output', '.resproto-hover', '.resproto-detail', *expected_points(run, n), k, shots)
        page.get_by_role('button', name='hardest errors').click()
        try: page.wait_for_selector('.resproto-detail .rp-errors li img', timeout=20000)
        except Exception: pass
        listed = image_loaded(page, '.resproto-detail .rp-errors li img')
        check('lab-hardest-errors', bool(listed) and all(w > 0 for w in listed), f'{len(listed)} errors listed with thumbnails {listed}')
        first = page.inner_text('.resproto-caption')
        page.locator('.resproto-explorer .noUi-handle, .widget-slider .noUi-handle').first.focus()
        page.keyboard.press('Home')  # the slider to the oldest bank
        try: page.wait_for_function("t => !document.querySelector('.resproto-caption').innerText.includes(t)", arg=first.split('.')[0], timeout=20000)
        except Exception: pass
        caption = page.inner_text('.resproto-caption')
        check('lab-epoch-slider', caption != first and "(the checkpoint's)" not in caption, f'caption after the slider moved: {caption[:100]!r}')
        page.locator('.resproto-caption').scroll_into_view_if_needed()
        page.screenshot(path=str(shots/'explorer_lab.png'))
        check('lab-offline', not refused, f'requests to other hosts: {refused[:3]}')
        page.close()
    finally:
        lab.terminate()
        try: lab.wait(20)
        except subprocess.TimeoutExpired: lab.kill()
        log.close()

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('run', nargs='?', default=str(ROOT/'runs'/'demo'), help='a run directory (default runs/demo, from make demo)')
    p.add_argument('--shots', default=str(ROOT/'_docs'/'browser'), help='where the screenshots go (default _docs/browser)')
    p.add_argument('--n', type=int, default=300, help='frames shown (a sample, to test sampling)')
    p.add_argument('--k', type=int, default=8, help="nearest frames shown for a prototype")
    p.add_argument('--only', choices=('report', 'lab'), help='run one half')
    args = p.parse_args(argv)
    run = Path(args.run)
    try: from playwright.sync_api import sync_playwright
    except ImportError:
        print('browser: SKIPPED: playwright is not installed (pip install playwright)'); return SKIP
    chromium = find_chromium()
    if chromium is None:
        print('browser: SKIPPED: no Chromium found (apt-get install -y chromium, or set CHROMIUM=/path/to/chrome)'); return SKIP
    if not check('run-exists', (run/'config.json').is_file() and (run/'scores.csv').is_file(),
                 f'{run} is not a finished demo run: make demo (resproto_demo --out runs --run_name demo)'): return 1
    shots = Path(args.shots); shots.mkdir(parents=True, exist_ok=True)
    start = time.time()
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=['--no-sandbox'])
        if args.only != 'lab': report_checks(browser, run, Path(tmp), shots, args.n, args.k)
        if args.only != 'report': lab_checks(browser, run, Path(tmp), shots, args.n, args.k)
        browser.close()
    failed = results.count(False)
    print(f'browser: done, {results.count(True)} ok, {failed} failed, in {time.time() - start:.0f} s; screenshots in {shots}')
    return 1 if failed else 0

if __name__ == '__main__': sys.exit(main())
