"""A new user's journey with no kmgen checkout: the wheel into a fresh venv, `kmgen init`, a
site rule, `kmgen build` (esbuild fetched once from a local npm registry that serves the real
tarball), and the built snippet in Chromium applying the site rule."""

import json
import subprocess
import sys
import venv

from kmgen.parity import SEND_MESSAGES, html, run_in_page
from tests.conftest import API_KEY, ROOT
from tests.npm_registry import registry  # noqa: F401  (fixture)

SITE_RULE = '''from kmgen.rules.portable import field


def before(call, settings):
    if field(call, 'event', '') == 'Signup':
        call['event'] = 'Signed Up'
    return call
'''


def test_wheel_init_site_rule_build_and_snippet_in_chromium(tmp_path, registry, server, watched):
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '-q', '-w', str(tmp_path / 'wheel'),
                    str(ROOT)], check=True, capture_output=True, timeout=300)
    wheel = next((tmp_path / 'wheel').glob('kmgen-*.whl'))
    venv.create(tmp_path / 'venv', with_pip=True)
    subprocess.run([str(tmp_path / 'venv' / 'bin' / 'python'), '-m', 'pip', 'install', '-q',
                    '--disable-pip-version-check', str(wheel)], check=True, capture_output=True, timeout=300)
    env = {'PATH': '/usr/bin:/bin', 'HOME': str(tmp_path), 'KMGEN_CACHE_DIR': str(tmp_path / 'cache'),
           'npm_config_registry': registry.url}
    site = tmp_path / 'shop'
    kmgen = str(tmp_path / 'venv' / 'bin' / 'kmgen')

    def run(*args):
        return subprocess.run([kmgen, *args], cwd=site, env=env, capture_output=True, text=True, timeout=300)

    site.mkdir()
    assert run('init').returncode == 0
    config = site / 'kmgen.toml'
    config.write_text(config.read_text().replace('api_key = ""', 'api_key = "%s"' % API_KEY))
    (site / 'site_rules.py').write_text(SITE_RULE)
    proc = run('build')
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith('kmgen: esbuild 0.28.2 not found; fetching it once from %s' % registry.url)
    assert proc.stdout.splitlines()[-1].startswith('Built dist/shop in ')
    server.km_library = 'blocked'
    watched.goto(server.page('shop.html', html((site / 'dist' / 'shop' / 'snippet.html').read_text())))
    result = run_in_page(watched, SEND_MESSAGES, 'analytics',
                         [{'type': 'track', 'event': 'Signup', 'properties': {'plan': 'pro'}}])
    assert json.dumps(result['kmq']) == '[["record", "Signed Up", {"Signed Up - plan": "pro"}]]'
    assert watched.kmgen_errors == []
