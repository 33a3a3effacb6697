"""The transpiled rules run without Transcrypt's runtime: no built-in prototype changes,
no globals beyond the bundle's own name, no trace of Transcrypt's runtime in the bundle."""

import json
import shutil
import subprocess

from kmgen.device import engine
from kmgen.device.bundle import find_esbuild, node_binary
from kmgen.device.transpile import inline_fields, transpile
from kmgen.paths import data_dir
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
    assert "import {Dict, dict, len} from './runtime.js';" in mapping
    assert "Transcrypt'ed from Python" not in mapping and 'sourceMappingURL' not in mapping


def test_transpile_is_deterministic(tmp_path):
    transpile(tmp_path / 'a')
    transpile(tmp_path / 'b')
    for name in ('mapping.js', 'values.js'):
        assert (tmp_path / 'a' / name).read_bytes() == (tmp_path / 'b' / name).read_bytes()


def test_field_reads_with_a_literal_key_are_inlined_and_nothing_else():
    text, count = inline_fields("a = field (call, 'event', null); b = field (settings, py_name, DEFAULTS [py_name]);"
                                " c = field (field (call, 'context', null), 'page', null); d = my_field (x, 'k', null);"
                                " e = setting (settings, 'group_prefix');")
    assert count == 2
    assert text == ("a = (call instanceof Dict ? (call ['event'] !== undefined ? call ['event'] : null) : "
                    "field (call, 'event', null)); b = field (settings, py_name, DEFAULTS [py_name]); "
                    "c = field ((call instanceof Dict ? (call ['context'] !== undefined ? call ['context'] : null) : "
                    "field (call, 'context', null)), 'page', null); d = my_field (x, 'k', null); "
                    "e = setting (settings, 'group_prefix');")


def test_an_inlined_field_read_answers_as_the_twin_does(tmp_path):
    # The inlined expression and field() itself, side by side in Node, on every kind of object
    # the rules can be handed: Dicts with the key (a value, null, false), without it, plain
    # objects (own and inherited keys), arrays, dates, null and a string.
    expression, count = inline_fields("field (d, 'k', fallback)")
    assert count == 1
    for name in ('runtime.js', 'portable.js'):
        shutil.copyfile(data_dir('js_runtime') / name, tmp_path / name)
    (tmp_path / 'entry.js').write_text("""
import { Dict } from './runtime.js';
import { field } from './portable.js';
function dict(o) { var d = new Dict(); for (var k in o) d[k] = o[k]; return d; }
var inherited = Object.create({k: 'inherited'});
var subjects = [dict({k: 1}), dict({k: null}), dict({k: false}), dict({k: ''}), dict({j: 1}), dict({}), {k: 2},
  {k: undefined}, inherited, [1], new Date(0), null, undefined, 'k', 0];
var out = [];
for (var i = 0; i < subjects.length; i++) for (var f = 0; f < 2; f++) {
  var d = subjects[i], fallback = f ? 'fallback' : null;
  out.push([i, f, field(d, 'k', fallback), %s]);
}
console.log(JSON.stringify(out));
""" % expression, encoding='utf-8')
    subprocess.run([str(find_esbuild()), 'entry.js', '--bundle', '--outfile=out.js', '--log-level=error'],
                   cwd=tmp_path, check=True)
    rows = json.loads(subprocess.run([node_binary(), 'out.js'], cwd=tmp_path, capture_output=True, text=True,
                                     check=True).stdout)
    assert len(rows) == 30
    assert [row for row in rows if row[2] != row[3]] == []
    assert rows[0][3] == 1 and rows[2][3] is None and rows[12][3] == 2 and rows[17][3] == 'fallback'
