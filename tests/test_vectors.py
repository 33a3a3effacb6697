"""Every shared vector through both engines: CPython and the transpiled rules in Node must
each equal the expected ops in canonical JSON (op order matters, key order inside an object
does not), and equal each other byte for byte in key order (JavaScript's, in both runtimes)."""

import json

import pytest

from kmgen.canonical import canonical
from kmgen.rules import map_call, portable
from tests.conftest import CALL_CASES, HELPER_CASES, case_id


def test_enough_vectors_cover_every_call_type():
    types = {case['call'].get('type') for _, case in CALL_CASES}
    assert len(CALL_CASES) >= 80
    assert {'identify', 'track', 'page', 'screen', 'group', 'alias'} <= types
    assert all(case.get('why') and case.get('name') for _, case in CALL_CASES)


@pytest.mark.parametrize('pair', CALL_CASES, ids=case_id)
def test_python_rules(pair):
    _, case = pair
    got = canonical(map_call(case['call'], case.get('settings', {})))
    assert got == canonical(case['ops'])


@pytest.mark.parametrize('pair', CALL_CASES, ids=case_id)
def test_transpiled_rules(pair, js_ops):
    _, case = pair
    python = portable.json_compact(map_call(case['call'], case.get('settings', {})))
    assert js_ops[case_id(pair)] == python
    assert canonical(json.loads(js_ops[case_id(pair)])) == canonical(case['ops'])


@pytest.mark.parametrize('pair', HELPER_CASES, ids=case_id)
def test_helper_twins(pair, js_helpers):
    _, case = pair
    expected = portable.json_compact(case['result'])
    assert portable.json_compact(getattr(portable, case['helper'])(*case['args'])) == expected
    assert js_helpers[case_id(pair)] == expected
