#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Keep Documentation/locking.rst and the code in step.

Every rule ID (R-SOMETHING) that the document defines as a section title
must be cited in a comment at its enforcing site (module sources: not
kunit/, tools/, scripts/ or Documentation/) and in at least one test
(kunit/ or tools/).  Every ID the code or the tests cite must be defined.
Then the document must build with docutils, warnings as errors.

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


def defined_ids():
    lines = open(os.path.join(TOP, DOC)).read().splitlines()
    ids = {}
    for i, line in enumerate(lines[:-1]):
        m = TITLE.match(line)
        if m and re.fullmatch(r'-{3,}', lines[i + 1]):
            ids[m.group(1)] = i + 1
    return ids


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
    passed, problems = 0, []
    for rid in sorted(ids):
        c, t = code.get(rid, []), tests.get(rid, [])
        if c and t:
            passed += 1
            print(f'  ok   {rid}: enforced at {c[0]}, tested in {t[0]}'
                  + (f' (+{len(t) - 1} more)' if len(t) > 1 else ''))
        else:
            what = ' and '.join(w for w, l in (('no enforcing site', c),
                                               ('no test', t)) if not l)
            problems.append(f'{rid} ({DOC}:{ids[rid]}): {what}')
    for rid in sorted(set(code) | set(tests)):
        if rid not in ids:
            problems.append(f'{rid} cited at {(code.get(rid) or tests.get(rid))[0]} '
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
