"""Value cleaning: one ``clean`` for every call type and every depth (docs/mapping.md, "Values").

Transpiled as-is to JavaScript; stay inside the subset (docs/site-rules.md, "The subset").
"""

from .portable import (cut, date_value, field, is_array, is_missing, is_number, is_object,
                       is_string, join, json_compact, keys, norm_number, parse_money, push,
                       size, to_str, well_formed)

# Limits (the same in both modes): containers nested deeper than MAX_DEPTH levels (the
# properties object is level 1) are dropped there; an op keeps its first MAX_PROPERTIES
# properties in key order; a string value keeps its first MAX_TEXT UTF-16 code units.
MAX_DEPTH = 32
MAX_PROPERTIES = 1000
MAX_TEXT = 8192

# Transport fields of the Kissmetrics API. As property keys they would re-file the call under
# another person (the library lets a `_p` property win) or move it in time (the API takes a
# `_t` property as the request's time), so set and record ops never carry them. Only an
# unprefixed top-level key can be one (any prefix or path is longer than these names), so
# the check never looks up a freshly joined key (in V8, a string not yet interned).
RESERVED = {'_k': True, '_p': True, '_n': True, '_t': True, '_d': True}
DEPTH_NOTE = 'dropped: nested deeper than 32 levels'


def note(settings, message):
    """Tell the mode what the rules dropped or cut: ``settings['notes']``, when the mode
    passes a list there, collects one line per drop (``kmgen explain``, the page's warning)."""
    notes = field(settings, 'notes', None)
    if is_array(notes):
        push(notes, message)


def scalar(value, settings):
    """A kept leaf value: ISO dates -> unix seconds, numbers normalised, strings made well
    formed and cut to MAX_TEXT, booleans as-is."""
    if is_string(value):
        seconds = date_value(value)
        return text_value(value, settings) if is_missing(seconds) else seconds
    if is_number(value):
        return norm_number(value)
    seconds = date_value(value)
    return value if is_missing(seconds) else seconds


def text_value(value, settings):
    out = cut(value, MAX_TEXT)
    if len(out) < len(value):
        note(settings, 'cut: a string over 8192 code units')
    return out


def is_container(value):
    return is_object(value) or is_array(value)


def deep(depth, settings):
    """True (with a note) when a container at level ``depth + 1`` is past MAX_DEPTH."""
    if depth < MAX_DEPTH:
        return False
    note(settings, DEPTH_NOTE)
    return True


def bounded(value, depth, settings):
    """A copy of ``value`` (an item of an array, at level ``depth``) for its compact JSON:
    strings and keys well formed, containers past MAX_DEPTH as null."""
    if is_string(value):
        return well_formed(value)
    if not is_container(value):
        return value
    if depth > MAX_DEPTH:
        note(settings, DEPTH_NOTE)
        return None
    if is_array(value):
        items = []
        for i in range(len(value)):
            push(items, bounded(value[i], depth + 1, settings))
        return items
    out = {}
    names = keys(value)
    for i in range(len(names)):
        out[well_formed(names[i])] = bounded(value[names[i]], depth + 1, settings)
    return out


def array_text(items, depth, settings):
    """An array (at level ``depth``) as Kissmetrics stores it: comma-joined, the way
    JavaScript's ``join`` writes it, except that objects become compact JSON instead of
    ``[object Object]`` (Segment's bug); an item past MAX_DEPTH becomes ''."""
    parts = []
    for i in range(len(items)):
        item = items[i]
        if is_missing(item) or (is_container(item) and deep(depth, settings)):
            push(parts, '')
        elif is_array(item):
            push(parts, array_text(item, depth + 1, settings))
        elif is_object(item):
            push(parts, json_compact(bounded(item, depth + 1, settings)))
        else:
            push(parts, to_str(item))
    return join(parts, ',')


def flatten_into(out, path, obj, depth, settings):
    """Copy ``obj`` (at level ``depth``) into ``out`` with nested keys joined by dots, keeping
    every sibling (Segment's flattener drops the keys that follow a nested object)."""
    names = keys(obj)
    for i in range(len(names)):
        value = obj[names[i]]
        if is_missing(value):
            continue
        if is_object(value):
            if not deep(depth, settings):
                flatten_into(out, path + well_formed(names[i]) + '.', value, depth + 1, settings)
            continue
        listed = is_array(value)
        if listed and deep(depth, settings):
            continue
        key = path + well_formed(names[i])
        if path == '' and field(RESERVED, key, False):
            note(settings, 'dropped: reserved name ' + key)
        elif listed:
            out[key] = text_value(array_text(value, depth + 1, settings), settings)
        else:
            out[key] = scalar(value, settings)
    return out


def clean(obj, prefix, settings):
    """Properties or traits -> a flat object of kept values, every key starting with
    ``prefix`` (``''``, or ``prefix_of(label)``); anything but an object -> {}."""
    out = {}
    if is_object(obj):
        flatten_into(out, prefix, obj, 1, settings)
    return out


def limited(props, settings):
    """``props`` with at most MAX_PROPERTIES properties, the first in key order."""
    if size(props) <= MAX_PROPERTIES:
        return props
    note(settings, 'cut: over 1000 properties')
    names = keys(props)
    out = {}
    for i in range(MAX_PROPERTIES):
        out[names[i]] = props[names[i]]
    return out


def prefix_of(label):
    """Segment's key prefix for ``label``: ``"<label> - "``, spaces kept (RudderStack's copy of
    this code lost them and wrote ``"<label>-"``)."""
    return label + ' - '


def text(value):
    """An identifier or name as a string: strings made well formed, numbers and booleans via
    ``String()``, anything else (missing, objects, arrays) as ``''``, which the rules treat as absent."""
    if is_string(value):
        return well_formed(value)
    if is_missing(value) or is_object(value) or is_array(value):
        return ''
    return to_str(value)


def amount(value):
    """A revenue value as a number, or None: numbers as they are, ``"$1,000.50"`` -> 1000.5."""
    if is_missing(value):
        return None
    if is_number(value):
        return norm_number(value)
    return parse_money(value)


def without(obj, name):
    """A shallow copy of ``obj`` without key ``name``."""
    out = {}
    names = keys(obj)
    for i in range(len(names)):
        if names[i] != name:
            out[names[i]] = obj[names[i]]
    return out


def count(obj):
    return size(obj)


def first_present(obj, names):
    """The first of ``names`` whose value in ``obj`` is present, else None."""
    for i in range(len(names)):
        value = field(obj, names[i], None)
        if not is_missing(value):
            return value
    return None
