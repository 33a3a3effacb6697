"""`kmgen parity --config`: the table, and a non-zero exit on any mismatch. Run in a child
process: Playwright's sync API cannot start inside the one pytest-playwright already runs."""

import subprocess
import sys

from kmgen import parity
from tests.conftest import ROOT

FAULTY = '''
import sys
from kmgen import cli, parity
real = parity.cloud_wire

def faulty(messages, settings):  # the deliberate fault: one character of one event name
    requests = real(messages, settings)
    for kind, path, params in requests:
        if path == '/e':
            params['_n'] = params['_n'] + '!'
            break
    return requests

parity.cloud_wire = faulty
sys.exit(cli.main(sys.argv[1:]))
'''


def kmgen_parity(*args, fault=False):
    command = [sys.executable, '-c', FAULTY] if fault else [sys.executable, '-m', 'kmgen']
    return subprocess.run(command + ['parity', '--config', 'examples/shop.toml'] + list(args),
                          capture_output=True, text=True, cwd=ROOT)


def test_parity_command_passes_on_an_example():
    proc = kmgen_parity('--generated', '120')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ['call', 'public', 'API', '->', '_kmq', 'message', '->', '_kmq', 'wire', '(beacons)']
    assert [line.split()[0] for line in lines[1:7]] == list(parity.CALL_TYPES)
    assert 'FAIL' not in proc.stdout and lines[-1].startswith('OK: ')


def test_parity_command_fails_on_a_planted_wire_fault():
    proc = kmgen_parity('--generated', '30', fault=True)
    assert proc.returncode == 1, proc.stderr
    assert 'FAIL' in proc.stdout and 'request #0 differs' in proc.stdout
    assert proc.stdout.splitlines()[-1].startswith('FAIL: ')
