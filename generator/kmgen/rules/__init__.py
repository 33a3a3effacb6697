"""The single source of kmgen's Kissmetrics mapping (see mapping.py)."""

from .mapping import DEFAULTS, RULES, map_call

__all__ = ['DEFAULTS', 'RULES', 'map_call']
