"""Readable parity failures: which call, what the device pushed, what the Python rules gave."""

from kmgen.rules import map_call, portable


def compare_ops(messages, device_ops, settings):
    """Raise AssertionError naming the first call whose device ops differ from the Python rules'."""
    position = 0
    for index, message in enumerate(messages):
        expected = map_call(message, settings)
        got = device_ops[position:position + len(expected)]
        if portable.json_compact(got) != portable.json_compact(expected):
            raise AssertionError('call #%d differs\n  call:   %s\n  device: %s\n  python: %s' % (
                index, portable.json_compact(message), portable.json_compact(got), portable.json_compact(expected)))
        position += len(expected)
    if position != len(device_ops):
        raise AssertionError('the device pushed %d ops more than the Python rules: %s' % (
            len(device_ops) - position, portable.json_compact(device_ops[position:])))
