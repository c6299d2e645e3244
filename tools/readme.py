#!/usr/bin/env python3
"""Write README.md from nbs/index.ipynb (what `nbdev_readme` does, without Quarto, which this machine cannot install).

Hidden cells are dropped, `#|` directives stripped, code shown as python blocks with their text outputs.
`--check` exits 1 if README.md is out of date."""
import json, re, sys
from pathlib import Path

root = Path(__file__).resolve().parents[1]

def render(nb_path: Path) -> str:
    nb, out = json.loads(nb_path.read_text()), []
    for c in nb['cells']:
        src = ''.join(c['source'])
        lines = src.splitlines()
        if any(re.match(r'#\|\s*(hide|include:\s*false)\b', l) for l in lines): continue
        if c['cell_type'] == 'markdown':
            src = re.sub(r'^> (.*)$', r'> \1', src, flags=re.M)
            src = re.sub(r'(!\[[^\]]*\]\()(?![a-z]+://|/)', r'\1nbs/', src)  # images beside the notebooks: README sits one level up
            src = re.sub(r'(\]\()(?![a-z]+://|/|#|nbs/)([^)]*\.ipynb)', r'\1nbs/\2', src)  # and so do the notebooks it links to
            out.append(src.strip())
            continue
        code = '\n'.join(l for l in lines if not l.startswith('#|')).strip()
        if code and not any(re.match(r'#\|\s*echo:\s*false', l) for l in lines): out.append(f'```python\n{code}\n```')
        for o in c.get('outputs', []):
            text = o.get('text') or o.get('data', {}).get('text/markdown') or o.get('data', {}).get('text/plain')
            if text: out.append(''.join(text).rstrip() if 'text/markdown' in o.get('data', {}) else f"```\n{''.join(text).rstrip()}\n```")
    return '\n\n'.join(out) + '\n'

if __name__ == '__main__':
    text = '<!-- generated from nbs/index.ipynb by tools/readme.py: edit the notebook, not this file -->\n\n' + render(root/'nbs'/'index.ipynb')
    dest = root/'README.md'
    if '--check' in sys.argv:
        if not dest.exists() or dest.read_text() != text: sys.exit('README.md is out of date: run `make export` (tools/readme.py) and commit.')
    else: dest.write_text(text)
