"""`kmgen parity --config`: the table (config, seed, time, every level), a non-zero exit on any
mismatch, every setting of the README's table in each device form, a site's recorded
messages, and a harness failure that says so. Run in a child process: Playwright's sync API
cannot start inside the one pytest-playwright already runs."""

import json
import os
import subprocess
import sys

import pytest

from kmgen import config, parity
from tests.conftest import API_KEY, ROOT

FAULTY = '''
import sys
from kmgen import cli, parity
real = parity.cloud_wire

def faulty(messages, settings):  # the deliberate fault: one character of one event name
    requests = real(messages, settings)
    for kind, path, params, person in requests:
        if path == '/e':
            params['_n'] = params['_n'] + '!'
            break
    return requests

parity.cloud_wire = faulty
sys.exit(cli.main(sys.argv[1:]))
'''
HEADER = ['call', 'public', 'API', 'stub', 'form', 'plugin', 'whole', 'messages', 'wire']

# Every setting of the README's settings table, each in one of the two device forms.
INLINE = {'prefix_properties': False, 'track_named_pages': False, 'group_prefix': 'Team Ünï', 'api_name': 'kmApi',
          'initial_page': False, 'km_skip': ['visited_site', 'search_engine', 'ad_campaign', 'referrer', 'form_fields'],
          'cookie_domain': '.shop.test', 'library_host': 'km-lib.shop.test',
          'tracking_host': 'https://trk.shop.test'}
STUB = {'script_src': '//static.shop.test/js/kmgen.min.js', 'track_categorized_pages': False,
        'record_page_view': False, 'tapstream_account': 'shop</script>', 'library_host': 'km.shop.test:8443'}


def kmgen_parity(config_path, *args, fault=False, env=None):
    command = [sys.executable, '-c', FAULTY] if fault else [sys.executable, '-m', 'kmgen']
    return subprocess.run(command + ['parity', '--config', str(config_path)] + list(args),
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ, **(env or {})})


def write_config(path, settings):
    path.write_text('api_key = "%s"\n' % API_KEY + ''.join('%s = %s\n' % (k, json.dumps(v, ensure_ascii=False))
                                                         for k, v in settings.items()), encoding='utf-8')
    return path


def test_the_two_configs_cover_every_setting():
    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    table = readme.split('### Settings')[1].split('\n\n')[1]
    names = {cell.strip(' `') for line in table.splitlines()[2:] for cell in line.split('|')[1].split(',')}
    assert names - {'api_key'} == set(INLINE) | set(STUB)
    for settings in (INLINE, STUB):
        config.validate({'api_key': API_KEY, **settings})


def assert_passes(proc, config_path, seed):
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith('config %s | seed %d | ' % (config_path, seed)) and lines[0].endswith(' s')
    assert lines[1].split() == HEADER
    assert [line.split()[0] for line in lines[2:8]] == list(parity.CALL_TYPES)
    assert 'FAIL' not in proc.stdout and 'skipped' not in proc.stdout and lines[-1].startswith('OK: ')
    return lines


def test_every_setting_inline(tmp_path):
    path = write_config(tmp_path / 'inline.toml', INLINE)
    assert_passes(kmgen_parity(path, '--generated', '24', '--seed', '3'), path, 3)


def test_every_setting_with_script_src_and_recorded_messages(tmp_path):
    path = write_config(tmp_path / 'stub.toml', STUB)
    recorded = tmp_path / 'site.jsonl'
    recorded.write_text('\n'.join(json.dumps(m) for m in [
        {'type': 'identify', 'userId': 'rec-1', 'context': {'traits': {'plan': 'pro'}}, 'originalTimestamp': '2024-05-01T00:00:00Z'},
        {'type': 'track', 'event': 'Order Completed', 'anonymousId': 'a-1',
         'properties': {'total': '$12.50', 'products': [{'sku': 'x', 'price': 5}]}},
        {'type': 'page', 'name': 'Pricing', 'properties': {'category': 'Docs', 'url': 'https://shop.test/p'}},
        {'type': 'alias', 'userId': 'rec-2', 'previousId': 'rec-1'},
    ]) + '\n', encoding='utf-8')
    lines = assert_passes(kmgen_parity(path, '--generated', '12', '--messages', str(recorded)), path, 0)
    assert '| 12 generated, 4 recorded, ' in lines[0]


def test_recorded_messages_that_are_not_messages_are_an_error(tmp_path):
    recorded = tmp_path / 'bad.jsonl'
    recorded.write_text('{"type": "track", "event": "Ok"}\nnot json\n', encoding='utf-8')
    proc = kmgen_parity('examples/shop.toml', '--messages', str(recorded))
    assert proc.returncode == 2 and proc.stdout == ''
    assert proc.stderr.startswith('Error: 1 message in %s cannot be used; fix or remove it: Invalid JSON in %s:2: '
                                  % (recorded, recorded)), proc.stderr


def test_a_harness_failure_says_so_with_its_cause():
    proc = kmgen_parity('examples/shop.toml', '--generated', '0', env={'KMGEN_CHROMIUM': '/nonexistent/chromium'})
    assert proc.returncode == 2 and proc.stdout == ''
    assert proc.stderr.startswith('Error: harness failure (not a parity mismatch) while starting Chromium: '
                                  'Playwright: BrowserType.launch: '), proc.stderr
    assert '/nonexistent/chromium' in proc.stderr


def test_parity_command_fails_on_a_planted_wire_fault():
    proc = kmgen_parity('examples/shop.toml', '--generated', '6', fault=True)
    assert proc.returncode == 1, proc.stderr
    assert 'FAIL' in proc.stdout and 'wire level: request #0 differs' in proc.stdout
    assert proc.stdout.splitlines()[-1].startswith('FAIL: ')
