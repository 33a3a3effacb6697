"""kmgen.spark end to end: Spark in local[2] (3 attempts per task) against the fake server.

What is proved: 20,000 events in four files are acknowledged exactly once with 500s injected;
bad lines are counted, shown and written per partition with their file and line; a partition
whose first attempt is killed mid-way (os._exit in the Python worker) loses nothing and
repeats only with the same _t; `kmgen send --spark` gives the same summary and exit code."""

import collections
import json
import os
import re
from urllib.parse import parse_qsl, urlsplit

import pytest

from kmgen import cli, config, spark as kmspark
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


def test_a_killed_partition_attempt_loses_nothing_and_repeats_only_with_the_same_t(session, tmp_path):
    untimed = [{'type': 'track', 'event': 'Played', 'userId': 'u%d' % i, 'properties': {'n': i}}
               for i in range(12000)]
    rdd = session.sparkContext.parallelize([json.dumps(m) for m in untimed], 2).mapPartitions(_kill_first_attempt)
    with FakeKM() as server:
        result = kmspark.send(rdd, None, str(tmp_path), QUICK, untimed_base=BASE, settings=settings(server))
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
    assert ('kmgen send: 1 rejected lines written to 1 rejects files (%s ...)'
            % (tmp_path / 'out' / 'part-00000.rejects.jsonl')) in err


def _untimed_files(tmp_path, files, per_file):
    paths, items = [], []
    for f in range(files):
        part = [{'type': 'track', 'event': 'Played', 'userId': 'u%d' % i, 'properties': {'n': i}}
                for i in range(f * per_file, (f + 1) * per_file)]
        path = tmp_path / ('in-%d.jsonl' % f)
        path.write_text(''.join(json.dumps(m) + '\n' for m in part))
        paths.append(str(path))
        items += part
    return paths, items


def test_kmgen_send_spark_killed_with_its_driver_then_rerun_resends_only_what_was_not_confirmed(session, tmp_path,
                                                                                                  capsys):
    """SIGKILL of the whole `kmgen send --spark` (driver, JVM, Python workers) mid-way; the same
    command again: nothing lost, a repeat only with the same _t, and only what was in flight
    (at most ACTIVE_LIMIT requests and a batch per partition) goes out twice."""
    import signal
    import subprocess
    import sys
    import time
    from kmgen.cloud.core import ACTIVE_LIMIT
    paths, items = _untimed_files(tmp_path, 4, 10000)
    with FakeKM() as server:
        toml = tmp_path / 'kmgen.toml'
        toml.write_text('api_key = "%s"\ntracking_host = "%s"\n' % (API_KEY, server.url))
        command = ['send', '--spark', 'local[2]'] + paths + ['--config', str(toml), '--dead-letter',
                                                              str(tmp_path / 'out'), '--no-progress']
        proc = subprocess.Popen([sys.executable, '-m', 'kmgen'] + command, start_new_session=True,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 150
        while len(server.acked) < 16000 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        first = len(server.acked)
        assert 16000 <= first < 40000, 'not killed mid-way (%d acknowledged)' % first
        time.sleep(1)       # what the killed workers still had on the wire
        first = len(server.acked)
        code = cli.main(command)       # the same command (in this process's Spark session)
        acked = server.keys()
        expected = keys(server, items)
    err = capsys.readouterr().err
    times = collections.defaultdict(set)
    for key in acked:
        request, t = _without_t(key)
        times[request].add(t)
    assert sorted(times) == sorted(_without_t(k)[0] for k in expected)    # nothing lost
    assert [r for r, ts in times.items() if len(ts) != 1] == []           # a repeat has the same _t
    again = sum(c - 1 for c in collections.Counter(acked).values())
    assert again <= 2 * (ACTIVE_LIMIT + 256), (again, first)
    skipped = int(re.search(r'kmgen send: skipped ([\d,]+) lines done by an earlier run \(journal %s\)'
                            % re.escape(str(tmp_path / 'out' / 'journal')), err).group(1).replace(',', ''))
    assert skipped >= first - 2 * (ACTIVE_LIMIT + 256)
    assert 'kmgen send: delivered %s events' % format(40000 - skipped, ',') in err
    assert code == 0


def test_kmgen_send_spark_reads_stdin_dry_runs_without_writing_or_sending_and_honours_rejects(session, tmp_path,
                                                                                               capsys, monkeypatch):
    import gzip
    import io
    import sys
    items = timed(200, 0)
    data = ''.join(json.dumps(m) + '\n' for m in items[:150]) + '\n{"oops"\n' + ''.join(
        json.dumps(m) + '\n' for m in items[150:])
    out, rejects = tmp_path / 'out', tmp_path / 'rejects'
    with FakeKM() as server:
        toml = tmp_path / 'kmgen.toml'
        toml.write_text('api_key = "%s"\ntracking_host = "%s"\n' % (API_KEY, server.url))
        base = ['send', '--spark', 'local[2]', '-', '--config', str(toml), '--dead-letter', str(out)]
        monkeypatch.setattr(sys, 'stdin', io.TextIOWrapper(io.BytesIO(gzip.compress(data.encode()))))
        dry = cli.main(base + ['--dry-run', '--rejects', str(rejects)])
        printed = capsys.readouterr()
        sent_by_dry_run = (len(server.received), out.exists(), rejects.exists())
        monkeypatch.setattr(sys, 'stdin', io.TextIOWrapper(io.BytesIO(data.encode())))
        code = cli.main(base + ['--rejects', str(rejects)])
        err = capsys.readouterr().err
        acked = collections.Counter(server.keys())
        builder = Builder(settings(server))
        lines = [r.line() for m in items for r in builder.build(m)]
        expected = keys(server, items)
    reject = 'Invalid JSON in <stdin>:152: Expecting \':\' delimiter: line 1 column 8 (char 7).'
    assert printed.out.splitlines() == lines
    assert 'kmgen send: rejected %s\nkmgen send: would send 200 events (200 requests), rejected 1\n' % reject \
        in printed.err
    assert (dry, sent_by_dry_run) == (1, (0, False, False))
    assert (code, acked) == (1, collections.Counter(expected))
    assert 'kmgen send: rejected %s' % reject in err
    assert ('kmgen send: 1 rejected lines written to 1 rejects files (%s ...)' % (rejects / 'part-00001.rejects.jsonl')
            in err)
    record = json.loads((rejects / 'part-00001.rejects.jsonl').read_text())
    assert (record['source'], record['line'], record['raw']) == ('<stdin>', 152, '{"oops"')


def test_kmgen_send_spark_refuses_stdin_with_files_and_replay_naming_the_fix(tmp_path, capsys):
    (tmp_path / 'a.jsonl').write_text('{}\n')
    assert cli.main(['send', '--spark', 'local[2]', '-', str(tmp_path / 'a.jsonl'), '--api-key', API_KEY]) == 2
    assert cli.main(['send', '--spark', 'local[2]', '--replay', str(tmp_path / 'a.jsonl'), '--api-key', API_KEY]) == 2
    assert capsys.readouterr().err.splitlines() == [
        'Error: --spark reads either stdin (-) or FILES, not both: save stdin to a file and pass it with the others.',
        'Error: --spark does not replay: resend a dead-letter file with `kmgen send --replay FILE --config ...` '
        '(without --spark).']
