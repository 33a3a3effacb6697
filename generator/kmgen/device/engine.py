"""The JavaScript engine: the transpiled, bundled rules run by Node, for `kmgen ops
--engine js` and for the tests that hold both runtimes to the same vectors."""

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import BuildError
from ..paths import PACKAGE_DIR, data_dir
from .bundle import bundle, esbuild_version, find_esbuild, node_binary
from .subset import RULES_DIR
from .transpile import transcrypt_version, transpile

DRIVER = Path(__file__).resolve().parent / 'node_engine.mjs'
ENTRY = ("export { map_call, DEFAULTS } from './mapping.js';\n"
         "import * as portable from './portable.js';\nexport { portable };\n")


def cache_dir():
    root = os.environ.get('KMGEN_CACHE_DIR') or os.path.join(
        os.environ.get('XDG_CACHE_HOME') or os.path.expanduser('~/.cache'), 'kmgen')
    return Path(root)


def inputs_digest(extra=''):
    """sha256 over everything a rules bundle is built from (sources, runtime, tool versions)."""
    digest = hashlib.sha256()
    for path in sorted(RULES_DIR.glob('*.py')) + sorted(data_dir('js_runtime').glob('*.js')) + [
            PACKAGE_DIR / 'device' / 'transpile.py']:
        digest.update(path.name.encode() + b'\0' + path.read_bytes() + b'\0')
    digest.update(('%s|%s|%s' % (transcrypt_version(), esbuild_version(), extra)).encode())
    return digest.hexdigest()


def engine_bundle():
    """Path of the rules bundle for Node, built once per input digest and cached."""
    find_esbuild()
    target = cache_dir() / ('rules-' + inputs_digest('engine')[:20]) / 'engine.js'
    if target.is_file():
        return target
    with tempfile.TemporaryDirectory(prefix='kmgen-engine-') as tmp:
        transpile(tmp)
        entry = Path(tmp) / 'entry.js'
        entry.write_text(ENTRY, encoding='utf-8')
        built = bundle(entry, Path(tmp) / 'engine.js', 'kmgenRules')
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = target.with_suffix('.tmp%d' % os.getpid())
            shutil.copyfile(built, staging)
            os.replace(staging, target)
        except OSError as err:
            raise BuildError('cannot write the rules bundle to %s (%s): set KMGEN_CACHE_DIR to a writable '
                             'directory.' % (target.parent, err.strerror or err)) from None
    return target


def run(requests, purity=False):
    """Run JSON requests (see node_engine.mjs) through Node; returns one output line each
    (plus a purity report as the last line when ``purity``)."""
    payload = ''.join(json.dumps(r, allow_nan=False) + '\n' for r in requests)
    args = [node_binary(), str(DRIVER), str(engine_bundle())] + (['--purity'] if purity else [])
    proc = subprocess.run(args, input=payload, capture_output=True, text=True, encoding='utf-8')
    if proc.returncode != 0:
        raise BuildError('the JavaScript engine failed: %s' % (proc.stderr.strip() or 'no output'))
    # Only '\n' ends a line: JSON text may hold U+0085, U+2028 and U+2029 unescaped.
    return proc.stdout.split('\n')[:-1]


def map_call_js(call, settings):
    """The ops for one call from the transpiled rules, as canonical JSON text."""
    line = run([{'call': call, 'settings': settings}])[0]
    if line.startswith('{"error":'):
        raise BuildError('the JavaScript rules threw: %s' % json.loads(line)['error'].splitlines()[0])
    return line
