"""Device-mode figures: bundle size against the peers, per-call cost in Chromium against the
floor (bench/peers/floor.js, in the same page, interleaved), and the worst time one hostile
"bomb" call holds the main thread."""

import gzip
import json
import subprocess
from pathlib import Path

from kmgen.device.bundle import find_esbuild
from kmgen.parity import CHROMIUM, CHROMIUM_ARGS, html, routed_page

ROOT = Path(__file__).resolve().parent.parent
PEERS = Path(__file__).resolve().parent / 'peers'
KEY = '0123456789abcdef0123456789abcdef01234567'
ORDER = {'order_id': 'o-1', 'total': 30.5, 'revenue': '$30.50', 'currency': 'USD',
         'shipping': {'method': 'ground', 'address': {'city': 'Paris', 'zip': '75001'}}, 'coupon': None,
         'products': [{'sku': 'A-%d' % i, 'name': 'Item %d' % i, 'price': 10.5 + i, 'quantity': 1,
                       'tags': ['a', 'b']} for i in range(3)]}
# (label, method, arguments, goal as a multiple of the floor, Segment's and RudderStack's
# ratios as measured at integration level in the same Chromium; their code is not ours to ship).
PAYLOADS = [
    ("track('Order Completed', revenue, 3 products, nested)", 'track', ['Order Completed', ORDER], 12, 27, 12),
    ("track('Signed Up', {plan, seats})", 'track', ['Signed Up', {'plan': 'pro', 'seats': 3}], 6, 22, 6),
    ("identify('u1', {email, name, plan})", 'identify',
     ['u1', {'email': 'ada@example.test', 'name': 'Ada', 'plan': 'pro'}], 3, 21, 3),
]
# Inputs that would hold the page for seconds if walked naively (DESIGN, Limits); each is
# built in the page, then passed to one track() call.
BOMBS = {
    '1e8-character string': "({s: 'x'.repeat(1e8)})",
    '1e6-key object': "(() => { const o = {}; for (let i = 0; i < 1e6; i++) o['k' + i] = i; return o; })()",
    '30-level DAG of shared objects': "(() => { let o = {leaf: 1}; for (let i = 0; i < 30; i++) o = {a: o, b: o}; return o; })()",
    'sparse array of length 2**32-1': "({list: new Array(2 ** 32 - 1)})",
    '10,000-deep nesting': "(() => { let o = {}; for (let i = 0; i < 10000; i++) o = {n: o}; return o; })()",
    'Proxy whose every trap throws': "new Proxy({}, new Proxy({}, {get() { return () => { throw new Error('trap'); }; }}))",
}


def budget():
    """The committed size budget (bench/budget.json)."""
    return json.loads((Path(__file__).resolve().parent / 'budget.json').read_text(encoding='utf-8'))


def minified(path):
    """``path`` minified by the pinned esbuild (what a site would ship)."""
    text = path.read_text().replace('KEY', KEY)
    proc = subprocess.run([str(find_esbuild()), '--minify', '--loader=js'], input=text, capture_output=True,
                          text=True, check=True)
    return proc.stdout.encode()


def sizes(path):
    body = path.read_bytes() if isinstance(path, Path) else path
    return len(body), len(gzip.compress(body, 9, mtime=0))


def bundle_sizes():
    """{name: (bytes, gzip bytes)} for every example's kmgen.min.js and snippet.html, and the peers."""
    out = {}
    for site in sorted((ROOT / 'dist').iterdir()):
        for name in ('kmgen.min.js', 'snippet.html'):
            if (site / name).is_file():
                out['%s (%s)' % (name, site.name)] = sizes(site / name)
    out['Kissmetrics loader snippet'] = sizes(minified(PEERS / 'km_loader.js'))
    out['hand-minimal floor'] = sizes(minified(PEERS / 'floor.js'))
    return out


TIMING = '''([api, method, args, n]) => {
  const target = window[api], queue = window._kmq;
  for (let i = 0; i < 2000; i++) { target[method].apply(target, args); if ((i & 255) === 255) queue.length = 0; }
  queue.length = 0;
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    target[method].apply(target, args);
    if ((i & 1023) === 1023) queue.length = 0;
  }
  const spent = performance.now() - started;
  queue.length = 0;
  return spent * 1000 / n;
}'''

BOMB = '''([source]) => {
  const value = (0, eval)(source), queue = window._kmq, before = queue.length;
  const started = performance.now();
  window.analytics.track('Bomb', value);
  const ms = performance.now() - started;
  const pushed = queue.length - before;
  queue.length = 0;
  return [ms, pushed];
}'''


def _page(browser, markup):
    context, page, router = routed_page(browser)
    page.goto(router.page('bench.html', html(markup)))
    return context, page


def per_call(calls=100000, rounds=5, bombs=True):
    """({label: (kmgen us/call, floor us/call)}, {bomb: ms}): the payloads in one Chromium
    page, kmgen and the floor interleaved round by round (best round of each), then each
    bomb once (``bombs=False`` skips them, for a build that does not bound its input)."""
    from playwright.sync_api import sync_playwright
    snippet = (ROOT / 'dist' / 'shop' / 'snippet.html').read_text()
    floor = '<script>%s</script>' % minified(PEERS / 'floor.js').decode()
    out, worst = {}, {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context, page = _page(browser, snippet + floor)
        for label, method, args, *_ in PAYLOADS:
            best = {'analytics': float('inf'), 'floor': float('inf')}
            for _ in range(rounds):
                for api in best:
                    best[api] = min(best[api], page.evaluate(TIMING, [api, method, args, calls]))
            out[label] = (best['analytics'], best['floor'])
        for name, source in BOMBS.items() if bombs else ():
            worst[name] = page.evaluate(BOMB, [source])[0]
        context.close()
        browser.close()
    return out, worst
