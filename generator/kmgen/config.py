"""Settings: the schema, defaults, validation and loading (kmgen.toml or a JSON file).

The rule settings and their defaults come from ``rules.DEFAULTS`` (the single source);
this module adds the mode-only settings and checks every value a user can get wrong.
"""

import difflib
import json
import os
import re
import tomllib
from pathlib import Path

from .errors import ConfigError
from .rules import DEFAULTS as RULE_DEFAULTS

API_KEY = re.compile(r'[A-Za-z0-9]{40}')
JS_IDENTIFIER = re.compile(r'[A-Za-z_$][A-Za-z0-9_$]*')
HOST = re.compile(r'[A-Za-z0-9.-]+(:[0-9]+)?')
SITE = re.compile(r'[A-Za-z0-9][A-Za-z0-9._-]*')
DEFAULT_CONFIG = 'kmgen.toml'
INIT_HINT = 'run `kmgen init` to write one, or pass --config FILE'
# The library's KM_SKIP_* switches a site may set (page views are record_page_view's job).
KM_SKIP = ('visited_site', 'search_engine', 'ad_campaign', 'referrer', 'form_fields')

# name -> (type, default, scope, what it is)
SCHEMA = {
    'api_key': (str, None, 'both', 'your Kissmetrics API key (40 letters and digits)'),
    'prefix_properties': (bool, RULE_DEFAULTS['prefix_properties'], 'rules',
                          'prefix event properties with "<event> - "'),
    'track_named_pages': (bool, RULE_DEFAULTS['track_named_pages'], 'rules',
                          'record "Viewed <name> Page" for named pages'),
    'track_categorized_pages': (bool, RULE_DEFAULTS['track_categorized_pages'], 'rules',
                                'record "Viewed <category> Page" for categorized pages'),
    'record_page_view': (bool, RULE_DEFAULTS['record_page_view'], 'rules',
                         'record "Page View" on every page call'),
    'group_prefix': (str, RULE_DEFAULTS['group_prefix'], 'rules', 'prefix of group traits'),
    'tapstream_account': (str, None, 'device', 'Tapstream account name (enables the hookup)'),
    'cookie_domain': (str, None, 'device', "the library's KM_COOKIE_DOMAIN"),
    'library_host': (str, 'scripts.kissmetrics.io', 'device', 'host serving <key>.2.js'),
    'api_name': (str, 'analytics', 'device', 'global name of the analytics.js-style API'),
    'script_src': (str, None, 'device', 'URL of kmgen.min.js (loaded with SRI); unset: the snippet inlines it'),
    'initial_page': (bool, True, 'device', 'the snippet makes the first page() call, as Segment\'s does'),
    'km_skip': (list, [], 'device', 'library auto-tracking to turn off: ' + ', '.join(KM_SKIP)),
    'tracking_host': (str, 'https://trk.kissmetrics.io', 'cloud', 'Kissmetrics HTTP API base URL'),
    'rules': (str, None, 'both', "the site's own rules: a Python file (relative to this config) defining "
                                 'before(call, settings) and/or after(call, ops, settings)'),
    'site': (str, None, 'device', 'name of the build directory dist/<site>/ (unset: the config file name)'),
}
TYPE_WORDS = {bool: 'true or false', str: 'a string', list: 'a list of strings'}


def _type_name(value):
    return {bool: 'a boolean', int: 'a number', float: 'a number', str: 'a string', list: 'a list',
            dict: 'a table', type(None): 'null'}.get(type(value), type(value).__name__)


def _suggest(name):
    snake = re.sub(r'(?<=[a-z0-9])([A-Z])', r'_\1', name).lower().replace('-', '_')
    if snake in SCHEMA and snake != name:
        return snake
    close = difflib.get_close_matches(snake, SCHEMA, n=1, cutoff=0.6)
    return close[0] if close else None


def validate(raw, source='settings', api_key=None):
    """Check ``raw`` against the schema and return a complete settings dict with defaults.

    Args:
        raw: the mapping read from a config file (or given by a caller).
        source: how to name that mapping in messages, e.g. ``kmgen.toml``.
        api_key: an API key given on the command line, which wins over ``raw``.

    Returns:
        Every setting in ``SCHEMA`` (None for unset optional ones).

    Raises:
        ConfigError: the first problem found, with the fix.
    """
    if not isinstance(raw, dict):
        raise ConfigError('%s must be a table of settings, got %s.' % (source, _type_name(raw)))
    for name in raw:
        if name not in SCHEMA:
            hint = _suggest(name)
            raise ConfigError('Unknown setting %r in %s.%s' % (
                name, source, " Did you mean %r?" % hint if hint else
                ' Known settings: %s.' % ', '.join(SCHEMA)))
    settings = {}
    for name, (kind, default, _scope, _what) in SCHEMA.items():
        value = raw.get(name, default)
        if name == 'api_key' and api_key is not None:
            value = api_key
        if value is not None and (type(value) is not kind):
            raise ConfigError('Setting %r in %s must be %s, got %s (%r).'
                              % (name, source, TYPE_WORDS[kind], _type_name(value), value))
        settings[name] = value
    key = settings['api_key']
    if key is None or key == '':
        raise ConfigError('Missing api_key: add api_key = "..." to %s or pass --api-key.' % source)
    if not API_KEY.fullmatch(key):
        raise ConfigError('Invalid api_key %r in %s: a Kissmetrics API key is 40 letters and digits '
                          '(Kissmetrics > Settings > API key).' % (key, source))
    if settings['group_prefix'].strip() == '':
        raise ConfigError('Setting %r in %s must not be empty: use "Group" or your own label.'
                          % ('group_prefix', source))
    if not JS_IDENTIFIER.fullmatch(settings['api_name']):
        raise ConfigError('Setting %r in %s must be a JavaScript identifier, got %r.'
                          % ('api_name', source, settings['api_name']))
    if not HOST.fullmatch(settings['library_host']):
        raise ConfigError('Setting %r in %s must be a host name such as "scripts.kissmetrics.io", got %r.'
                          % ('library_host', source, settings['library_host']))
    for item in settings['km_skip']:
        if item not in KM_SKIP:
            close = difflib.get_close_matches(str(item).lower(), KM_SKIP, n=1, cutoff=0.6)
            raise ConfigError('Unknown km_skip entry %r in %s.%s Use any of %s.' % (
                item, source, " Did you mean %r?" % close[0] if close else '', ', '.join(KM_SKIP)))
    if settings['script_src'] is not None and not re.fullmatch(r'((https:)?/)?/[^\s"\'<>/][^\s"\'<>]*',
                                                                settings['script_src']):
        raise ConfigError('Setting %r in %s must be an https://, // or root-relative (/...) URL of kmgen.min.js, '
                          'got %r.' % ('script_src', source, settings['script_src']))
    if settings['site'] is not None and not SITE.fullmatch(settings['site']):
        raise ConfigError('Setting %r in %s must be a directory name of letters, digits, ".", "_" or "-", '
                          'got %r.' % ('site', source, settings['site']))
    if settings['rules'] is not None and not settings['rules'].endswith('.py'):
        raise ConfigError('Setting %r in %s must name a Python file (site_rules.py), got %r.'
                          % ('rules', source, settings['rules']))
    if not re.fullmatch(r'https?://[^\s/?#]+', settings['tracking_host']):
        raise ConfigError('Setting %r in %s must be a base URL such as "https://trk.kissmetrics.io", got %r.'
                          % ('tracking_host', source, settings['tracking_host']))
    return settings


def rule_settings(settings):
    """The part of the settings the rules read."""
    return {name: settings[name] for name in RULE_DEFAULTS}


def load(config=None, settings_file=None, api_key=None):
    """Read and validate settings from a kmgen.toml (``config``; ./kmgen.toml when neither
    file nor an api_key is given and it exists) or a JSON file. A ``rules`` path is made relative to the
    file that names it.

    Raises:
        ConfigError: unreadable file, bad TOML/JSON, or an invalid setting.
    """
    if config is not None and settings_file is not None:
        raise ConfigError('Pass either --config or --settings, not both.')
    if config is None and settings_file is None and api_key is None and os.path.isfile(DEFAULT_CONFIG):
        config = DEFAULT_CONFIG
    path = Path(config if config is not None else settings_file) if (config or settings_file) else None
    if path is None:
        if api_key is None:
            raise ConfigError('Missing api_key: pass --config kmgen.toml (with api_key = "..."), '
                              '--settings FILE.json or --api-key.')
        return validate({}, 'the command line', api_key)
    try:
        text = path.read_text(encoding='utf-8')
    except OSError as err:
        hint = ': ' + INIT_HINT if config is not None and not path.exists() else ''
        raise ConfigError('Cannot read %s: %s%s.' % (path, err.strerror or err, hint)) from None
    try:
        raw = tomllib.loads(text) if config is not None else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as err:
        raise ConfigError('%s is not valid %s: %s.' % (path, 'TOML' if config else 'JSON', err)) from None
    settings = validate(raw, str(path), api_key)
    if settings['rules'] is not None:
        settings['rules'] = os.path.normpath(os.path.join(os.path.dirname(str(path)), settings['rules']))
    return settings
