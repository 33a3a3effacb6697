"""`kmgen init [DIR]`: a starter kmgen.toml (every setting, commented, with its default) and
a site_rules.py whose examples are commented out. Existing files are left alone."""

import json
import re
from pathlib import Path

from .config import DEFAULT_CONFIG, SCHEMA, SITE
from .errors import ConfigError

SITE_RULES = 'site_rules.py'
SCOPES = {'both': 'both modes', 'rules': 'both modes', 'device': 'browser only', 'cloud': 'cloud only'}

RULES_TEMPLATE = '''"""Site rules: your own mapping around kmgen's, run in the browser and by the cloud alike.

before(call, settings) gets each Segment-shaped call before kmgen's rules and returns the call
to map (changed or not) or None to drop it. after(call, ops, settings) gets the ops kmgen's
rules made and returns the ops to send. The file is compiled into your snippet and plugin.js
by `kmgen build` and run by `kmgen ops`, `send`, `explain` and `parity`; it must stay inside
the transpiled subset (`kmgen ops` lists any problem with its line and fix). The guide, with
the subset table, is docs/site-rules.md in kmgen's source distribution.
"""

from kmgen.rules.portable import field, is_object, is_string, keys

# Examples: uncomment what your site needs.
# RENAMED = {'Signup': 'Signed Up'}
# INTERNAL_EVENTS = ['Heartbeat']
# PII = {'ssn': True, 'phone': True}


def before(call, settings):
    """The call to map, or None to drop it."""
    # if field(call, 'type', '') == 'track':
    #     event = field(call, 'event', '')
    #     for i in range(len(INTERNAL_EVENTS)):
    #         if event == INTERNAL_EVENTS[i]:
    #             return None                         # drop an internal event
    #     call['event'] = field(RENAMED, event, event)  # rename an event
    # if field(call, 'type', '') == 'identify':
    #     traits = field(call, 'traits', None)
    #     if is_object(traits):
    #         kept = {}
    #         names = keys(traits)
    #         for i in range(len(names)):
    #             if field(PII, names[i], False) == False:
    #                 kept[names[i]] = traits[names[i]]
    #         call['traits'] = kept                   # drop PII traits
    return call


def after(call, ops, settings):
    """The ops to send: kmgen's, changed or not."""
    # for i in range(len(ops)):
    #     if ops[i][0] == 'set' and is_string(field(ops[i][1], 'email', None)):
    #         ops[i][1]['email'] = 'hidden'             # mask a trait
    return ops
'''


def _toml(value):
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return json.dumps(value)


def config_text(site):
    """The starter kmgen.toml for a site named ``site``."""
    lines = ['# kmgen settings: every setting with its default. Uncomment a line to change it.', '']
    for name, (kind, default, scope, what) in SCHEMA.items():
        lines.append('# %s (%s): %s' % (name, SCOPES[scope], what))
        if name == 'api_key':
            lines.append('api_key = ""   # required: Kissmetrics > Settings > API key')
        elif name == 'site':
            lines.append('site = %s' % _toml(site))
        elif name == 'rules':
            lines.append('rules = %s' % _toml(SITE_RULES))
        elif default is None:
            lines.append('# %s = ...   (unset by default)' % name)
        else:
            lines.append('# %s = %s' % (name, _toml(default)))
        lines.append('')
    return '\n'.join(lines)


def site_name(directory):
    """A ``site`` name from the directory's name (letters, digits, '.', '_', '-')."""
    name = re.sub(r'[^A-Za-z0-9._-]+', '-', Path(directory).resolve().name).strip('-.')
    return name if SITE.fullmatch(name or '') else 'site'


def init(directory='.', force=False):
    """Write DIR/kmgen.toml and DIR/site_rules.py; returns the paths written.

    Raises:
        ConfigError: a file exists (and not ``force``) or cannot be written.
    """
    directory = Path(directory or '.')
    files = {directory / DEFAULT_CONFIG: config_text(site_name(directory)), directory / SITE_RULES: RULES_TEMPLATE}
    if not force:
        for path in files:
            if path.exists():
                raise ConfigError('%s exists; kmgen init leaves it alone: pass --force to overwrite it.' % path)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for path, text in files.items():
            path.write_text(text, encoding='utf-8')
    except OSError as err:
        raise ConfigError('Cannot write %s: %s.' % (err.filename or directory, err.strerror or err)) from None
    return list(files)
