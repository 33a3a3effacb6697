"""The transpiled rules run without Transcrypt's runtime: no built-in prototype changes,
no globals beyond the bundle's own name, no trace of Transcrypt's runtime in the bundle."""

import json

from kmgen.device import engine
from kmgen.device.transpile import transpile
from tests.conftest import CALL_CASES


def test_running_every_vector_changes_no_prototype_and_adds_one_global():
    requests = [{'call': c['call'], 'settings': c.get('settings', {})} for _, c in CALL_CASES]
    report = json.loads(engine.run(requests, purity=True)[-1])
    assert report == {'purity': {'globals': {'added': ['kmgenRules'], 'removed': []}}}


def test_a_prototype_patch_would_be_reported(tmp_path, monkeypatch):
    # The purity check itself must be able to fail: plant a patch in a copy of the bundle.
    bundle = tmp_path / 'engine.js'
    bundle.write_text(engine.engine_bundle().read_text(encoding='utf-8')
                      + '\nArray.prototype.py_get = function () {}; var leaked = 1;\n', encoding='utf-8')
    monkeypatch.setattr(engine, 'engine_bundle', lambda ruleset=None: bundle)
    report = json.loads(engine.run([], purity=True)[-1])
    assert report['purity']['Array'] == {'added': ['py_get'], 'removed': []}
    assert report['purity']['globals']['added'] == ['kmgenRules', 'leaked']


def test_bundle_has_no_transcrypt_runtime():
    text = engine.engine_bundle().read_text(encoding='utf-8')
    for marker in ('__PyIterator__', 'py_metatype', '__getslice__', 'py_get', '__class__', 'prototype.append'):
        assert marker not in text


def test_transpiled_modules_import_only_what_they_use(tmp_path):
    written = transpile(tmp_path)
    assert written == ['mapping.js', 'values.js', 'runtime.js', 'portable.js']
    mapping = (tmp_path / 'mapping.js').read_text(encoding='utf-8')
    assert mapping.startswith('// Generated from generator/kmgen/rules/mapping.py by Transcrypt 3.9.5')
    assert "import {dict, len} from './runtime.js';" in mapping
    assert "Transcrypt'ed from Python" not in mapping and 'sourceMappingURL' not in mapping


def test_transpile_is_deterministic(tmp_path):
    transpile(tmp_path / 'a')
    transpile(tmp_path / 'b')
    for name in ('mapping.js', 'values.js'):
        assert (tmp_path / 'a' / name).read_bytes() == (tmp_path / 'b' / name).read_bytes()
