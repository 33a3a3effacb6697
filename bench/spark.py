"""The Spark path: `kmgen send --spark local[2]` beside `kmgen send`, same input, same run.

Run from the repository root: ``.venv/bin/python -m bench.spark`` (``--events N``, default
1,000,000). Both run as subprocesses, exactly as a user runs them, against the fake server in a
process of its own (``tests/fake_km.py``, fast mode), timed by the wall clock from start to exit.
The start-up cost is the Spark run's wall time less the time of its job (the summary's "in N s"):
JVM, SparkSession, Python workers and shut-down; the steady rate is the events over the job's time.
"""

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.cloud import KEY, ROOT, run_kmgen, write_input
from tests.fake_km import ServerProcess

FILES = 4


def run_spark(paths, toml, out):
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, '-m', 'kmgen', 'send', '--spark', 'local[2]'] + [str(p) for p in paths]
                          + ['--config', str(toml), '--dead-letter', str(out)], cwd=str(ROOT),
                          stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    summary = '\n'.join(line for line in proc.stderr.splitlines() if line.startswith('kmgen send:'))
    if proc.returncode != 0:
        raise SystemExit('kmgen send --spark failed (%s):\n%s' % (proc.returncode, proc.stderr[-3000:]))
    return seconds, summary


def measure(events):
    server = ServerProcess()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            toml = tmp / 'kmgen.toml'
            toml.write_text('api_key = "%s"\ntracking_host = "%s"\n' % (KEY, server.url))
            paths = []
            for f in range(FILES):
                path = tmp / ('in-%d.jsonl' % f)
                write_input(path, events // FILES)
                paths.append(path)
            whole = tmp / 'all.jsonl'
            with open(whole, 'wb') as out:
                for path in paths:
                    out.write(path.read_bytes())
            server.reset()
            send_s, send_summary, _ = run_kmgen(whole, toml, tmp)
            server.reset()
            spark_s, spark_summary = run_spark(paths, toml, tmp / 'out')
            job = float(re.search(r' in ([\d.]+)s', spark_summary).group(1))
            delivered = int(re.search(r'delivered ([\d,]+) events', spark_summary).group(1).replace(',', ''))
    finally:
        server.stop()
    return {'events': events, 'send_s': send_s, 'spark_s': spark_s, 'startup_s': spark_s - job, 'job_s': job,
            'delivered': delivered, 'send_summary': send_summary, 'spark_summary': spark_summary}


def table_rows(events=1000000):
    m = measure(events)
    n = m['events']
    steady = n / m['job_s']
    return [('Spark local[2] vs kmgen send, events/s (%s events, wall clock)' % format(n, ','),
             '%s (steady %s; start-up %.1f s)' % (format(int(n / m['spark_s']), ','), format(int(steady), ','),
                                                  m['startup_s']),
             'send %s' % format(int(n / m['send_s']), ','), '%.2fx' % (m['send_s'] / m['spark_s']),
             'all delivered', 'yes' if m['delivered'] == n else 'no')], m


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
