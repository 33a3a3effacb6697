"""kmgen.spark end to end: Spark in local[2] (3 attempts per task) against the fake server.

What is proved: 20,000 events in four files are acknowledged exactly once with 500s injected;
bad lines are counted, shown and written per partition with their file and line; a partition
whose first attempt is killed mid-way (os._exit in the Python worker) loses nothing and
repeats only with the same _t; `kmgen send --spark` gives the same summary and exit code."""

import collections
import json
import os
import re
import signal
import subprocess
import sys
import time
from urllib.parse import parse_qsl, urlsplit

import pytest

from kmgen import cli, config, spark as kmspark
from kmgen.cloud import core
from kmgen.cloud.requests import Builder
from kmgen.cloud.sender import Options
from tests.conftest import API_KEY
from tests.fake_km import FakeKM, first_attempts

QUICK = Options(connections=4, pipeline=16, retries=5, timeout=5, backoff=0.01)
BASE = 1700000000


@pytest.fixture(scope='module')
def session():
    spark = kmspark.session('local[2,3]', 'kmgen-tests')
    spark.sparkContext.setLogLevel('ERROR')
    yield spark
    spark.stop()


def timed(n, start):
    return [{'type': 'track', 'event': 'Played', 'userId': 'u%d' % i, 'properties': {'n': i},
             'timestamp': '2024-05-01T12:%02d:%02dZ' % (i // 60 % 60, i % 60)} for i in range(start, start + n)]


def keys(server, items):
    builder = Builder(config.validate({'api_key': API_KEY, 'tracking_host': server.url}))
    return [(r.method, r.url[len(server.url):], r.body or '') for m in items for r in builder.build(m)]


def settings(server):
    return config.validate({'api_key': API_KEY, 'tracking_host': server.url})


def test_20000_events_in_four_files_delivered_exactly_once_with_500s_and_bad_lines_counted(session, tmp_path):
    items, paths, bad = [], [], []
    for f in range(4):
        part = timed(5000, f * 5000)
        lines = [json.dumps(m) for m in part]
        if f == 2:
            lines.insert(10, '{"type": "track", "event": "Played"')        # line 11: not JSON
            lines.insert(20, json.dumps({'type': 'track', 'event': 'x'}))  # line 21: no identity
            bad = [(11, 'Invalid JSON'), (21, 'neither')]
        path = tmp_path / ('in-%d.jsonl' % f)
        path.write_text('\n'.join(lines) + '\n')
        paths.append(str(path))
        items += part
    with FakeKM(policy=first_attempts(1, 500, share=5)) as server:
        result = kmspark.send(session.read.text(paths), None, str(tmp_path / 'out'), QUICK, settings=settings(server))
        acked = collections.Counter(server.keys())
        expected = keys(server, items)
    assert len(expected) == 20000
    assert acked == collections.Counter(expected)     # every request acknowledged, none twice
    assert (result.delivered, result.failed, result.rejected) == (20000, 0, 2)
    assert result.tally['retried'] > 0 and result.exit_code() == 1
    records = [json.loads(line) for name in result.reject_files for line in open(name)]
    assert [(r['source'], r['line']) for r in records] == [('file:' + paths[2], line) for line, _ in bad]
    assert [why in r['error'] for r, (_, why) in zip(records, bad)] == [True, True]
    text = kmspark.summary_text(result)
    assert 'kmgen send: delivered 20,000 events (20,000 requests)' in text
    assert 'failed 0, not attempted 0, rejected 2' in text


def _kill_first_attempt(rows):
    """Partition 1, first attempt: the Python worker dies after 5,000 rows (4,096 requests are
    in hand before the core waits, so some are delivered and some are in flight)."""
    from pyspark import TaskContext
    context = TaskContext.get()
    for count, row in enumerate(rows):
        if count == 5000 and context.partitionId() == 1 and context.attemptNumber() == 0:
            os._exit(1)
        yield row


def _without_t(key):
    method, target, body = key
    pairs = parse_qsl(urlsplit(target).query)
    return (method, urlsplit(target).path, tuple(p for p in pairs if p[0] not in ('_t', '_d'))), dict(pairs).get('_t')


def test_a_killed_partition_attempt_loses_nothing_and_repeats_only_with_the_same_t(session):
    untimed = [{'type': 'track', 'event': 'Played', 'userId': 'u%d' % i, 'properties': {'n': i}}
               for i in range(12000)]
    rdd = session.sparkContext.parallelize([json.dumps(m) for m in untimed], 2).mapPartitions(_kill_first_attempt)
    with FakeKM() as server:
        result = kmspark.send(rdd, None, 'unused-out', QUICK, untimed_base=BASE, settings=settings(server))
        acked = server.keys()
        expected = keys(server, untimed)
    times = collections.defaultdict(set)
    for key in acked:
        request, t = _without_t(key)
        times[request].add(t)
    assert sorted(times) == sorted(_without_t(k)[0] for k in expected)    # nothing lost
    assert [r for r, ts in times.items() if len(ts) != 1] == []           # a repeat has the same _t
    assert all(BASE <= int(t) < BASE + 86400 for ts in times.values() for t in ts)
    repeated = [k for k, c in collections.Counter(acked).items() if c > 1]
    assert repeated, 'the first attempt of partition 1 was not killed mid-way'
    assert all(int(re.search(r'_p=u(\d+)', k[1]).group(1)) >= 6000 for k in repeated)   # partition 1 only
    assert (result.delivered, result.failed, result.rejected, result.exit_code()) == (12000, 0, 0, 0)


def test_kmgen_send_spark_prints_the_summary_and_exits_like_send(session, tmp_path, capsys):
    path = tmp_path / 'in.jsonl'
    path.write_text(''.join(json.dumps(m) + '\n' for m in timed(300, 0)) + 'nope\n')
    with FakeKM() as server:
        toml = tmp_path / 'kmgen.toml'
        toml.write_text('api_key = "%s"\ntracking_host = "%s"\n' % (API_KEY, server.url))
        code = cli.main(['send', '--spark', 'local[2]', str(path), '--config', str(toml), '--dead-letter',
                         str(tmp_path / 'out'), '--backoff', '0.01'])
        acked = len(server.acked)
    err = capsys.readouterr().err
    assert (code, acked) == (1, 300)
    assert ("kmgen send: rejected Invalid JSON in file:%s:301: Expecting value: line 1 column 1 (char 0)." % path
            in err)
    assert 'failed 0, not attempted 0, rejected 1' in err
    assert re.search(re.escape('kmgen send: 1 rejected lines written to 1 rejects files (%s'
                               % (tmp_path / 'out' / 'part-00000-')) + '[0-9a-f]{10}' + re.escape('.rejects.jsonl ...)'),
                     err)


def mixed_files(tmp_path, files=4, per_file=2500):
    """Input files of timed and untimed messages (every other one has no timestamp)."""
    items, paths = [], []
    for f in range(files):
        part = timed(per_file, f * per_file)
        for m in part[::2]:
            del m['timestamp']
        path = tmp_path / ('in-%d.jsonl' % f)
        path.write_text(''.join(json.dumps(m) + '\n' for m in part))
        paths.append(str(path))
        items += part
    return items, paths


def delivery_check(acked, expected):
    """(lost, repeated) over every acknowledged request of every run: a repeat must carry the
    _t of its first delivery."""
    times = collections.defaultdict(set)
    for key in acked:
        request, t = _without_t(key)
        times[request].add(t)
    assert [r for r, ts in times.items() if len(ts) != 1] == []
    lost = {_without_t(k)[0] for k in expected} - set(times)
    return len(lost), len(acked) - len(set(acked))


def _down_after(n):
    return lambda seq, request: 'reset' if seq >= n else None


def test_a_rerun_after_the_server_went_down_sends_only_what_was_not_finished(session, tmp_path):
    items, paths = mixed_files(tmp_path)
    options = Options(connections=4, pipeline=16, retries=2, timeout=5, backoff=0.01, give_up=1.0)
    out = str(tmp_path / 'out')
    with FakeKM(policy=_down_after(3000)) as server:
        first = kmspark.send(session.read.text(paths), None, out, options, settings=settings(server))
        acked = server.keys()
        expected = keys(server, items)
    assert first.broken and first.tally['unfinished'] > 0 and first.exit_code() == 1
    assert 0 < first.delivered <= 3000
    with FakeKM(port=server.port) as again:
        second = kmspark.send(session.read.text(paths), None, out, QUICK, settings=settings(again))
        acked += again.keys()
    assert second.skipped >= first.delivered and second.exit_code() == 0
    assert second.delivered == len(items) - second.skipped
    lost, repeated = delivery_check(acked, expected)
    assert (lost, len(acked)) == (0, len(items) + repeated)
    assert repeated < 3000     # only what was in flight, never a whole partition again
    text = kmspark.summary_text(second)
    assert 'kmgen send: skipped %s lines done by an earlier run (journal %s)' % (
        format(second.skipped, ','), os.path.join(out, 'journal')) in text


def test_kill_9_of_the_driver_then_the_same_command_loses_nothing(session, tmp_path, capsys):
    items, paths = mixed_files(tmp_path, per_file=10000)
    out = str(tmp_path / 'out')
    journal = os.path.join(out, kmspark.JOURNAL)

    def journaled():
        # The kill must come after a first sync, or there is nothing for the rerun to skip
        # (a fast machine acknowledges 10,000 before the first half second is over).
        try:
            return any(os.path.getsize(os.path.join(journal, name)) for name in os.listdir(journal))
        except OSError:
            return False

    with FakeKM() as server:
        toml = tmp_path / 'kmgen.toml'
        toml.write_text('api_key = "%s"\ntracking_host = "%s"\n' % (API_KEY, server.url))
        args = ['send', '--spark', 'local[2]', *paths, '--config', str(toml), '--dead-letter', out,
                '--connections', '2', '--pipeline', '4']
        proc = subprocess.Popen([sys.executable, '-m', 'kmgen', *args], start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline, first_ack = time.monotonic() + 240, None
        while ((len(server.acked) < 10000 or not journaled()) and proc.poll() is None
               and time.monotonic() < deadline):
            if first_ack is None and server.acked:
                first_ack = time.monotonic()
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        killed_at = len(server.acked)
        rate = killed_at / (time.monotonic() - first_ack)
        assert 10000 <= killed_at < len(items), proc.stderr.read().decode()[-2000:]
        time.sleep(0.5)
        code = cli.main(args)
        acked = server.keys()
        expected = keys(server, items)
    err = capsys.readouterr().err
    lost, repeated = delivery_check(acked, expected)
    assert (code, lost) == (0, 0), err
    # Sent again: what each of the two tasks had in hand, and at most the last half second of
    # what they had finished (the journal is synced every SYNC_EVERY s), never what came before.
    bound = 2 * (core.ACTIVE_LIMIT + rate * kmspark.SYNC_EVERY)
    assert repeated <= bound, (repeated, killed_at, rate)
    assert 'skipped' in err and 'lines done by an earlier run' in err
    print('kill -9 at %d of %d acknowledged (%d/s); rerun repeated %d (same _t; bound %d), lost 0'
          % (killed_at, len(items), rate, repeated, bound))


def test_dry_run_with_spark_prints_the_requests_and_writes_nothing(session, tmp_path, capsys):
    path = tmp_path / 'in.jsonl'
    path.write_text(''.join(json.dumps(m) + '\n' for m in timed(40, 0)) + 'nope\n')
    toml = tmp_path / 'kmgen.toml'
    toml.write_text('api_key = "%s"\ntracking_host = "http://127.0.0.1:9"\n' % API_KEY)
    code = cli.main(['send', '--spark', 'local[2]', str(path), '--config', str(toml), '--dead-letter',
                     str(tmp_path / 'out'), '--rejects', str(tmp_path / 'rejects.jsonl'), '--dry-run'])
    captured = capsys.readouterr()
    server_url = 'http://127.0.0.1:9'
    builder = Builder(config.validate({'api_key': API_KEY, 'tracking_host': server_url}))
    assert captured.out.splitlines() == [r.line() for m in timed(40, 0) for r in builder.build(m)]
    assert captured.err.splitlines()[-1] == 'kmgen send: would send 40 events (40 requests), rejected 1'
    assert code == 1
    assert sorted(os.listdir(tmp_path)) == ['in.jsonl', 'kmgen.toml']     # nothing written


def test_stdin_and_rejects_with_spark(session, tmp_path, capsys, monkeypatch):
    import io
    lines = [json.dumps(m) for m in timed(200, 0)] + ['{"type": "track"}']
    monkeypatch.setattr(sys, 'stdin', io.StringIO('\n'.join(lines) + '\n'))
    with FakeKM() as server:
        toml = tmp_path / 'kmgen.toml'
        toml.write_text('api_key = "%s"\ntracking_host = "%s"\n' % (API_KEY, server.url))
        code = cli.main(['send', '--spark', 'local[2]', '-', '--config', str(toml), '--dead-letter',
                         str(tmp_path / 'out'), '--rejects', str(tmp_path / 'bad.jsonl')])
        acked = collections.Counter(server.keys())
        expected = collections.Counter(keys(server, timed(200, 0)))
    err = capsys.readouterr().err
    assert (code, acked) == (1, expected)
    bad = [json.loads(line) for line in open(tmp_path / 'bad.jsonl')]
    assert [(r['source'], r['line']) for r in bad] == [('partition 1', 101)]
    assert 'kmgen send: 1 rejected lines written to %s' % (tmp_path / 'bad.jsonl') in err
    assert 'stdin is not journaled' in err


def test_kmgen_send_spark_refuses_stdin_with_files_and_replay_naming_the_fix(tmp_path, capsys):
    (tmp_path / 'a.jsonl').write_text('{}\n')
    assert cli.main(['send', '--spark', 'local[2]', '-', str(tmp_path / 'a.jsonl'), '--api-key', API_KEY]) == 2
    assert cli.main(['send', '--spark', 'local[2]', '--replay', str(tmp_path / 'a.jsonl'), '--api-key', API_KEY]) == 2
    assert capsys.readouterr().err.splitlines() == [
        'Error: With --spark, pass input FILES or - for stdin, not both.',
        'Error: --spark sends input files; replay a dead-letter file without --spark: `kmgen send --replay FILE '
        '--config ...` (each partition wrote its own).']
