"""Readable parity failures for the tests (see kmgen.parity.first_difference)."""

from kmgen.parity import first_difference


def compare_ops(messages, device_ops, settings):
    """Fail with the first call whose device ops differ from the Python rules'."""
    problem = first_difference(messages, device_ops, settings)
    if problem is not None:
        raise AssertionError(problem)
