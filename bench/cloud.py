"""Cloud-mode throughput: `kmgen send` against the fake Kissmetrics server, next to the official
`py-kissmetrics` client measured in the same run (issue 5: at least 20x, flat memory).

Run from the repository root: ``.venv/bin/python -m bench.cloud`` (``--events N`` to change the
big run, ``--pykm N`` for the py-kissmetrics subset). Not part of pytest. It needs PyPI once, to
install ``py-kissmetrics==1.1.0`` (it pins ``urllib3<2``) into its own venv under the temp dir.

What runs where: the fake server (``tests/fake_km.py``, fast mode) in a process of its own;
``kmgen send`` as a subprocess exactly as a user runs it (its workers included), timed by the
wall clock from start to exit, so process start-up counts against it, with its journal on (as a
user runs it: every confirmed unit is journaled and synced); peak memory is the
largest sum of the RSS of kmgen's processes, sampled every 20 ms.
"""

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kmgen import config
from kmgen.cloud.requests import Builder, identity
from kmgen.rules import map_call
from kmgen.rules.mapping import timestamp
from kmgen.rules.values import text
from tests.fake_km import OK, ServerProcess

ROOT = Path(__file__).resolve().parent.parent
KEY = '0123456789abcdef0123456789abcdef01234567'
PYKM_VENV = Path(tempfile.gettempdir()) / 'kmgen-bench-pykm'
PYKM_DRIVER = r'''
import json, sys, time
from KISSmetrics import Client
port, path = sys.argv[1], sys.argv[2]
events = json.load(open(path))
client = Client(sys.argv[3], trk_host='127.0.0.1:' + port, trk_scheme='http')
requests = 0
start = time.perf_counter()
for calls in events:
    for kind, person, name, props, ts in calls:
        if kind == 'record':
            response = client.record(person, name, props, timestamp=ts)
        elif kind == 'set':
            response = client.set(person, props, timestamp=ts)
        else:
            response = client.alias(person, name)
        assert response.status == 200
        requests += 1
print(json.dumps({'seconds': time.perf_counter() - start, 'requests': requests}))
'''


def generate(n, seed=5):
    """``n`` Segment/RudderStack messages, the same for a given seed: tracks, identifies (half
    of them with an anonymousId to alias), pages, orders with products, groups, aliases, screens."""
    rand = random.Random(seed)
    for i in range(n):
        x = rand.random()
        ts = '2024-05-%02dT%02d:%02d:%02dZ' % (1 + i % 28, i % 24, i % 60, (i * 7) % 60)
        uid = 'user-%d' % rand.randrange(20000)
        if x < 0.5:
            m = {'type': 'track', 'event': rand.choice(['Signed Up', 'Viewed Product', 'Added to Cart', 'Played']),
                 'userId': uid, 'timestamp': ts, 'properties': {
                     'plan': rand.choice(['pro', 'free', 'team']), 'revenue': round(rand.random() * 100, 2),
                     'tags': ['a', 'b'], 'n': i, 'campaign': {'source': 'news letter', 'medium': 'email'}}}
        elif x < 0.65:
            m = {'type': 'identify', 'userId': uid, 'timestamp': ts, 'traits': {
                'email': 'u%d@example.com' % i, 'name': 'User %d' % i, 'plan': {'tier': 'pro', 'seats': i % 10}}}
            if i % 2:
                m['anonymousId'] = 'anon-%d' % i
        elif x < 0.8:
            m = {'type': 'page', 'anonymousId': 'anon-%d' % i, 'name': 'Docs', 'timestamp': ts,
                 'properties': {'url': 'https://example.com/docs/%d' % i, 'referrer': 'https://google.com/'}}
        elif x < 0.85:
            m = {'type': 'track', 'event': 'Order Completed', 'userId': uid, 'timestamp': ts, 'properties': {
                'order_id': 'o-%d' % i, 'total': 30.5, 'currency': 'EUR',
                'products': [{'sku': 'A-%d' % k, 'price': 10.5, 'quantity': 1} for k in range(rand.randrange(1, 4))]}}
        elif x < 0.9:
            m = {'type': 'group', 'userId': uid, 'groupId': 'g-%d' % rand.randrange(100), 'timestamp': ts,
                 'traits': {'name': 'Acme', 'employees': 250}}
        elif x < 0.95:
            m = {'type': 'alias', 'userId': uid, 'previousId': 'anon-%d' % i, 'timestamp': ts}
        else:
            m = {'type': 'screen', 'userId': uid, 'name': 'Settings', 'timestamp': ts,
                 'properties': {'section': 'privacy'}}
        yield m


def write_input(path, n):
    with open(path, 'w', encoding='utf-8') as handle:
        for message in generate(n):
            handle.write(json.dumps(message) + '\n')


def expected_requests(n, settings):
    builder = Builder(settings)
    return sum(len(builder.build(m)) for m in generate(n))


# -- memory ---------------------------------------------------------------------------------

def _rss_kb(pid):
    try:
        with open('/proc/%d/status' % pid) as handle:
            for line in handle:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree(pid):
    pids = [pid]
    for parent in pids:
        try:
            with open('/proc/%d/task/%d/children' % (parent, parent)) as handle:
                pids.extend(int(p) for p in handle.read().split())
        except OSError:
            pass
    return pids


def run_kmgen(path, toml, workdir):
    """Run ``kmgen send`` as a user would; returns (seconds, summary, peak RSS in MB)."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, '-m', 'kmgen', 'send', str(path), '--config', str(toml),
                             '--no-progress', '--dead-letter', str(workdir / 'dead.jsonl')],
                            cwd=str(ROOT), stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, sum(_rss_kb(pid) for pid in _tree(proc.pid)))
        time.sleep(0.02)
    seconds = time.perf_counter() - start
    err = proc.stderr.read()
    if proc.returncode != 0:
        raise SystemExit('kmgen send failed (%s):\n%s' % (proc.returncode, err))
    if not (workdir / 'dead.jsonl.journal').exists():
        raise SystemExit('kmgen send kept no journal: the benchmark must measure it with its journal on')
    return seconds, err.strip(), peak / 1024


# -- the fake server's own capacity -----------------------------------------------------------

async def _blast(port, connections, per_write, rounds):
    request = b'GET /e?_k=k&_p=p&_n=Signed%20Up&_t=1714564800&_d=1 HTTP/1.1\r\nHost: x\r\n\r\n'
    blob = request * per_write
    expect = len(OK) * per_write

    async def one():
        reader, writer = await asyncio.open_connection('127.0.0.1', port)
        for _ in range(rounds):
            writer.write(blob)
            got = 0
            while got < expect:
                got += len(await reader.read(1 << 20))
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*[one() for _ in range(connections)])
    return connections * per_write * rounds / (time.perf_counter() - start)


def server_capacity(server):
    """Requests/s the fake server answers when a raw client (which only counts answer bytes)
    loads it like kmgen does (16 connections, 16 requests pipelined on each) and in big
    pipelined blocks (4 connections, 500 at a time)."""
    return asyncio.run(_blast(server.port, 16, 16, 500)), asyncio.run(_blast(server.port, 4, 500, 100))


# -- client choice: the same 10,000 GETs from one process -------------------------------------------

async def _aiohttp(urls, concurrency):
    import aiohttp
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        queue = list(reversed(urls))

        async def worker():
            while queue:
                async with session.get(queue.pop(), skip_auto_headers=('Accept-Encoding',)) as response:
                    await response.read()
                    assert response.status == 200

        start = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        return len(urls) / (time.perf_counter() - start)


def _kmgen_client(urls, connections, pipeline):
    from kmgen.cloud.requests import Request
    from kmgen.cloud.sender import Options, deliver
    start = time.perf_counter()
    jobs = deliver([Request('GET', url) for url in urls], Options(connections=connections, pipeline=pipeline))
    assert all(job.tag is True for job in jobs)
    return len(urls) / (time.perf_counter() - start)


def client_choice(server, settings):
    builder = Builder(dict(settings, tracking_host=server.url))
    urls = [r.url for m in generate(7000, seed=9) for r in builder.build(m) if r.method == 'GET'][:10000]
    rows = []
    try:
        rows.append(('aiohttp %s, 64 concurrent requests' % __import__('aiohttp').__version__,
                     asyncio.run(_aiohttp(urls, 64))))
    except ImportError:
        rows.append(('aiohttp (not installed)', 0))
    rows.append(('kmgen http1, 64 connections, no pipelining', _kmgen_client(urls, 64, 1)))
    rows.append(('kmgen http1, 8 connections x 16 pipelined', _kmgen_client(urls, 8, 16)))
    return rows


# -- py-kissmetrics -------------------------------------------------------------------------

def pykm_python():
    python = PYKM_VENV / 'bin' / 'python'
    if not python.exists():
        print('installing py-kissmetrics==1.1.0 into %s ...' % PYKM_VENV, file=sys.stderr)
        subprocess.run([sys.executable, '-m', 'venv', str(PYKM_VENV)], check=True)
        subprocess.run([str(python), '-m', 'pip', 'install', '-q', '--disable-pip-version-check',
                        'py-kissmetrics==1.1.0'], check=True)
    return python


def pykm_calls(n, settings):
    """The same ops kmgen sends, as py-kissmetrics calls: (kind, person, name, props, ts)."""
    rules = config.rule_settings(settings)
    out = []
    for message in generate(n):
        person, anonymous, ts = identity(message), text(message.get('anonymousId')), timestamp(message)
        calls = []
        for op in map_call(message, rules):
            if op[0] == 'identify':
                if anonymous and anonymous != op[1]:
                    calls.append(('alias', anonymous, op[1], None, None))
            elif op[0] == 'record':
                calls.append(('record', person, op[1], op[2], ts))
            elif op[0] == 'set':
                props = dict(op[1])
                own = props.pop('_t', None)
                props.pop('_d', None)
                calls.append(('set', person, None, props, own if own is not None else ts))
            else:
                calls.append(('alias', op[2], op[1], None, None))
        out.append(calls)
    return out


def run_pykm(server, n, settings, workdir):
    python = pykm_python()
    calls = workdir / 'pykm.json'
    calls.write_text(json.dumps(pykm_calls(n, settings)))
    driver = workdir / 'pykm_driver.py'
    driver.write_text(PYKM_DRIVER)
    out = subprocess.run([str(python), str(driver), str(server.port), str(calls), KEY],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


# -- the report ---------------------------------------------------------------------------------

def measure(events=100000, small=10000, pykm_events=5000):
    """Run the whole cloud benchmark once; returns its figures (see ``report``)."""
    server = ServerProcess()
    settings = config.validate({'api_key': KEY, 'tracking_host': server.url})
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix='kmgen-bench-') as tmp:
            workdir = Path(tmp)
            toml = workdir / 'kmgen.toml'
            toml.write_text('api_key = "%s"\ntracking_host = "%s"\n' % (KEY, server.url))
            capacity = server_capacity(server)
            choice = client_choice(server, settings)
            for n in (small, events):
                path = workdir / ('events-%d.jsonl' % n)
                write_input(path, n)
                expected = expected_requests(n, settings)
                server.reset()
                seconds, summary, peak = run_kmgen(path, toml, workdir)
                received = server.count()
                if received != expected or 'failed 0,' not in summary:
                    raise SystemExit('kmgen send lost requests: %d of %d arrived\n%s' % (received, expected, summary))
                rows.append(('kmgen send', n, expected, seconds, peak, summary))
            server.reset()
            pykm = run_pykm(server, pykm_events, settings, workdir)
            if server.count() != pykm['requests']:
                raise SystemExit('py-kissmetrics: %d requests sent, %d arrived' % (pykm['requests'], server.count()))
            rows.append(('py-kissmetrics 1.1.0', pykm_events, pykm['requests'], pykm['seconds'], None, ''))
    finally:
        server.stop()
    big, pykm_row = rows[1], rows[2]
    return {
        'rows': rows, 'capacity': capacity, 'choice': choice,
        'ratio': (big[1] / big[3]) / (pykm_row[1] / pykm_row[3]),
        'ratio_requests': (big[2] / big[3]) / (pykm_row[2] / pykm_row[3]),
    }


def table_rows(quick=False):
    """The cloud lines of `python -m bench`'s table: (benchmark, kmgen, peer, ratio, goal, met)."""
    figures = measure(20000, 2000, 1000) if quick else measure()
    small, big, pykm = figures['rows']
    flat = big[4] <= small[4] * 1.25
    return [
        ('cloud: kmgen send, events/s (%s events; py-kissmetrics %s)' % (format(big[1], ','), format(pykm[1], ',')),
         format(int(big[1] / big[3]), ','), 'py-kissmetrics ' + format(int(pykm[1] / pykm[3]), ','),
         '%.1fx' % figures['ratio'], '>= 20x', 'yes' if figures['ratio'] >= 20 else 'no'),
        ('cloud: peak RSS at %s vs %s events' % (format(small[1], ','), format(big[1], ',')),
         '%.0f MB vs %.0f MB' % (small[4], big[4]), '-', '%.2f' % (big[4] / small[4]), 'flat', 'yes' if flat else 'no'),
    ]


def report(figures):
    rows, capacity, choice = figures['rows'], figures['capacity'], figures['choice']
    print('kmgen cloud benchmark: %d cores, fake Kissmetrics server in its own process' % os.cpu_count())
    print('fake server capacity: %s requests/s at 16 connections x 16 pipelined, %s requests/s in blocks of 500'
          % (format(int(capacity[0]), ','), format(int(capacity[1]), ',')))
    print()
    print('%-22s %9s %10s %9s %10s %12s %10s' % ('client', 'events', 'requests', 'seconds', 'events/s',
                                               'requests/s', 'peak RSS'))
    for name, events, requests, seconds, peak, _ in rows:
        print('%-22s %9s %10s %9.2f %10s %12s %10s' % (
            name, format(events, ','), format(requests, ','), seconds, format(int(events / seconds), ','),
            format(int(requests / seconds), ','), '%.0f MB' % peak if peak else '-'))
    big = rows[1]
    print()
    print('kmgen / py-kissmetrics: %.1fx events/s, %.1fx requests/s (wall clock, kmgen start-up included)'
          % (figures['ratio'], figures['ratio_requests']))
    print('peak RSS, %s vs %s events: %.0f MB vs %.0f MB (all kmgen processes)' % (
        format(rows[0][1], ','), format(big[1], ','), rows[0][4], big[4]))
    print('kmgen summary (%s events): %s' % (format(big[1], ','), re.sub(r'\s+', ' ', big[5])))
    print()
    print('HTTP client, the same 10,000 GETs from one process (one core):')
    for name, rate in choice:
        print('  %-48s %10s requests/s' % (name, format(int(rate), ',')))


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m bench.cloud', description=__doc__.split('\n\n')[0])
    parser.add_argument('--events', type=int, default=100000, help='events in the big run (default 100,000)')
    parser.add_argument('--small', type=int, default=10000, help='events in the small run (default 10,000)')
    parser.add_argument('--pykm', type=int, default=5000, help='events for py-kissmetrics (default 5,000)')
    args = parser.parse_args(argv)
    report(measure(args.events, args.small, args.pykm))


if __name__ == '__main__':
    main()
