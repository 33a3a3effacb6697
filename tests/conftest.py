"""Shared fixtures: vectors, and the transpiled rules run by Node in one batch per session."""

import json
from pathlib import Path

import pytest

from kmgen.device import engine
from kmgen.parity import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / 'tests' / 'vectors'
API_KEY = '0123456789abcdef0123456789abcdef01234567'


def load_cases(kind):
    """(file, case) pairs: kind 'calls' for the mapping vectors, 'helpers' for the twins."""
    pairs = []
    for path in sorted(VECTORS.glob('*.json')):
        if (path.name == 'helpers.json') == (kind == 'helpers'):
            pairs.extend((path.name, case) for case in json.loads(path.read_text(encoding='utf-8')))
    return pairs


CALL_CASES = load_cases('calls')
HELPER_CASES = load_cases('helpers')


def case_id(pair):
    return '%s: %s' % (pair[0][:-5], pair[1]['name'])


@pytest.fixture(scope='session')
def js_ops():
    """Canonical JSON ops from the transpiled rules for every call vector, keyed by case id."""
    lines = engine.run([{'call': c['call'], 'settings': c.get('settings', {})} for _, c in CALL_CASES])
    return dict(zip(map(case_id, CALL_CASES), lines))


@pytest.fixture(scope='session')
def js_helpers():
    lines = engine.run([{'helper': c['helper'], 'args': c['args']} for _, c in HELPER_CASES])
    return dict(zip(map(case_id, HELPER_CASES), lines))


@pytest.fixture(scope='session')
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium, never a downloaded browser."""
    return {**browser_type_launch_args, 'executable_path': CHROMIUM, 'args': CHROMIUM_ARGS}


@pytest.fixture(scope='session')
def browser_context_args(browser_context_args):
    return {**browser_context_args, 'service_workers': 'block', 'bypass_csp': False}


def pytest_collection_modifyitems(items):
    """Browser tests last: pytest-playwright keeps an event loop running in the main thread
    once its session starts, and the cloud tests call asyncio.run() as the CLI does."""
    items.sort(key=lambda item: 'tests/browser/' in item.nodeid.replace('\\', '/'))
