#!/usr/bin/env python3
"""Run every notebook once: its tests, as `nbdev_test` runs them, and its docs page, rendered from that same execution.

Testing follows nbdev_test's rules (settings.ini's tst_flags skipped, `#| eval: false` cells skipped, `skip_exec` front
matter honoured, `.notest` files), but each notebook runs in a fresh interpreter and its executed form is kept. The page
is then made as nbdev makes it for Quarto (nbdev's own doc processors: show_doc for exported code, hidden cells and
`#|` directives removed), with the `show_doc` cells run in the notebook's own kernel, and rendered by nbconvert: title
and description from the front matter, `echo: false` inputs hidden, MathJax bundled (pages work offline), a sidebar from
sidebar.yml. Where Chromium is installed, a few pages are opened headless and checked (directives gone, math typeset,
sidebar present), with screenshots in _docs/screenshots/. `nbdev_docs` still builds the Quarto site where Quarto exists.

One line per notebook, `test: ok NAME (12 s)` or `test: FAILED NAME`, and a last line `N passed, N failed`.

  python tools/nbtest.py                        # all notebooks, two at a time, docs in _docs/html/
  python tools/nbtest.py --path nbs/03_metrics.ipynb nbs/01_model_losses.ipynb --no_docs
"""
import argparse, functools, html, json, os, re, shutil, subprocess, sys, time
from concurrent.futures import ProcessPoolExecutor, as_completed
import multiprocessing as mp
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS, DOCS = ROOT / 'nbs', ROOT / '_docs'
HTML = DOCS / 'html'
MATHJAX = 'mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe'
BROWSER_PAGES = ('index', 'model_losses', 'metrics', 'train_learner', 'tutorials/explore_prototypes')  # checked when Chromium exists

def notebooks(paths=()):
    "The notebooks nbdev_test would test (or those named), in order."
    from nbdev.doclinks import nbglob
    from nbdev.test import _keep_file
    files = [f for p in paths for f in (sorted(Path().glob(p)) or [Path(p)])] if paths else nbglob(None, as_path=True)
    return [f.absolute() for f in sorted(files) if _keep_file(f, '.notest')]

# ---- one notebook, in its own interpreter ----------------------------------------------------------------------------

def _directives(src):
    "The `#| key: value` lines at the top of a cell, and the cell's source without them."
    lines, d = src.splitlines(), {}
    body = [l for l in lines if not re.match(r'\s*#\|', l)]
    for l in lines:
        m = re.match(r'\s*#\|\s*([\w-]+):?\s*(.*)$', l)
        if m: d[m.group(1)] = m.group(2).strip().lower()
    return d, '\n'.join(body).strip('\n')

def run_notebook(fn: str, docs: bool, save: bool = False):
    "Test one notebook; on success render its page. Returns (ok, seconds, error text, page or None)."
    os.environ['IN_TEST'] = '1'
    mp.set_start_method(None, force=True)  # a spawned interpreter inherits 'spawn': DataLoader workers use the platform's default, as under nbdev_test
    from fastcore.xtras import working_directory
    from nbdev.config import get_config
    from nbdev.process import NBProcessor
    from nbdev.frontmatter import FrontmatterProc
    from nbdev.process import nb_lang
    from fastcore.basics import str2bool
    from execnb.shell import CaptureShell
    fn = Path(fn); cfg = get_config()
    sys.path.insert(0, str(cfg.config_path))
    flags = set(cfg.tst_flags.split())
    nb = NBProcessor(fn, procs=FrontmatterProc, process=True, rm_directives=False).nb  # the doc processors read them later
    fm = getattr(nb, 'frontmatter_', {})
    start = time.time()
    shell = None
    if not (str2bool(fm.get('skip_exec', False)) or nb_lang(nb) != 'python'):
        def skip(cell):
            if cell.cell_type != 'code': return True
            if 'nbdev_export' + '(' in cell.source: return True
            direc = getattr(cell, 'directives_', {}) or {}
            if direc.get('eval:', [''])[0].lower() == 'false': return True
            return bool(flags & direc.keys())
        for cell in nb.cells:  # a committed output is not this run's: execnb leaves a cell's outputs alone when it prints nothing
            if cell.cell_type == 'code': cell.outputs = []
        shell = CaptureShell(fn)
        try:
            with working_directory(fn.parent): shell.run_all(nb, exc_stop=True, preproc=skip)
        except BaseException: return False, time.time() - start, shell.prettytb(fname=fn), None
    seconds = time.time() - start
    if save and shell is not None: save_outputs(fn, nb)
    if not docs: return True, seconds, '', None
    try: page = render(nb, fn, shell)
    except Exception as e:
        import traceback
        return False, seconds, f'docs page of {fn.name} failed: {e}\n{traceback.format_exc()}', None
    return True, seconds, '', page

def save_outputs(fn: Path, nb):
    "Write the outputs of the executed `nb` into the notebook file `fn` (cells matched by id): figures that read on GitHub."
    raw = json.loads(Path(fn).read_text())
    outputs = {c.get('id'): c.get('outputs', []) for c in nb.cells if c.cell_type == 'code'}
    for c in raw['cells']:
        if c['cell_type'] == 'code' and c.get('id') in outputs: c['outputs'] = json.loads(json.dumps(outputs[c['id']]))
    Path(fn).write_text(json.dumps(raw, indent=1, ensure_ascii=False) + '\n')

def _show_docs_in(shell):
    "A doc processor that runs the `show_doc` cells nbdev adds in the kernel that ran the notebook (nothing runs twice)."
    def show_docs(cell):
        if shell is None or cell.cell_type != 'code' or cell.get('outputs'): return
        if re.search(r'^show_doc\(', cell.source, re.M): shell.cell(cell)
    return show_docs

def render(nb, fn: Path, shell):
    "nbdev's doc processors on the executed notebook, then nbconvert's HTML with our page frame."
    from nbdev import processors as P
    from nbdev.process import NBProcessor
    procs = [P.populate_language, P.add_show_docs, P.strip_ansi, P.hide_line, P.filter_stream_, P.rm_header_dash,
             P.clean_show_doc, _show_docs_in(shell), P.rm_export, P.clean_magics, P.hide_, P.add_links, P.mv_exports,
             P.strip_hidden_metadata]
    NBProcessor(nb=nb, procs=procs).process()
    rel = fn.relative_to(NBS)
    fm = getattr(nb, 'frontmatter_', {}) or {}
    out = (HTML / rel.parent / fm.get('output-file', rel.stem + '.html'))
    cells = []
    for c in nb.cells:
        if 'source' not in c: continue                                  # nbdev's hide_ removed it
        if c.cell_type == 'raw' and c.source.startswith('---'): continue  # the front matter: shown as the title
        d, body = _directives(c.source)
        d.update({k.rstrip(':'): ' '.join(v).lower() for k, v in (c.get('directives_') or {}).items()})
        if d.get('include') == 'false' or (c.cell_type == 'markdown' and not body.strip()): continue
        if c.cell_type == 'markdown': body = _local_links(body, rel)
        cell = {'cell_type': c.cell_type, 'id': f'c{len(cells)}', 'metadata': {}, 'source': body}
        if c.cell_type == 'code':
            outputs = [] if d.get('output') == 'false' else [_joined(o) for o in c.get('outputs', [])]
            for o in outputs:
                if 'text/markdown' in o.get('data', {}): o['data'] = {'text/markdown': _local_links(''.join(o['data']['text/markdown']), rel)}
            if d.get('echo') == 'false' or not body.strip():
                if not outputs: continue
                cell['metadata'] = {'transient': {'remove_source': True}}
            cell.update(outputs=outputs, execution_count=None)
        elif c.cell_type == 'raw': continue
        cells.append(cell)
    page = {'nbformat': 4, 'nbformat_minor': 5, 'cells': cells,
            'metadata': {'kernelspec': {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'},
                         'language_info': {'name': 'python'}}}
    body = _nbconvert(page, out)
    title, desc = fm.get('title', rel.stem), fm.get('description', '')
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(_frame(body, title, desc, out))
    return str(out.relative_to(HTML))

def _joined(o):
    "An output with its multi-line fields as strings (execnb keeps lists of lines; nbconvert's templates want text)."
    o = dict(o)
    if isinstance(o.get('text'), list): o['text'] = ''.join(o['text'])
    if 'data' in o: o['data'] = {k: ''.join(v) if isinstance(v, list) else v for k, v in o['data'].items()}
    return o

@functools.cache
def _site():
    "The docs site's address (settings.ini), which nbdev's links start with."
    from nbdev.config import get_config
    cfg = get_config()
    return f"{cfg.doc_host.rstrip('/')}{cfg.doc_baseurl.rstrip('/')}/"

def _local_links(text, rel):
    "Links to our own site or to notebooks point at the pages beside this one."
    up = '../' * (len(rel.parts) - 1)
    text = text.replace(_site(), up)
    # show_doc's source link carries Pandoc attributes that only Quarto reads
    text = re.sub(r'\[source\]\(([^)]+)\)\{target="_blank"[^}]*\}', r'<a class="rp-source" href="\1" target="_blank">source</a>', text)
    return re.sub(r'(\]\(|href=")((?![a-z]+://)[^)"#]*?)\.ipynb', lambda m: m.group(1) + _page_of(m.group(2)), text)

def _page_of(stem):
    "The page a notebook renders to, named by nbdev's own rule (the one its front matter's output-file follows)."
    from nbdev.doclinks import _nbpath2html
    return _nbpath2html(Path(stem + '.ipynb')).as_posix()

def _nbconvert(page, out):
    import nbformat
    from nbconvert import HTMLExporter
    ex = HTMLExporter(template_name='lab', exclude_input_prompt=True, exclude_output_prompt=True)
    ex.mathjax_url = os.path.relpath(HTML / 'mathjax', out.parent) + '/' + MATHJAX.split('/', 1)[1]
    body, _ = ex.from_notebook_node(nbformat.from_dict(page))
    return body

def _frame(body, title, desc, out):
    "The page: our sidebar and header around nbconvert's body; directives never shown."
    up = os.path.relpath(HTML, out.parent)
    up = '' if up == '.' else up + '/'
    nav = ''.join(f'<li class="{ "rp-here" if HTML / href == out else ""}"><a href="{up}{href}">{html.escape(t)}</a></li>'
                  if href else f'<li class="rp-section">{html.escape(t)}</li>' for t, href in sidebar())
    head = (f'<style>{STYLE}</style><script type="text/x-mathjax-config">MathJax.Hub.Config({{"HTML-CSS": '
            '{availableFonts: ["STIX-Web"], preferredFont: "STIX-Web", webFont: "STIX-Web", imageFont: null}});</script>')
    header = (f'<header class="rp-title"><h1>{html.escape(title)}</h1>'
              + (f'<p class="rp-description">{_inline_code(html.escape(desc))}</p>' if desc else '') + '</header>')
    body = re.sub(r'<title>.*?</title>', f'<title>{html.escape(title)} – resproto</title>', body, count=1, flags=re.S)
    body = body.replace('</head>', head + '</head>', 1)
    body = re.sub(r'(<body[^>]*>)', rf'\1<nav class="rp-sidebar"><a class="rp-home" href="{up}index.html">resproto</a>'
                  rf'<ul>{nav}</ul></nav><div class="rp-main">{header}', body, count=1)
    return body.replace('</body>', '</div></body>', 1)

def _inline_code(text): return re.sub(r'`([^`]+)`', r'<code>\1</code>', text)

STYLE = """
.rp-sidebar{position:fixed;top:0;left:0;bottom:0;width:15rem;overflow-y:auto;padding:1rem;border-right:1px solid #ddd;
  background:#fafafa;font:14px/1.5 system-ui,sans-serif}
.rp-sidebar ul{list-style:none;padding:0;margin:.5rem 0}.rp-sidebar li a{text-decoration:none;color:#333}
.rp-sidebar li.rp-here a{font-weight:600;color:#000}.rp-sidebar .rp-section{margin-top:.8rem;color:#777;text-transform:uppercase;font-size:12px}
.rp-source{float:right;font-size:smaller}
.rp-home{font-weight:700;font-size:18px;color:#000;text-decoration:none}
.rp-main{margin-left:17rem;max-width:60rem;padding:1rem 2rem}
.rp-title{font-family:system-ui,-apple-system,"Segoe UI",sans-serif}.rp-title h1{margin-bottom:.2rem}.rp-description{color:#555;font-size:1.1rem;margin-top:0}
body.jp-Notebook{padding:0}
"""

@functools.cache
def sidebar():
    "(title, page) for each entry of sidebar.yml, (section, None) for its sections."
    import yaml
    conf = yaml.safe_load((NBS / 'sidebar.yml').read_text())['website']['sidebar']['contents']
    def walk(items):
        for it in items:
            if isinstance(it, dict): yield it.get('section', ''), None; yield from walk(it.get('contents', []))
            else: yield _title(it), _page_of(str(Path(it).with_suffix('')))
    return list(walk(conf))

def _title(rel):
    "A notebook's title: its front matter's, else its first heading."
    nb = json.loads((NBS / rel).read_text())
    for c in nb['cells']:
        src = ''.join(c['source'])
        m = re.search(r'^title:\s*(.+)$', src, re.M) if c['cell_type'] == 'raw' else re.search(r'^#\s+(.+)$', src, re.M)
        if m: return m.group(1).strip().strip('"\'')
    return Path(rel).stem

# ---- the whole run ---------------------------------------------------------------------------------------------------

def prepare_site():
    "A fresh _docs/html with the images and a bundled MathJax 2 (jupyter-server-mathjax's copy, without its SVG output)."
    import jupyter_server_mathjax
    shutil.rmtree(HTML, ignore_errors=True); HTML.mkdir(parents=True)
    if (NBS / 'images').exists(): shutil.copytree(NBS / 'images', HTML / 'images')
    src = Path(jupyter_server_mathjax.__file__).parent / 'static'
    shutil.copytree(src, HTML / 'mathjax', ignore=lambda d, names: ['SVG'] if d.endswith('output') else [])

def broken_links() -> list[str]:
    "Local links of the rendered pages that point at no file ('page -> target')."
    bad = []
    for page in sorted(HTML.rglob('*.html')):
        if page.is_relative_to(HTML / 'mathjax'): continue
        for href in re.findall(r'href="([^"#?]+)', page.read_text()):
            if re.match(r'[a-z]+:', href) or not href.endswith('.html'): continue
            if not (page.parent / href).exists(): bad.append(f'{page.relative_to(HTML)} -> {href}')
    return bad

def browser_checks(pages):
    "Open pages in headless Chromium; check what a reader sees. Returns [(name, ok, why)]."
    chrome = shutil.which('chromium') or shutil.which('chromium-browser') or shutil.which('google-chrome')
    if chrome is None:
        print('test: browser checks skipped: no Chromium (apt-get install -y chromium)'); return []
    shots = DOCS / 'screenshots'; shots.mkdir(parents=True, exist_ok=True)
    results = []
    for name in pages:
        page = HTML / (name + '.html')
        if not page.exists(): page = HTML / _page_of(name)
        if not page.exists(): results.append((name, False, f'no page {name}.html was rendered: BROWSER_PAGES names a page that is gone')); continue
        args = [chrome, '--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--virtual-time-budget=8000']
        url = page.resolve().as_uri()
        try:
            dom = subprocess.run(args + ['--dump-dom', url], capture_output=True, text=True, timeout=120).stdout
            subprocess.run(args + ['--window-size=1280,1000', f'--screenshot={shots / (name.replace("/", "_") + ".png")}', url],
                           capture_output=True, timeout=120)
        except subprocess.TimeoutExpired:
            results.append((name, False, 'Chromium timed out')); continue
        text = re.sub(r'<(script|style)\b.*?</\1>', '', dom, flags=re.S)
        why = []
        if 'class="rp-sidebar"' not in dom: why.append('no sidebar')
        if '#|' in re.sub(r'<[^>]+>', '', text): why.append('a #| directive is shown')
        if re.search(r'^---\s*$', re.sub(r'<[^>]+>', '', text), re.M): why.append('front matter shown as text')
        if '\\n", "' in text: why.append('an output shown as a list of lines')
        src_math = '$' in json.dumps(json.loads((NBS / (name + '.ipynb')).read_text())['cells']) if (NBS / (name + '.ipynb')).exists() else False
        if src_math and 'MathJax_' not in dom: why.append('math not typeset')
        results.append((name, not why, ', '.join(why)))
    return results

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--path', nargs='*', default=(), help='notebooks or globs, e.g. "nbs/0[13]_*.ipynb" (default: all)')
    p.add_argument('--n_workers', type=int, default=2)
    p.add_argument('--no_docs', action='store_true', help='test only; render no pages')
    p.add_argument('--save_outputs', action='store_true', help="write each notebook's outputs into it (make outputs: the figure notebooks)")
    a = p.parse_args()
    files = notebooks(a.path)
    if not files: print('No notebooks to test'); print('0 passed, 1 failed'); return 1
    if not a.no_docs: prepare_site()
    passed = failed = 0; start = time.time()
    # spawn + one notebook per interpreter: no notebook sees another's imports or global state.
    with ProcessPoolExecutor(a.n_workers, mp_context=mp.get_context('spawn'), max_tasks_per_child=1) as pool:
        futures = {pool.submit(run_notebook, str(f), not a.no_docs, a.save_outputs): f for f in files}
        for fut in as_completed(futures):
            f = futures[fut]; name = str(f.relative_to(NBS))
            try: ok, secs, err, _ = fut.result()
            except Exception as e: ok, secs, err = False, 0, f'{type(e).__name__}: {e}'
            if ok: passed += 1; print(f'test: ok {name} ({secs:.0f} s)', flush=True)
            else: failed += 1; print(f'test: FAILED {name}\n{err}', flush=True)
    if not a.no_docs and not a.path:
        bad = broken_links()
        if bad: failed += 1; print(f'test: FAILED links: {len(bad)} local links point at no page, e.g. ' + '; '.join(bad[:5]))
        else: passed += 1; print('test: ok links (every local link of the pages has its page)')
        for name, ok, why in browser_checks(BROWSER_PAGES):
            if ok: passed += 1; print(f'test: ok browser {name}')
            else: failed += 1; print(f'test: FAILED browser {name}: {why}')
    if a.save_outputs:  # nbdev's clean form (no execution counts or run metadata), so that `make check` passes
        for f in files: subprocess.run([shutil.which('nbdev_clean') or 'nbdev_clean', '--fname', str(f)], check=True, cwd=ROOT)
    print(f'notebooks and pages done in {time.time() - start:.0f} s' + ('' if a.no_docs else f'; docs in {HTML.relative_to(ROOT)}/'))
    print(f'{passed} passed, {failed} failed')
    return 1 if failed else 0

if __name__ == '__main__': sys.exit(main())
