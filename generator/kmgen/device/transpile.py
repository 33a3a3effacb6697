"""rules/ (and a site's rules) -> JavaScript modules that run on js_runtime/ instead of
Transcrypt's runtime.

Steps: check the subset; copy the rules to a scratch directory with ``portable.py``
replaced by a stub of the same signatures (its real half is the hand-written twin);
run Transcrypt on a copy whose ``==`` means Python's; normalise what it leaves behind (timestamp
line, source-map comment, ``__name__``, the 150-name runtime import cut down to what the code
uses); then check
that every runtime and helper name the code imports exists in ``js_runtime/``. With site
rules, the site's file becomes ``site_rules.js`` (its ``kmgen.rules.*`` imports resolved to
the same twins), the built-in ``mapping.js`` becomes ``builtin_mapping.js`` and
``js_runtime/site.js`` takes the name ``mapping.js``: whatever imports the rules gets the
site's ``before``/``after`` around them. The site file's name is never written.
"""

import ast
import re
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from ..errors import BuildError
from ..paths import data_dir
from .subset import RULES_DIR, check_rules, refuse

RUNTIME_MODULE = 'org.transcrypt.__runtime__.js'
TWINNED = 'portable'
SITE_MODULE = 'site_rules'
BUILTIN_MODULE = 'builtin_mapping'
EQUALITY = 'py_eq'
_IMPORT = re.compile(r"^import \{([^}]*)\} from '\./([^']+)';$", re.M)
_STRING_OR_COMMENT = re.compile(r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"|//[^\n]*")
_EXPORT = re.compile(r'^export (?:var|function|const|let) ([A-Za-z_$][\w$]*)', re.M)
# field(NAME, 'key', FALLBACK) as Transcrypt writes it, with a literal key and a plain fallback.
_NAME = r'[A-Za-z_$][\w$]*'
_FIELD_CALL = re.compile(r"(?<![\w$.])field \((%s), ('%s'), (null|true|false|%s(?: \[%s\])?)\)"
                         % (_NAME, _NAME, _NAME, _NAME))
_RUNTIME_IMPORT = re.compile(r"^import \{([^}]*)\} from '\./runtime\.js';$", re.M)


def transcrypt_version():
    return metadata.version('transcrypt')


def exports_of(js_text):
    return set(_EXPORT.findall(js_text))


def _stub(source):
    """portable.py reduced to its function signatures, for Transcrypt to name them."""
    lines = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith('_'):
            lines.append('def %s(%s):\n    pass\n' % (node.name, ', '.join(a.arg for a in node.args.args)))
    return '\n'.join(lines)


class _Equality(ast.NodeTransformer):
    """``a == b`` -> ``a is b`` (Transcrypt's ``===``) when ``strict`` or when either side is a
    string constant (Python's answer is then ``===``'s); else ``py_eq(a, b)``, and ``!=`` alike."""

    def __init__(self, strict):
        self.strict = strict
        self.calls = 0

    def visit_Compare(self, node):
        self.generic_visit(node)
        if len(node.ops) != 1 or not isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
            return node
        equal = isinstance(node.ops[0], ast.Eq)
        if self.strict or any(isinstance(side, ast.Constant) and isinstance(side.value, str)
                              for side in (node.left, node.comparators[0])):
            node.ops = [ast.Is() if equal else ast.IsNot()]
            return node
        self.calls += 1
        call = ast.Call(func=ast.Name(id=EQUALITY, ctx=ast.Load()), args=[node.left, node.comparators[0]],
                        keywords=[])
        return call if equal else ast.UnaryOp(op=ast.Not(), operand=call)


def python_equality(source, strict=False):
    """``source`` for Transcrypt with ``==`` / ``!=`` that mean what they mean in CPython.

    Transcrypt writes them as JavaScript's loose ``==``, where ``'' == 0`` and ``'1' == 1``;
    ``===`` is Python's answer when both sides have one type. kmgen's own rules compare only
    values whose type they checked first, so they get ``===`` (``strict``: the vectors hold
    them to it, in both runtimes); a site's rules get portable's ``py_eq``, JavaScript's twin
    of Python's ``==`` (``True == 1``, ``[1] == [1]``), except against a string constant.
    Only the copy Transcrypt reads changes; CPython runs the rules as written."""
    equality = _Equality(strict)
    tree = ast.fix_missing_locations(equality.visit(ast.parse(source)))
    if equality.calls:
        tree.body.insert(0, ast.ImportFrom(module=TWINNED, names=[ast.alias(name=EQUALITY)], level=1))
    return ast.unparse(tree) + '\n'


def inline_fields(js_text):
    """``js_text`` with each ``field(obj, 'key', fallback)`` read straight off ``obj`` when it
    is a Dict (the twin's own fast path) and through ``field`` otherwise; returns (text, count).

    The same answers as the call: a Dict inherits no names, so ``obj[key]`` is its own or
    undefined. The point is V8's: one shared ``field`` sees every object shape and key the rules
    read, so its property load goes megamorphic; a load written at each call site sees only
    that site's few (Chromium, the bench's calls: 12-15% less time for a track or identify)."""
    def inline(match):
        obj, key, fallback = match.groups()
        return ('(%s instanceof Dict ? (%s [%s] !== undefined ? %s [%s] : %s) : field (%s, %s, %s))'
                % (obj, obj, key, obj, key, fallback, obj, key, fallback))
    return _FIELD_CALL.subn(inline, js_text)


def _normalise(js_text, module, provided):
    """Strip Transcrypt's volatile lines, inline kmgen's own field() reads (``inline_fields``)
    and cut imports down to the names used."""
    body = [line for line in js_text.splitlines()
            if not line.startswith("// Transcrypt'ed from Python")
            and not line.startswith('//# sourceMappingURL=')
            and not line.startswith('var __name__ = ')]
    text = '\n'.join(body)
    inlined = 0
    if module != SITE_MODULE:   # a site's rules may name a function of their own `field`
        text, inlined = inline_fields(text)
    code = _STRING_OR_COMMENT.sub("''", _IMPORT.sub('', text))
    missing = []

    def rewrite(match):
        names = [n.strip() for n in match.group(1).split(',') if n.strip()]
        target = match.group(2)
        if target == RUNTIME_MODULE:
            names = [n for n in names if re.search(r'(?<![\w$.])%s(?![\w$])' % re.escape(n), code)]
            target = 'runtime.js'
        if not names:
            return ''
        for name in names:
            if target in provided and name not in provided[target]:
                missing.append('%s (imported by %s from %s)' % (name, source, target))
        return "import {%s} from './%s';" % (', '.join(names), target)

    source = "the site's rules" if module == SITE_MODULE else 'rules/%s.py' % module
    text = _IMPORT.sub(rewrite, text)
    if inlined:
        if _RUNTIME_IMPORT.search(text):
            text = _RUNTIME_IMPORT.sub(lambda m: "import {Dict, %s} from './runtime.js';" % m.group(1), text, 1)
        else:
            text = "import {Dict} from './runtime.js';\n" + text
    if missing:
        raise BuildError('js_runtime/ does not provide %s: add a twin to js_runtime/%s or stay '
                         'inside the subset.' % (', '.join(missing), missing[0].split(' from ')[-1].rstrip(')')))
    header = ('// Generated from %s by Transcrypt %s; do not edit: rebuilt by kmgen build.\n'
              % ("the site's rules (kmgen.toml: rules)" if module == SITE_MODULE
                 else 'generator/kmgen/rules/%s.py' % module, transcrypt_version()))
    return header + text.strip('\n') + '\n'


def transpile(out_dir, rules_dir=RULES_DIR, ruleset=None):
    """Write the rules (``rules_dir``, normally ``kmgen/rules``) as ES modules plus their
    runtime into ``out_dir``.

    Args:
        out_dir: the scratch directory to write into.
        rules_dir: the built-in rules.
        ruleset: the config's checked ``kmgen.ruleset.Ruleset``; its site rules, if any,
            are compiled in.

    Returns:
        The list of module file names written (``mapping.js`` is the entry).

    Raises:
        SubsetError: every problem, when ``rules_dir`` leaves the subset.
    """
    errors = check_rules(rules_dir)
    if errors:
        refuse(errors)
    site = ruleset.source if ruleset is not None else None
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runtime_dir = data_dir('js_runtime')
    provided = {
        'runtime.js': exports_of((runtime_dir / 'runtime.js').read_text(encoding='utf-8')),
        'portable.js': exports_of((runtime_dir / 'portable.js').read_text(encoding='utf-8')),
    }
    with tempfile.TemporaryDirectory(prefix='kmgen-transpile-') as tmp:
        src = Path(tmp) / 'src' / 'kmgenrules'
        src.mkdir(parents=True)
        modules = []
        for path in sorted(Path(rules_dir).glob('*.py')):
            if path.name == '__init__.py':
                continue
            text = path.read_text(encoding='utf-8')
            (src / path.name).write_text(_stub(text) if path.stem == TWINNED else python_equality(text, strict=True),
                                          encoding='utf-8')
            modules.append(path.stem)
        (src / '__init__.py').write_text('', encoding='utf-8')
        entry = 'mapping.py'
        if site is not None:
            (src / (SITE_MODULE + '.py')).write_text(python_equality(ruleset.transpilable()), encoding='utf-8')
            modules.append(SITE_MODULE)
            entry = '_entry.py'
            (src / entry).write_text('from .mapping import map_call\nfrom .%s import %s\n' % (
                SITE_MODULE, ', '.join(ruleset.functions)), encoding='utf-8')
        target = Path(tmp) / 'out'
        proc = subprocess.run(
            [sys.executable, '-m', 'transcrypt', '-b', '-n', '-od', str(target), 'kmgenrules/' + entry],
            cwd=src.parent, capture_output=True, text=True)
        if proc.returncode != 0 or not (target / 'mapping.js').is_file():
            detail = (proc.stdout + proc.stderr).strip().splitlines()
            raise BuildError('Transcrypt failed on rules/: %s' % (detail[-1] if detail else 'no output'))
        stub_exports = exports_of((target / (TWINNED + '.js')).read_text(encoding='utf-8'))
        absent = sorted(stub_exports - provided['portable.js'])
        if absent:
            raise BuildError('js_runtime/portable.js has no twin for %s from rules/portable.py: '
                             'write one under that name.' % ', '.join(absent))
        written = []
        for module in modules:
            if module == TWINNED:
                continue
            js = (target / (module + '.js')).read_text(encoding='utf-8')
            name = BUILTIN_MODULE if site is not None and module == 'mapping' else module
            (out_dir / (name + '.js')).write_text(_normalise(js, module, provided), encoding='utf-8')
            written.append(name + '.js')
    copies = [('runtime.js', 'runtime.js'), ('portable.js', 'portable.js')]
    if site is not None:
        copies.append(('site.js', 'mapping.js'))
    for source, name in copies:
        shutil.copyfile(runtime_dir / source, out_dir / name)
        written.append(name)
    return written
