"""`kmgen send`, `explain` and `tapstream-alias` end to end, against the fake server.

What is proved: every event is acknowledged exactly once or is in the dead-letter file, under
each injected fault; replay delivers the rest; nothing is sent again after a 2xx; bad lines go
to the rejects file with their line numbers; gzip and batch inputs; dry-run output; Ctrl-C
loses nothing; exit codes and one-line errors."""

import collections
import gzip
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from kmgen import cli, config
from kmgen.cloud.requests import Builder
from tests.conftest import API_KEY, ROOT
from tests.fake_km import FakeKM, every, first_attempts, matching

QUICK = ['--workers', '1', '--retries', '3', '--backoff', '0.01', '--timeout', '2', '--no-progress']


def messages(n, start=0):
    """Distinct, valid messages of every kind (each one's requests are unique)."""
    out = []
    for i in range(start, start + n):
        kind = i % 5
        ts = '2024-05-01T12:%02d:%02dZ' % (i // 60 % 60, i % 60)
        if kind == 0:
            out.append({'type': 'track', 'event': 'Played', 'userId': 'u%d' % i, 'timestamp': ts,
                        'properties': {'n': i, 'name': 'Song é & ☕'}})
        elif kind == 1:
            out.append({'type': 'identify', 'userId': 'u%d' % i, 'anonymousId': 'a%d' % i, 'traits': {'n': i}})
        elif kind == 2:
            out.append({'type': 'page', 'anonymousId': 'a%d' % i, 'name': 'Docs', 'properties': {'n': i}})
        elif kind == 3:
            out.append({'type': 'track', 'event': 'Order Completed', 'userId': 'u%d' % i, 'timestamp': ts,
                        'properties': {'total': i, 'products': [{'sku': 'A'}, {'sku': 'B'}]}})
        else:
            out.append({'type': 'alias', 'userId': 'u%d' % i, 'previousId': 'a%d' % i})
    return out


def write_jsonl(path, items):
    path.write_text(''.join(json.dumps(m) + '\n' for m in items))
    return str(path)


def start_send(tmp_path, server, items, *options):
    """`kmgen send` as a child process against ``server``; returns (process, dead-letter path)."""
    toml = tmp_path / 'kmgen.toml'
    toml.write_text('api_key = "%s"\ntracking_host = "%s"\n' % (API_KEY, server.url))
    dead = str(tmp_path / 'dead.jsonl')
    proc = subprocess.Popen(
        [sys.executable, '-m', 'kmgen', 'send', write_jsonl(tmp_path / 'in.jsonl', items), '--config', str(toml),
         '--dead-letter', dead, '--no-progress'] + list(options), cwd=str(ROOT), stderr=subprocess.PIPE, text=True)
    return proc, dead


def expected_keys(server, items):
    builder = Builder(config.validate({'api_key': API_KEY, 'tracking_host': server.url}))
    keys = []
    for m in items:
        for r in builder.build(m):
            keys.append((r.method, r.url[len(server.url):], r.body or ''))
    return keys


def dead_keys(server, path):
    if not os.path.exists(path):
        return []
    records = [json.loads(line) for line in open(path, encoding='utf-8')]
    return [(r['method'], r['url'][len(server.url):], r['body'] or '') for r in records]


def assert_once_or_dead(server, expected, dead):
    """Acknowledged exactly once, or dead-lettered; never both; nothing resent after its 2xx."""
    acked = collections.Counter(server.keys())
    assert [k for k, c in acked.items() if c > 1] == []
    assert not set(acked) & set(dead)
    assert collections.Counter(list(acked.elements()) + dead) == collections.Counter(expected)
    ack_seq = dict((k, seq) for seq, k in server.acked)
    assert [r for r in server.received if r.key in ack_seq and r.seq > ack_seq[r.key]] == []


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)     # default output files land here, never in the repository


@pytest.fixture
def server():
    with FakeKM() as fake:
        yield fake


@pytest.fixture
def toml(tmp_path, server):
    path = tmp_path / 'kmgen.toml'
    path.write_text('api_key = "%s"\ntracking_host = "%s"\n' % (API_KEY, server.url))
    return str(path)


def kmgen(args, capsys):
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_send_delivers_every_event_exactly_once(server, toml, tmp_path, capsys):
    items = messages(400)
    path = write_jsonl(tmp_path / 'in.jsonl', items)
    dead = str(tmp_path / 'dead.jsonl')
    code, out, err = kmgen(['send', path, '--config', toml, '--dead-letter', dead, '--workers', '2',
                            '--no-progress'], capsys)
    assert (code, out) == (0, '')
    expected = expected_keys(server, items)
    assert collections.Counter(server.keys()) == collections.Counter(expected) and len(expected) == 720
    assert err.startswith('kmgen send: sent 400 events (720 requests), retried 0, failed 0, rejected 0 in ')
    assert err.count('\n') == 1 and not os.path.exists(dead)


FAULTS = [
    ('500 on the first two tries of 1 in 4', first_attempts(2, 500, share=4)),
    ('dropped mid-response on the first try of 1 in 3', first_attempts(1, 'drop', share=3)),
    ('reset on the first two tries of 1 in 5', first_attempts(2, 'reset', share=5)),
    ('no answer on the first try of 1 in 20', first_attempts(1, 'hang', share=20)),
]


@pytest.mark.parametrize('policy', [f[1] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_transient_faults_are_retried_and_every_event_arrives_once(server, toml, tmp_path, capsys, policy):
    server.policy = policy
    items = messages(150)
    dead = str(tmp_path / 'dead.jsonl')
    code, _, err = kmgen(['send', write_jsonl(tmp_path / 'in.jsonl', items), '--config', toml,
                          '--dead-letter', dead] + QUICK + ['--timeout', '0.3'], capsys)
    assert code == 0, err
    assert_once_or_dead(server, expected_keys(server, items), dead_keys(server, dead))
    assert 'failed 0' in err and ', retried 0,' not in err and not os.path.exists(dead)


def test_what_keeps_failing_lands_in_the_dead_letter_and_replay_delivers_it(server, toml, tmp_path, capsys):
    server.policy = matching('u7', 503)          # u7, u70..u79: always 503
    items = messages(100)
    dead = str(tmp_path / 'dead.jsonl')
    code, _, err = kmgen(['send', write_jsonl(tmp_path / 'in.jsonl', items), '--config', toml,
                          '--dead-letter', dead] + QUICK, capsys)
    expected = expected_keys(server, items)
    failing = [k for k in expected if 'u7' in k[1]]
    assert code == 1 and sorted(dead_keys(server, dead)) == sorted(failing) and len(failing) == 14
    assert_once_or_dead(server, expected, dead_keys(server, dead))
    record = json.loads(open(dead).readline())
    assert (record['status'], record['attempts'], record['error']) == (503, 4, 'HTTP 503 (after 4 attempts)')
    assert record['source'].endswith('in.jsonl') and isinstance(record['line'], int)
    assert 'failed 8,' in err and '14 failed requests written to %s' % dead in err

    server.policy = None
    code, _, err = kmgen(['send', '--replay', dead] + QUICK, capsys)
    assert code == 0, err
    assert collections.Counter(server.keys()) == collections.Counter(expected)
    assert open(dead).read() == '', 'the replayed file now holds what still fails: nothing'
    assert err.startswith('kmgen send: sent 14 records (14 requests), retried 0, failed 0, rejected 0')


def test_replay_that_fails_again_keeps_exactly_those(server, toml, tmp_path, capsys):
    server.policy = matching('u1', 500)
    items = messages(30)
    dead = str(tmp_path / 'dead.jsonl')
    kmgen(['send', write_jsonl(tmp_path / 'in.jsonl', items), '--config', toml, '--dead-letter', dead] + QUICK,
          capsys)
    first = dead_keys(server, dead)
    server.policy = matching('u10', 500)
    code, _, _ = kmgen(['send', '--replay', dead] + QUICK, capsys)
    assert code == 1 and sorted(dead_keys(server, dead)) == sorted(k for k in first if 'u10' in k[1])
    server.policy = None
    assert kmgen(['send', '--replay', dead] + QUICK, capsys)[0] == 0
    assert collections.Counter(server.keys()) == collections.Counter(expected_keys(server, items))


def test_4xx_is_dead_lettered_at_once_with_its_status(server, toml, tmp_path, capsys):
    server.policy = matching('_p=u0&', 400)
    items = messages(10)
    dead = str(tmp_path / 'dead.jsonl')
    code, _, _ = kmgen(['send', write_jsonl(tmp_path / 'in.jsonl', items), '--config', toml,
                        '--dead-letter', dead] + QUICK, capsys)
    [record] = [json.loads(line) for line in open(dead)]
    assert code == 1 and (record['status'], record['attempts'], record['error']) == (400, 1, 'HTTP 400')
    assert [r.target for r in server.received].count(record['url'][len(server.url):]) == 1


def test_refused_connections_end_in_the_dead_letter_then_replay(server, toml, tmp_path, capsys):
    server.refuse()
    items = messages(20)
    dead = str(tmp_path / 'dead.jsonl')
    code, _, err = kmgen(['send', write_jsonl(tmp_path / 'in.jsonl', items), '--config', toml,
                          '--dead-letter', dead] + QUICK, capsys)
    expected = expected_keys(server, items)
    assert code == 1 and sorted(dead_keys(server, dead)) == sorted(expected)
    assert 'connection refused (after 4 attempts)' in open(dead).readline()
    server.accept()
    assert kmgen(['send', '--replay', dead] + QUICK, capsys)[0] == 0
    assert collections.Counter(server.keys()) == collections.Counter(expected)


def test_the_dead_letter_is_appended_to_never_overwritten(server, toml, tmp_path, capsys):
    dead = tmp_path / 'dead.jsonl'
    dead.write_text('{"earlier": "failure"}\n')
    server.policy = matching('u1&', 500)
    kmgen(['send', write_jsonl(tmp_path / 'in.jsonl', messages(3)), '--config', toml, '--dead-letter', str(dead)]
          + QUICK, capsys)
    lines = dead.read_text().splitlines()
    assert lines[0] == '{"earlier": "failure"}' and len(lines) == 2 and '"_p=u1&' not in lines[1]


def test_bad_lines_go_to_rejects_with_line_numbers_and_the_rest_go_on(server, toml, tmp_path, capsys):
    good = messages(3)
    path = tmp_path / 'in.jsonl'
    path.write_bytes(b'\n'.join([
        json.dumps(good[0]).encode(),
        b'{"type": "track", "event": "x", "userId": "u"',
        b'',
        b'{"type": "trak", "event": "x", "userId": "u"}',
        json.dumps(good[1]).encode(),
        b'{"type": "track", "event": "x", "userId": "\xff"}',
        b'{"type": "track", "event": "x"}',
        b'[1, ' + json.dumps(good[2]).encode() + b']',
    ]) + b'\n')
    code, _, err = kmgen(['send', str(path), '--config', toml, '--dead-letter', str(tmp_path / 'd.jsonl')] + QUICK,
                         capsys)
    rejects = [json.loads(line) for line in open(str(path) + '.rejects.jsonl')]
    src = str(path)
    assert rejects == [
        {'source': src, 'line': 2, 'error': "Invalid JSON in %s:2: Expecting ',' delimiter: line 1 column 46 "
                                            "(char 45)." % src, 'raw': '{"type": "track", "event": "x", "userId": "u"'},
        {'source': src, 'line': 4, 'error': "Unknown message type 'trak' in %s:4. Did you mean 'track'? Use one "
                                            "of identify, track, page, screen, group, alias." % src,
         'raw': '{"type": "trak", "event": "x", "userId": "u"}'},
        {'source': src, 'line': 6, 'error': "Invalid UTF-8 in %s:6: 'utf-8' codec can't decode byte 0xff in "
                                            "position 43: invalid start byte." % src,
         'raw': '{"type": "track", "event": "x", "userId": "\ufffd"}'},
        {'source': src, 'line': 7, 'error': '%s:7 has neither "userId" nor "anonymousId": the Kissmetrics API '
                                            'needs an identity (_p), so add one of them.' % src,
         'raw': '{"type": "track", "event": "x"}'},
        {'source': src, 'line': 8, 'item': 0, 'error': '%s:8 item 0 must be a JSON object (one message), got a '
                                                        'number.' % src, 'raw': '1'},
    ]
    assert code == 1 and collections.Counter(server.keys()) == collections.Counter(expected_keys(server, good))
    lines = err.splitlines()
    assert lines[:5] == ['kmgen send: rejected ' + r['error'] for r in rejects]
    assert lines[5].startswith('kmgen send: sent 3 events (5 requests), retried 0, failed 0, rejected 5 in ')
    assert lines[6:] == ['kmgen send: 5 rejected lines written to %s.rejects.jsonl' % src]


def test_gzip_batch_and_array_inputs(server, toml, tmp_path, capsys):
    items = messages(8)
    gz = tmp_path / 'a.jsonl.gz'
    with gzip.open(gz, 'wt') as handle:
        handle.write(''.join(json.dumps(m) + '\n' for m in items[:2]))
    pretty = tmp_path / 'batch.json'
    pretty.write_text(json.dumps({'batch': items[2:4], 'context': {'library': 'x'}}, indent=2))
    one_line = tmp_path / 'b.jsonl'
    one_line.write_text(json.dumps({'batch': items[4:6]}) + '\n' + json.dumps(items[6:8]) + '\n')
    noext = tmp_path / 'gz-without-extension'
    noext.write_bytes(gzip.compress(json.dumps(items[0]).encode()))
    code, out, err = kmgen(['send', str(gz), str(pretty), str(one_line), str(noext), '--config', toml,
                            '--dry-run'], capsys)
    builder = Builder(config.validate({'api_key': API_KEY, 'tracking_host': server.url}))
    assert code == 0 and out == ''.join(r.line() + '\n' for m in items + items[:1] for r in builder.build(m))
    assert err.startswith('kmgen send: would send 9 events (') and server.received == []
    code, _, _ = kmgen(['send', str(gz), str(pretty), '--config', toml, '--dead-letter', str(tmp_path / 'd')]
                       + QUICK, capsys)
    assert code == 0 and collections.Counter(server.keys()) == collections.Counter(expected_keys(server, items[:4]))


def test_dry_run_prints_method_url_and_body(toml, tmp_path, capsys):
    path = write_jsonl(tmp_path / 'in.jsonl', [
        {'type': 'track', 'event': 'E', 'userId': 'u', 'properties': {'a': 'b c'}},
        {'type': 'identify', 'userId': 'u', 'anonymousId': 'x', 'traits': {'long': 'y' * 2000}}])
    code, out, err = kmgen(['send', path, '--api-key', API_KEY, '--dry-run'], capsys)
    k = 'https://trk.kissmetrics.io'
    assert code == 0 and out == (
        'GET %s/e?_k=%s&_p=u&_n=E&E%%20-%%20a=b%%20c\n' % (k, API_KEY)
        + 'GET %s/a?_k=%s&_p=x&_n=u\n' % (k, API_KEY)
        + 'POST %s/s _k=%s&_p=u&id=u&long=%s\n' % (k, API_KEY, 'y' * 2000))
    assert err.startswith('kmgen send: would send 2 events (3 requests), retried 0, failed 0, rejected 0 in ')


def test_stdin_is_read_with_a_dash(toml, monkeypatch, capsys):
    import io
    data = json.dumps({'type': 'track', 'event': 'E', 'userId': 'u'}) + '\n'
    monkeypatch.setattr(sys, 'stdin', io.TextIOWrapper(io.BytesIO(data.encode())))
    code, out, _ = kmgen(['send', '-', '--api-key', API_KEY, '--dry-run'], capsys)
    assert code == 0 and out == 'GET https://trk.kissmetrics.io/e?_k=%s&_p=u&_n=E\n' % API_KEY


def test_ctrl_c_stops_cleanly_and_loses_nothing(tmp_path):
    """SIGINT mid-run against a slow server: every event is acknowledged once or dead-lettered
    (unsent or with its last error), none both; some are waiting to retry when it comes."""
    with FakeKM(delay=0.1, policy=matching('u3', 500)) as slow:
        items = messages(400)
        proc, dead = start_send(tmp_path, slow, items, '--workers', '2', '--connections', '2', '--pipeline', '4',
                                '--backoff', '30')
        deadline = time.monotonic() + 30
        while len(slow.acked) < 40 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
        expected = expected_keys(slow, items)
        dead_records = [json.loads(line) for line in open(dead)]
        assert proc.returncode == 1, err
        assert_once_or_dead(slow, expected, dead_keys(slow, dead))
        assert 40 <= len(slow.acked) < len(expected) - 100
        errors = {r['error'].split(' (')[0] for r in dead_records}
        assert {'interrupted before it was sent', 'interrupted while waiting to retry'} <= errors
        assert errors <= {'interrupted before it was sent', 'interrupted while waiting to retry', 'HTTP 500'}
        assert not any(r.get('maybe_delivered') for r in dead_records)
        assert err.startswith('\nInterrupted: stopping; requests in flight get 5s to be answered, everything '
                              'unsent goes to %s.\n' % dead)
        assert 'failed requests written to %s; resend them with `kmgen send --replay %s`' % (dead, dead) in err
        slow.policy = None
        slow.delay = 0
        code = subprocess.run([sys.executable, '-m', 'kmgen', 'send', '--replay', dead, '--no-progress'],
                              cwd=str(ROOT), capture_output=True).returncode
        assert code == 0 and collections.Counter(slow.keys()) == collections.Counter(expected)


# -- usage errors: one line, exit 2 ---------------------------------------------------------

@pytest.mark.parametrize('args, message', [
    (['send', '--api-key', API_KEY], 'Error: No input: pass FILE... (JSONL, gzip or batch files; - for stdin) or '
                                     '--replay kmgen-dead-letter.jsonl.'),
    (['send', 'missing.jsonl', '--api-key', API_KEY], 'Error: Cannot read missing.jsonl: no such file.'),
    (['send', 'x.jsonl', '--replay', 'd.jsonl'], 'Error: Pass input files or --replay DEAD_LETTER, not both.'),
    (['send', 'x.jsonl'], 'Error: Missing api_key: pass --config kmgen.toml (with api_key = "..."), '
                          '--settings FILE.json or --api-key.'),
    (['send', 'missing.jsonl', '--replay', 'x'], 'Error: Pass input files or --replay DEAD_LETTER, not both.'),
    (['send', '--replay', 'missing.jsonl'], 'Error: Cannot read missing.jsonl: no such file.'),
    (['explain', '{"type": "track"}', '--api-key', API_KEY],
     'Error: track message in <argument> has no "event": add "event": "<what happened>".'),
    (['tapstream-alias', '--km-identity', ' ', '--identity', 'u', '--api-key', API_KEY],
     'Error: --km-identity must not be empty: pass the identity to alias.'),
])
def test_usage_errors_are_one_line_and_exit_2(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert kmgen(args, capsys) == (2, '', message + '\n')


def test_the_dead_letter_cannot_be_an_input(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'kmgen-dead-letter.jsonl').write_text('')
    assert kmgen(['send', 'kmgen-dead-letter.jsonl', '--api-key', API_KEY], capsys) == (
        2, '', 'Error: The dead-letter file kmgen-dead-letter.jsonl is also an input: to resend it use '
               '`kmgen send --replay kmgen-dead-letter.jsonl`.\n')


def test_bad_option_values_are_usage_errors(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(['send', 'x', '--retries', '-1'])
    assert exit_info.value.code == 2 and "argument --retries: '-1' must not be negative" in capsys.readouterr().err


def test_a_corrupt_gzip_is_an_error_after_what_was_read(toml, tmp_path, capsys):
    path = tmp_path / 'bad.gz'
    path.write_bytes(gzip.compress(b'{"type":"track","event":"E","userId":"u"}\n' * 3)[:-12])
    code, out, err = kmgen(['send', str(path), '--config', toml, '--dry-run'], capsys)
    assert code == 2 and err.startswith('Error: Cannot read %s: ' % path) and err.count('\n') == 1


def test_replay_rejects_lines_that_are_not_dead_letter_records(server, tmp_path, capsys):
    dead = tmp_path / 'dead.jsonl'
    good = {'method': 'GET', 'url': server.url + '/e?_k=k&_p=u&_n=E', 'body': None, 'error': 'x'}
    dead.write_text(json.dumps(good) + '\n{"method": "PUT"}\n')
    code, _, err = kmgen(['send', '--replay', str(dead)] + QUICK, capsys)
    rejects = [json.loads(line) for line in open(str(dead) + '.rejects.jsonl')]
    assert code == 1 and server.keys() == [('GET', '/e?_k=k&_p=u&_n=E', '')]
    assert rejects == [{'source': str(dead), 'line': 2, 'raw': '{"method": "PUT"}', 'error':
                        '%s:2 is not a dead-letter record: it needs "method" (GET or POST), "url" and "body" (null '
                        'for GET), as kmgen send writes them.' % dead}]


# -- explain and tapstream-alias ----------------------------------------------------------------

def test_explain_shows_ops_pushes_and_requests(capsys):
    call = {'type': 'identify', 'userId': 'u1', 'anonymousId': 'a1', 'timestamp': '2024-05-01T12:00:00Z',
            'traits': {'plan': 'pro'}}
    code, out, err = kmgen(['explain', json.dumps(call), '--api-key', API_KEY], capsys)
    k = 'https://trk.kissmetrics.io'
    assert (code, err) == (0, '')
    assert out == (
        'ops (the rules, shared by both modes):\n'
        '  ["identify","u1"]\n'
        '  ["set",{"id":"u1","plan":"pro"}]\n'
        '\n'
        'device (pushed onto _kmq in the browser; the Kissmetrics library adds the identity):\n'
        '  _kmq.push(["identify","u1"]);\n'
        '  _kmq.push(["set",{"id":"u1","plan":"pro"}]);\n'
        '\n'
        "cloud (HTTP requests, _p = 'u1'):\n"
        '  GET %s/a?_k=%s&_p=a1&_n=u1&_t=1714564800&_d=1\n'
        '  GET %s/s?_k=%s&_p=u1&_t=1714564800&_d=1&id=u1&plan=pro\n' % (k, API_KEY, k, API_KEY))


def test_explain_warns_about_long_names_and_missing_identity(tmp_path, capsys):
    path = tmp_path / 'm.json'
    path.write_text(json.dumps({'type': 'track', 'event': 'E' * 256, 'properties': {'p' * 300: 1, 'q': 2}}))
    code, out, err = kmgen(['explain', '--message', str(path), '--api-key', API_KEY], capsys)
    assert code == 0 and out.endswith("cloud (HTTP requests, _p = none):\n"
                                      "  (none: the message has neither userId nor anonymousId)\n")
    assert err.splitlines() == [
        'Warning: message has neither "userId" nor "anonymousId": the Kissmetrics API needs an identity (_p), so '
        'add one of them. No cloud requests.',
        "Warning: event name '%s...' is 256 characters long; Kissmetrics may cut names longer than 255." % ('E' * 40),
        "Warning: property name '%s...' is 559 characters long; Kissmetrics may cut names longer than 255."
        % ('E' * 40),
        "Warning: property name '%s...' is 260 characters long; Kissmetrics may cut names longer than 255."
        % ('E' * 40)]


def test_tapstream_alias_prints_and_sends(server, toml, capsys):
    code, out, err = kmgen(['tapstream-alias', '--km-identity', 'ts 1', '--identity', 'u@x.io', '--config', toml],
                           capsys)
    assert (code, out, err) == (0, '%s/a?_k=%s&_p=ts%%201&_n=u%%40x.io\n' % (server.url, API_KEY), '')
    assert server.received == []
    code, out, err = kmgen(['tapstream-alias', '--km-identity', 'ts 1', '--identity', 'u@x.io', '--config', toml,
                            '--send'], capsys)
    assert (code, err) == (0, 'Delivered.\n') and server.keys() == [
        ('GET', '/a?_k=%s&_p=ts%%201&_n=u%%40x.io' % API_KEY, '')]
    server.policy = every(1, 404)
    code, out, err = kmgen(['tapstream-alias', '--km-identity', 'a', '--identity', 'b', '--config', toml, '--send'],
                           capsys)
    assert (code, err) == (1, 'Error: The alias was not delivered: HTTP 404.\n')


def test_a_dry_run_replay_prints_and_rewrites_nothing(server, tmp_path, capsys):
    dead = tmp_path / 'dead.jsonl'
    text = json.dumps({'method': 'POST', 'url': server.url + '/s', 'body': '_k=k&_p=u&a=1', 'error': 'x'}) + '\n'
    dead.write_text(text)
    code, out, _ = kmgen(['send', '--replay', str(dead), '--dry-run'], capsys)
    assert (code, out) == (0, 'POST %s/s _k=k&_p=u&a=1\n' % server.url)
    assert dead.read_text() == text and server.received == []


def test_progress_is_drawn_on_request_and_cleared_before_the_summary(server, toml, tmp_path, capsys):
    path = write_jsonl(tmp_path / 'in.jsonl', messages(50))
    code, _, err = kmgen(['send', path, '--config', toml, '--progress', '--workers', '1'], capsys)
    assert code == 0 and '\r[########################] 100% 50 events sent, 0 failed, 0 rejected, ' in err
    assert '\r\x1b[Kkmgen send: sent 50 events (90 requests)' in err


def worker_pids(pid):
    with open('/proc/%d/task/%d/children' % (pid, pid)) as handle:
        children = [int(p) for p in handle.read().split()]
    workers = []
    for child in children:
        with open('/proc/%d/cmdline' % child, 'rb') as handle:
            if b'spawn_main' in handle.read():      # not multiprocessing's resource tracker
                workers.append(child)
    return workers


def test_a_worker_that_dies_is_reported_and_its_events_named(tmp_path):
    """A worker killed mid-run: the run goes on with the others, says which input lines may not
    have been delivered, and exits 1; every other event is acknowledged or dead-lettered."""
    with FakeKM(delay=0.05) as slow:
        items = messages(500)
        proc, dead = start_send(tmp_path, slow, items, '--workers', '2', '--connections', '2', '--pipeline', '4')
        try:
            deadline = time.monotonic() + 30
            while len(slow.acked) < 20 and time.monotonic() < deadline:
                time.sleep(0.02)
            os.kill(worker_pids(proc.pid)[0], signal.SIGKILL)
            _, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
        assert proc.returncode == 1
        lines = err.splitlines()
        assert lines[0] == 'kmgen send: a worker process ended unexpectedly (exit code -9).'
        ranges = [tuple(map(int, line.split('lines ')[1].split(' of')[0].split('-'))) for line in lines
                  if 'may not have been delivered' in line]
        assert ranges
        builder = Builder(config.validate({'api_key': API_KEY, 'tracking_host': slow.url}))
        unaccounted = [(r.method, r.url[len(slow.url):], r.body or '') for number, m in enumerate(items, 1)
                       for r in builder.build(m) if not any(a <= number <= b for a, b in ranges)]
        acked = collections.Counter(slow.keys())
        assert [k for k, c in acked.items() if c > 1] == []
        assert set(unaccounted) <= set(acked) | set(dead_keys(slow, dead))


def test_ctrl_c_after_the_grace_marks_unanswered_requests_as_maybe_delivered(tmp_path):
    with FakeKM(policy=matching('_p=u5&', 'hang')) as server:
        items = messages(20)
        proc, dead = start_send(tmp_path, server, items, '--workers', '1', '--connections', '1', '--pipeline', '4',
                                '--grace', '0.2', '--timeout', '60')
        try:
            deadline = time.monotonic() + 30
            while not any('_p=u5&' in r.target for r in server.received) and time.monotonic() < deadline:
                time.sleep(0.02)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
        records = [json.loads(line) for line in open(dead)]
        maybe = [r for r in records if r.get('maybe_delivered')]
        assert proc.returncode == 1 and maybe
        assert [r for r in maybe if '_p=u5&' in r['url']], 'the request the server sat on'
        assert {r['error'] for r in maybe} == {'interrupted: sent, but no answer before the connection was closed '
                                               '(it may have been delivered)'}
        assert_once_or_dead(server, expected_keys(server, items), dead_keys(server, dead))
        assert '(%d of them may have been delivered: sent, but unanswered when interrupted)' % len(maybe) in err
