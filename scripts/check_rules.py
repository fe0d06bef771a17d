#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Keep Documentation/locking.rst and the code in step.

Every rule ID (R-SOMETHING) that the document defines as a section title
must be cited in a comment at its enforcing site (module sources: not
kunit/, tools/, scripts/ or Documentation/) and in at least one test
(kunit/ or tools/).  It must also be cited in the SPIN model (model/*.pml)
at the process or inline that models its enforcing code, unless its
section in the document has a line starting "Not modelled:" with the
reason (and then the model must not cite it).  Every ID the code, the
tests or the model cite must be defined.  Then the document must build
with docutils, warnings as errors.

  check_rules.py [--json OUT]     prints one line per rule, exits 1 on any gap
"""
import argparse
import json
import os
import re
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = 'Documentation/locking.rst'
ID = re.compile(r'\bR-[A-Z0-9]+(?:-[A-Z0-9]+)*\b')
TITLE = re.compile(r'^(R-[A-Z0-9]+(?:-[A-Z0-9]+)*):')
UNDERLINE = re.compile(r'^([=\-])\1{2,}$')
NOT_MODELLED = 'Not modelled:'


def defined_ids():
    lines = open(os.path.join(TOP, DOC)).read().splitlines()
    ids = {}
    for i, line in enumerate(lines[:-1]):
        m = TITLE.match(line)
        if m and re.fullmatch(r'-{3,}', lines[i + 1]):
            ids[m.group(1)] = i + 1
    return ids


def not_modelled():
    """Rule ID -> (line, reason) for rules whose section says "Not modelled:".

    A rule's section runs from its title to the next section title of any
    level; the reason is the rest of that line and of its paragraph.
    """
    lines = open(os.path.join(TOP, DOC)).read().splitlines()
    titles = [i for i in range(len(lines) - 1)
              if lines[i].strip() and not UNDERLINE.match(lines[i])
              and UNDERLINE.match(lines[i + 1])]
    found = {}
    for k, start in enumerate(titles):
        m = TITLE.match(lines[start])
        if not m or not lines[start + 1].startswith('-'):
            continue
        end = titles[k + 1] if k + 1 < len(titles) else len(lines)
        for i in range(start + 2, end):
            if lines[i].startswith(NOT_MODELLED):
                words = [lines[i][len(NOT_MODELLED):].strip()]
                j = i + 1
                while j < end and lines[j].strip():
                    words.append(lines[j].strip())
                    j += 1
                found[m.group(1)] = (i + 1, ' '.join(w for w in words if w))
                break
    return found


def model_citations():
    """Rule ID -> ['model/<file>.pml:<line>', ...], eptmmu.pml first."""
    cites = {}
    mdir = os.path.join(TOP, 'model')
    if not os.path.isdir(mdir):
        return cites
    for name in sorted(os.listdir(mdir)):
        if not name.endswith('.pml'):
            continue
        f = f'model/{name}'
        for n, line in enumerate(open(os.path.join(TOP, f), errors='replace'), 1):
            for rid in ID.findall(line):
                cites.setdefault(rid, []).append(f'{f}:{n}')
    return cites


def tracked_files():
    """The tree's C files: git's view in a checkout, else a walk."""
    out = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard'],
                         cwd=TOP, capture_output=True, text=True)
    if out.returncode == 0:
        files = out.stdout.split('\n')
    else:
        files = [os.path.relpath(os.path.join(d, f), TOP)
                 for d, _, names in os.walk(TOP) for f in names]
    return [f for f in files if f.endswith(('.c', '.h')) and
            not f.endswith('.mod.c')]


def citations():
    code, tests = {}, {}
    for f in tracked_files():
        where = tests if f.startswith(('kunit/', 'tools/')) else code
        if f.startswith(('scripts/', 'Documentation/')):
            continue
        for n, line in enumerate(open(os.path.join(TOP, f), errors='replace'), 1):
            for rid in ID.findall(line):
                where.setdefault(rid, []).append(f'{f}:{n}')
    return code, tests


def build_docs():
    """rst2html with warnings as errors, for every document."""
    bad = []
    for doc in sorted(os.listdir(os.path.join(TOP, 'Documentation'))):
        if not doc.endswith('.rst'):
            continue
        r = subprocess.run(['rst2html', '--halt=warning', '--report=warning',
                            os.path.join(TOP, 'Documentation', doc)],
                           capture_output=True, text=True)
        if r.returncode:
            bad.append(f'{doc}: {r.stderr.strip()[:300]}')
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--json')
    args = ap.parse_args()
    ids = defined_ids()
    code, tests = citations()
    model, nomodel = model_citations(), not_modelled()
    passed, problems = 0, []
    for rid in sorted(ids):
        c, t, m = code.get(rid, []), tests.get(rid, []), model.get(rid, [])
        nm = nomodel.get(rid)
        gaps = [w for w, l in (('no enforcing site', c), ('no test', t)) if not l]
        if nm and m:
            gaps.append(f'cited in the model at {m[0]} but {DOC}:{nm[0]} '
                        f'says "{NOT_MODELLED}"')
        elif nm and not nm[1]:
            gaps.append(f'"{NOT_MODELLED}" without a reason at {DOC}:{nm[0]}')
        elif not nm and not m:
            gaps.append(f'no model site in model/*.pml and no '
                        f'"{NOT_MODELLED}" line')
        if not gaps:
            passed += 1
            modelled = (f', modelled at {m[0]}' if m else
                        f', not modelled: {nm[1]}')
            print(f'  ok   {rid}: enforced at {c[0]}, tested in {t[0]}'
                  + (f' (+{len(t) - 1} more)' if len(t) > 1 else '')
                  + modelled)
        else:
            problems.append(f'{rid} ({DOC}:{ids[rid]}): {" and ".join(gaps)}')
    for rid in sorted(set(code) | set(tests) | set(model)):
        if rid not in ids:
            where = (code.get(rid) or tests.get(rid) or model.get(rid))[0]
            problems.append(f'{rid} cited at {where} '
                            f'but not defined in {DOC}')
    docs = build_docs()
    problems += [f'docs: {d}' for d in docs]
    if not docs:
        passed += 1
        print('  ok   Documentation/*.rst build without warnings')
    for p in problems:
        print(f'  FAIL {p}')
    print(f'  rules: {passed} passed, {len(problems)} failed')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'kernel': 'rules+docs', 'passed': passed,
                       'failed': len(problems), 'skipped': 0}, f)
    return 1 if problems or not ids else 0


if __name__ == '__main__':
    sys.exit(main())
