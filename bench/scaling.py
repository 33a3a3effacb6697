"""CPython mapping cost per event at 1k, 10k and 100k messages, and where it goes."""

import cProfile
import io
import pstats
import time
from pathlib import Path

from kmgen.parity import generated_messages
from kmgen.rules import map_call

SETTINGS = {'prefix_properties': True, 'track_named_pages': True, 'track_categorized_pages': True,
            'record_page_view': True, 'group_prefix': 'Group'}


def per_event(counts=(1000, 10000, 100000)):
    """{count: microseconds per event} over the same mix of generated messages."""
    pool = generated_messages(10000, seed=3)
    out = {}
    for count in counts:
        messages = [pool[i % len(pool)] for i in range(count)]
        started = time.perf_counter()
        for message in messages:
            map_call(message, SETTINGS)
        out[count] = (time.perf_counter() - started) * 1e6 / count
    return out


def profile(count=20000, top=8):
    """The top functions by own time for ``count`` events, as text."""
    messages = generated_messages(count, seed=5)
    profiler = cProfile.Profile()
    profiler.enable()
    for message in messages:
        map_call(message, SETTINGS)
    profiler.disable()
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats('tottime').print_stats(top)
    lines = [line for line in stream.getvalue().splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith('ncalls'))
    root = str(Path(__file__).resolve().parent.parent) + '/'
    return '\n'.join(lines[start:start + top + 1]).replace(root, '')
