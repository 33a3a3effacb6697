"""Where kmgen's non-Python files live, in a checkout (editable install) and in a wheel."""

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
