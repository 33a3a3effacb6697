"""A local npm registry on 127.0.0.1 for the esbuild download tests: it serves the real
@esbuild/<platform> tarball from npm's own cache (~/.npm/_cacache, filled by `npm ci`), found
by the integrity hash package-lock.json pins, so no test reaches the internet."""

import base64
import http.server
import os
import threading
from pathlib import Path

import pytest

from kmgen.device.bundle import PLATFORMS, pinned


def cached_tarball():
    """(platform, version, bytes) of the pinned esbuild binary package, or skip the test."""
    version, hashes = pinned()
    platform = PLATFORMS.get((os.uname().sysname.lower(), os.uname().machine))
    if platform is None:
        pytest.skip('no esbuild package for this platform')
    digest = base64.b64decode(hashes[platform].split('-', 1)[1]).hex()
    path = Path.home() / '.npm' / '_cacache' / 'content-v2' / 'sha512' / digest[:2] / digest[2:4] / digest[4:]
    if not path.is_file():
        pytest.skip('the esbuild tarball is not in npm\'s cache (run npm ci)')
    return platform, version, path.read_bytes()


class Registry:
    """Serves ``body`` at /@esbuild/<platform>/-/<platform>-<version>.tgz; counts requests."""

    def __init__(self, platform, version, body):
        self.path = '/@esbuild/%s/-/%s-%s.tgz' % (platform, platform, version)
        self.body, self.requests = body, 0
        registry = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                registry.requests += 1
                found = self.path == registry.path
                self.send_response(200 if found else 404)
                self.send_header('content-length', str(len(registry.body) if found else 0))
                self.end_headers()
                if found:
                    self.wfile.write(registry.body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:%d' % self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def registry():
    server = Registry(*cached_tarball())
    yield server
    server.close()
