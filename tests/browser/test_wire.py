"""Wire-level parity: the Kissmetrics-library double (tests/doubles/km_library_double.js)
drains _kmq as the library does and fires beacons to trk.kissmetrics.io, which routing
intercepts; their query parameters must equal the cloud sender's requests for the same
messages, by the rule that kmgen.parity.wire_difference documents (identity and time)."""

import json

from kmgen import config
from kmgen.parity import SEND_MESSAGES, cloud_wire, device_wire, generated_messages, html, run_in_page, wire_difference
from tests.browser.conftest import snippet
from tests.conftest import API_KEY, CALL_CASES

SETTINGS = config.validate({'api_key': API_KEY, 'initial_page': False})


def with_identity(messages):
    """The cloud API needs an identity per request; give messages without one an anonymousId."""
    out = []
    for i, message in enumerate(messages):
        message = dict(message)
        if not message.get('userId') and not message.get('anonymousId'):
            message['anonymousId'] = 'anon-%d' % i
        out.append(message)
    return out


def run_wire(server, page, site, messages):
    server.km_library = 'double'
    page.goto(server.page('wire.html', html(snippet(site))))
    page.wait_for_function('window.KM !== undefined')
    run_in_page(page, SEND_MESSAGES, 'analytics', messages)
    log = json.loads(page.evaluate('JSON.stringify(KM.log)'))
    device = device_wire(log)
    # Every distinct beacon must reach the wire (Chromium serves a repeated image URL from its
    # memory cache, so identical beacons are counted once).
    wanted = {(path, tuple(sorted(params.items()))) for _, path, params in device}
    for _ in range(200):
        seen = {(path, tuple(sorted(params.items()))) for path, params in server.beacons}
        if wanted <= seen:
            break
        page.wait_for_timeout(50)
    assert wanted <= seen, 'beacons never reached the wire: %s' % sorted(wanted - seen)[:3]
    return device


def test_vectors_on_the_wire(server, watched, sites):
    messages = with_identity([c['call'] for _, c in CALL_CASES if not c.get('settings')])
    device = run_wire(server, watched, sites['plain'], messages)
    problem = wire_difference(cloud_wire(messages, SETTINGS), device)
    assert problem is None, problem
    assert len(device) > 150
    assert watched.kmgen_errors == []


def test_generated_messages_on_the_wire(server, watched, sites):
    messages = with_identity(generated_messages(300, seed=7))
    device = run_wire(server, watched, sites['plain'], messages)
    problem = wire_difference(cloud_wire(messages, SETTINGS), device)
    assert problem is None, problem


def test_a_changed_byte_on_the_wire_is_reported(server, watched, sites):
    messages = [{'type': 'track', 'event': 'Paid', 'anonymousId': 'a', 'properties': {'amount': 1.5}}]
    device = run_wire(server, watched, sites['plain'], messages)
    cloud = cloud_wire(messages, SETTINGS)
    assert wire_difference(cloud, device) is None
    cloud[0][2]['Paid - amount'] = '1.50'
    assert wire_difference(cloud, device) == (
        'request #0 differs\n  device: /e {"Paid - amount": "1.5", "_k": "%s", "_n": "Paid"}\n'
        '  cloud:  /e {"Paid - amount": "1.50", "_k": "%s", "_n": "Paid"}' % (API_KEY, API_KEY))


def test_product_lines_keep_their_own_time_on_the_wire(server, watched, sites):
    messages = [{'type': 'track', 'event': 'Order Completed', 'userId': 'u', 'timestamp': '2024-05-01T00:00:00Z',
                 'properties': {'total': 5, 'products': [{'sku': 'a'}, {'sku': 'b'}]}}]
    device = run_wire(server, watched, sites['plain'], messages)
    assert [(p['_t'], p['_d']) for kind, path, p in device if path == '/s'] == [('1714521600', '1'), ('1714521601', '1')]
    assert wire_difference(cloud_wire(messages, SETTINGS), device) is None
