"""The JavaScript engine: the transpiled, bundled rules run by Node, for `kmgen ops
--engine js` and for the tests that hold both runtimes to the same vectors."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..errors import BuildError
from ..paths import PACKAGE_DIR, cache_dir, data_dir
from .bundle import bundle, esbuild_version, find_esbuild, node_binary
from .subset import RULES_DIR
from .transpile import transcrypt_version, transpile

DRIVER = Path(__file__).resolve().parent / 'node_engine.mjs'
ENTRY = ("export { map_call, DEFAULTS } from './mapping.js';\n"
         "import * as portable from './portable.js';\nexport { portable };\n")


def inputs_digest(extra='', ruleset=None):
    """sha256 over everything a rules bundle is built from (sources, the site's rules,
    runtime, tool versions)."""
    digest = hashlib.sha256()
    if ruleset is not None and ruleset.source is not None:
        digest.update(b'site\0' + ruleset.source.encode('utf-8', 'surrogatepass') + b'\0')
    for path in sorted(RULES_DIR.glob('*.py')) + sorted(data_dir('js_runtime').glob('*.js')) + [
            PACKAGE_DIR / 'device' / 'transpile.py']:
        digest.update(path.name.encode() + b'\0' + path.read_bytes() + b'\0')
    digest.update(('%s|%s|%s' % (transcrypt_version(), esbuild_version(), extra)).encode())
    return digest.hexdigest()


def engine_bundle(ruleset=None):
    """Path of the rules bundle for Node (with ``ruleset``'s site rules, if any), built once
    per input digest and cached."""
    find_esbuild()
    target = cache_dir() / ('rules-' + inputs_digest('engine', ruleset)[:20]) / 'engine.js'
    if target.is_file():
        return target
    with tempfile.TemporaryDirectory(prefix='kmgen-engine-') as tmp:
        transpile(tmp, ruleset=ruleset)
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


def run(requests, purity=False, ruleset=None, warnings=None):
    """Run JSON requests (see node_engine.mjs) through Node; returns one output line each
    (plus a purity report as the last line when ``purity``). The rules' console.warn lines
    go to ``warnings`` (a list) when given, else to stderr."""
    payload = ''.join(json.dumps(r, allow_nan=False) + '\n' for r in requests)
    args = [node_binary(), str(DRIVER), str(engine_bundle(ruleset))] + (['--purity'] if purity else [])
    proc = subprocess.run(args, input=payload, capture_output=True, text=True, encoding='utf-8')
    if proc.returncode != 0:
        raise BuildError('the JavaScript engine failed: %s' % (proc.stderr.strip() or 'no output'))
    if warnings is not None:
        warnings.extend(proc.stderr.splitlines())
    elif proc.stderr:
        sys.stderr.write(proc.stderr)
    # Only '\n' ends a line: JSON text may hold U+0085, U+2028 and U+2029 unescaped.
    return proc.stdout.split('\n')[:-1]


def map_call_js(call, settings, ruleset=None):
    """The ops for one call from the transpiled rules (and ``ruleset``'s site rules), as
    canonical JSON text."""
    line = run([{'call': call, 'settings': settings}], ruleset=ruleset)[0]
    if line.startswith('{"error":'):
        raise BuildError('the JavaScript rules threw: %s' % json.loads(line)['error'].splitlines()[0])
    return line
