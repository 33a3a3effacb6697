"""Site rules of the example store (examples/store.toml), run in the browser and the cloud.

before(call, settings) runs on every call before kmgen's rules (return the call, changed or
not, or None to drop it); after(call, ops, settings) gets the ops kmgen's rules made and
returns the ops to send. Both stay inside the transpiled subset: docs/site-rules.md.
"""

from kmgen.rules.portable import field, is_array, is_object, is_string, keys
from kmgen.rules.values import text

# Old event names the store's apps still send -> the names its reports use.
RENAMED = {'Signup': 'Signed Up', 'Add To Cart': 'Product Added'}
# Events the store's own monitoring sends; they are not customer behaviour.
INTERNAL_EVENTS = ['Heartbeat', 'Debug Ping']
# Traits that must never reach Kissmetrics.
PII_TRAITS = ['ssn', 'phone']
CHECKOUT_STEP = 'Checkout Step Completed'
LAST_STEP = 'payment'


def before(call, settings):
    """Drop internal events, rename old ones, map the last checkout step onto Order Completed
    (so revenue and products get Kissmetrics' order handling), count an order's items, drop
    PII traits."""
    call_type = text(field(call, 'type', None))
    if call_type == 'track':
        event = text(field(call, 'event', None))
        for i in range(len(INTERNAL_EVENTS)):
            if event == INTERNAL_EVENTS[i]:
                return None
        event = field(RENAMED, event, event)
        props = field(call, 'properties', None)
        if is_object(props):
            if event == CHECKOUT_STEP and text(field(props, 'step', None)) == LAST_STEP:
                event = 'Order Completed'
            products = field(props, 'products', None)
            if is_array(products):
                props['item_count'] = len(products)
        call['event'] = event
    if call_type == 'identify':
        call['traits'] = without_pii(field(call, 'traits', None))
    return call


def without_pii(traits):
    """``traits`` without the PII_TRAITS keys (anything but an object is returned as is)."""
    if not is_object(traits):
        return traits
    out = {}
    names = keys(traits)
    for i in range(len(names)):
        keep = True
        for j in range(len(PII_TRAITS)):
            if names[i] == PII_TRAITS[j]:
                keep = False
        if keep:
            out[names[i]] = traits[names[i]]
    return out


def after(call, ops, settings):
    """Mask the email trait of every set: ``ada@example.test`` -> ``***@example.test``."""
    for i in range(len(ops)):
        op = ops[i]
        if op[0] == 'set':
            email = field(op[1], 'email', None)
            if is_string(email):
                op[1]['email'] = masked(email)
    return ops


def masked(email):
    """The domain kept, the mailbox hidden; character by character, so both runtimes agree
    even on characters outside the BMP (no slicing, which the subset leaves out)."""
    domain = ''
    found = False
    for i in range(len(email)):
        if found:
            domain = domain + email[i]
        elif email[i] == '@':
            found = True
    if found:
        return '***@' + domain
    return '***'
