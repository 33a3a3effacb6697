"""Site rules in Chromium: the store example's vectors through its built snippet, a failing
site rule that drops only its call (one console warning, nothing thrown into the page), and
`kmgen parity` on the store config."""

import json
import subprocess
import sys

from kmgen.canonical import canonical
from kmgen.device.build import build
from kmgen.parity import RUN_CALLS, SEND_MESSAGES, html, run_in_page
from tests.browser.conftest import snippet
from tests.conftest import ROOT
from tests.test_site_rules import FAILING_RULES, FAILURES, STORE_CASES, site_dir


def test_store_vectors_in_chromium(server, watched, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    site = build('examples/store.toml', tmp_path / 'store')[0]
    server.km_library = 'blocked'
    watched.goto(server.page('store.html', html(snippet(site))))
    run_in_page(watched, SEND_MESSAGES, 'analytics', [])       # after the snippet's own page()
    for case in STORE_CASES:
        result = run_in_page(watched, SEND_MESSAGES, 'analytics', [case['call']])
        assert canonical(result['kmq']) == canonical(case['ops']), case['name']
    assert watched.kmgen_errors == []


def test_a_failing_site_rule_drops_one_call_in_the_page(server, watched, tmp_path):
    config = site_dir(tmp_path, FAILING_RULES) / 'kmgen.toml'
    config.write_text(config.read_text() + 'initial_page = false\n')
    site = build(config, tmp_path / 'dist')[0]
    server.km_library = 'blocked'
    watched.goto(server.page('f.html', html(snippet(site))))
    calls = [['track', [event, {}]] for event in ('Boom', 'Fine', 'Odd', 'Bad Ops')]
    result = run_in_page(watched, RUN_CALLS, 'analytics', calls)
    assert canonical(result['kmq']) == '[["record","Fine",{}]]'
    assert watched.kmgen_errors == []
    assert [w for w in watched.kmgen_warnings if 'site rules' in w] == [
        '[kmgen] ' + FAILURES[event][1] for event in ('Boom', 'Odd', 'Bad Ops')]


def test_parity_command_passes_on_the_store():
    proc = subprocess.run([sys.executable, '-m', 'kmgen', 'parity', '--config', 'examples/store.toml',
                           '--generated', '60'], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1].startswith('OK: ')
