"""The Kissmetrics mapping rules: one normalised call -> a list of ops (docs/mapping.md).

This module is THE single source. CPython runs it for cloud mode; Transcrypt compiles it,
unchanged, into the browser integration. It stays inside the transpiled subset
(docs/site-rules.md, "The subset"; enforced by ``kmgen.device.subset``) and never reads a clock,
a global or the page: the timestamp and the mobile flag arrive in ``call``.

Where Segment's and RudderStack's message shapes differ, the difference is absorbed here,
once, so both modes see it: identify traits may sit only in ``context.traits``, the time
may be ``originalTimestamp``, a page category may sit in ``properties.category``.
"""

from .portable import (date_value, field, is_array, is_boolean, is_missing, is_object, keys, lower, push,
                       size, squash)
from .values import (amount, clean, first_present, limited, note, prefix_of, text, text_value,
                     without)

BILLING_AMOUNT = 'Billing Amount'
PAGE_VIEW = 'Page View'
MOBILE_SESSION = 'Mobile Session'

# Settings the rules read, with their defaults. config.py validates against this table.
DEFAULTS = {
    'prefix_properties': True,
    'track_named_pages': True,
    'track_categorized_pages': True,
    'record_page_view': True,
    'group_prefix': 'Group',
}


def setting(settings, name):
    return field(settings, name, DEFAULTS[name])


def timestamp(call):
    """The call's time in unix seconds (``timestamp``, else RudderStack's
    ``originalTimestamp``), or None when it has none."""
    seconds = date_value(field(call, 'timestamp', None))
    if is_missing(seconds):
        seconds = date_value(field(call, 'originalTimestamp', None))
    return seconds


def text_of(first, second, key):
    """The text of ``first[key]``, else of ``second[key]`` (where Segment and RudderStack put
    the same field in different places)."""
    value = text(field(first, key, None))
    if value == '':
        value = text(field(second, key, None))
    return value


def is_order_completed(name):
    """``Order Completed`` (spec v2) or ``Completed Order`` (v1), any case, spaces or
    underscores (``name`` is the event squashed): Segment's ecommerce spec accepts all of
    these spellings."""
    return name == 'ordercompleted' or name == 'completedorder'


def experiment_traits(props, settings):
    """``Experiment Viewed`` -> the user property Segment's A/B integrations send as an
    identify: ``{"Experiment: <experiment>": <variation>}`` (names, else ids)."""
    experiment = text(first_present(props, ['experiment_name', 'experiment_id']))
    variation = text(first_present(props, ['variation_name', 'variation_id']))
    if experiment == '' or variation == '':
        return None
    traits = {}
    traits['Experiment: ' + experiment] = text_value(variation, settings)
    return traits


def identify(call, settings):
    """identify(userId, traits) -> identify(userId), set(traits + id); mobile browsers also
    set Mobile Session once per page load (the device sets ``call.mobile`` on that call)."""
    ops = []
    user_id = text(field(call, 'userId', None))
    traits = field(call, 'traits', None)
    if not is_object(traits) or size(traits) == 0:
        traits = field(field(call, 'context', None), 'traits', None)
    props = clean(traits, '', settings)
    if user_id != '':
        push(ops, ['identify', user_id])
        props['id'] = text_value(user_id, settings)
    if size(props) > 0:
        push(ops, ['set', limited(props, settings)])
    mobile = field(call, 'mobile', None)
    if is_boolean(mobile) and mobile == True:
        session = {}
        session[MOBILE_SESSION] = 'Yes'
        push(ops, ['set', session])
    return ops


def track(call, settings):
    """track(event, properties) -> record(event, properties) with revenue as Billing Amount;
    orders also set(product) per product; Experiment Viewed also sets the experiment."""
    event = text(field(call, 'event', None))
    if event == '':
        return []
    raw = field(call, 'properties', None)
    if not is_object(raw):
        raw = {}
    squashed = squash(event)
    order = is_order_completed(squashed)
    products = field(raw, 'products', None)
    if order and is_array(products):
        raw = without(raw, 'products')
    # Segment's Track.revenue(): revenue, else total on an order; parsed as currency.
    revenue = field(raw, 'revenue', None)
    source = 'revenue'
    if is_missing(revenue) and order:
        revenue = field(raw, 'total', None)
        source = 'total'
    billing = amount(revenue)
    key_prefix = prefix_of(event) if setting(settings, 'prefix_properties') else ''
    props = clean(raw, key_prefix, settings)
    if not is_missing(billing) and source == 'revenue':
        props[key_prefix + 'revenue'] = billing
    if not is_missing(billing):
        props[BILLING_AMOUNT] = billing
    ops = [['record', event, limited(props, settings)]]
    if order and is_array(products):
        add_products(ops, key_prefix, products, timestamp(call), settings)
    if squashed == 'experimentviewed':
        traits = experiment_traits(raw, settings)
        if not is_missing(traits):
            push(ops, ['set', traits])
    return ops


def add_products(ops, key_prefix, products, ts, settings):
    """One set per product, cleaned and prefixed like the record, with ``_t = ts + index``
    and ``_d = 1`` so Kissmetrics' same-second de-duplication keeps every line (the only
    ``_t``/``_d`` an op may carry: ``clean`` drops reserved names from the product's own)."""
    for i in range(len(products)):
        item = limited(clean(products[i], key_prefix, settings), settings)
        if size(item) == 0:
            continue
        if not is_missing(ts):
            item['_t'] = ts + i
            item['_d'] = 1
        push(ops, ['set', item])


def viewed(call, kind, label, settings):
    """The ``Viewed <label> <kind>`` record with every property (name and category included)
    prefixed ``"<kind> - "``."""
    key_prefix = prefix_of(kind)
    props = clean(field(call, 'properties', None), key_prefix, settings)
    name = text(field(call, 'name', None))
    category = text(field(call, 'category', None))
    if name != '':
        props[key_prefix + 'name'] = text_value(name, settings)
    if category != '':
        props[key_prefix + 'category'] = text_value(category, settings)
    return ['record', 'Viewed ' + label + ' ' + kind, limited(props, settings)]


def page(call, settings):
    """page(name, category, properties) -> record(Page View) if record_page_view, then
    record(Viewed <name|category> Page): the name wins, each gated by its setting."""
    ops = []
    props = field(call, 'properties', None)
    context_page = field(field(call, 'context', None), 'page', None)
    if setting(settings, 'record_page_view'):
        view = {}
        url = text_of(props, context_page, 'url')
        if url != '':
            view['Viewed URL'] = text_value(url, settings)
        referrer = text_of(props, context_page, 'referrer')
        view['Referrer'] = text_value(referrer, settings) if referrer != '' else 'Direct'
        push(ops, ['record', PAGE_VIEW, view])
    name = text_of(call, props, 'name')
    category = text_of(call, props, 'category')
    label = ''
    if name != '' and setting(settings, 'track_named_pages'):
        label = name
    elif category != '' and setting(settings, 'track_categorized_pages'):
        label = category
    if label != '':
        push(ops, viewed(call, 'Page', label, settings))
    return ops


def screen(call, settings):
    """screen(name, properties) -> record(Viewed <name> Screen), properties prefixed "Screen - "."""
    name = text_of(call, field(call, 'properties', None), 'name')
    if name == '':
        return []
    return [viewed(call, 'Screen', name, settings)]


def group(call, settings):
    """group(groupId, traits) -> set({"<group_prefix> - <trait>": ..., "<group_prefix> - id": groupId})."""
    key_prefix = prefix_of(setting(settings, 'group_prefix'))
    props = clean(field(call, 'traits', None), key_prefix, settings)
    group_id = text(field(call, 'groupId', None))
    if group_id != '':
        props[key_prefix + 'id'] = text_value(group_id, settings)
    if size(props) == 0:
        return []
    return [['set', limited(props, settings)]]


def alias(call, settings):
    """alias(userId, previousId) -> alias(userId, previousId); without previousId the current
    identity: the message's anonymousId (the device fills previousId with ``KM.i()``)."""
    user_id = text(field(call, 'userId', None))
    previous = text(field(call, 'previousId', None))
    if previous == '':
        previous = text(field(call, 'anonymousId', None))
    if user_id == '' or previous == '':
        return []
    return [['alias', user_id, previous]]


RULES = {
    'identify': identify,
    'track': track,
    'page': page,
    'screen': screen,
    'group': group,
    'alias': alias,
}


def opted_out(call):
    """Segment's per-call opt-out: ``integrations.Kissmetrics == false`` (the name in any case),
    or ``integrations.All == false`` unless Kissmetrics is true or holds its options."""
    integrations = field(call, 'integrations', None)
    if not is_object(integrations):
        return False
    names = keys(integrations)
    mine = None
    for i in range(len(names)):
        if lower(names[i]) == 'kissmetrics':
            value = integrations[names[i]]
            if is_boolean(value) and value == False:
                return True
            if is_boolean(value) or is_object(value):
                mine = value
    everything = field(integrations, 'All', None)
    return is_boolean(everything) and everything == False and is_missing(mine)


def map_call(call, settings):
    """One Segment- or RudderStack-shaped call -> its list of ops; unknown types and calls
    that opt out of Kissmetrics -> []."""
    rule = field(RULES, text(field(call, 'type', None)), None)
    if is_missing(rule):
        return []
    if opted_out(call):
        note(settings, 'dropped: opted out (integrations)')
        return []
    return rule(call, settings)
