"""Device-mode figures: bundle size against the peers, and per-call cost in Chromium."""

import gzip
import subprocess
from pathlib import Path

from kmgen.device.bundle import find_esbuild
from kmgen.parity import CHROMIUM, CHROMIUM_ARGS, Router, html

ROOT = Path(__file__).resolve().parent.parent
PEERS = Path(__file__).resolve().parent / 'peers'
KEY = '0123456789abcdef0123456789abcdef01234567'
ORDER = {'order_id': 'o-1', 'total': 30.5, 'revenue': '$30.50', 'currency': 'USD',
         'shipping': {'method': 'ground', 'address': {'city': 'Paris', 'zip': '75001'}}, 'coupon': None,
         'products': [{'sku': 'A-%d' % i, 'name': 'Item %d' % i, 'price': 10.5 + i, 'quantity': 1,
                       'tags': ['a', 'b']} for i in range(3)]}


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
    """{name: (bytes, gzip bytes)} for every example's kmgen.min.js and the two peers."""
    out = {}
    for site in sorted((ROOT / 'dist').iterdir()):
        if (site / 'kmgen.min.js').is_file():
            body = (site / 'kmgen.min.js').read_bytes()
            body = body[body.index(b'\n') + 1:]   # without the one-line provenance comment
            out['kmgen.min.js (%s)' % site.name] = sizes(body)
    out['Kissmetrics loader snippet'] = sizes(minified(PEERS / 'km_loader.js'))
    out['hand-minimal floor'] = sizes(minified(PEERS / 'floor.js'))
    return out


TIMING = '''([api, n, props]) => {
  const target = window[api], queue = window._kmq;
  for (let i = 0; i < 2000; i++) { target.track('Order Completed', props); }   // warm-up
  queue.length = 0;
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    target.track('Order Completed', props);
    if ((i & 1023) === 1023) queue.length = 0;
  }
  return (performance.now() - started) * 1000 / n;
}'''


def per_call(calls=100000):
    """Microseconds per track('Order Completed', ...) in Chromium: kmgen vs the floor."""
    from playwright.sync_api import sync_playwright
    snippet = (ROOT / 'dist' / 'shop' / 'snippet.html').read_text()
    floor = '<script>%s</script>' % minified(PEERS / 'floor.js').decode()
    out = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for name, markup, api in (('kmgen', snippet, 'analytics'), ('floor', floor, 'floor')):
            context = browser.new_context()
            router = Router()
            router.km_library = 'blocked'
            context.route('**/*', router.handle)
            page = context.new_page()
            page.goto(router.page('bench.html', html(markup)))
            runs = [page.evaluate(TIMING, [api, calls, ORDER]) for _ in range(3)]
            out[name] = min(runs)
            context.close()
        browser.close()
    return out
