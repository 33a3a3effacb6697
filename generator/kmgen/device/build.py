"""`kmgen build`: config -> transpiled rules -> esbuild bundle -> rendered templates -> dist/.

Same input, same bytes: no timestamps, no absolute paths, sorted JSON, ``\\n`` endings.
Nothing is written unless every step succeeded.
"""

import base64
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import jinja2

from .. import __version__, config, ruleset as ruleset_module
from ..errors import BuildError
from ..paths import data_dir
from .bundle import bundle, esbuild_version, find_esbuild
from .engine import inputs_digest
from .transpile import transcrypt_version, transpile

FILES = ('kmgen.js', 'kmgen.min.js', 'plugin.js', 'snippet.html', 'manifest.json')
TAPSTREAM_SRC = '//cdn.tapstream.com/static/js/tapstream.js'
IDENTITY_SRC = '//i.kissmetrics.io/i.js'
# Hosts the Kissmetrics library sends its beacons (images) to.
TRACKING_HOSTS = ('trk.kissmetrics.io', 'trk.kissmetrics.com')
# How long the script_src stub waits for kmgen.min.js before it runs the buffered callbacks.
SCRIPT_WAIT_MS = 10000
_JS_ESCAPES = {'<': '\\u003c', '>': '\\u003e', '&': '\\u0026', "'": '\\u0027',
               '\u2028': '\\u2028', '\u2029': '\\u2029'}


def js_literal(value):
    """JSON for a JavaScript source or an HTML <script>: keys sorted, and ``< > & '``
    and U+2028/9 escaped, so no config string can end the script or the line."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, allow_nan=False)
    return ''.join(_JS_ESCAPES.get(ch, ch) for ch in text)


def _environment():
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(data_dir('templates'))),
                             undefined=jinja2.StrictUndefined, autoescape=False,
                             keep_trailing_newline=True)
    env.filters['js'] = js_literal
    return env


def sri(data):
    return 'sha384-' + base64.b64encode(hashlib.sha384(data).digest()).decode()


def _minify_script(source, tmp):
    entry = Path(tmp) / 'script.js'
    entry.write_text(source, encoding='utf-8')
    proc = subprocess.run([str(find_esbuild()), str(entry), '--minify', '--target=es2015', '--charset=utf8',
                           '--log-level=error'], capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError('esbuild failed on the snippet: %s' % proc.stderr.strip())
    return proc.stdout.strip()


def template_context(settings):
    """What the templates are given: validated settings and the values derived from them."""
    # Always: the rules own Page View in both modes (record_page_view decides whether it
    # is sent); the library would otherwise record its own on every load.
    km_options = [('KM_SKIP_PAGE_VIEW', 1)]
    if settings['cookie_domain'] is not None:
        km_options.append(('KM_COOKIE_DOMAIN', settings['cookie_domain']))
    km_options.extend(('KM_SKIP_' + item.upper(), 1) for item in sorted(settings['km_skip']))
    return {
        'api_key': settings['api_key'],
        'api_name': settings['api_name'],
        'rule_settings': config.rule_settings(settings),
        'version': __version__,
        'initial_page': settings['initial_page'],
        'tapstream_account': settings['tapstream_account'],
        'tapstream_src': TAPSTREAM_SRC,
        'identity_src': IDENTITY_SRC,
        'library_src': '//%s/%s.2.js' % (settings['library_host'], settings['api_key']),
        'km_options': sorted(km_options),
        'wait_ms': SCRIPT_WAIT_MS,
    }


def _host_source(url):
    """A CSP source for a script URL: scheme-less ``host`` for ``//host/...`` (it then
    matches the page's own scheme), ``https://host`` for an https URL, 'self' for ``/path``."""
    if url.startswith('//'):
        return url[2:].split('/', 1)[0]
    if url.startswith('/'):
        return "'self'"
    return '/'.join(url.split('/', 3)[:3])


def csp_sources(settings, snippet_hash):
    """What a Content-Security-Policy must allow for the snippet: {directive: [sources]},
    and the ready header line."""
    scripts = [snippet_hash]
    if settings['script_src'] is not None:
        scripts.append(_host_source(settings['script_src']))
    scripts += [_host_source(IDENTITY_SRC), settings['library_host']]
    if settings['tapstream_account']:
        scripts.append(_host_source(TAPSTREAM_SRC))
    sources = {'script-src': list(dict.fromkeys(scripts)), 'img-src': list(TRACKING_HOSTS)}
    header = 'Content-Security-Policy: ' + '; '.join(k + ' ' + ' '.join(v) for k, v in sources.items())
    return sources, header


def render(config_path, settings):
    """Build every file in memory. Returns {file name: bytes}. No file name of the site's
    (config, site rules) is written: renaming them changes no byte and no hash."""
    env = _environment()
    context = template_context(settings)
    rules = ruleset_module.load(settings)
    header = ('kmgen %s | generated from kmgen.toml%s | do not edit: rebuild with `kmgen build`'
              % (__version__, ' and site rules' if rules.site is not None else ''))
    out = {}
    with tempfile.TemporaryDirectory(prefix='kmgen-build-') as tmp:
        tmp = Path(tmp)
        transpile(tmp, ruleset=rules)
        shutil.copyfile(data_dir('js_runtime') / 'device.js', tmp / 'device.js')
        for name in ('integration', 'plugin'):
            (tmp / (name + '.js')).write_text(env.get_template(name + '.js.j2').render(context), encoding='utf-8')
        bundle(tmp / 'integration.js', tmp / 'kmgen.js', None)
        bundle(tmp / 'integration.js', tmp / 'kmgen.min.js', None, minify=True)
        bundle(tmp / 'plugin.js', tmp / 'plugin.out.js', None, fmt='esm')
        for name, built in (('kmgen.js', 'kmgen.js'), ('kmgen.min.js', 'kmgen.min.js'), ('plugin.js', 'plugin.out.js')):
            out[name] = ('/* %s */\n' % header + (tmp / built).read_text(encoding='utf-8').rstrip('\n') + '\n').encode()
        if settings['script_src'] is None:
            script = out['kmgen.min.js'].decode().rstrip('\n')
        else:
            stub = env.get_template('stub.js.j2').render(
                context, script_src=settings['script_src'], integrity=sri(out['kmgen.min.js']))
            script = _minify_script(stub, tmp)
    # Inside <script>, only "</script" and "<!--" mean anything to HTML; in the minified JS
    # they can only sit in strings, templates or regexes, where "<\/" and "<\!" mean the same.
    script = re.sub('(?i)</(script)', r'<\\/\1', script).replace('<!--', '<\\!--')
    csp = "'sha256-%s'" % base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    sources, policy = csp_sources(settings, csp)
    out['snippet.html'] = env.get_template('snippet.html.j2').render(
        header=header, script=script, csp_policy=policy).encode()
    out['manifest.json'] = manifest(out, settings, config_path, csp, sources, policy, rules)
    return out


def manifest(files, settings, config_path, csp, sources, policy, rules=None):
    digest = hashlib.sha256(inputs_digest('build', rules).encode())
    digest.update(Path(config_path).read_bytes())
    for path in sorted(data_dir('templates').glob('*.j2')):
        digest.update(path.name.encode() + b'\0' + path.read_bytes())
    data = {
        'site': settings['site'],
        'files': {name: {'bytes': len(body), 'gzip_bytes': len(gzip.compress(body, 9, mtime=0)), 'sri': sri(body)}
                  for name, body in sorted(files.items())},
        'csp': {'snippet_script': csp, 'inline': settings['script_src'] is None, 'sources': sources,
                'policy': policy},
        'inputs_sha256': digest.hexdigest(),
        'versions': {'kmgen': __version__, 'transcrypt': transcrypt_version(), 'esbuild': esbuild_version()},
    }
    return (json.dumps(data, indent=2, sort_keys=True) + '\n').encode()


def out_dir_for(config_path, settings):
    """``dist/<site>`` (the ``site`` setting), else ``dist/<config file name>``."""
    return Path('dist') / (settings['site'] or Path(config_path).stem)


def build(config_path, out_dir=None):
    """Validate ``config_path``, build, and write the files into ``out_dir``
    (default ``dist/<site>``). Returns (out_dir, {name: bytes}, seconds)."""
    started = time.perf_counter()
    settings = config.load(config=config_path)
    out_dir = Path(out_dir) if out_dir is not None else out_dir_for(config_path, settings)
    files = render(config_path, settings)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, body in files.items():
            target = out_dir / name
            if not target.is_file() or target.read_bytes() != body:
                staging = target.with_name('.%s.tmp%d' % (name, os.getpid()))
                staging.write_bytes(body)
                os.replace(staging, target)
    except OSError as err:
        raise BuildError('cannot write %s: %s.' % (err.filename or out_dir, err.strerror or err)) from None
    return out_dir, files, time.perf_counter() - started
