"""esbuild, pinned in package-lock.json: the transpiled rules + js_runtime/ -> one IIFE."""

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.request
from pathlib import Path

from ..errors import BuildError
from ..paths import cache_dir, data_file, project_root

PLATFORMS = {('linux', 'x86_64'): 'linux-x64', ('linux', 'aarch64'): 'linux-arm64',
             ('darwin', 'x86_64'): 'darwin-x64', ('darwin', 'arm64'): 'darwin-arm64'}
DEFAULT_REGISTRY = 'https://registry.npmjs.org'
_FOUND = {}


def pinned():
    """(version, {platform: sha512 integrity}) of esbuild as package-lock.json pins it."""
    lock = json.loads(data_file('package-lock.json').read_text(encoding='utf-8'))['packages']
    version = lock['node_modules/esbuild']['version']
    hashes = {name.rsplit('/', 1)[1]: entry['integrity'] for name, entry in lock.items()
              if name.startswith('node_modules/@esbuild/') and entry.get('version') == version}
    return version, hashes


def hint(version):
    return ('install it with `npm install esbuild@%s` in this directory, or set KMGEN_ESBUILD to an esbuild '
            '%s binary' % (version, version))


def find_esbuild():
    """The pinned esbuild, found or brought (docs/install.md):

    1. $KMGEN_ESBUILD;
    2. node_modules/.bin/esbuild in the current directory or one above it, or in the
       checkout kmgen runs from;
    3. ``esbuild`` on PATH, when it is the pinned version;
    4. kmgen's own copy in the user cache, fetched once from the npm registry
       ($npm_config_registry, else registry.npmjs.org) and checked against the
       package-lock.json integrity hash.

    Raises:
        BuildError: none of these, with the reason and how to get it.
    """
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
    version, hashes = pinned()
    on_path = shutil.which('esbuild')
    if on_path is not None and _version_of(on_path) == version:
        return Path(on_path)
    return _cached_esbuild(version, hashes)


def _version_of(binary):
    try:
        return subprocess.run([binary, '--version'], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def _cached_esbuild(version, hashes):
    platform = PLATFORMS.get((sys.platform, os.uname().machine if hasattr(os, 'uname') else ''))
    if platform is None or platform not in hashes:
        raise BuildError('esbuild %s not found, and kmgen cannot fetch it for this platform: %s.'
                         % (version, hint(version)))
    home = cache_dir() / ('esbuild-%s-%s' % (version, platform))
    binary = home / 'esbuild'
    if binary.is_file():
        return binary
    registry = (os.environ.get('npm_config_registry') or DEFAULT_REGISTRY).rstrip('/')
    url = '%s/@esbuild/%s/-/%s-%s.tgz' % (registry, platform, platform, version)
    sys.stderr.write('kmgen: esbuild %s not found; fetching it once from %s into %s\n' % (version, url, home))
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            data = response.read()
    except (OSError, ValueError) as err:
        raise BuildError('esbuild %s not found and could not be fetched from %s (%s): %s.'
                         % (version, url, getattr(err, 'reason', None) or err, hint(version))) from None
    algorithm, _, expected = hashes[platform].partition('-')
    if base64.b64encode(hashlib.new(algorithm, data).digest()).decode() != expected:
        raise BuildError('esbuild %s from %s does not match the integrity hash in package-lock.json, so kmgen '
                         'did not use it: %s.' % (version, url, hint(version)))
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode='r:gz') as archive:
            body = archive.extractfile('package/bin/esbuild').read()
        home.mkdir(parents=True, exist_ok=True)
        staging = home / ('.esbuild.tmp%d' % os.getpid())
        staging.write_bytes(body)
        staging.chmod(0o755)
        os.replace(staging, binary)
    except (OSError, KeyError, tarfile.TarError) as err:
        raise BuildError('cannot install esbuild %s into %s (%s): set KMGEN_CACHE_DIR to a writable directory, '
                         'or %s.' % (version, home, getattr(err, 'strerror', None) or err, hint(version))) from None
    return binary


def esbuild_version(binary=None):
    binary = binary or find_esbuild()
    package = binary.resolve().parent.parent / 'package.json'
    if package.is_file():
        return json.loads(package.read_text(encoding='utf-8'))['version']
    return _version_of(str(binary))


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
