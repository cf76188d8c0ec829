#!/usr/bin/env python3
"""Folds a component document (docs/<kind>-<component>.md) into the main one (docs/<kind>.md):
its title becomes a level-2 section, every heading is demoted one level, links to the merged
file become in-page links, and the component file is removed."""
import re, sys, pathlib

def merge(component_file: str, main_file: str) -> None:
    src = pathlib.Path(component_file)
    dst = pathlib.Path(main_file)
    lines = src.read_text().splitlines()
    # Drop notes addressed to the lead ("section for docs/config.md ...").
    lines = [l for l in lines if not re.match(r'^\s*(<!--.*-->|_\(Section for .*\)_)\s*$', l)]
    # Shift headings so that the file's top level becomes a level-2 section.
    levels, in_code = [], False
    for line in lines:
        if line.startswith('```'):
            in_code = not in_code
        m = None if in_code else re.match(r'^(#{1,6}) ', line)
        if m:
            levels.append(len(m.group(1)))
    shift = 2 - min(levels) if levels else 0
    out, in_code = [], False
    for line in lines:
        if line.startswith('```'):
            in_code = not in_code
        m = None if in_code else re.match(r'^(#{1,6}) ', line)
        if m:
            line = '#' * max(2, len(m.group(1)) + shift) + line[len(m.group(1)):]
        out.append(line)
    text = '\n'.join(out).strip() + '\n'
    body = dst.read_text() if dst.exists() else ''
    dst.write_text(body.rstrip() + '\n\n' + text)
    src.unlink()
    # Links elsewhere to the removed file now point at the main file.
    for doc in list(pathlib.Path('docs').glob('*.md')) + [pathlib.Path('README.md')]:
        t = doc.read_text()
        n = t.replace(f'({src.name})', f'({dst.name})').replace(f'(docs/{src.name})', f'(docs/{dst.name})').replace(f'({src.name}#', f'({dst.name}#')
        if n != t:
            doc.write_text(n)

if __name__ == '__main__':
    merge(sys.argv[1], sys.argv[2])
