"""Site rules and the subset everywhere (docs/site-rules.md): every command refuses rules
outside the transpiled subset with every problem listed; the store example's vectors give the
same ops in CPython and in Node; a failing site rule drops only its call, with a warning."""

import json
import os
import shutil
import subprocess
import sys
import tomllib

import pytest

from kmgen import config, ruleset
from kmgen.config import SCHEMA
from kmgen.device import engine
from kmgen.device.build import FILES, build
from kmgen.canonical import canonical
from tests.conftest import API_KEY, ROOT

STORE = ROOT / 'examples' / 'store.toml'
STORE_CASES = json.loads((ROOT / 'tests' / 'site_vectors' / 'store.json').read_text(encoding='utf-8'))
MESSAGE = {'type': 'track', 'event': 'Signed Up', 'userId': 'u-1', 'properties': {'coupon': 'SPRING'}}
COMMANDS = {
    'ops': ['ops'],
    'ops --engine js': ['ops', '--engine', 'js'],
    'explain': ['explain', json.dumps(MESSAGE)],
    'send --dry-run': ['send', 'messages.jsonl', '--dry-run'],
    'send': ['send', 'messages.jsonl', '--retries', '0', '--no-progress'],
    'build': ['build'],
    'parity': ['parity', '--generated', '6'],
}
SUBSET_HEAD = 'Error: the rules leave the transpiled subset (%d problems); kmgen runs no rules until every one is fixed:\n'


def kmgen(args, cwd, env=None, stdin=None):
    return subprocess.run([sys.executable, '-m', 'kmgen'] + args, cwd=cwd, capture_output=True, text=True,
                          input=stdin if stdin is not None else json.dumps(MESSAGE), env=env, timeout=120)


def site_dir(tmp_path, rules=None):
    lines = ['api_key = "%s"' % API_KEY, 'tracking_host = "http://127.0.0.1:9"']
    if rules is not None:
        (tmp_path / 'shop_rules.py').write_text(rules, encoding='utf-8')
        lines.append('rules = "shop_rules.py"')
    (tmp_path / 'kmgen.toml').write_text('\n'.join(lines) + '\n', encoding='utf-8')
    (tmp_path / 'messages.jsonl').write_text(json.dumps(MESSAGE) + '\n', encoding='utf-8')
    return tmp_path


@pytest.fixture(scope='module')
def edited_kmgen(tmp_path_factory):
    """A copy of kmgen whose rules/mapping.py reads props.get('coupon') and builds an f-string:
    (PYTHONPATH environment, the two expected problem lines)."""
    root = tmp_path_factory.mktemp('kmgen-copy')
    shutil.copytree(ROOT / 'generator', root / 'generator', ignore=shutil.ignore_patterns('__pycache__'))
    for name in ('js_runtime', 'templates', 'tests', 'node_modules', 'package.json', 'package-lock.json',
                 'pyproject.toml'):
        (root / name).symlink_to(ROOT / name)
    mapping = root / 'generator' / 'kmgen' / 'rules' / 'mapping.py'
    lines = mapping.read_text(encoding='utf-8').split('\n')
    at = lines.index('    props = clean(raw, key_prefix, settings)') + 1
    lines[at:at] = ["    coupon = props.get('coupon')", "    props['coupon'] = f'{coupon}'"]
    mapping.write_text('\n'.join(lines), encoding='utf-8')
    problems = [
        'rules/mapping.py:%d: the method call `.get()` is outside the transpiled subset; write field(d, key, '
        'default) instead' % (at + 1),
        "rules/mapping.py:%d: an f-string is outside the transpiled subset; write '+' concatenation and "
        'to_str(x) instead' % (at + 2)]
    env = dict(os.environ, PYTHONPATH=str(root / 'generator'), KMGEN_CACHE_DIR=str(root / 'cache'))
    return env, problems


@pytest.mark.parametrize('command', COMMANDS)
def test_an_edit_to_kmgens_rules_outside_the_subset_is_refused_by_every_command(command, edited_kmgen, tmp_path):
    env, problems = edited_kmgen
    proc = kmgen(COMMANDS[command], site_dir(tmp_path), env)
    assert (proc.returncode, proc.stdout) == (2, '')
    assert proc.stderr == SUBSET_HEAD % 2 + ''.join('  %s\n' % p for p in problems)
    assert not (tmp_path / 'dist').exists()


BAD_SITE_RULES = '''import re
from kmgen.rules.portable import field, nonesuch


def before(call, settings):
    coupon = field(call, 'properties', {}).get('coupon')
    call['event'] = f'{coupon}'
    return call


def after(call, settings):
    return []
'''
BAD_SITE_PROBLEMS = [
    "shop_rules.py:1: 'import' is outside the transpiled subset; write from kmgen.rules.portable import field, "
    '... (or from kmgen.rules.values import clean, ...) instead',
    'shop_rules.py:2: the name `nonesuch` from kmgen.rules.portable is outside the transpiled subset; write a '
    'helper kmgen.rules.portable defines (docs/site-rules.md, "Helpers") instead',
    'shop_rules.py:6: the method call `.get()` is outside the transpiled subset; write field(d, key, default) '
    'instead',
    "shop_rules.py:7: an f-string is outside the transpiled subset; write '+' concatenation and to_str(x) instead",
    'shop_rules.py:11: def after(call, settings) is outside the transpiled subset; write def after(call, ops, '
    'settings) instead',
]


@pytest.mark.parametrize('command', COMMANDS)
def test_site_rules_outside_the_subset_are_refused_by_every_command(command, tmp_path):
    proc = kmgen(COMMANDS[command], site_dir(tmp_path, BAD_SITE_RULES),
                 dict(os.environ, KMGEN_CACHE_DIR=str(tmp_path / 'cache')))
    assert (proc.returncode, proc.stdout) == (2, '')
    assert proc.stderr == SUBSET_HEAD % 5 + ''.join('  %s\n' % p for p in BAD_SITE_PROBLEMS)


@pytest.fixture(scope='module')
def store():
    settings = config.load(STORE)
    return config.rule_settings(settings), ruleset.load(settings)


@pytest.mark.parametrize('case', STORE_CASES, ids=[c['name'] for c in STORE_CASES])
def test_store_site_rules_in_cpython(case, store):
    rules, site = store
    assert canonical(site.map(case['call'], rules)) == canonical(case['ops'])


def test_store_site_rules_in_node(store):
    rules, site = store
    lines = engine.run([{'call': c['call'], 'settings': rules} for c in STORE_CASES], ruleset=site)
    assert [canonical(json.loads(line)) for line in lines] == [canonical(c['ops']) for c in STORE_CASES]


FAILING_RULES = '''from kmgen.rules.portable import field


def before(call, settings):
    if field(call, 'event', '') == 'Boom':
        return explode(call)
    if field(call, 'event', '') == 'Odd':
        return 'odd'
    return call


def after(call, ops, settings):
    if field(call, 'event', '') == 'Bad Ops':
        return [['record', 'x']]
    return ops
'''
FAILURES = {
    'Boom': ("site rules: before() failed on track(\"Boom\") (NameError: name 'explode' is not defined); "
             'the call was dropped.',
             'site rules: before() failed on track("Boom") (ReferenceError: explode is not defined); '
             'the call was dropped.'),
    'Odd': ('site rules: before() returned a string, not a call or None, on track("Odd"); the call was dropped.',) * 2,
    'Bad Ops': ('site rules: after() returned op #0 ["record","x"], not ["identify", id], ["set", props], '
                '["record", name, props] or ["alias", to, from] on track("Bad Ops"); the call was dropped.',) * 2,
}


@pytest.mark.parametrize('event', FAILURES)
@pytest.mark.parametrize('engine_name', ['python', 'js'])
def test_a_failing_site_rule_drops_its_call_with_a_warning(event, engine_name, tmp_path):
    cwd = site_dir(tmp_path, FAILING_RULES)
    env = dict(os.environ, KMGEN_CACHE_DIR=str(tmp_path / 'cache'))
    proc = kmgen(['ops', '--engine', engine_name], cwd, env, json.dumps({'type': 'track', 'event': event}))
    warning = FAILURES[event][engine_name == 'js']
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, '[]\n', 'Warning: %s\n' % warning)
    proc = kmgen(['ops', '--engine', engine_name], cwd, env, json.dumps({'type': 'track', 'event': 'Fine'}))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, '[["record","Fine",{}]]\n', '')


def test_send_rejects_the_calls_a_site_rule_failed_on_and_sends_the_rest(tmp_path):
    cwd = site_dir(tmp_path, FAILING_RULES)
    events = ['Boom', 'Fine', 'Bad Ops']
    (cwd / 'messages.jsonl').write_text(''.join(
        json.dumps({'type': 'track', 'event': e, 'userId': 'u'}) + '\n' for e in events), encoding='utf-8')
    proc = kmgen(['send', 'messages.jsonl', '--dry-run'], cwd, dict(os.environ, KMGEN_CACHE_DIR=str(tmp_path / 'c')))
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == 'GET http://127.0.0.1:9/e?_k=%s&_p=u&_n=Fine\n' % API_KEY
    assert not (cwd / 'messages.jsonl.rejects.jsonl').exists(), 'a dry run writes nothing; it prints the rejects'
    assert [line for line in proc.stderr.splitlines() if line.startswith('kmgen send: rejected ')] == [
        'kmgen send: rejected ' + FAILURES['Boom'][0], 'kmgen send: rejected ' + FAILURES['Bad Ops'][0]]


def test_explain_shows_the_builtin_ops_beside_the_sites(tmp_path):
    call = {'type': 'identify', 'userId': 'u1', 'traits': {'email': 'ada@example.test', 'ssn': '1'}}
    proc = kmgen(['explain', json.dumps(call), '--config', 'examples/store.toml'], ROOT)
    k = 'https://trk.kissmetrics.io'
    key = 'fedcba9876543210fedcba9876543210fedcba98'
    assert (proc.returncode, proc.stderr) == (0, '')
    assert proc.stdout == (
        "ops (kmgen's built-in rules):\n"
        '  ["identify","u1"]\n'
        '  ["set",{"email":"ada@example.test","ssn":"1","id":"u1"}]\n'
        '\n'
        'ops (with the site rules of examples/store_rules.py, shared by both modes):\n'
        '  ["identify","u1"]\n'
        '  ["set",{"email":"***@example.test","id":"u1"}]\n'
        '\n'
        'device (pushed onto _kmq in the browser; the Kissmetrics library adds the identity):\n'
        '  _kmq.push(["identify","u1"]);\n'
        '  _kmq.push(["set",{"email":"***@example.test","id":"u1"}]);\n'
        '\n'
        "cloud (HTTP requests, _p = 'u1'):\n"
        '  GET %s/s?_k=%s&_p=u1&email=%%2A%%2A%%2A%%40example.test&id=u1\n' % (k, key))


def test_the_site_rules_are_in_the_sites_build_only_and_unnamed(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    files = build('examples/store.toml', tmp_path / 'store')[1]
    shop = build('examples/shop.toml', tmp_path / 'shop')[1]
    for name in ('kmgen.js', 'plugin.js'):
        assert b'***@' in files[name] and b'***@' not in shop[name]
    for body in files.values():
        assert b'store_rules' not in body and b'store.toml' not in body


def test_init_writes_every_setting_and_a_build_needs_only_the_key(tmp_path):
    target = tmp_path / 'my shop!'
    proc = kmgen(['init', str(target)], tmp_path, stdin='')
    assert (proc.returncode, proc.stderr) == (0, '')
    assert proc.stdout == ('Wrote %s/kmgen.toml\nWrote %s/site_rules.py\n'
                           'Next: set api_key in kmgen.toml, then run `cd %s && kmgen build`.\n'
                           % (target, target, target))
    text = (target / 'kmgen.toml').read_text(encoding='utf-8')
    assert tomllib.loads(text) == {'api_key': '', 'site': 'my-shop', 'rules': 'site_rules.py'}
    uncommented = tomllib.loads('\n'.join(line[2:] if line.startswith('# ') and ' = ' in line and '...' not in line
                                          else '' for line in text.splitlines()))
    for name, (_, default, _, _) in SCHEMA.items():
        assert ('\n# %s (' % name) in text
        if default is not None and name != 'api_key':
            assert uncommented[name] == default
    again = kmgen(['init', str(target)], tmp_path, stdin='')
    assert (again.returncode, again.stdout, again.stderr) == (
        2, '', 'Error: %s/kmgen.toml exists; kmgen init leaves it alone: pass --force to overwrite it.\n' % target)
    (target / 'kmgen.toml').write_text(text.replace('api_key = ""', 'api_key = "%s"' % API_KEY), encoding='utf-8')
    proc = kmgen(['build'], target, stdin='')
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (target / 'dist' / 'my-shop').iterdir()) == sorted(FILES)
    shutil.copyfile(target / 'kmgen.toml', target / 'renamed.toml')
    proc = kmgen(['build', '--config', 'renamed.toml', '--out', 'other'], target, stdin='')
    assert proc.returncode == 0, proc.stderr
    for name in FILES:
        assert (target / 'other' / name).read_bytes() == (target / 'dist' / 'my-shop' / name).read_bytes()


EQUALITY_RULES = '''from kmgen.rules.portable import field


def after(call, ops, settings):
    code = field(call, 'code', None)
    if code == 0 or code == 'yes' or code == True:
        return []
    if code != 1:
        return ops
    return [['set', {'one': 'true'}]]
'''


def test_equality_in_rules_is_pythons_in_the_browser_too(tmp_path):
    # Transcrypt writes == as JavaScript's loose one: '' == 0, '0' == 0, [] == 0, '1' == 1,
    # [1] == 1, ['yes'] == 'yes'; JavaScript's === would say True != 1, False != 0, [1] != [1].
    # Python says otherwise on each, and the build must make the browser agree.
    cwd = site_dir(tmp_path, EQUALITY_RULES)
    settings = config.load(cwd / 'kmgen.toml')
    rules, site = config.rule_settings(settings), ruleset.load(settings)
    codes = [0, 1, True, 'yes', '', '0', ' ', '1', '1.0', [], [0], [1], ['yes'], False, None, {}, 0.0, 1.0,
             '\t1\n', {'a': [1]}, [True], [[0]]]
    calls = [{'type': 'track', 'event': 'E', 'code': code} for code in codes]
    expected = [canonical(site.map(call, rules)) for call in calls]
    lines = engine.run([{'call': call, 'settings': rules} for call in calls], ruleset=site)
    assert [canonical(json.loads(line)) for line in lines] == expected
    # CPython's own == decided: 0, False and 0.0 (== 0), 1, True and 1.0 (== True) and 'yes' drop.
    assert [c for c, e in zip(codes, expected) if e == '[]'] == [0, 1, True, 'yes', False, 0.0, 1.0]


LIST_EQUALITY_RULES = '''from kmgen.rules.portable import field


def after(call, ops, settings):
    if field(call, 'code', None) == [1, {'a': True}]:
        return []
    return ops
'''


def test_containers_compare_by_value_in_the_browser_as_in_cpython(tmp_path):
    cwd = site_dir(tmp_path, LIST_EQUALITY_RULES)
    settings = config.load(cwd / 'kmgen.toml')
    rules, site = config.rule_settings(settings), ruleset.load(settings)
    codes = [[1, {'a': True}], [True, {'a': 1}], [1.0, {'a': 1.0}], [1, {'a': True, 'b': 1}], [1], [1, {}],
             [1, {'b': True}], [[1], {'a': True}], '1,[object Object]']
    calls = [{'type': 'track', 'event': 'E', 'code': code} for code in codes]
    expected = [canonical(site.map(call, rules)) for call in calls]
    lines = engine.run([{'call': call, 'settings': rules} for call in calls], ruleset=site)
    assert [canonical(json.loads(line)) for line in lines] == expected
    assert [e == '[]' for e in expected] == [True] * 3 + [False] * 6
