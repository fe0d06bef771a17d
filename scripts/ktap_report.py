#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Judge one QEMU boot of the eptmmu harness, or add up several.

  ktap_report.py run --ksrc SRC --log LOG --kernel NAME --json OUT STEP:KIND...
  ktap_report.py total OUT.json...

The guest /init frames every step with "eptmmu-harness: BEGIN name" and
"END name rc=N" markers.  Each KUnit step's block is fed on its own to the
kernel's kunit_parser (tools/testing/kunit), because that parser reads only
the first KTAP block of a log.

STEP kinds:
  kunit       the block holds KTAP from insmod of a test module; each case
              counts, and a block with no results is a failure
  rc          the step's command must exit 0 (one test)
  tap         user-space TAP printed by the step: each "ok"/"not ok" counts
  report=CLS  a detector check: the step must produce a kernel report of
              class CLS (lockdep, kasan, kcsan, kmemleak, sleep, rcu) that
              names eptmmu (one test); such a report is expected, not a bug

Anywhere else, a kernel report (BUG, WARNING, Oops, lockdep, KASAN, KCSAN,
kmemleak, RCU, sleep-in-atomic) whose text names eptmmu fails the boot.
Reports that do not name eptmmu (KCSAN finds a race in boot-time APIC code
on every boot) are listed as ignored.
"""
import argparse
import io
import json
import os
import re
import sys

MARK = re.compile(r'eptmmu-harness: (BOOTED|BEGIN|END|DONE|WATCHDOG)\s*(\S*)\s*(?:rc=(-?\d+))?')
# /init's description of a stuck step's tasks (its watchdog, lib.sh).
STUCK = re.compile(r'^eptmmu-watchdog\[([^\]]+)\]: task (.*)$')
STAMP = re.compile(r'^\[\s*\d+\.\d+\]\s?')
OUT = re.compile(r'^eptmmu-out\[([^\]]+)\]: ?(.*)$')

# Headers that open a kernel report, and the class each belongs to.
HEADERS = [
    (re.compile(r'possible circular locking dependency|possible recursive locking'
                r'|inconsistent lock state|possible irq lock inversion'
                r'|bad unlock balance|lock held when returning'
                r'|^\[ BUG: '), 'lockdep'),
    (re.compile(r'suspicious RCU usage'), 'rcu'),
    (re.compile(r'^BUG: KASAN'), 'kasan'),
    (re.compile(r'^BUG: KCSAN'), 'kcsan'),
    (re.compile(r'^BUG: sleeping function called from invalid context'), 'sleep'),
    (re.compile(r'^unreferenced object 0x'), 'kmemleak'),
    # Bounded lock holds (R-ZAP-BOUNDED, R-DIRTY-YIELD): the soft-lockup
    # watchdog and RCU's stall warnings prefix their own subsystem name.
    (re.compile(r'BUG: soft lockup - CPU#|self-detected stall on CPU'
                r'|detected stalls on CPUs/tasks|blocked for more than \d+ seconds'),
     'stall'),
    (re.compile(r'^(BUG: |Oops|general protection fault|Kernel panic'
                r'|kernel BUG at|WARNING: |INFO: )'), 'bug'),
]
# How far a report reaches when nothing closes it earlier.
REPORT_LINES = 120


def classify(text):
    for rx, cls in HEADERS:
        if rx.search(text):
            return cls
    return None


def load(path):
    """Log lines without console timestamps; step output unwrapped."""
    lines = []
    with open(path, errors='replace') as f:
        for raw in f:
            raw = raw.rstrip('\r\n')
            text = STAMP.sub('', raw)
            m = OUT.match(text)
            step = None
            if m:
                step, text = m.group(1), m.group(2)
            lines.append((raw, text, step))
    return lines


def find_reports(lines):
    """[(start index, class, names_eptmmu, header)] for every report."""
    reports = []
    i = 0
    while i < len(lines):
        cls = classify(lines[i][1])
        if not cls or MARK.search(lines[i][1]):
            i += 1
            continue
        j = i + 1
        while j < len(lines) and j - i < REPORT_LINES:
            t = lines[j][1]
            if MARK.search(t) or t.startswith('---[ end trace'):
                break
            # A report of another class starts a new block (lockdep and
            # KASAN print a WARNING/BUG header of their own after "====").
            if classify(t) and not t.startswith('INFO: '):
                break
            j += 1
        body = [lines[k][1] for k in range(i, j)]
        if cls == 'kcsan':
            # "data-race in A / B" names the two racing accesses; a race
            # in core code that merely has eptmmu up its call chain (GUP
            # marking a page accessed) is not ours.
            ours = 'eptmmu' in lines[i][1]
        else:
            ours = any('eptmmu' in t for t in body)
        reports.append((i, cls, ours, lines[i][1]))
        i = j if j > i else i + 1
    return reports


def kunit_parse(ksrc, block, logf):
    sys.path.insert(0, os.path.join(ksrc, 'tools/testing/kunit'))
    import kunit_parser
    import kunit_printer
    kunit_parser.stdout = kunit_printer.Printer(logf)
    return kunit_parser.parse_run_tests(block)


def with_top_header(block):
    """The block, with the top-level KTAP header if the kernel left it out.

    6.1's KUnit prints a module's suites as indented subtests without the
    top-level "KTAP version 1" and plan that 6.12 puts before them; the
    parser then takes the indentation for part of the console prefix and
    cuts it off every unindented line.  Give it the header, at the
    indentation of the lines around it.
    """
    for i, raw in enumerate(block):
        text = STAMP.sub('', raw)
        if text.lstrip() != 'KTAP version 1':
            continue
        if text != '    KTAP version 1':
            return block
        suites = sum(1 for r in block
                     if STAMP.sub('', r).startswith('    # Subtest: '))
        prefix = raw[:len(raw) - len(text)]
        return (block[:i] + [prefix + 'KTAP version 1',
                             prefix + f'1..{suites}'] + block[i:])
    return block


def suite_rows(test):
    """(suite name, passed, failed, skipped) for each suite in the run."""
    rows = []
    for suite in test.subtests:
        c = suite.counts
        rows.append((suite.name, c.passed, c.failed + c.crashed + c.errors,
                     c.skipped))
    return rows


def run(args):
    lines = load(args.log)
    res = {'kernel': args.kernel, 'passed': 0, 'failed': 0, 'skipped': 0,
           'rows': [], 'problems': []}

    def problem(msg):
        res['failed'] += 1
        res['problems'].append(msg)

    steps = {}
    booted = done = False
    for idx, (_, text, _) in enumerate(lines):
        m = MARK.search(text)
        if not m:
            continue
        what, name, rc = m.groups()
        if what == 'BOOTED':
            booted = True
        elif what == 'DONE':
            done = True
        elif what == 'BEGIN':
            steps[name] = {'begin': idx, 'end': None, 'rc': None}
        elif what == 'WATCHDOG':
            tasks = [m.group(2) for m in
                     (STUCK.match(t) for _, t, _ in lines[idx + 1:])
                     if m and m.group(1) == name and '(init)' not in m.group(2)]
            problem(f'step {name}: stuck, killed by the step watchdog ({text.split(" after ")[-1]}); '
                    f'tasks: {"; ".join(tasks)[:300]} (stacks: eptmmu-watchdog lines in the log)')
        elif what == 'END' and name in steps:
            steps[name]['end'] = idx
            steps[name]['rc'] = int(rc) if rc is not None else None

    if not booted:
        problem('the guest never reached /init (kernel crash or boot hang)')
    elif not done:
        problem('the guest did not finish its plan (crash, hang or timeout)')

    reports = find_reports(lines)
    expected = {}
    parselog = io.StringIO()
    for spec in args.steps:
        name, kind = spec.split(':', 1)
        st = steps.get(name)
        if not st or st['end'] is None:
            problem(f'step {name}: no result (did not run or did not finish)')
            continue
        lo, hi = st['begin'], st['end']
        if kind == 'kunit':
            block = with_top_header([raw for raw, _, _ in lines[lo + 1:hi]])
            test = kunit_parse(args.ksrc, block, parselog)
            total = test.counts.total()
            if total == 0:
                problem(f'step {name}: no KTAP results (zero tests ran)')
                continue
            for suite, p, f, s in suite_rows(test):
                res['rows'].append(f'{suite}: {p} passed, {f} failed, {s} skipped')
                res['passed'] += p
                res['failed'] += f
                res['skipped'] += s
                if f:
                    res['problems'].append(f'suite {suite}: {f} failed')
            if st['rc'] != 0:
                problem(f'step {name}: exited {st["rc"]}')
        elif kind == 'rc':
            if st['rc'] == 0:
                res['passed'] += 1
                res['rows'].append(f'{name}: ok')
            else:
                problem(f'step {name}: exited {st["rc"]}')
        elif kind == 'tap':
            p = f = sk = 0
            plan = None
            for _, text, stp in lines[lo + 1:hi]:
                if stp != name:
                    continue
                m = re.match(r'^1\.\.(\d+)', text)
                if m and plan is None:
                    plan = int(m.group(1))
                if re.match(r'^ok \d+', text) and re.search(r'#\s*SKIP', text):
                    sk += 1
                elif re.match(r'^ok \d+', text):
                    p += 1
                elif re.match(r'^not ok \d+', text):
                    f += 1
                    res['problems'].append(f'{name}: {text}')
                elif text.startswith('Bail out!'):
                    res['problems'].append(f'{name}: {text}')
            if p + f == 0:
                problem(f'step {name}: no TAP results')
            elif plan is not None and p + f + sk < plan:
                # Tests that never reported count as failed.
                missing = plan - (p + f + sk)
                res['problems'].append(f'{name}: {missing} of {plan} planned tests never reported')
                f += missing
            res['passed'] += p
            res['failed'] += f
            res['skipped'] += sk
            res['rows'].append(f'{name}: {p} passed, {f} failed, {sk} skipped')
            if st['rc'] != 0 and f == 0:
                problem(f'step {name}: exited {st["rc"]}')
        elif kind.startswith('report='):
            cls = kind.split('=', 1)[1]
            hit = [r for r in reports if lo < r[0] < hi and r[2] and r[1] == cls]
            for r in reports:
                if lo < r[0] < hi and r[2]:
                    expected[r[0]] = True
            if hit:
                res['passed'] += 1
                res['rows'].append(f'{name}: injected fault caught ({cls}: {hit[0][3][:70]})')
            else:
                problem(f'step {name}: injected fault NOT caught: no {cls} report naming eptmmu')
        else:
            sys.exit(f'unknown step kind {kind}')

    for idx, cls, ours, header in reports:
        if idx in expected:
            continue
        if ours:
            problem(f'kernel report naming eptmmu ({cls}): {header[:100]}')
        else:
            res['rows'].append(f'ignored, does not name eptmmu ({cls}): {header[:80]}')

    with open(args.json, 'w') as f:
        json.dump(res, f)
    with open(args.json + '.kunit.txt', 'w') as f:
        f.write(parselog.getvalue())
    print(f'--- {args.kernel} kernel ---')
    for row in res['rows']:
        print(f'  {row}')
    for p in res['problems']:
        print(f'  FAIL: {p}')
    print(f'  {args.kernel}: {res["passed"]} passed, {res["failed"]} failed')
    return 1 if res['failed'] else 0


def total(args):
    p = f = s = 0
    bad = False
    for path in args.results:
        try:
            with open(path) as fh:
                r = json.load(fh)
        except (OSError, ValueError):
            print(f'  missing result {path}')
            f += 1
            bad = True
            continue
        print(f'  {r["kernel"]}: {r["passed"]} passed, {r["failed"]} failed')
        p += r['passed']
        f += r['failed']
        s += r['skipped']
    line = f'{p} passed, {f} failed'
    if s:
        line += f', {s} skipped'
    print(line)
    return 1 if f or bad or p == 0 else 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest='cmd', required=True)
    r = sub.add_parser('run')
    r.add_argument('--ksrc', required=True)
    r.add_argument('--log', required=True)
    r.add_argument('--kernel', required=True)
    r.add_argument('--json', required=True)
    r.add_argument('steps', nargs='+')
    t = sub.add_parser('total')
    t.add_argument('results', nargs='+')
    args = ap.parse_args()
    return run(args) if args.cmd == 'run' else total(args)


if __name__ == '__main__':
    sys.exit(main())
