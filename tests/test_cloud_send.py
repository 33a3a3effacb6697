"""`kmgen send`, `explain` and `tapstream-alias` end to end, against the fake server.

What is proved: every event is acknowledged exactly once or is in the dead-letter file, under
each injected fault; replay delivers the rest; nothing is sent again after a 2xx; bad lines go
to the rejects file with their line numbers; gzip and batch inputs; dry-run output; Ctrl-C
loses nothing; exit codes and one-line errors."""

import collections
import gzip
import json
import os
import re
import sys
import time

import pytest

from kmgen import cli, config
from kmgen.cloud.requests import Builder
from tests.conftest import API_KEY
from tests.fake_km import FakeKM, every, first_attempts, in_turn, matching

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


def record(name, book, code, seconds):
    """With ``KMGEN_SCENARIOS=path``, append a scenario's figures to that JSONL file."""
    path = os.environ.get('KMGEN_SCENARIOS')
    if path:
        with open(path, 'a') as handle:
            handle.write(json.dumps(dict(book, scenario=name, exit=code, seconds=round(seconds, 2))) + '\n')


def write_jsonl(path, items):
    path.write_text(''.join(json.dumps(m) + '\n' for m in items))
    return str(path)


_TIME = re.compile(r'&_t=(\d+)&_d=1')


def split_time(method, target, body):
    """(method, target, body) without its ``_t``/``_d``, and the ``_t`` (None without one)."""
    found = _TIME.search(target) or _TIME.search('&' + body)
    return (method, _TIME.sub('', target, 1), _TIME.sub('', '&' + body, 1)[1:] if body else ''), (
        found.group(1) if found else None)


def expected_keys(server, items):
    """The requests of ``items``, without ``_t``/``_d`` (untimed messages get theirs when read)."""
    builder = Builder(config.validate({'api_key': API_KEY, 'tracking_host': server.url}))
    return [split_time(r.method, r.url[len(server.url):], r.body or '')[0] for m in items for r in builder.build(m)]


def acked(server):
    """Acknowledged requests without ``_t``/``_d`` -> the ``_t`` of each acknowledgement."""
    out = collections.defaultdict(list)
    for key in server.keys():
        base, t = split_time(*key)
        out[base].append(t)
    return out


def dead_records(path):
    return [json.loads(line) for line in open(path, encoding='utf-8')] if os.path.exists(path) else []


def dead_keys(server, path):
    """The requests of the messages in a dead-letter file (without ``_t``/``_d``)."""
    builder = Builder(config.validate({'api_key': API_KEY, 'tracking_host': server.url}))
    return [split_time(r.method, r.url[len(server.url):], r.body or '')[0]
            for record in dead_records(path) for r in builder.build(record['message'], 'x', record.get('t'))]


def ledger(server, items, dead=None):
    """What became of every request of ``items``: delivered once, repeated (with the same
    ``_t``, or another), dead-lettered, or lost (neither acknowledged nor dead-lettered)."""
    expected = collections.Counter(expected_keys(server, items))
    got = acked(server)
    in_dead = set(dead_keys(server, dead)) if dead else set()
    out = {'requests': sum(expected.values()), 'once': 0, 'repeated_same_t': 0, 'repeated_other_t': 0,
           'dead': 0, 'lost': 0, 'unexpected': len(set(got) - set(expected))}
    for key, count in expected.items():
        times = got.get(key, [])
        if len(times) == count:
            out['once'] += count
        elif len(times) > count:
            out['repeated_same_t' if len(set(times)) == len(set(times[:count])) else 'repeated_other_t'] += count
        elif key in in_dead:
            out['dead'] += count
        else:
            out['lost'] += count - len(times)
    return out


def assert_once_or_dead(server, items, dead):
    """Acknowledged exactly once, or dead-lettered; never both; nothing resent after its 2xx."""
    book = ledger(server, items, dead)
    assert (book['lost'], book['repeated_same_t'], book['repeated_other_t'], book['unexpected']) == (0, 0, 0, 0), book
    assert not set(acked(server)) & set(dead_keys(server, dead))
    ack_seq = dict((k, seq) for seq, k in server.acked)
    assert [r for r in server.received if r.key in ack_seq and r.seq > ack_seq[r.key]] == []
    return book


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


def summary_head(delivered, requests, failed=0, unfinished=0, rejected=0, noun='events'):
    return 'kmgen send: delivered %s %s (%s requests) in ' % (delivered, noun, requests), \
        '; failed %s, not attempted %s, rejected %s' % (failed, unfinished, rejected)


def test_send_delivers_every_event_exactly_once(server, toml, tmp_path, capsys):
    items = messages(400)
    path = write_jsonl(tmp_path / 'in.jsonl', items)
    dead = str(tmp_path / 'dead.jsonl')
    code, out, err = kmgen(['send', path, '--config', toml, '--dead-letter', dead, '--workers', '2',
                            '--no-progress'], capsys)
    assert (code, out) == (0, '')
    book = assert_once_or_dead(server, items, dead)
    assert book['once'] == book['requests'] == 720
    first, rest = summary_head('400', '720')
    assert err.startswith(first) and err.endswith(rest + '\n') and ' events/s); ' in err
    assert err.count('\n') == 1 and not os.path.exists(dead)


FAULTS = [
    ('500 on the first two tries of 1 in 4', first_attempts(2, 500, share=4)),
    ('dropped mid-response on the first try of 1 in 3', first_attempts(1, 'drop', share=3)),
    ('reset on the first two tries of 1 in 5', first_attempts(2, 'reset', share=5)),
    ('no answer on the first try of 1 in 20', first_attempts(1, 'hang', share=20)),
    ('429 then 408 then 503 for 1 in 3', in_turn([429, 408, 503], share=3)),
]


@pytest.mark.parametrize('policy', [f[1] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_transient_faults_are_retried_and_every_event_arrives_once(server, toml, tmp_path, capsys, policy):
    server.policy = policy
    items = messages(150)
    dead = str(tmp_path / 'dead.jsonl')
    code, _, err = kmgen(['send', write_jsonl(tmp_path / 'in.jsonl', items), '--config', toml,
                          '--dead-letter', dead] + QUICK + ['--timeout', '0.3'], capsys)
    assert code == 0, err
    assert assert_once_or_dead(server, items, dead)['once'] == len(expected_keys(server, items))
    assert 'failed 0,' in err and ' retries\n' in err and not os.path.exists(dead)


def test_what_keeps_failing_lands_in_the_dead_letter_and_replay_delivers_it(server, toml, tmp_path, capsys):
    server.policy = matching('u7', 503)          # u7, u70..u79: always 503
    items = messages(100)
    dead = str(tmp_path / 'dead.jsonl')
    code, _, err = kmgen(['send', write_jsonl(tmp_path / 'in.jsonl', items), '--config', toml,
                          '--dead-letter', dead] + QUICK, capsys)
    failing = [m for m in items if any('u7' in key[1] for key in expected_keys(server, [m]))]
    records = dead_records(dead)
    records.sort(key=lambda r: r['line'])
    assert code == 1 and [r['message'] for r in records] == failing and len(failing) == 8
    assert sorted(dead_keys(server, dead)) == sorted(expected_keys(server, failing))
    record = records[0]
    assert (record['status'], record['attempts'], record['error']) == (503, 4, 'HTTP 503 (after 4 attempts)')
    assert record['source'].endswith('in.jsonl') and record['line'] == 71 and 'url' not in record
    lines = err.splitlines()
    assert 'failed 8, not attempted 0, rejected 0' in lines[0]
    assert lines[1:] == [
        'kmgen send: failures: 8 x HTTP 503',
        'kmgen send: 8 failed events written to %s; once the cause is fixed, resend them with '
        '`kmgen send --replay %s --config ...`' % (dead, dead)]

    server.policy = None
    code, _, err = kmgen(['send', '--replay', dead, '--config', toml] + QUICK, capsys)
    assert code == 0, err
    book = ledger(server, items)
    assert (book['lost'], book['repeated_other_t'], book['unexpected']) == (0, 0, 0)
    assert open(dead).read() == '', 'the replayed file now holds what still fails: nothing'
    first, rest = summary_head('8', '14', noun='records')
    assert err.startswith(first) and err.endswith(rest + '\n') and err.count('\n') == 1


def test_replay_that_fails_again_keeps_exactly_those(server, toml, tmp_path, capsys):
    server.policy = matching('u1', 500)
    items = messages(30)
    dead = str(tmp_path / 'dead.jsonl')
    kmgen(['send', write_jsonl(tmp_path / 'in.jsonl', items), '--config', toml, '--dead-letter', dead] + QUICK,
          capsys)
    first = [r['message'] for r in dead_records(dead)]
    server.policy = matching('u10', 500)
    code, _, _ = kmgen(['send', '--replay', dead, '--config', toml] + QUICK, capsys)
    assert code == 1 and [r['message'] for r in dead_records(dead)] == [m for m in first if 'u10' in json.dumps(m)]
    server.policy = None
    assert kmgen(['send', '--replay', dead, '--config', toml] + QUICK, capsys)[0] == 0
    book = ledger(server, items)
    assert (book['lost'], book['repeated_other_t'], book['unexpected']) == (0, 0, 0)


def test_4xx_is_dead_lettered_at_once_with_its_status(server, toml, tmp_path, capsys):
    server.policy = matching('_p=u0&', 400)
    items = messages(10)
    dead = str(tmp_path / 'dead.jsonl')
    code, _, _ = kmgen(['send', write_jsonl(tmp_path / 'in.jsonl', items), '--config', toml,
                        '--dead-letter', dead] + QUICK, capsys)
    [record] = dead_records(dead)
    assert code == 1 and (record['status'], record['attempts'], record['error']) == (400, 1, 'HTTP 400')
    assert record['message'] == items[0]
    assert [r.target for r in server.received if '_p=u0&' in r.target] and len(
        [r for r in server.received if '_p=u0&' in r.target]) == 1


def test_the_dead_letter_is_appended_to_never_overwritten(server, toml, tmp_path, capsys):
    dead = tmp_path / 'dead.jsonl'
    dead.write_text('{"earlier": "failure"}\n')
    server.policy = matching('_p=u1&', 500)
    kmgen(['send', write_jsonl(tmp_path / 'in.jsonl', messages(3)), '--config', toml, '--dead-letter', str(dead)]
          + QUICK, capsys)
    lines = dead.read_text().splitlines()
    assert lines[0] == '{"earlier": "failure"}' and len(lines) == 2 and json.loads(lines[1])['message']['userId'] == 'u1'


def test_bad_lines_go_to_rejects_with_line_numbers_and_the_rest_go_on(server, toml, tmp_path, capsys):
    good = messages(3)
    path = tmp_path / 'in.jsonl'
    huge = json.dumps({'type': 'track', 'event': 'x', 'userId': 'u', 'properties': {'p': 'x' * (1 << 20)}}).encode()
    path.write_bytes(b'\n'.join([
        json.dumps(good[0]).encode(),
        b'{"type": "track", "event": "x", "userId": "u"',
        b'',
        b'{"type": "trak", "event": "x", "userId": "u"}',
        json.dumps(good[1]).encode(),
        b'{"type": "track", "event": "x", "userId": "\xff"}',
        b'{"type": "track", "event": "x"}',
        b'[1, ' + json.dumps(good[2]).encode() + b']',
        huge,
    ]) + b'\n')
    code, _, err = kmgen(['send', str(path), '--config', toml, '--dead-letter', str(tmp_path / 'd.jsonl')] + QUICK,
                         capsys)
    rejects = [json.loads(line) for line in open(str(path) + '.rejects.jsonl')]
    src = str(path)
    assert rejects == [
        {'source': src, 'line': 2, 'error': "Invalid JSON in %s:2: Expecting ',' delimiter: line 1 column 46 "
                                            "(char 45)." % src, 'raw': '{"type": "track", "event": "x", "userId": "u"'},
        {'source': src, 'line': 4, 'error': "Unknown message type \"trak\" in %s:4. Did you mean \"track\"? Use one "
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
        {'source': src, 'line': 9, 'error': '%s:9 is %s bytes, over the limit of 1,048,576 bytes for one message: '
                                            'split it or drop what it does not need.' % (src, format(len(huge), ',')),
         'raw': huge[:1000].decode()},
    ]
    book = ledger(server, good)
    assert code == 1 and book['once'] == book['requests'] == 5
    lines = err.splitlines()
    assert lines[:6] == ['kmgen send: rejected ' + r['error'] for r in rejects]
    first, rest = summary_head('3', '5', rejected=6)
    assert lines[6].startswith(first) and lines[6].endswith(rest)
    assert lines[7:] == ['kmgen send: 6 rejected lines written to %s.rejects.jsonl' % src]


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
    before = sorted(os.listdir(tmp_path))
    code, out, err = kmgen(['send', str(gz), str(pretty), str(one_line), str(noext), '--config', toml,
                            '--dry-run'], capsys)
    builder = Builder(config.validate({'api_key': API_KEY, 'tracking_host': server.url}))
    assert code == 0 and out == ''.join(r.line() + '\n' for m in items + items[:1] for r in builder.build(m))
    assert err == 'kmgen send: would send 9 events (15 requests), rejected 0\n' and server.received == []
    assert sorted(os.listdir(tmp_path)) == before, 'a dry run writes nothing'
    code, _, _ = kmgen(['send', str(gz), str(pretty), '--config', toml, '--dead-letter', str(tmp_path / 'd')]
                       + QUICK, capsys)
    book = ledger(server, items[:4])
    assert code == 0 and book['once'] == book['requests']


def test_dry_run_prints_method_url_and_body_and_writes_nothing(toml, tmp_path, capsys):
    path = write_jsonl(tmp_path / 'in.jsonl', [
        {'type': 'track', 'event': 'E', 'userId': 'u', 'properties': {'a': 'b c'}},
        {'type': 'identify', 'userId': 'u', 'anonymousId': 'x', 'traits': {'long': 'y' * 2000}},
        {'type': 'track', 'userId': 'u'}])
    code, out, err = kmgen(['send', path, '--api-key', API_KEY, '--dry-run'], capsys)
    k = 'https://trk.kissmetrics.io'
    assert code == 1 and out == (
        'GET %s/e?_k=%s&_p=u&_n=E&E%%20-%%20a=b%%20c\n' % (k, API_KEY)
        + 'GET %s/a?_k=%s&_p=x&_n=u\n' % (k, API_KEY)
        + 'POST %s/s _k=%s&_p=u&long=%s&id=u\n' % (k, API_KEY, 'y' * 2000))
    assert err == ('kmgen send: rejected track message in %s:3 has no "event": add "event": "<what happened>".\n'
                   'kmgen send: would send 2 events (3 requests), rejected 1\n' % path)
    assert sorted(os.listdir(tmp_path)) == ['in.jsonl', 'kmgen.toml']


def test_stdin_is_read_with_a_dash(toml, monkeypatch, capsys):
    import io
    data = json.dumps({'type': 'track', 'event': 'E', 'userId': 'u'}) + '\n'
    monkeypatch.setattr(sys, 'stdin', io.TextIOWrapper(io.BytesIO(data.encode())))
    code, out, _ = kmgen(['send', '-', '--api-key', API_KEY, '--dry-run'], capsys)
    assert code == 0 and out == 'GET https://trk.kissmetrics.io/e?_k=%s&_p=u&_n=E\n' % API_KEY


# -- usage errors: one line, exit 2 ---------------------------------------------------------

@pytest.mark.parametrize('args, message', [
    (['send', '--api-key', API_KEY], 'Error: No input: pass FILE... (JSONL, gzip or batch files; - for stdin) or '
                                     '--replay kmgen-dead-letter.jsonl.'),
    (['send', 'missing.jsonl', '--api-key', API_KEY], 'Error: Cannot read missing.jsonl: no such file.'),
    (['send', 'x.jsonl', '--replay', 'd.jsonl'], 'Error: Pass input files or --replay DEAD_LETTER, not both.'),
    (['send', 'x.jsonl'], 'Error: Missing api_key: pass --config kmgen.toml (with api_key = "..."), '
                          '--settings FILE.json or --api-key.'),
    (['send', 'missing.jsonl', '--replay', 'x'], 'Error: Pass input files or --replay DEAD_LETTER, not both.'),
    (['send', '--replay', 'missing.jsonl', '--api-key', API_KEY], 'Error: Cannot read missing.jsonl: no such file.'),
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


def test_a_truncated_gzip_delivers_what_was_read_names_the_line_and_goes_on(server, toml, tmp_path, capsys):
    items = messages(400)
    data = ''.join(json.dumps(m) + '\n' for m in items[:300]).encode()
    bad = tmp_path / 'bad.jsonl.gz'
    packed = gzip.compress(data)
    bad.write_bytes(packed[:len(packed) // 2])
    readable = 0
    with gzip.open(bad) as handle:
        try:
            for _ in handle:
                readable += 1
        except EOFError:
            pass
    after = write_jsonl(tmp_path / 'after.jsonl', items[300:])
    started = time.monotonic()
    code, _, err = kmgen(['send', str(bad), after, '--config', toml, '--dead-letter', str(tmp_path / 'd.jsonl')]
                         + QUICK, capsys)
    sent = items[:readable] + items[300:]
    book = ledger(server, sent)
    record('a .gz cut in half, then another file (%d of 300 lines readable)' % readable, book, code,
           time.monotonic() - started)
    assert code == 1 and 100 < readable < 300 and book['once'] == book['requests']
    assert ledger(server, items[readable:300])['lost'] == len(expected_keys(server, items[readable:300]))
    assert err.splitlines()[1:] == [
        'kmgen send: Cannot read %s from line %d on: Compressed file ended before the end-of-stream marker was '
        'reached. What was read before it was sent; the files after it too.' % (bad, readable + 1)]


def test_replay_maps_messages_with_the_current_config_and_rejects_what_is_not_a_record(server, toml, tmp_path,
                                                                                      capsys):
    dead = tmp_path / 'dead.jsonl'
    untimed = {'type': 'track', 'event': 'E', 'userId': 'u'}
    legacy = {'method': 'GET', 'url': server.url + '/e?_k=k&_p=old&_n=E', 'body': None, 'error': 'x'}
    dead.write_text(json.dumps({'source': 'in.jsonl', 'line': 3, 'message': untimed, 't': 1700000000,
                                'error': 'HTTP 500'}) + '\n{"method": "PUT"}\n' + json.dumps(legacy) + '\n')
    code, _, err = kmgen(['send', '--replay', str(dead), '--config', toml] + QUICK, capsys)
    rejects = [json.loads(line) for line in open(str(dead) + '.rejects.jsonl')]
    assert code == 1 and sorted(server.keys()) == sorted([
        ('GET', '/e?_k=%s&_p=u&_n=E&_t=1700000000&_d=1' % API_KEY, ''), ('GET', '/e?_k=k&_p=old&_n=E', '')])
    assert rejects == [{'source': str(dead), 'line': 2, 'raw': '{"method": "PUT"}', 'error':
                        '%s:2 is not a dead-letter record: it needs "message" (and "t" for a message without a '
                        'timestamp), as kmgen send writes them.' % dead}]


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
        '  ["set",{"plan":"pro","id":"u1"}]\n'
        '\n'
        'device (pushed onto _kmq in the browser; the Kissmetrics library adds the identity):\n'
        '  _kmq.push(["identify","u1"]);\n'
        '  _kmq.push(["set",{"plan":"pro","id":"u1"}]);\n'
        '\n'
        "cloud (HTTP requests, _p = 'u1'):\n"
        '  GET %s/a?_k=%s&_p=a1&_n=u1&_t=1714564800&_d=1\n'
        '  GET %s/s?_k=%s&_p=u1&_t=1714564800&_d=1&plan=pro&id=u1\n' % (k, API_KEY, k, API_KEY))


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


def test_a_dry_run_replay_prints_and_rewrites_nothing(server, toml, tmp_path, capsys):
    dead = tmp_path / 'dead.jsonl'
    text = json.dumps({'message': {'type': 'identify', 'userId': 'u', 'traits': {'a': 1}}, 't': 1700000000,
                       'error': 'x'}) + '\n'
    dead.write_text(text)
    code, out, _ = kmgen(['send', '--replay', str(dead), '--config', toml, '--dry-run'], capsys)
    assert (code, out) == (0, 'GET %s/s?_k=%s&_p=u&_t=1700000000&_d=1&a=1&id=u\n' % (server.url, API_KEY))
    assert dead.read_text() == text and server.received == []
    assert sorted(os.listdir(tmp_path)) == ['dead.jsonl', 'kmgen.toml']


def test_progress_counts_events_fits_80_columns_and_is_cleared_before_the_summary(server, toml, tmp_path, capsys,
                                                                                 monkeypatch):
    monkeypatch.setenv('COLUMNS', '80')
    path = write_jsonl(tmp_path / 'in.jsonl', messages(50))
    code, _, err = kmgen(['send', path, '--config', toml, '--progress', '--workers', '1'], capsys)
    draws = err.split('\r')
    assert code == 0 and '[####################] 100% 50 delivered, 0 failed, 0 rejected, ' in err
    assert all(len(d.replace('\x1b[K', '')) <= 79 for d in draws[:-1] if '\n' not in d)
    assert draws[-1].startswith('\x1b[Kkmgen send: delivered 50 events (90 requests)')


def test_progress_lines_are_cut_to_the_terminal_width(server, toml, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv('COLUMNS', '30')
    path = write_jsonl(tmp_path / 'in.jsonl', messages(20))
    code, _, err = kmgen(['send', path, '--config', toml, '--progress', '--workers', '1'], capsys)
    assert code == 0 and '\r[####################] 100% 2\x1b[K' in err
