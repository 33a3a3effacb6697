"""Report every vector on which CPython or the transpiled rules disagree with the file.

Usage: PYTHONPATH=generator python3 tests/vectors_check.py  (pytest runs the same checks).
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / 'generator'))

from kmgen.device import engine  # noqa: E402
from kmgen.rules import map_call  # noqa: E402
from kmgen.rules import portable  # noqa: E402

VECTORS = Path(__file__).resolve().parent / 'vectors'


def main():
    bad = 0
    for path in sorted(VECTORS.glob('*.json')):
        cases = json.loads(path.read_text(encoding='utf-8'))
        if path.name == 'helpers.json':
            requests = [{'helper': c['helper'], 'args': c['args']} for c in cases]
            py = [portable.json_compact(getattr(portable, c['helper'])(*c['args'])) for c in cases]
            want = [portable.json_compact(c['result']) for c in cases]
        else:
            requests = [{'call': c['call'], 'settings': c.get('settings', {})} for c in cases]
            py = [portable.json_compact(map_call(c['call'], c.get('settings', {}))) for c in cases]
            want = [portable.json_compact(c['ops']) for c in cases]
        js = engine.run(requests)
        for case, w, p, j in zip(cases, want, py, js):
            if not (w == p == j):
                bad += 1
                print('%s: %s\n  expected: %s\n  python:   %s\n  js:       %s' % (path.name, case['name'], w, p, j))
    print('%d disagreement(s)' % bad)
    return 1 if bad else 0


if __name__ == '__main__':
    raise SystemExit(main())
