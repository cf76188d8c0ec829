#!/usr/bin/env python3
"""Resolves merge conflicts in append-only files (CHANGELOG.md, build/GovernorHome.targets) by
keeping both sides, ours first, dropping lines the theirs side repeats verbatim."""
import sys, pathlib
for name in sys.argv[1:]:
    p = pathlib.Path(name)
    out, mode, ours, theirs = [], None, [], []
    for line in p.read_text().splitlines(keepends=True):
        if line.startswith('<<<<<<< '):
            mode, ours, theirs = 'ours', [], []
        elif line.startswith('=======') and mode == 'ours':
            mode = 'theirs'
        elif line.startswith('>>>>>>> ') and mode == 'theirs':
            out += ours + [l for l in theirs if l not in ours or not l.strip()]
            mode = None
        elif mode == 'ours':
            ours.append(line)
        elif mode == 'theirs':
            theirs.append(line)
        else:
            out.append(line)
    p.write_text(''.join(out))
