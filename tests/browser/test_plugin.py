"""plugin.js registered with the real @segment/analytics-next (from npm, bundled by the
pinned esbuild): each call's context event reaches _kmq as the Python rules map it."""

import json
import os
import subprocess

import pytest

from kmgen import config
from kmgen.device.bundle import find_esbuild
from kmgen.parity import ORIGIN, html
from tests.conftest import API_KEY, CALL_CASES, ROOT
from tests.parity import compare_ops

HARNESS = '''import { AnalyticsBrowser } from '@segment/analytics-next';
import plugin from %s;
window.kmgenStart = async function () {
  const [analytics] = await AnalyticsBrowser.load(
    {writeKey: 'kmgen-test', cdnSettings: {integrations: {}}, plugins: [plugin]},
    {integrations: {'Segment.io': false}, disableClientPersistence: true});
  plugin._kmgen.debug = true;
  window.segment = analytics;
  window.kmgenPlugin = plugin;
  return true;
};
'''
RUN = '''async (json) => {
  const calls = JSON.parse(json);
  await window.kmgenStart();
  const start = window._kmq.length;
  for (const [method, args] of calls) await window.segment[method](...args);
  return JSON.stringify({messages: window.kmgenPlugin._kmgen.messages, kmq: window._kmq.slice(start)});
}'''
SEGMENT_ARGS = {
    'identify': lambda c: [c.get('userId'), c.get('traits') or {}],
    'track': lambda c: [c.get('event'), c.get('properties') or {}],
    'page': lambda c: [c.get('category'), c.get('name'), c.get('properties') or {}],
    'screen': lambda c: [c.get('category'), c.get('name'), c.get('properties') or {}],
    'group': lambda c: [c.get('groupId'), c.get('traits') or {}],
    'alias': lambda c: [c.get('userId'), c.get('previousId')],
}


@pytest.fixture(scope='module')
def harness(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('analytics-next')
    (tmp / 'entry.js').write_text(HARNESS % repr(str(ROOT / 'dist' / 'shop' / 'plugin.js')))
    subprocess.run([str(find_esbuild()), str(tmp / 'entry.js'), '--bundle', '--format=iife', '--platform=browser',
                    '--target=es2018', '--log-level=error', '--define:process.env.NODE_ENV="production"',
                    '--outfile=' + str(tmp / 'harness.js')],
                   check=True, env={**os.environ, 'NODE_PATH': str(ROOT / 'node_modules')})
    return tmp / 'harness.js'


def open_harness(server, page, harness):
    server.km_library = 'blocked'
    server.file(ORIGIN + '/harness.js', harness)
    page.goto(server.page('segment.html', html('<script src="/harness.js"></script>')))


def test_analytics_next_calls_reach_the_queue_as_the_rules_map_them(server, watched, harness):
    open_harness(server, watched, harness)
    calls = [[c['call']['type'], SEGMENT_ARGS[c['call']['type']](c['call'])] for _, c in CALL_CASES
             if c['call'].get('type') in SEGMENT_ARGS and not c.get('settings')
             and (c['call']['type'] != 'track' or isinstance(c['call'].get('event'), str) and c['call']['event'])
             and (c['call']['type'] != 'alias' or c['call'].get('userId') and c['call'].get('previousId'))]
    result = json.loads(watched.evaluate(RUN, json.dumps(calls)))
    settings = config.rule_settings(config.validate({'api_key': API_KEY}))
    assert len(result['messages']) == len(calls)
    compare_ops(result['messages'], result['kmq'], settings)
    assert watched.kmgen_errors == []


def test_analytics_next_event_fields_arrive_in_the_message(server, watched, harness):
    open_harness(server, watched, harness)
    # analytics-next stamps every event with the current user id, alias included, so the
    # alias comes first, as in its documented flow (alias the new id, then identify it).
    result = json.loads(watched.evaluate(RUN, json.dumps([['alias', ['u-1', 'anon-1']], ['identify', ['u-1', {'plan': 'pro'}]],
                                    ['track', ['Order Completed', {'total': 20, 'products': [{'sku': 'A'}]}]],
                                    ['page', ['Help', 'FAQ', {}]], ['group', ['g-1', {'name': 'Acme'}]]])))
    alias, identify, track, page, group = result['messages']
    assert identify['userId'] == 'u-1' and identify['traits'] == {'plan': 'pro'} and identify['anonymousId']
    assert track['event'] == 'Order Completed' and track['timestamp'].endswith('Z')
    assert page['name'] == 'FAQ' and page['category'] == 'Help' and page['properties']['url'] == ORIGIN + '/segment.html'
    assert group['groupId'] == 'g-1' and alias['previousId'] == 'anon-1'
    kmq = result['kmq']
    assert kmq[0] == ['alias', 'u-1', 'anon-1'] and kmq[1] == ['identify', 'u-1']
    assert kmq[3][:2] == ['record', 'Order Completed']
    assert kmq[4][1]['Order Completed - sku'] == 'A' and kmq[4][1]['_d'] == 1
    assert kmq[-1] == ['set', {'Group - id': 'g-1', 'Group - name': 'Acme'}]
