"""The rules a config runs, for every command: kmgen's built-in rules and, when the config
names one (``rules = "site_rules.py"``), the site's own ``before``/``after`` around them.

``load(settings)`` is the one entry point. It checks every source against the transpiled
subset first (all problems at once, each with file, line, construct and fix; a check that
passed is remembered per content hash, in the process and in the user cache), so a rule the
browser cannot compile is refused by ``ops``, ``send``, ``explain``, ``parity`` and ``build``
alike, never run by CPython alone. It returns a ``Ruleset``: the mapper CPython runs and the
site source the transpiler compiles into the same site's bundle (js_runtime/site.js is the
browser half of ``Ruleset.run``). See docs/site-rules.md.
"""

import ast
import hashlib
import importlib.util
import sys
from pathlib import Path

from .device import subset
from .device.subset import NOT_TRANSPILED, RULES_DIR, SITE_FUNCTIONS, check_source, refuse
from .errors import ConfigError, MessageError
from .paths import cache_dir
from .rules import map_call
from .rules.portable import is_array, is_missing, is_number, is_object, is_string, json_compact

OP_SHAPES = {'identify': ('text',), 'set': ('props',), 'record': ('text', 'props'), 'alias': ('text', 'text')}
# Transport fields (kmgen's rules drop them from properties); only a set may carry _t/_d,
# as the product lines of an order do.
WIRE_NAMES = ('_k', '_p', '_n')
TIME_NAMES = ('_t', '_d')
_CHECKED = set()
_LOADED = {}


class SiteRuleError(MessageError):
    """A site rule raised or returned something that is not a call or ops: that call is dropped."""


def _builtin_sources():
    return [('rules/' + path.name, path.read_text(encoding='utf-8'), False)
            for path in sorted(RULES_DIR.glob('*.py')) if path.name not in NOT_TRANSPILED]


def _digest(sources):
    """sha256 over the sources and the checker itself (a changed checker checks again)."""
    digest = hashlib.sha256(Path(subset.__file__).read_bytes())
    for name, text, site in sources:
        digest.update(b'%d\0' % site + name.encode() + b'\0' + text.encode('utf-8', 'surrogatepass') + b'\0')
    return digest.hexdigest()


def check(sources):
    """Every problem of ``sources`` ((name, text, is_site) each), from a cache when the same
    texts passed before. Raises SubsetError listing them all."""
    digest = _digest(sources)
    marker = cache_dir() / 'checked' / digest
    if digest in _CHECKED or marker.is_file():
        _CHECKED.add(digest)
        return digest
    problems = []
    for name, text, site in sources:
        problems.extend(check_source(text, name, site))
    if problems:
        refuse(problems)
    _CHECKED.add(digest)
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_bytes(b'')
    except OSError:
        pass    # an unwritable cache only costs the next process another check
    return digest


def read_site(path):
    """The text of a site's rules file (``rules`` in kmgen.toml, already relative to it)."""
    try:
        return Path(path).read_text(encoding='utf-8')
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError('Cannot read the site rules %s (the rules setting): %s. Create it (kmgen init '
                          'writes a starter) or remove the setting.'
                          % (path, getattr(err, 'strerror', None) or err)) from None


def load(settings):
    """The checked rules for validated ``settings`` (their ``rules`` names the site file).

    Raises:
        SubsetError: a source leaves the transpiled subset (every problem listed).
        ConfigError: the site file cannot be read or fails while loading.
    """
    site = settings.get('rules')
    sources = _builtin_sources()
    if site is not None:
        sources.append((site, read_site(site), True))
    digest = check(sources)
    if digest not in _LOADED:
        _LOADED[digest] = Ruleset(site, sources[-1][1] if site is not None else None, digest)
    return _LOADED[digest]


def _module(path, source, digest):
    name = 'kmgen_site_rules_' + digest[:16]
    spec = importlib.util.spec_from_loader(name, loader=None, origin=str(path))
    module = importlib.util.module_from_spec(spec)
    module.__file__ = str(path)
    try:
        exec(compile(source, str(path), 'exec'), module.__dict__)
    except Exception as err:   # a site file that fails at import is a config problem
        raise ConfigError('The site rules %s failed while loading: %s: %s.' % (path, type(err).__name__, err)) from None
    return module


def kind(x):
    """How a value is named in warnings (the same words as js_runtime/site.js)."""
    if is_missing(x):
        return 'null'
    if x is True or x is False:
        return 'a boolean'
    if is_string(x):
        return 'a string'
    if is_number(x):
        return 'a number'
    if is_array(x):
        return 'a list'
    return 'an object' if is_object(x) else type(x).__name__


def ops_problem(ops):
    """None when ``ops`` is a list of well-formed ops, else what is wrong with the first bad one."""
    if not is_array(ops):
        return 'returned %s, not a list of ops' % kind(ops)
    for i in range(len(ops)):
        op = ops[i]
        shape = OP_SHAPES.get(op[0]) if is_array(op) and len(op) > 0 and is_string(op[0]) else None
        if shape is None or len(op) != len(shape) + 1:
            return 'returned op #%d %s, not ["identify", id], ["set", props], ["record", name, props] or ' \
                   '["alias", to, from]' % (i, json_compact(op) if is_array(op) else kind(op))
        for j in range(len(shape)):
            value = op[j + 1]
            if shape[j] == 'text' and not is_string(value):
                return 'returned op #%d (%s) with %s where a string belongs' % (i, op[0], kind(value))
            if shape[j] == 'props':
                if not is_object(value):
                    return 'returned op #%d (%s) with %s where properties belong' % (i, op[0], kind(value))
                for key in value:
                    item = value[key]
                    if not is_string(key):
                        return 'returned op #%d (%s) with the key %r, not a string' % (i, op[0], key)
                    if key in WIRE_NAMES or (key in TIME_NAMES and op[0] != 'set'):
                        return 'returned op #%d (%s) with the reserved wire name %s' % (i, op[0], json_compact(key))
                    if not (is_string(item) or item is True or item is False or (is_number(item) and not is_missing(item))):
                        return 'returned op #%d (%s) with %s for %s; use a string, number or boolean (clean() ' \
                               'flattens objects)' % (i, op[0], kind(item), json_compact(key))
    return None


def label(call):
    """The call as warnings name it: ``track("Signed Up")``."""
    kind_ = call.get('type') if isinstance(call, dict) else None
    name = call.get('event', call.get('name')) if isinstance(call, dict) else None
    return '%s(%s)' % (kind_ if is_string(kind_) else '?', json_compact(name) if is_string(name) else '')


def _copy(x):
    if isinstance(x, dict):
        return {k: _copy(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_copy(v) for v in x]
    return x


def _warn_stderr(text):
    sys.stderr.write('Warning: %s\n' % text)


class Ruleset:
    """The mapper of one config (built-in rules, and the site's before/after when it has them).

    Attributes:
        site: the site rules file as the config names it (for messages), or None.
        source: its text (what the transpiler compiles into the site's bundle), or None.
        functions: the names of SITE_FUNCTIONS it defines.
        digest: sha256 over every source, for caches and the build manifest.
    """

    def __init__(self, site, source, digest):
        self.site, self.source, self.digest = site, source, digest
        module = _module(site, source, digest) if site is not None else None
        self.before = getattr(module, 'before', None)
        self.after = getattr(module, 'after', None)
        self.functions = [name for name in SITE_FUNCTIONS if callable(getattr(module, name, None))]

    def run(self, call, settings):
        """(the call the built-in rules mapped, its ops), site rules applied.

        Raises:
            SiteRuleError: a site rule raised or returned something invalid (drop the call).
        """
        if self.site is None:
            return call, map_call(call, settings)
        if self.before is not None:
            original = call
            try:
                call = self.before(_copy(call), settings)
            except Exception as err:
                raise SiteRuleError(self._failed('before()', original, err)) from None
            if is_missing(call):
                return None, []
            if not is_object(call):
                raise SiteRuleError('site rules: before() returned %s, not a call or None, on %s; the call was '
                                    'dropped.' % (kind(call), label(original)))
        ops = map_call(call, settings)
        if self.after is not None:
            try:
                ops = self.after(call, ops, settings)
            except Exception as err:
                raise SiteRuleError(self._failed('after()', call, err)) from None
            problem = ops_problem(ops)
            if problem is not None:
                raise SiteRuleError('site rules: after() %s on %s; the call was dropped.' % (problem, label(call)))
        return call, ops

    def map(self, call, settings, warn=_warn_stderr):
        """The ops for ``call``; a failing site rule gives one warning and no ops."""
        try:
            return self.run(call, settings)[1]
        except SiteRuleError as err:
            warn(str(err))
            return []

    def _failed(self, function, call, err):
        return 'site rules: %s failed on %s (%s: %s); the call was dropped.' % (
            function, label(call), type(err).__name__, err)

    def transpilable(self):
        """The site source for Transcrypt: its ``kmgen.rules`` imports made relative to the
        scratch package (line numbers kept), so they resolve to the JavaScript twins."""
        lines = self.source.split('\n')
        for node in ast.parse(self.source).body:
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = ', '.join(alias.name for alias in node.names)
                lines[node.lineno - 1] = 'from .%s import %s' % (node.module.rsplit('.', 1)[1], names)
                for extra in range(node.lineno, node.end_lineno):
                    lines[extra] = ''
        return '\n'.join(lines)

