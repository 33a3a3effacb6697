"""Browser harness: every request of a test page is answered by routing. Pages and built
files come from memory or disk on http://127.0.0.1:9 (nothing listens there: routing
answers first); Kissmetrics' and Tapstream's hosts get test doubles or are blocked; any
other host is aborted, so no test ever reaches the internet."""

import json
import shutil
from pathlib import Path

import pytest

from kmgen.device.build import build
from tests.conftest import API_KEY, ROOT

ORIGIN = 'http://127.0.0.1:9'
DOUBLES = ROOT / 'tests' / 'doubles'
KM_LIBRARY = '//scripts.kissmetrics.io/%s.2.js'
ALLOWED_GLOBALS = {'_kmq', '_kmk', '_tsq', 'KM_SKIP_PAGE_VIEW', 'KM_COOKIE_DOMAIN'}


def write_config(path, **settings):
    lines = ['api_key = "%s"' % API_KEY]
    for key, value in settings.items():
        lines.append('%s = %s' % (key, json.dumps(value)))
    path.write_text('\n'.join(lines) + '\n', encoding='utf-8')
    return path


@pytest.fixture(scope='session')
def sites(tmp_path_factory):
    """Test builds: name -> dist directory."""
    tmp = tmp_path_factory.mktemp('sites')
    configs = {
        'plain': {'initial_page': False},
        'src': {'initial_page': False, 'script_src': 'https://cdn.kmgen.test/kmgen.min.js'},
        'paged': {},
        'tapstream': {'initial_page': False, 'tapstream_account': 'shop</script>&co', 'cookie_domain': '.kmgen.test'},
        'custom': {'initial_page': False, 'api_name': 'km', 'prefix_properties': False, 'group_prefix': 'Team'},
    }
    out = {}
    for name, settings in configs.items():
        config = write_config(tmp / (name + '.toml'), **settings)
        out[name] = build(config, tmp / 'dist' / name)[0]
    shutil.copytree(ROOT / 'dist' / 'shop', tmp / 'dist' / 'shop')
    out['shop'] = tmp / 'dist' / 'shop'
    return out


class Server:
    """What the routes answer: URL -> (status, headers, body); requests are logged."""

    def __init__(self):
        self.files = {}
        self.log = []
        self.km_library = 'double'  # 'double' | 'blocked'

    def page(self, name, html, headers=None):
        url = '%s/%s' % (ORIGIN, name)
        self.files[url] = (200, {'content-type': 'text/html', **(headers or {})}, html.encode())
        return url

    def file(self, url, path_or_text, content_type='application/javascript'):
        body = path_or_text.read_bytes() if isinstance(path_or_text, Path) else path_or_text.encode()
        self.files[url] = (200, {'content-type': content_type, 'access-control-allow-origin': '*'}, body)

    def handle(self, route):
        url = route.request.url
        self.log.append(url)
        bare = url.split('?')[0]
        if bare in self.files:
            status, headers, body = self.files[bare]
            return route.fulfill(status=status, headers=headers, body=body)
        host = bare.split('/')[2]
        if host in ('scripts.kissmetrics.io',) and self.km_library == 'double':
            return route.fulfill(status=200, content_type='application/javascript',
                                 body=(DOUBLES / 'km_library_double.js').read_text())
        if host == 'cdn.tapstream.com':
            return route.fulfill(status=200, content_type='application/javascript',
                                 body=(DOUBLES / 'tapstream_double.js').read_text())
        if host == 'i.kissmetrics.io':
            return route.fulfill(status=200, content_type='application/javascript', body='/* i.js double */')
        if host == 'trk.kissmetrics.io':
            return route.fulfill(status=200, content_type='image/gif', body=b'GIF89a')
        return route.abort()


@pytest.fixture
def server(context):
    server = Server()
    context.route('**/*', server.handle)
    return server


@pytest.fixture
def watched(page):
    """The page, with its uncaught errors and console warnings collected."""
    errors, warnings = [], []
    page.on('pageerror', lambda exc: errors.append(str(exc)))
    page.on('console', lambda msg: warnings.append(msg.text) if msg.type == 'warning' else None)
    page.kmgen_errors = errors
    page.kmgen_warnings = warnings
    return page


def snippet(site):
    return (site / 'snippet.html').read_text(encoding='utf-8')


def html(*parts, head=''):
    return '<!doctype html><html><head><title>kmgen test</title>%s</head><body>%s</body></html>' % (
        head, ''.join(parts))


SNAPSHOT = '''() => {
  const names = (o) => Object.getOwnPropertyNames(o).sort();
  return {globals: names(window), Object: names(Object.prototype), Array: names(Array.prototype),
          String: names(String.prototype), Function: names(Function.prototype), Number: names(Number.prototype)};
}'''
