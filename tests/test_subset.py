"""The transpiled subset: rules/ stays inside it, and constructs outside it are rejected
with the file, the line and the replacement (docs/site-rules.md, "The subset")."""

import shutil

import pytest

from kmgen.device.subset import RULES_DIR, check_rules, check_source
from kmgen.device.transpile import transpile
from kmgen.errors import BuildError


def test_rules_are_inside_the_subset():
    assert check_rules() == []


@pytest.mark.parametrize('line, message', [
    ("x = d.get('a')", "the method call `.get()` is outside the transpiled subset; write field(d, key, default) instead"),
    ("lst.append(1)", "the method call `.append()` is outside the transpiled subset; write push(lst, x) instead"),
    ("x = ','.join(d)", "the method call `.join()` is outside the transpiled subset; write join(parts, sep) instead"),
    ("x = d is None", "'is' is outside the transpiled subset; write is_missing(x) instead"),
    ("x = 'a' in d", "'in' is outside the transpiled subset; write field(d, key, None) or a loop over keys(d) instead"),
    ("x = f'{d}'", "an f-string is outside the transpiled subset; write '+' concatenation and to_str(x) instead"),
    ("x = '%s' % d", "'%' is outside the transpiled subset; write '+' concatenation instead"),
    ("x = str(d)", "the builtin `str()` is outside the transpiled subset; write to_str(x) instead"),
    ("x = lst[-1]", "the negative index `lst[-1]` is outside the transpiled subset; write items[len(items) - 1] instead"),
    ("x = lst[1:]", "a slice is outside the transpiled subset; write a loop over range(...) instead"),
    ("x = [i for i in lst]", "a list comprehension is outside the transpiled subset; write a loop with push(lst, x) instead"),
    ("x = 'ab' * 2", "string repetition is outside the transpiled subset; write a loop with push and join instead"),
    ("import re", "'import' is outside the transpiled subset; write a twinned helper in portable.py ('from .portable import ...') instead"),
    ("x = f(d, key=1)", "keyword or starred arguments is outside the transpiled subset; write positional arguments instead"),
    ("type = 1", "the name `type` is outside the transpiled subset; write another name (e.g. call_type) instead"),
])
def test_each_construct_outside_the_subset_is_named_with_its_fix(line, message):
    source = 'def f(d, lst):\n    %s\n    return d\n' % line
    assert message in [e.split(': ', 1)[1] for e in check_source(source, 'rules/x.py')]
    assert all(e.startswith('rules/x.py:2: ') for e in check_source(source, 'rules/x.py'))


@pytest.mark.parametrize('test', ['props', 'not props', 'a and props'])
def test_truth_tests_on_possible_containers_are_rejected(test):
    source = 'def f(props, a):\n    a = len(props) > 0\n    if %s:\n        return 1\n    return 0\n' % test
    errors = check_source(source, 'rules/x.py')
    assert errors == ["rules/x.py:3: the truth test `props` is outside the transpiled subset; "
                      "write an explicit comparison such as len(x) > 0 or x != '' instead"]


def test_boolean_names_and_calls_are_valid_truth_tests():
    source = ('def f(props):\n    ok = len(props) > 0\n    if ok and is_object(props):\n'
              '        return 1\n    return 0\n')
    assert check_source(source, 'rules/x.py') == []


def test_a_planted_violation_stops_the_transpile(tmp_path):
    rules = tmp_path / 'rules'
    shutil.copytree(RULES_DIR, rules, ignore=shutil.ignore_patterns('__pycache__'))
    mapping = rules / 'mapping.py'
    lines = mapping.read_text(encoding='utf-8').splitlines()
    lines.append('def planted(d):\n    x = d.get("x")\n    return f"{x}"')
    mapping.write_text('\n'.join(lines) + '\n', encoding='utf-8')
    with pytest.raises(BuildError) as err:
        transpile(tmp_path / 'out', rules)
    assert str(err.value) == (
        'the rules leave the transpiled subset (2 problems); kmgen runs no rules until every one is fixed:\n'
        '  rules/mapping.py:%d: the method call `.get()` is outside the transpiled subset; write '
        'field(d, key, default) instead\n'
        "  rules/mapping.py:%d: an f-string is outside the transpiled subset; write '+' concatenation and "
        'to_str(x) instead' % (len(lines) + 1, len(lines) + 2))
    assert not (tmp_path / 'out' / 'mapping.js').exists()
