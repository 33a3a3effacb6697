"""Ops -> Kissmetrics HTTP API requests: a pure function of (message, settings).

The rules decide what to say (``rules.map_call``); this module only adds the transport
fields and writes the wire (docs/ops.md):

- ``["record", name, props]`` -> ``/e`` with ``_n = name``;
- ``["set", props]``          -> ``/s``;
- ``["alias", to, from]``     -> ``/a`` with ``_p = from``, ``_n = to``;
- ``["identify", id]``        -> nothing by itself (it names ``_p``), but when the message has
  both a userId and a different anonymousId it links them with ``/a`` (``_p = anonymousId``,
  ``_n = userId``), as Segment's server-side destination does.

Every request carries ``_k`` (API key), ``_p`` (userId, else anonymousId) and, when the message
has a usable timestamp, ``_t`` (unix seconds) and ``_d = 1``. Product lines bring their own
``_t``/``_d`` in their props; those win. Query order: ``_k, _p, _n, _t, _d`` (as present), then
the props in key order. Values are written as JavaScript's ``String(v)`` (``to_str``) and
UTF-8 percent-encoded. A URL longer than 2,048 bytes becomes a POST of the same pairs as an
``application/x-www-form-urlencoded`` body to the bare path.
"""

from typing import NamedTuple
from urllib.parse import quote

from .. import config, ruleset
from ..errors import MessageError
from ..rules.mapping import timestamp
from ..rules.portable import keys, to_str
from ..rules.values import text

MAX_URL_BYTES = 2048
PATHS = {'record': '/e', 'set': '/s', 'alias': '/a'}
TRANSPORT = ('_k', '_p', '_n', '_t', '_d')
# Props may not replace who or what a request is about; they may carry their own time
# (product lines do: docs/ops.md).
OWN_TIME = ('_t', '_d')

_MAX_SAFE = 2 ** 53
_UNRESERVED = frozenset(map(ord, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.~-'))
# str.translate() with a list (indexed by code point) is about twice as fast as with a dict.
_ASCII_ESCAPES = [chr(c) if c in _UNRESERVED else '%%%02X' % c for c in range(128)]
_CACHE_MAX = 20000
_KEY_CACHE = {}      # property name -> 'name=' encoded
_TEXT_CACHE = {}     # string value -> encoded


class Request(NamedTuple):
    """One HTTP request to the Kissmetrics API: ``body`` is None for a GET."""
    method: str
    url: str
    body: str | None = None

    def line(self):
        """``METHOD URL [body]``: how ``kmgen send --dry-run`` and ``kmgen explain`` print it."""
        return self.method + ' ' + self.url + ('' if self.body is None else ' ' + self.body)


def encode(value):
    """``value`` as JavaScript's ``String(value)``, UTF-8 percent-encoded (nothing kept but
    ``A-Z a-z 0-9 _ . ~ -``). A lone UTF-16 surrogate, which UTF-8 cannot carry, is written
    as U+FFFD, as a browser's ``URLSearchParams`` does."""
    cls = value.__class__
    if cls is str:
        s = value
    elif cls is int and -_MAX_SAFE <= value <= _MAX_SAFE:
        return str(value)
    elif cls is float:
        # Python's repr and JS's String() both write the shortest round-trip digits; where
        # repr uses plain notation (1e-4 <= |x| < 1e16) so does JS, except for a trailing '.0'.
        s = repr(value)
        if 'e' in s or s.endswith('.0') or 'n' in s:
            s = to_str(value)
        else:
            return s
    else:
        s = to_str(value)
    if s.isascii():
        return s.translate(_ASCII_ESCAPES)
    try:
        return quote(s, safe='')
    except UnicodeEncodeError:
        well_formed = s.encode('utf-16', 'surrogatepass').decode('utf-16', 'replace')
        return quote(well_formed, safe='')


def _key_pair(name):
    """``name=`` encoded (cached); ``''`` for a transport field, which props cannot set, and
    False for a name that starts with a digit: JavaScript may list it before the others, so
    the request that has one orders its props with ``keys``."""
    if name in TRANSPORT:
        pair = ''
    elif name[:1].isdigit():
        pair = False
    else:
        pair = encode(name) + '='
    if len(_KEY_CACHE) >= _CACHE_MAX:
        _KEY_CACHE.clear()
    _KEY_CACHE[name] = pair
    return pair


def _encode_text(text):
    """``encode`` for a string, remembering the last few thousand (event names, plans, ...)."""
    hit = _TEXT_CACHE.get(text)
    if hit is None:
        hit = encode(text)
        if len(_TEXT_CACHE) >= _CACHE_MAX:
            _TEXT_CACHE.clear()
        _TEXT_CACHE[text] = hit
    return hit


def _pieces(query, props, names):
    """``query`` and the encoded ``name=value`` pairs of ``props``, in the order of ``names``."""
    pieces = [query]
    for key in names:
        pair = _KEY_CACHE.get(key)
        if pair is None:
            pair = _key_pair(key)
        if pair is False:
            pair = encode(key) + '='
        if pair:
            pieces.append(pair + encode(props[key]))
    return pieces


def identity(message):
    """The ``_p`` of a message: the text of userId, else of anonymousId; ``''`` when it has neither."""
    user_id = text(message.get('userId'))
    return user_id if user_id != '' else text(message.get('anonymousId'))


class Builder:
    """Builds requests for one set of settings (the settings are read once).

    Args:
        settings: complete settings from ``config.load``/``config.validate`` (``api_key``,
            ``tracking_host`` and the rule settings).
    """

    def __init__(self, settings):
        self.rules = config.rule_settings(settings)
        self.ruleset = ruleset.load(settings)   # kmgen's rules and the site's (checked)
        self.base = settings['tracking_host'].rstrip('/')
        self.key = '_k=' + encode(settings['api_key'])

    def ops_requests(self, ops, person, anonymous='', seconds=None):
        """The requests for ``ops`` sent on behalf of ``person`` (``_p``).

        Args:
            ops: from ``map_call``.
            person: the message's identity (userId, else anonymousId).
            anonymous: the message's anonymousId, linked to ``person`` by identify.
            seconds: the message's unix time, or None (then no ``_t``/``_d``).
        """
        out = []
        for op in ops:
            kind = op[0]
            if kind == 'identify':
                if anonymous != '' and anonymous != op[1]:
                    out.append(self.request('/a', anonymous, op[1], seconds, None))
            elif kind == 'record':
                out.append(self.request('/e', person, op[1], seconds, op[2]))
            elif kind == 'set':
                out.append(self.request('/s', person, None, seconds, op[1]))
            elif kind == 'alias':
                out.append(self.request('/a', op[2], op[1], seconds, None))
        return out

    def request(self, path, person, name, seconds, props):
        """One request: transport fields first, then ``props`` in key order."""
        query = self.key + '&_p=' + _encode_text(person)
        if name is not None:
            query += '&_n=' + _encode_text(name)
        when = seconds
        done = None if seconds is None else 1
        if props:
            when = props.get('_t', when)
            done = props.get('_d', done)
        if when is not None:
            query += '&_t=' + encode(when)
        if done is not None:
            query += '&_d=1' if done == 1 and done.__class__ is int else '&_d=' + encode(done)
        if props:
            pieces = [query]
            pairs = _KEY_CACHE
            texts = _TEXT_CACHE
            for key in props:
                pair = pairs.get(key)
                if pair is None:
                    pair = _key_pair(key)
                if not pair:
                    if pair is False:
                        pieces = _pieces(query, props, keys(props))
                        break
                    continue
                value = props[key]
                if value.__class__ is str:
                    text = texts.get(value)
                    pieces.append(pair + (text if text is not None else _encode_text(value)))
                else:
                    pieces.append(pair + encode(value))
            query = '&'.join(pieces)
        url = self.base + path + '?' + query
        if len(url) > MAX_URL_BYTES:
            return Request('POST', self.base + path, query)
        return Request('GET', url)

    def build(self, message, source='message', untimed=None):
        """The requests for one checked message (see ``kmgen.message.check``); ``untimed`` is
        the unix time to send when the message has no timestamp (None: send no ``_t``).

        Raises:
            MessageError: the message has neither userId nor anonymousId, so it has no ``_p``.
        """
        person = identity(message)
        if person == '':
            raise MessageError('%s has neither "userId" nor "anonymousId": the Kissmetrics API needs an '
                               'identity (_p), so add one of them.' % source)
        call, ops = self.ruleset.run(message, self.rules)
        if call is None or call is message:
            call = message
        else:   # the site's before() may have changed the identity
            person = identity(call) or person
        seconds = timestamp(call)
        return self.ops_requests(ops, person, text(call.get('anonymousId')),
                                 untimed if seconds is None else seconds)

    def tapstream_alias(self, km_identity, named_identity):
        """The alias that ties Tapstream's ``km_identity`` to a named identity:
        ``/a?_k=KEY&_p=<km_identity>&_n=<named identity>`` (README, "tapstream-alias")."""
        return self.request('/a', km_identity, named_identity, None, None)


def build(message, settings, source='message'):
    """The Kissmetrics HTTP requests for one message: a pure function of its arguments.

    Args:
        message: a Segment or RudderStack message that passed ``message.check``.
        settings: complete settings (``config.validate``).
        source: how to name the message in errors, e.g. ``events.jsonl:12``.

    Returns:
        A list of ``Request`` (possibly empty when the rules produce no ops).

    Raises:
        MessageError: the message has no identity to send as ``_p``.
    """
    return Builder(settings).build(message, source)


def tapstream_alias(km_identity, named_identity, settings):
    """``/a?_k=KEY&_p=<km_identity>&_n=<named identity>`` on the tracking host."""
    return Builder(settings).tapstream_alias(km_identity, named_identity)
