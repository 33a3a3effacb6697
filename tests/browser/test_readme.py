"""The README's analytics-next example works as pasted: bundled with the real
@segment/analytics-next, a call resolves and reaches _kmq, and nothing goes to Segment's CDN
or API (the router aborts those hosts, as an unreachable CDN would)."""

import os
import re
import subprocess

from kmgen.device.bundle import find_esbuild
from kmgen.parity import ORIGIN, html
from tests.conftest import ROOT

TAIL = '''
window.kmgenTrack = () => analytics.track('Signed Up', {plan: 'pro'}).then(() => JSON.stringify(window._kmq));
'''


def readme_example():
    blocks = re.findall(r'```js\n(.*?)```', (ROOT / 'README.md').read_text(encoding='utf-8'), re.S)
    return next(block for block in blocks if 'AnalyticsBrowser.load' in block)


def test_the_readme_analytics_next_example_resolves_calls_without_segment(tmp_path, server, watched):
    code = readme_example().replace("'./dist/shop/plugin.js'", repr(str(ROOT / 'dist' / 'shop' / 'plugin.js')))
    (tmp_path / 'entry.js').write_text(code + TAIL, encoding='utf-8')
    subprocess.run([str(find_esbuild()), str(tmp_path / 'entry.js'), '--bundle', '--format=iife',
                    '--platform=browser', '--target=es2018', '--log-level=error',
                    '--define:process.env.NODE_ENV="production"', '--outfile=' + str(tmp_path / 'readme.js')],
                   check=True, env={**os.environ, 'NODE_PATH': str(ROOT / 'node_modules')}, timeout=120)
    server.km_library = 'blocked'
    server.file(ORIGIN + '/readme.js', tmp_path / 'readme.js')
    watched.goto(server.page('readme.html', html('<script src="/readme.js"></script>')))
    kmq = watched.evaluate('() => Promise.race([window.kmgenTrack(), '
                           'new Promise((resolve) => setTimeout(() => resolve("timed out"), 10000))])')
    assert '["record","Signed Up",{"Signed Up - plan":"pro"}]' in kmq
    assert [url for url in server.log if 'segment' in url] == []
