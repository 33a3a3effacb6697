"""esbuild, pinned in package.json: the transpiled rules + js_runtime/ -> one IIFE."""

import json
import os
import shutil
import subprocess
from pathlib import Path

from ..errors import BuildError
from ..paths import project_root

ESBUILD_HINT = 'run `npm ci` in the kmgen checkout or set KMGEN_ESBUILD to the esbuild binary'


def find_esbuild():
    """The pinned esbuild: $KMGEN_ESBUILD, else node_modules/.bin/esbuild in the current
    directory or one above it, else in the checkout kmgen runs from."""
    explicit = os.environ.get('KMGEN_ESBUILD')
    if explicit:
        return Path(explicit)
    places = [Path.cwd(), *Path.cwd().parents]
    root = project_root()
    if root is not None:
        places.append(root)
    for place in places:
        candidate = place / 'node_modules' / '.bin' / 'esbuild'
        if candidate.is_file():
            return candidate
    raise BuildError('esbuild not found: %s.' % ESBUILD_HINT)


def esbuild_version(binary=None):
    binary = binary or find_esbuild()
    package = binary.resolve().parent.parent / 'package.json'
    if package.is_file():
        return json.loads(package.read_text(encoding='utf-8'))['version']
    return subprocess.run([str(binary), '--version'], capture_output=True, text=True).stdout.strip()


def node_binary():
    node = shutil.which('node')
    if node is None:
        raise BuildError('node not found: install Node.js 18 or newer (apt-get install -y nodejs).')
    return node


def bundle(entry, out_file, global_name, minify=False, fmt='iife'):
    """Bundle ``entry`` (an ES module) into ``out_file``: an IIFE (assigned to ``global_name``
    when given, else self-contained) or, with ``fmt='esm'``, an ES module."""
    # Run where the entry lives, with relative paths: esbuild names source files in comments.
    entry = Path(entry)
    args = [str(find_esbuild()), entry.name, '--bundle', '--format=' + fmt, '--target=es2015',
            '--charset=utf8', '--legal-comments=none', '--log-level=error',
            '--outfile=' + str(Path(out_file).resolve())]
    if global_name:
        args.append('--global-name=' + global_name)
    if minify:
        args.append('--minify')
    proc = subprocess.run(args, capture_output=True, text=True, cwd=entry.parent)
    if proc.returncode != 0:
        raise BuildError('esbuild failed: %s' % (proc.stderr.strip().splitlines() or ['no output'])[0])
    return Path(out_file)
