"""The Spark path: `kmgen send --spark local[2]` beside `kmgen send`, same input, same run.

Run from the repository root: ``.venv/bin/python -m bench.spark`` (``--events N``, default
1,000,000; ``python -m bench`` runs it too). The input is generated once, as ``FILES`` gzipped
JSONL files (gzip is not split: one partition each), and both commands read those same files.
Both run as subprocesses, exactly as a user runs them, with their journals on, against the
fake server in a process of its own (``tests/fake_km.py``, fast mode), timed by the wall clock
from start to exit. The start-up cost is measured on its own: a process that starts a
SparkSession on ``local[2]`` and stops it (JVM, session, shut-down); the job's own rate is the
events over the job's time (the summary's "in N s").
"""

import argparse
import gzip
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.cloud import KEY, ROOT, generate
from tests.fake_km import ServerProcess

FILES = 8
STARTUP = ('from kmgen import spark; s = spark.session("local[2]", "kmgen-bench-startup"); '
           's.sparkContext.parallelize([1, 2], 2).count(); s.stop()')


def write_inputs(folder, events):
    """``events`` generated messages in ``FILES`` gzipped JSONL files; returns their paths."""
    messages = generate(events)
    paths = []
    for f in range(FILES):
        path = folder / ('events-%d.jsonl.gz' % f)
        count = events // FILES + (f < events % FILES)
        with gzip.open(path, 'wt', encoding='utf-8', compresslevel=1) as out:
            out.writelines(json.dumps(m) + '\n' for m in itertools.islice(messages, count))
        paths.append(path)
    return paths


def run_send(paths, toml, out, spark=()):
    """``kmgen send [--spark local[2]] FILES`` as a user runs it: (seconds, summary lines)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, '-m', 'kmgen', 'send'] + list(spark) + [str(p) for p in paths]
                          + ['--config', str(toml), '--dead-letter', str(out), '--no-progress'], cwd=str(ROOT),
                          stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    summary = '\n'.join(line for line in proc.stderr.splitlines() if line.startswith('kmgen send:'))
    if proc.returncode != 0:
        raise SystemExit('kmgen send %sfailed (%s):\n%s' % (' '.join(spark) + ' ', proc.returncode,
                                                           proc.stderr[-3000:]))
    return seconds, summary


def startup():
    """Seconds to start a SparkSession on local[2], run a 2-task job and stop it."""
    start = time.perf_counter()
    subprocess.run([sys.executable, '-c', STARTUP], cwd=str(ROOT), check=True, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def measure(events):
    server = ServerProcess()
    try:
        with tempfile.TemporaryDirectory(prefix='kmgen-bench-spark-') as tmp:
            tmp = Path(tmp)
            toml = tmp / 'kmgen.toml'
            toml.write_text('api_key = "%s"\ntracking_host = "%s"\n' % (KEY, server.url))
            paths = write_inputs(tmp, events)
            load_before = os.getloadavg()
            start_s = startup()
            server.reset()
            send_s, send_summary = run_send(paths, toml, tmp / 'dead.jsonl')
            send_requests = server.count()
            server.reset()
            spark_s, spark_summary = run_send(paths, toml, tmp / 'out', ('--spark', 'local[2]'))
            spark_requests = server.count()
            load_after = os.getloadavg()
            job = float(re.search(r' in ([\d.]+)s', spark_summary).group(1))
            delivered = int(re.search(r'delivered ([\d,]+) events', spark_summary).group(1).replace(',', ''))
            sent = int(re.search(r'delivered ([\d,]+) events', send_summary).group(1).replace(',', ''))
    finally:
        server.stop()
    return {'events': events, 'send_s': send_s, 'spark_s': spark_s, 'startup_s': start_s, 'job_s': job,
            'delivered': delivered, 'sent': sent, 'same_requests': send_requests == spark_requests,
            'send_summary': send_summary, 'spark_summary': spark_summary, 'load': (load_before, load_after)}


def table_rows(events=1000000):
    m = measure(events)
    n = m['events']
    steady = n / m['job_s']
    ok = m['delivered'] == m['sent'] and m['same_requests']
    return [('Spark local[2] vs kmgen send, events/s (%s events in %d gz files, wall clock, journals on; '
             'load %.1f before, %.1f after)' % (format(n, ','), FILES, m['load'][0][0], m['load'][1][0]),
             '%s (job alone %s; session start + stop %.1f s)' % (
                 format(int(n / m['spark_s']), ','), format(int(steady), ','), m['startup_s']),
             'send %s' % format(int(n / m['send_s']), ','), '%.2fx' % (m['send_s'] / m['spark_s']),
             'same delivered as send', 'yes' if ok else 'no')], m


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m bench.spark')
    parser.add_argument('--events', type=int, default=1000000)
    args = parser.parse_args(argv)
    rows, m = table_rows(args.events)
    for row in rows:
        print('| ' + ' | '.join(row) + ' |')
    print(m['send_summary'])
    print(m['spark_summary'])
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
