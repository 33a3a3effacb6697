"""Browser harness: every request of a test page is answered by kmgen.parity.Router: pages
and built files from memory, Kissmetrics' and Tapstream's hosts test doubles (or blocked),
beacons recorded, any other host aborted, so no test ever reaches the internet."""

import json
import shutil

import pytest

from kmgen.device.build import build
from kmgen.parity import Router
from tests.conftest import API_KEY, ROOT

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
        'no_page_view': {'initial_page': False, 'record_page_view': False},
        'root_src': {'initial_page': False, 'script_src': '/static/kmgen.min.js'},
    }
    out = {}
    for name, settings in configs.items():
        config = write_config(tmp / (name + '.toml'), **settings)
        out[name] = build(config, tmp / 'dist' / name)[0]
    shutil.copytree(ROOT / 'dist' / 'shop', tmp / 'dist' / 'shop')
    out['shop'] = tmp / 'dist' / 'shop'
    return out


@pytest.fixture
def server(context):
    server = Router()
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


SNAPSHOT = '''() => {
  const names = (o) => Object.getOwnPropertyNames(o).sort();
  return {globals: names(window), Object: names(Object.prototype), Array: names(Array.prototype),
          String: names(String.prototype), Function: names(Function.prototype), Number: names(Number.prototype)};
}'''
