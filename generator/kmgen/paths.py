"""Where kmgen's non-Python files live, in a checkout (editable install) and in a wheel."""

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
_BUNDLED = PACKAGE_DIR / '_data'          # the wheel puts templates/ and js_runtime/ here
_CHECKOUT = PACKAGE_DIR.parent.parent     # generator/kmgen -> the project root


def data_dir(name):
    """``templates`` or ``js_runtime``: the wheel's copy if installed, else the checkout's."""
    bundled = _BUNDLED / name
    return bundled if bundled.is_dir() else _CHECKOUT / name


def project_root():
    """The checkout this package runs from, or None when installed from a wheel."""
    return _CHECKOUT if (_CHECKOUT / 'pyproject.toml').is_file() else None


def data_file(name):
    """A file of the checkout's top level (``package-lock.json``), or the wheel's copy."""
    bundled = _BUNDLED / name
    return bundled if bundled.is_file() else _CHECKOUT / name


def cache_dir():
    """kmgen's per-user cache: $KMGEN_CACHE_DIR, else $XDG_CACHE_HOME/kmgen or ~/.cache/kmgen."""
    root = os.environ.get('KMGEN_CACHE_DIR') or os.path.join(
        os.environ.get('XDG_CACHE_HOME') or os.path.expanduser('~/.cache'), 'kmgen')
    return Path(root)
