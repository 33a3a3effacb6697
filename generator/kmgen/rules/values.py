"""Value cleaning: one ``clean`` for every call type and every depth (DESIGN.md, "Values").

Transpiled as-is to JavaScript; stay inside the subset (STYLE.md section 3).
"""

from .portable import (date_value, field, is_array, is_missing, is_number, is_object,
                       is_string, join, json_compact, keys, norm_number, parse_money, push,
                       to_str)


def scalar(value):
    """A kept leaf value: ISO dates -> unix seconds, numbers normalised, strings and booleans as-is."""
    seconds = date_value(value)
    if not is_missing(seconds):
        return seconds
    if is_number(value):
        return norm_number(value)
    return value


def array_text(items):
    """An array as Kissmetrics stores it: comma-joined, the way JavaScript's ``join`` writes it,
    except that objects become compact JSON instead of ``[object Object]`` (Segment's bug)."""
    parts = []
    for i in range(len(items)):
        item = items[i]
        if is_missing(item):
            push(parts, '')
        elif is_array(item):
            push(parts, array_text(item))
        elif is_object(item):
            push(parts, json_compact(item))
        else:
            push(parts, to_str(item))
    return join(parts, ',')


def flatten_into(out, path, obj):
    """Copy ``obj`` into ``out`` with nested keys joined by dots, keeping every sibling
    (Segment's flattener drops the keys that follow a nested object)."""
    names = keys(obj)
    for i in range(len(names)):
        name = names[i]
        value = obj[name]
        if is_missing(value):
            continue
        if is_object(value):
            flatten_into(out, path + name + '.', value)
        elif is_array(value):
            out[path + name] = array_text(value)
        else:
            out[path + name] = scalar(value)
    return out


def clean(obj, prefix):
    """Properties or traits -> a flat object of kept values, every key starting with
    ``prefix`` (``''``, or ``prefix_of(label)``); anything but an object -> {}."""
    out = {}
    if is_object(obj):
        flatten_into(out, prefix, obj)
    return out


def prefix_of(label):
    """Segment's key prefix for ``label``: ``"<label> - "``, spaces kept (RudderStack's copy of
    this code lost them and wrote ``"<label>-"``)."""
    return label + ' - '


def text(value):
    """An identifier or name as a string: strings as-is, numbers and booleans via ``String()``,
    anything else (missing, objects, arrays) as ``''``, which the rules treat as absent."""
    if is_string(value):
        return value
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
    return len(keys(obj))


def first_present(obj, names):
    """The first of ``names`` whose value in ``obj`` is present, else None."""
    for i in range(len(names)):
        value = field(obj, names[i], None)
        if not is_missing(value):
            return value
    return None
