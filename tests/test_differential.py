"""Generated messages through CPython and the transpiled rules: any difference is a drift
between the two runtimes (Hypothesis shrinks it to the smallest message that shows it)."""

import calendar
import datetime
import random
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmgen.device import engine
from kmgen.rules import map_call, portable

KEYS = st.one_of(
    st.sampled_from(['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', '', 'a.b', 'a',
                     'revenue', 'total', 'products', 'name', 'category', 'url', 'referrer', 'id', '1', '10',
                     'experiment_name', 'variation_name', '😀', 'ключ', 'a,b:c']),
    st.text(string.ascii_letters + '._- ', max_size=6),
    st.text(max_size=4))
NUMBERS = st.one_of(st.integers(-2 ** 60, 2 ** 60), st.floats(allow_nan=False, allow_infinity=False),
                    st.sampled_from([0, 0.0, -0.0, 1.0, 1e21, 1e-7, 123456789.123, 2 ** 53 + 1, -1e-300]))
STRINGS = st.one_of(
    st.text(max_size=8),
    st.sampled_from(['2024-01-01', '2024-02-29T23:59:59.999+01:00', '2023-02-29', '2024-01-01T24:00:00Z',
                     '1970-01-01T00:00Z', '0000-03-01', '2024-01-01 10:00:00', '$9.99', '-$1,000.50', '1e3',
                     ' 12 ', '$', '.5', '5.', 'Order Completed', 'completed_order']))
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, STRINGS)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)), max_leaves=12)
PROPS = st.dictionaries(KEYS, VALUES, max_size=6)
IDS = st.one_of(st.none(), st.just(''), st.text(max_size=5), st.integers(-5, 10 ** 6))
EVENTS = st.one_of(st.text(max_size=12), st.sampled_from(
    ['Order Completed', 'ORDER_COMPLETED', 'Completed Order', 'Experiment Viewed', 'Signed Up']))
ORDER_PROPS = st.fixed_dictionaries({}, optional={
    'revenue': st.one_of(NUMBERS, STRINGS, st.none()), 'total': st.one_of(NUMBERS, STRINGS),
    'products': st.lists(st.one_of(PROPS, SCALARS), max_size=4), 'experiment_name': STRINGS,
    'variation_name': STRINGS, 'url': STRINGS, 'name': STRINGS, 'category': STRINGS})
MESSAGES = st.fixed_dictionaries(
    {'type': st.sampled_from(['identify', 'track', 'page', 'screen', 'group', 'alias', 'unknown'])},
    optional={'event': EVENTS, 'userId': IDS, 'anonymousId': IDS, 'previousId': IDS, 'groupId': IDS,
              'name': st.one_of(STRINGS, st.none()), 'category': st.one_of(STRINGS, st.none()),
              'properties': st.one_of(PROPS, ORDER_PROPS, st.builds(lambda a, b: {**a, **b}, PROPS, ORDER_PROPS)),
              'traits': PROPS, 'mobile': st.booleans(),
              'context': st.fixed_dictionaries({}, optional={'traits': PROPS, 'page': PROPS}),
              'timestamp': STRINGS, 'originalTimestamp': STRINGS})
SETTINGS = st.fixed_dictionaries({}, optional={
    'prefix_properties': st.booleans(), 'track_named_pages': st.booleans(),
    'track_categorized_pages': st.booleans(), 'record_page_view': st.booleans(),
    'group_prefix': st.sampled_from(['Group', 'Team', 'Ünïcode'])})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(st.tuples(MESSAGES, SETTINGS), min_size=20, max_size=40))
def test_both_runtimes_agree_on_generated_messages(batch):
    js = engine.run([{'call': call, 'settings': s} for call, s in batch])
    for (call, s), js_line in zip(batch, js):
        assert portable.json_compact(map_call(call, s)) == js_line, call


def _iso_oracle(y, mo, d, h, mi, s, zone):
    """Unix seconds from Python's datetime (an independent calendar), or None when a field
    is out of range. The Gregorian calendar repeats every 400 years (146,097 days), so any
    year 0-9999 is read as one in 400-799."""
    if not (1 <= mo <= 12 and 1 <= d <= calendar.monthrange(y % 400 + 400, mo)[1] and h <= 23 and mi <= 59
            and s <= 59):
        return None
    offset = 0
    if zone not in ('', 'Z'):
        zh, zm = int(zone[1:3]), int(zone[-2:]) if len(zone) > 3 else 0
        if zh > 23 or zm > 59:
            return None
        offset = (zh * 3600 + zm * 60) * (-1 if zone[0] == '-' else 1)
    moment = datetime.datetime(y % 400 + 400, mo, d, h, mi, s, tzinfo=datetime.timezone.utc)
    return int(moment.timestamp()) + (y // 400 - 1) * 146097 * 86400 - offset


def test_iso_dates_agree_with_pythons_calendar_in_both_runtimes():
    rng = random.Random(11)
    texts, expected = [], []
    for _ in range(6000):
        y, mo, d = rng.choice([rng.randint(0, 9999), rng.choice([0, 1, 100, 1600, 1900, 1969, 1970, 2000, 2024])]), \
            rng.randint(0, 13), rng.choice([rng.randint(0, 32), 28, 29, 30, 31])
        h, mi, s = rng.randint(0, 25), rng.randint(0, 61), rng.randint(0, 61)
        zone = rng.choice(['', 'Z', '%s%02d' % (rng.choice('+-'), rng.randint(0, 25)),
                           '%s%02d%s%02d' % (rng.choice('+-'), rng.randint(0, 25), rng.choice(['', ':']),
                                             rng.randint(0, 61))])
        day = '%04d-%02d-%02d' % (y, mo, d)
        form = rng.randrange(3)
        if form == 0:
            texts.append(day)
            expected.append(_iso_oracle(y, mo, d, 0, 0, 0, ''))
        elif form == 1:
            texts.append('%sT%02d:%02d%s' % (day, h, mi, zone))
            expected.append(_iso_oracle(y, mo, d, h, mi, 0, zone))
        else:
            texts.append('%sT%02d:%02d:%02d%s%s' % (day, h, mi, s, rng.choice(['', '.5', '.999999']), zone))
            expected.append(_iso_oracle(y, mo, d, h, mi, s, zone))
    assert sum(e is not None for e in expected) > 1500  # enough valid dates, and enough invalid ones
    assert [portable.date_value(t) for t in texts] == expected
    js = engine.run([{'helper': 'date_value', 'args': [t]} for t in texts])
    assert js == [portable.json_compact(e) for e in expected]
