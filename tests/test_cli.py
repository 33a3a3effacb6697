"""`kmgen ops`: both engines, settings from TOML or JSON, and one clear line for bad input."""

import io
import json
import subprocess
import sys

import pytest

from kmgen import cli
from tests.conftest import API_KEY, ROOT

ORDER = {'type': 'track', 'event': 'Order Completed', 'timestamp': '2024-05-01T12:00:00.250Z',
         'properties': {'total': '$1,000.50', 'a': {'b': 1.0, 'c': [1, {'x': None}]}, '__proto__': {'k': 'v'},
                        'products': [{'sku': 'A', 'price': 1e21}, {'sku': 'B', 'when': '2024-05-01'}]}}
EXPECTED_ORDER = (
    '[["record","Order Completed",{"Billing Amount":1000.5,"Order Completed - __proto__.k":"v",'
    '"Order Completed - a.b":1,"Order Completed - a.c":"1,{\\"x\\":null}","Order Completed - total":"$1,000.50"}],'
    '["set",{"Order Completed - price":1e+21,"Order Completed - sku":"A","_d":1,"_t":1714564800}],'
    '["set",{"Order Completed - sku":"B","Order Completed - when":1714521600,"_d":1,"_t":1714564801}]]\n')


def run(args, stdin='', monkeypatch=None, capsys=None):
    monkeypatch.setattr(sys, 'stdin', io.StringIO(stdin))
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize('engine', ['python', 'js'])
def test_ops_from_stdin_with_either_engine(engine, monkeypatch, capsys):
    code, out, err = run(['ops', '--api-key', API_KEY, '--engine', engine], json.dumps(ORDER), monkeypatch, capsys)
    assert (code, out, err) == (0, EXPECTED_ORDER, '')


def test_ops_with_message_file_and_toml_config(tmp_path, monkeypatch, capsys):
    (tmp_path / 'kmgen.toml').write_text('api_key = "%s"\nprefix_properties = false\n' % API_KEY)
    (tmp_path / 'm.json').write_text(json.dumps({'type': 'track', 'event': 'E', 'properties': {'revenue': 0}}))
    code, out, _ = run(['ops', '--config', str(tmp_path / 'kmgen.toml'), '--message', str(tmp_path / 'm.json')],
                       '', monkeypatch, capsys)
    assert (code, out) == (0, '[["record","E",{"Billing Amount":0,"revenue":0}]]\n')


def test_ops_with_json_settings(tmp_path, monkeypatch, capsys):
    (tmp_path / 's.json').write_text(json.dumps({'api_key': API_KEY, 'group_prefix': 'Team'}))
    code, out, _ = run(['ops', '--settings', str(tmp_path / 's.json')],
                       '{"type":"group","groupId":7,"traits":{"name":"Acme"}}', monkeypatch, capsys)
    assert (code, out) == (0, '[["set",{"Team - id":"7","Team - name":"Acme"}]]\n')


BAD = [
    ('{"type":', 'Error: Invalid JSON in <stdin>: Expecting value: line 1 column 9 (char 8).'),
    ('[1]', 'Error: <stdin> must be a JSON object (one message), got an array.'),
    ('{"event":"x"}', 'Error: <stdin> has no "type": add "type": "track" (or identify, page, screen, group, alias).'),
    ('{"type":"trak","event":"x"}', 'Error: Unknown message type "trak" in <stdin>. Did you mean "track"? '
                                    "Use one of identify, track, page, screen, group, alias."),
    ('{"type":"track"}', 'Error: track message in <stdin> has no "event": add "event": "<what happened>".'),
    ('{"type":"track","event":"x","properties":"a"}',
     '''Error: "properties" in <stdin> must be an object, got a string ("a").'''),
    ('{"type":"track","event":5}', 'Error: "event" in <stdin> must be a string, got a number (5).'),
    ('{"type":"identify","userId":{"a":1}}', '''Error: "userId" in <stdin> must be a string, got an object ({"a":1}).'''),
    ('{"type":"track","event":"x","timestamp":"yesterday"}',
     '''Error: "timestamp" in <stdin> must be an ISO-8601 date such as "2024-05-01T12:00:00Z", got "yesterday".'''),
    ('{"type":"track","event":"x","properties":{"n":NaN}}', 'Error: Invalid JSON in <stdin>: NaN is not valid JSON.'),
    ('{"type":"alias","previousId":"a"}',
     'Error: alias message in <stdin> has no "userId": add the new identity as "userId".'),
    # Two wrong fields: the error names the first in a fixed order, not in the message's.
    ('{"type":"track","timestamp":"soon","event":true,"traits":[1],"properties":"a"}',
     '''Error: "properties" in <stdin> must be an object, got a string ("a").'''),
    ('{"type":"track","timestamp":"soon","event":true}',
     'Error: "event" in <stdin> must be a string, got a boolean (true).'),
]


@pytest.mark.parametrize('stdin, message', BAD, ids=[b[0] for b in BAD])
def test_bad_messages_give_one_line_and_exit_2(stdin, message, monkeypatch, capsys):
    assert run(['ops', '--api-key', API_KEY], stdin, monkeypatch, capsys) == (2, '', message + '\n')


@pytest.mark.parametrize('settings, message', [
    ({}, 'Error: Missing api_key: add api_key = "..." to {path} or pass --api-key.'),
    ({'api_key': 'abc'}, "Error: Invalid api_key 'abc' in {path}: a Kissmetrics API key is 40 letters and "
                         "digits (Kissmetrics > Settings > API key)."),
    ({'api_key': API_KEY, 'prefix_property': True},
     "Error: Unknown setting 'prefix_property' in {path}. Did you mean 'prefix_properties'?"),
    ({'api_key': API_KEY, 'prefixProperties': True},
     "Error: Unknown setting 'prefixProperties' in {path}. Did you mean 'prefix_properties'?"),
    ({'api_key': API_KEY, 'prefix_properties': 'yes'},
     "Error: Setting 'prefix_properties' in {path} must be true or false, got a string ('yes')."),
    ({'api_key': API_KEY, 'group_prefix': 3}, "Error: Setting 'group_prefix' in {path} must be a string, got a number (3)."),
])
def test_bad_settings_give_one_line_and_exit_2(settings, message, tmp_path, monkeypatch, capsys):
    path = tmp_path / 's.json'
    path.write_text(json.dumps(settings))
    code, out, err = run(['ops', '--settings', str(path)], '{"type":"track","event":"x"}', monkeypatch, capsys)
    assert (code, out, err) == (2, '', message.format(path=path) + '\n')


def test_no_settings_at_all_says_how_to_give_them(monkeypatch, capsys):
    assert run(['ops'], '{"type":"track","event":"x"}', monkeypatch, capsys) == (
        2, '', 'Error: Missing api_key: pass --config kmgen.toml (with api_key = "..."), --settings FILE.json '
               'or --api-key.\n')


def test_bad_toml_is_reported(tmp_path, monkeypatch, capsys):
    path = tmp_path / 'kmgen.toml'
    path.write_text('api_key = \n')
    code, _, err = run(['ops', '--config', str(path)], '{}', monkeypatch, capsys)
    assert code == 2 and err.startswith('Error: %s is not valid TOML: ' % path) and err.count('\n') == 1


def test_the_installed_command_prints_no_traceback():
    proc = subprocess.run([sys.executable, '-m', 'kmgen', 'ops', '--api-key', API_KEY, '--engine', 'js'],
                          input='{"type":"screen"', capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith('Error: Invalid JSON in <stdin>') and 'Traceback' not in proc.stderr


def test_examples_give_byte_identical_output_from_both_engines():
    paths = sorted((ROOT / "examples" / "messages").glob("*.json"))
    assert len(paths) >= 7
    for path in paths:
        outputs = [subprocess.run([sys.executable, '-m', 'kmgen', 'ops', '--config', str(ROOT / 'examples' / 'shop.toml'),
                                   '--message', str(path), '--engine', engine],
                                  capture_output=True).stdout for engine in ('python', 'js')]
        assert outputs[0] == outputs[1] and outputs[0].startswith(b'[')


def test_an_unwritable_cache_is_one_clear_line(tmp_path):
    blocker = tmp_path / 'file'
    blocker.write_text('')
    proc = subprocess.run([sys.executable, '-m', 'kmgen', 'ops', '--api-key', API_KEY, '--engine', 'js'],
                          input='{"type":"track","event":"x"}', capture_output=True, text=True,
                          env={'PATH': '/usr/bin:/bin', 'KMGEN_CACHE_DIR': str(blocker / 'cache')}, cwd=ROOT)
    assert proc.returncode == 2 and proc.stdout == ''
    assert proc.stderr.startswith('Error: cannot write the rules bundle to %s/cache/rules-' % blocker)
    assert proc.stderr.endswith('set KMGEN_CACHE_DIR to a writable directory.\n')
