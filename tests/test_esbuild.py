"""Finding or bringing the pinned esbuild (docs/install.md): node_modules first, then PATH
(pinned version only), then one download from the npm registry into the user cache,
checked against package-lock.json's integrity hash; otherwise how to get it."""

import socket

import pytest

from kmgen.device import bundle
from kmgen.errors import BuildError
from tests.npm_registry import registry  # noqa: F401  (fixture)


@pytest.fixture
def bare(tmp_path, monkeypatch):
    """No node_modules, no checkout, no esbuild on PATH, an empty cache."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bundle, 'project_root', lambda: None)
    monkeypatch.delenv('KMGEN_ESBUILD', raising=False)
    monkeypatch.setenv('PATH', str(tmp_path / 'bin'))
    monkeypatch.setenv('KMGEN_CACHE_DIR', str(tmp_path / 'cache'))
    return tmp_path


def test_esbuild_is_fetched_once_from_the_registry_and_checked(bare, registry, monkeypatch, capsys):
    monkeypatch.setenv('npm_config_registry', registry.url)
    binary = bundle.find_esbuild()
    assert binary == bare / 'cache' / ('esbuild-0.28.2-%s' % registry.path.split('/')[2]) / 'esbuild'
    assert capsys.readouterr().err == 'kmgen: esbuild 0.28.2 not found; fetching it once from %s%s into %s\n' % (
        registry.url, registry.path, binary.parent)
    assert bundle._version_of(str(binary)) == '0.28.2'
    assert bundle.find_esbuild() == binary and registry.requests == 1


def test_a_tarball_that_does_not_match_the_lockfile_is_refused(bare, registry, monkeypatch):
    registry.body = registry.body[:-1] + bytes([registry.body[-1] ^ 1])
    monkeypatch.setenv('npm_config_registry', registry.url)
    with pytest.raises(BuildError) as err:
        bundle.find_esbuild()
    assert str(err.value) == (
        'esbuild 0.28.2 from %s%s does not match the integrity hash in package-lock.json, so kmgen did not use '
        'it: install it with `npm install esbuild@0.28.2` in this directory, or set KMGEN_ESBUILD to an esbuild '
        '0.28.2 binary.' % (registry.url, registry.path))
    assert not (bare / 'cache').exists() or not any((bare / 'cache').rglob('esbuild'))


def test_no_registry_says_how_to_get_esbuild(bare, monkeypatch):
    with socket.socket() as sock:      # a port nothing listens on
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv('npm_config_registry', 'http://127.0.0.1:%d' % port)
    with pytest.raises(BuildError) as err:
        bundle.find_esbuild()
    message = str(err.value)
    assert message.startswith('esbuild 0.28.2 not found and could not be fetched from http://127.0.0.1:%d/' % port)
    assert message.endswith('install it with `npm install esbuild@0.28.2` in this directory, or set KMGEN_ESBUILD '
                            'to an esbuild 0.28.2 binary.')
