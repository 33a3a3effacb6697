"""Portable helpers: the only functions the rules call besides each other.

Each helper here has a hand-written JavaScript twin in ``js_runtime/portable.js``
under the name Transcrypt emits for it (``keys`` becomes ``py_keys``). This module
is the CPython half and is never transpiled: the build replaces it with the twin.
Both halves run ``tests/vectors/helpers.json``, so they cannot drift silently.

The semantics are JavaScript's wherever the two languages differ, because the
browser is the harder place to change: ``to_str`` is ``String(value)``, key order
is JavaScript's own-property order (integer-like keys ascending, then insertion
order), strings are sequences of UTF-16 code units, numbers are IEEE doubles
(integers past 2**53 lose precision exactly as ``JSON.parse`` loses it).
"""

import json
import math
import re

_MAX_SAFE = 2 ** 53
_SURROGATE = re.compile('[\ud800-\udfff]')
_MAX_INDEX = 2 ** 32 - 2   # the largest array index: JavaScript orders such keys first
_ISO = re.compile(
    r'([0-9]{4})-([0-9]{2})-([0-9]{2})'
    r'(?:T([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.[0-9]+)?)?'
    r'(Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?'
)
_DECIMAL = re.compile(r'[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?')
_MONEY_STRIP = re.compile(r'[$,]')
_EDGE_SPACE = ' \t\n\r'
# The last string date_value parsed: a message's timestamp is read by the check, by the
# request builder and by the rules, the same str object each time.
_LAST_DATE = [None, None]
_DAYS = {}     # 'YYYY-MM-DD' -> days since 1970-01-01, or False (not a date)
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _is_index(name):
    """True for a canonical array index ("0", "17", not "017" or "-1"), which JavaScript
    lists before every other own key, in ascending numeric order."""
    return name.isdigit() and name.isascii() and (name == '0' or name[0] != '0') and int(name) <= _MAX_INDEX


def keys(d):
    """Own keys of an object in JavaScript's order (``Object.keys(d)``): integer-like keys
    ascending, then the others in insertion order. Nothing is sorted otherwise."""
    if not isinstance(d, dict):
        return []
    names = list(d)
    # A key that starts with a digit sorts before ':', so one C-speed min() rules most
    # objects out before the per-key test.
    if not names or min(names) >= ':':
        return names
    for name in names:
        if name[:1].isdigit() and _is_index(name):
            indexes = sorted((n for n in names if _is_index(n)), key=int)
            return indexes + [n for n in names if not _is_index(n)]
    return names


def size(d):
    """The number of own keys of an object (``Object.keys(d).length``); 0 for anything else."""
    if isinstance(d, dict):
        return len(d)
    return 0


def field(d, key, default):
    """``d[key]`` when ``d`` is an object that has ``key`` of its own, else ``default``."""
    if d.__class__ is dict or isinstance(d, dict):
        return d.get(key, default)
    return default


def is_missing(x):
    """True for null, undefined, NaN and +-Infinity: the values ``clean`` drops."""
    if x is None:
        return True
    return isinstance(x, float) and not math.isfinite(x)


def is_object(x):
    """True for a plain object (dict); arrays, dates and null are not objects here."""
    return isinstance(x, dict)


def is_array(x):
    return isinstance(x, (list, tuple))


def py_eq(a, b):
    """Python's ``a == b``. Rules never call it: the build turns each ``==`` and ``!=`` of a
    site's rules into a call of its JavaScript twin, which gives Python's answer for JSON
    values (``True == 1``, ``[1] == [1]``, ``'' != 0``) where JavaScript's ``==`` and ``===``
    each differ."""
    return a == b


def is_boolean(x):
    return isinstance(x, bool)


def is_string(x):
    return isinstance(x, str)


def is_number(x):
    """True for numbers; booleans are not numbers (CPython's ``bool`` is an ``int``)."""
    return isinstance(x, (int, float)) and x.__class__ is not bool


def push(lst, x):
    lst.append(x)


def join(parts, sep):
    return sep.join(parts)


def _js_number(x):
    """Format a number exactly as JavaScript's ``String(x)`` (ECMA-262 Number::toString)."""
    if isinstance(x, int) and abs(x) <= _MAX_SAFE:
        return str(x)
    x = float(x)
    if x != x:
        return 'NaN'
    if math.isinf(x):
        return 'Infinity' if x > 0 else '-Infinity'
    if x == 0:
        return '0'
    if x < 0:
        return '-' + _js_number(-x)
    mantissa, _, exp = repr(x).partition('e')
    whole, _, frac = mantissa.partition('.')
    digits = (whole + frac).lstrip('0')
    # value = 0.<digits> * 10**n
    n = (int(exp) if exp else 0) + len(whole) - (len(whole + frac) - len(digits))
    digits = digits.rstrip('0')
    k = len(digits)
    if k <= n <= 21:
        return digits + '0' * (n - k)
    if 0 < n <= 21:
        return digits[:n] + '.' + digits[n:]
    if -6 < n <= 0:
        return '0.' + '0' * (-n) + digits
    e = n - 1
    sign = '+' if e >= 0 else '-'
    head = digits[0] + ('.' + digits[1:] if k > 1 else '')
    return head + 'e' + sign + str(abs(e))


def to_str(x):
    """JavaScript's ``String(x)`` for strings, numbers, booleans and null."""
    if isinstance(x, str):
        return x
    if isinstance(x, bool):
        return 'true' if x else 'false'
    if x is None:
        return 'null'
    if is_number(x):
        return _js_number(x)
    return json_compact(x)


def norm_number(x):
    """A finite number as both runtimes hold it: integral floats below 2**53 become ints,
    ints past 2**53 become the double that JavaScript would hold."""
    if isinstance(x, float):
        if x.is_integer() and abs(x) <= _MAX_SAFE:
            return int(x)
        return x
    if abs(x) > _MAX_SAFE:
        return norm_number(float(x))
    return x


def _json_string(s):
    out = json.dumps(s, ensure_ascii=False)
    if _SURROGATE.search(s):
        out = _SURROGATE.sub(lambda m: '\\u%04x' % ord(m.group()), out)
    return out


def json_compact(x):
    """Compact JSON in key order, as ``JSON.stringify`` writes it (NaN is null)."""
    return _json(x, keys)


def _json(x, order):
    """Compact JSON with each object's keys listed by ``order(obj)``."""
    if isinstance(x, str):
        return _json_string(x)
    if isinstance(x, bool):
        return 'true' if x else 'false'
    if is_missing(x):
        return 'null'
    if is_number(x):
        return _js_number(x)
    if isinstance(x, dict):
        return '{' + ','.join(_json_string(k) + ':' + _json(x[k], order) for k in order(x)) + '}'
    if isinstance(x, (list, tuple)):
        return '[' + ','.join(_json(v, order) for v in x) + ']'
    if hasattr(x, 'isoformat'):
        return _json_string(x.isoformat())
    raise TypeError('cannot encode %r as JSON' % (x,))


def _days_from_civil(y, m, d):
    # Howard Hinnant's algorithm: days since 1970-01-01 in the proleptic Gregorian calendar.
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _is_leap(y):
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def date_value(x):
    """Unix seconds (int) for a date or a strict ISO-8601 string, else None.

    Accepted: ``YYYY-MM-DD`` and ``YYYY-MM-DDTHH:MM[:SS[.fff]]`` with an optional ``Z``
    or ``+-HH[:MM]`` zone; no zone means UTC. Fractions are floored away.
    """
    if not isinstance(x, str):
        if x is None or isinstance(x, (int, float, list, dict)) or not hasattr(x, 'timetuple'):
            return None
        if not hasattr(x, 'hour'):
            return _days_from_civil(x.year, x.month, x.day) * 86400
        if x.tzinfo is not None:
            x = x - x.utcoffset()
        return _days_from_civil(x.year, x.month, x.day) * 86400 + x.hour * 3600 + x.minute * 60 + x.second
    if x is _LAST_DATE[0]:
        return _LAST_DATE[1]
    # The shortest ISO date is YYYY-MM-DD: a cheap look before the regex.
    m = _ISO.fullmatch(x) if len(x) > 9 and x[4] == '-' else None
    if m is None:
        return None
    days = _DAYS.get(x[:10])
    if days is None:
        days = _day_number(x[:10])
    if days is False:
        return None
    hour, minute, second, zone = m.group(4, 5, 6, 7)
    seconds = days * 86400
    if hour is not None:
        hour, minute = int(hour), int(minute)
        second = int(second) if second is not None else 0
        if hour > 23 or minute > 59 or second > 59:
            return None
        seconds += hour * 3600 + minute * 60 + second
        if zone is not None and zone != 'Z':
            zh = int(zone[1:3])
            zm = int(zone[-2:]) if len(zone) > 3 else 0
            if zh > 23 or zm > 59:
                return None
            seconds -= (zh * 3600 + zm * 60) * (-1 if zone[0] == '-' else 1)
    _LAST_DATE[:] = [x, seconds]
    return seconds


def _day_number(date):
    """Days since 1970-01-01 of a ``YYYY-MM-DD`` the regex matched, or False when the month
    or day is out of range; remembered (a backfill's events fall on few days)."""
    year, month, day = int(date[:4]), int(date[5:7]), int(date[8:10])
    if month < 1 or month > 12 or day < 1 or day > _DAYS_IN_MONTH[month - 1] + (
            1 if month == 2 and _is_leap(year) else 0):
        days = False
    else:
        days = _days_from_civil(year, month, day)
    if len(_DAYS) >= 4096:
        _DAYS.clear()
    _DAYS[date] = days
    return days


def parse_money(s):
    """A revenue string as a number: ``"$1,000.50"`` -> 1000.5; None when it is not one."""
    if not isinstance(s, str):
        return None
    text = _MONEY_STRIP.sub('', s).strip(_EDGE_SPACE)
    if _DECIMAL.fullmatch(text) is None:
        return None
    value = float(text)
    if not math.isfinite(value):
        return None
    return norm_number(value)


def lower(s):
    """``s`` in lower case (JavaScript's ``toLowerCase``)."""
    return s.lower()


def squash(s):
    """Lower-case ``s`` and drop spaces and underscores: ``'Completed_Order'`` -> ``'completedorder'``."""
    return s.lower().replace(' ', '').replace('_', '')


def well_formed(s):
    """``s`` with every lone surrogate (U+D800-U+DFFF not in a pair) replaced by U+FFFD, as
    JavaScript's ``String.prototype.toWellFormed``; a pair held as two code points is joined."""
    if s.isascii() or _SURROGATE.search(s) is None:
        return s
    return s.encode('utf-16-le', 'surrogatepass').decode('utf-16-le', 'replace')


def cut(s, limit):
    """``well_formed(s)`` cut to at most ``limit`` UTF-16 code units, at a code-point
    boundary (a pair that would be split is dropped whole)."""
    s = well_formed(s)
    if len(s) * 2 <= limit:
        return s
    units = s.encode('utf-16-le')
    end = 2 * limit
    if len(units) <= end:
        return s
    if 0xD8 <= units[end - 1] <= 0xDB:
        end -= 2
    return units[:end].decode('utf-16-le')
