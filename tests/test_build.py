"""`kmgen build`: deterministic, committed dist/ is current, bad configs write nothing."""

import json
import subprocess
import sys

import pytest

from kmgen.device.build import FILES, build, js_literal
from tests.browser.conftest import write_config
from tests.conftest import API_KEY, ROOT

EXAMPLES = sorted((ROOT / 'examples').glob('*.toml'))


def committed(path):
    """The file as committed at HEAD (None outside a git checkout)."""
    proc = subprocess.run(['git', 'show', 'HEAD:%s' % path.relative_to(ROOT).as_posix()], cwd=ROOT,
                          capture_output=True)
    return proc.stdout if proc.returncode == 0 else None


@pytest.mark.parametrize('config', EXAMPLES, ids=lambda p: p.stem)
def test_committed_dist_is_what_the_build_gives(config, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    _, files, _ = build(config.relative_to(ROOT), tmp_path / config.stem)
    assert sorted(files) == sorted(FILES)
    for name, body in files.items():
        dist = ROOT / 'dist' / config.stem / name
        assert dist.read_bytes() == body, '%s is stale: run `kmgen build --config %s` and commit it.' % (
            dist.relative_to(ROOT), config.relative_to(ROOT))
        at_head = committed(dist)
        assert at_head is None or at_head == body, '%s differs from HEAD: commit the rebuilt file.' % dist


def test_build_twice_gives_the_same_bytes(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    first = build('examples/tapstream.toml', tmp_path / 'a')[1]
    second = build('examples/tapstream.toml', tmp_path / 'b')[1]
    assert first == second
    for body in first.values():
        assert b'/tmp/' not in body and str(ROOT).encode() not in body


def test_manifest_describes_every_file(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    out, files, _ = build('examples/shop.toml', tmp_path / 'shop')
    manifest = json.loads(files['manifest.json'])
    assert sorted(manifest['files']) == ['kmgen.js', 'kmgen.min.js', 'plugin.js', 'snippet.html']
    for name, facts in manifest['files'].items():
        assert facts['bytes'] == len(files[name]) and facts['sri'].startswith('sha384-')
        assert 0 < facts['gzip_bytes'] < facts['bytes']
    assert manifest['versions'] == {'esbuild': '0.28.2', 'kmgen': '0.1.0', 'transcrypt': '3.9.5'}
    assert len(manifest['inputs_sha256']) == 64
    for name in ('kmgen.js', 'kmgen.min.js', 'plugin.js'):
        assert files[name].startswith(b'/* kmgen 0.1.0 | generated from ') and b'do not edit' in files[name][:300]


def test_config_strings_cannot_break_out_of_the_script(tmp_path):
    hostile = '</script><script>alert(1)</SCRIPT><!--&\u2028\u2029\'"'
    config = write_config(tmp_path / 'x.toml', tapstream_account=hostile, cookie_domain=hostile)
    _, files, _ = build(config, tmp_path / 'x')
    snippet = files['snippet.html'].decode()
    script = snippet[snippet.index('<script>') + 8:snippet.rindex('</script>')]
    assert '</script' not in script.lower() and '<!--' not in script
    assert '\u2028' not in snippet and '\u2029' not in snippet
    assert js_literal(hostile) == ('"\\u003c/script\\u003e\\u003cscript\\u003ealert(1)\\u003c/SCRIPT\\u003e'
                                   '\\u003c!--\\u0026\\u2028\\u2029\\u0027\\""')


def test_transcrypt_runtime_never_creeps_into_the_integration(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    files = build('examples/shop.toml', tmp_path / 'shop')[1]
    for name in ('kmgen.js', 'kmgen.min.js', 'plugin.js'):
        for marker in (b'__PyIterator__', b'py_metatype', b'__getslice__', b'org.transcrypt', b'prototype.append', b'prototype.py_', b'__class__'):
            assert marker not in files[name], (name, marker)


@pytest.mark.parametrize('toml, message', [
    ('', 'Missing api_key: add api_key = "..." to {path} or pass --api-key.'),
    ('api_key = "%s"\nprefix_propertie = true\n' % API_KEY,
     "Unknown setting 'prefix_propertie' in {path}. Did you mean 'prefix_properties'?"),
    ('api_key = "%s"\nkm_skip = ["visited_sites"]\n' % API_KEY,
     "Unknown km_skip entry 'visited_sites' in {path}. Did you mean 'visited_site'? Use any of visited_site, "
     "search_engine, ad_campaign, referrer, form_fields."),
    ('api_key = "%s"\napi_name = "my-analytics"\n' % API_KEY,
     "Setting 'api_name' in {path} must be a JavaScript identifier, got 'my-analytics'."),
    ('api_key = "%s"\nscript_src = "http://cdn.example.com/kmgen.min.js"\n' % API_KEY,
     "Setting 'script_src' in {path} must be an https://, // or root-relative (/...) URL of kmgen.min.js, got "
     "'http://cdn.example.com/kmgen.min.js'."),
    ('api_key = "%s"\nscript_src = "static/kmgen.min.js"\n' % API_KEY,
     "Setting 'script_src' in {path} must be an https://, // or root-relative (/...) URL of kmgen.min.js, got "
     "'static/kmgen.min.js'."),
])
def test_a_bad_config_gives_one_line_and_writes_nothing(toml, message, tmp_path):
    config = tmp_path / 'site.toml'
    config.write_text(toml)
    proc = subprocess.run([sys.executable, '-m', 'kmgen', 'build', '--config', str(config), '--out', str(tmp_path / 'out')],
                          capture_output=True, text=True)
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, '', 'Error: %s\n' % message.format(path=config))
    assert not (tmp_path / 'out').exists()


def test_build_prints_sizes_and_time(tmp_path):
    config = write_config(tmp_path / 'site.toml')
    proc = subprocess.run([sys.executable, '-m', 'kmgen', 'build', '--config', str(config), '--out', str(tmp_path / 'o')],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1].startswith('Built %s in ' % (tmp_path / 'o'))
    assert 'kmgen.min.js' in proc.stdout


def test_an_unwritable_output_is_one_clear_line(tmp_path):
    blocker = tmp_path / 'file'
    blocker.write_text('')
    proc = subprocess.run([sys.executable, '-m', 'kmgen', 'build', '--config', 'examples/shop.toml',
                           '--out', str(blocker / 'site')], capture_output=True, text=True, cwd=ROOT)
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, '', 'Error: cannot write %s: Not a directory.\n'
                                                           % (blocker / 'site'))
