"""Cross-mode parity in real Chromium (issue 6): every vector and thousands of generated
messages go through the generated integration and through the cloud-side Python rules;
the ops must be equal, call by call, for every combination of the mapping settings.
Failures name the call and show both modes' ops."""

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmgen import config
from kmgen.device.build import build
from kmgen.parity import RUN_CALLS, SEND_MESSAGES, api_calls, first_difference, html, run_in_page
from kmgen.rules import map_call
from tests.browser.conftest import snippet, write_config
from tests.conftest import API_KEY, CALL_CASES
from tests.test_differential import MESSAGES

MATRIX = [dict(zip(('prefix_properties', 'track_named_pages', 'track_categorized_pages', 'group_prefix'), combo))
          for combo in itertools.product([True, False], [True, False], [True, False], ['Group', 'Team Ünï'])]
GENERATED_BATCHES = 100
BATCH = 20


def rule_settings(**overrides):
    return config.rule_settings(config.validate({'api_key': API_KEY, **overrides}))


@pytest.fixture(scope='module')
def matrix_sites(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('matrix')
    sites = []
    for i, combo in enumerate(MATRIX):
        path = write_config(tmp / ('m%d.toml' % i), initial_page=False, **combo)
        sites.append(build(path, tmp / ('m%d' % i))[0])
    return sites


@pytest.mark.parametrize('index', range(len(MATRIX)), ids=lambda i: '-'.join(
    '%s=%s' % (k.split('_')[-1], v) for k, v in MATRIX[i].items()))
def test_settings_matrix_through_the_public_api(index, matrix_sites, server, watched):
    server.km_library = 'blocked'
    watched.goto(server.page('m.html', html(snippet(matrix_sites[index]))))
    calls = api_calls([c['call'] for _, c in CALL_CASES])
    result = run_in_page(watched, RUN_CALLS, 'analytics', calls)
    problem = first_difference(result['messages'], result['kmq'], rule_settings(**MATRIX[index]))
    assert problem is None, problem
    assert len(result['messages']) > 150 and watched.kmgen_errors == []


def test_every_vector_as_a_whole_message(server, watched, sites):
    """Whole messages (context, originalTimestamp, RudderStack shapes) via _kmgen.send."""
    server.km_library = 'blocked'
    watched.goto(server.page('v.html', html(snippet(sites['plain']))))
    default = [c['call'] for _, c in CALL_CASES if not c.get('settings')]
    result = run_in_page(watched, SEND_MESSAGES, 'analytics', default)
    problem = first_difference(default, result['kmq'], rule_settings())
    assert problem is None, problem


@pytest.fixture(scope='module')
def generated_page(browser, sites):
    from kmgen.parity import routed_page
    context, page, router = routed_page(browser)
    page.goto(router.page('g.html', html(snippet(sites['plain']))))
    yield page
    context.close()


@settings(max_examples=GENERATED_BATCHES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(st.lists(MESSAGES, min_size=BATCH, max_size=BATCH))
def test_generated_messages_match_across_modes(generated_page, batch):
    result = run_in_page(generated_page, SEND_MESSAGES, 'analytics', batch)
    problem = first_difference(batch, result['kmq'], rule_settings())
    assert problem is None, problem


def test_a_one_character_fault_in_either_mode_is_caught_with_a_diff(server, watched, sites):
    """The suite must be able to fail: plant a one-character change in each mode in turn."""
    server.km_library = 'blocked'
    watched.goto(server.page('f.html', html(snippet(sites['plain']))))
    messages = [{'type': 'track', 'event': 'Signed Up', 'properties': {'plan': 'pro'}}]
    clean = run_in_page(watched, SEND_MESSAGES, 'analytics', messages)
    assert first_difference(messages, clean['kmq'], rule_settings()) is None

    device_fault = '''() => { const push = window._kmq.push;
      window._kmq.push = function (op) { if (Array.isArray(op) && op[0] === 'record') op[1] = op[1] + '!';
                                         return push.call(this, op); }; }'''
    watched.evaluate(device_fault)
    faulty = run_in_page(watched, SEND_MESSAGES, 'analytics', messages)
    assert first_difference(messages, faulty['kmq'], rule_settings()) == (
        'call #0 differs\n  call:   {"type":"track","event":"Signed Up","properties":{"plan":"pro"}}\n'
        '  device: [["record","Signed Up!",{"Signed Up - plan":"pro"}]]\n'
        '  cloud:  [["record","Signed Up",{"Signed Up - plan":"pro"}]]')

    def cloud_fault(message, rule_settings_):
        ops = map_call(message, rule_settings_)
        ops[0][2] = {key.replace(' - ', ' -'): value for key, value in ops[0][2].items()}
        return ops
    assert first_difference(messages, clean['kmq'], rule_settings(), mapper=cloud_fault) == (
        'call #0 differs\n  call:   {"type":"track","event":"Signed Up","properties":{"plan":"pro"}}\n'
        '  device: [["record","Signed Up",{"Signed Up - plan":"pro"}]]\n'
        '  cloud:  [["record","Signed Up",{"Signed Up -plan":"pro"}]]')
