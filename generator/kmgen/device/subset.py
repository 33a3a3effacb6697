"""The transpiled subset: what ``rules/`` and a site's rules may contain so that
Transcrypt's JavaScript behaves exactly like CPython without Transcrypt's runtime
(docs/site-rules.md, "The subset").

``check_rules()`` parses every module of ``rules/`` (except ``portable.py``, the CPython
half of the hand-twinned helpers) and ``check_site()`` a site's rules file; each returns
one message per construct outside the subset, naming the file, the line and what to write
instead. Every command that runs rules refuses to while any remain (``kmgen.ruleset``).
"""

import ast
import builtins
from pathlib import Path

from ..errors import BuildError

RULES_DIR = Path(__file__).resolve().parent.parent / 'rules'
NOT_TRANSPILED = {'portable.py', '__init__.py'}

ALLOWED_BUILTINS = {'len', 'range'}
JS_RESERVED = {
    'arguments', 'await', 'case', 'catch', 'const', 'debugger', 'default', 'delete', 'do',
    'enum', 'eval', 'export', 'extends', 'function', 'implements', 'instanceof', 'interface',
    'let', 'new', 'null', 'package', 'private', 'protected', 'public', 'static', 'super',
    'switch', 'this', 'throw', 'typeof', 'undefined', 'var', 'void', 'NaN', 'Infinity',
}
METHOD_FIXES = {
    'get': 'field(d, key, default)', 'keys': 'keys(d)', 'items': 'keys(d) and d[k]',
    'values': 'keys(d) and d[k]', 'append': 'push(lst, x)', 'join': 'join(parts, sep)',
    'format': "'+' concatenation", 'lower': 'squash(s) or a portable helper',
}
BUILTIN_FIXES = {
    'str': 'to_str(x)', 'isinstance': 'is_object/is_array/is_string/is_number',
    'dict': '{} literal', 'list': '[] literal', 'sorted': 'keys(d)', 'int': 'a portable helper',
    'float': 'a portable helper', 'enumerate': 'for i in range(len(items))',
}
STATEMENTS = (ast.FunctionDef, ast.Return, ast.Assign, ast.AugAssign, ast.If, ast.For,
              ast.While, ast.Break, ast.Continue, ast.Pass, ast.Expr, ast.ImportFrom)
EXPRESSIONS = (ast.Call, ast.Name, ast.Constant, ast.List, ast.Dict, ast.Subscript,
               ast.Compare, ast.BoolOp, ast.UnaryOp, ast.BinOp, ast.IfExp)
CONTEXTS = (ast.Load, ast.Store, ast.arguments, ast.arg, ast.And, ast.Or, ast.Not,
            ast.USub, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Eq, ast.NotEq,
            ast.Lt, ast.LtE, ast.Gt, ast.GtE)
CONSTRUCT_FIXES = {
    ast.JoinedStr: ('an f-string', "'+' concatenation and to_str(x)"),
    ast.Mod: ("'%'", "'+' concatenation"),
    ast.Pow: ("'**'", 'repeated multiplication'),
    ast.Is: ("'is'", 'is_missing(x)'),
    ast.IsNot: ("'is not'", 'not is_missing(x)'),
    ast.In: ("'in'", 'field(d, key, None) or a loop over keys(d)'),
    ast.NotIn: ("'not in'", 'field(d, key, None) or a loop over keys(d)'),
    ast.Slice: ('a slice', 'a loop over range(...)'),
    ast.Lambda: ('a lambda', 'a named function'),
    ast.ListComp: ('a list comprehension', 'a loop with push(lst, x)'),
    ast.DictComp: ('a dict comprehension', 'a loop over keys(d)'),
    ast.GeneratorExp: ('a generator expression', 'a loop with push(lst, x)'),
    ast.Tuple: ('a tuple', 'a [] list'),
    ast.Import: ("'import'", "a twinned helper in portable.py ('from .portable import ...')"),
    ast.Try: ("'try'", 'explicit checks (is_missing, is_object, ...)'),
    ast.ClassDef: ('a class', 'functions over plain objects'),
    ast.Delete: ("'del'", 'a copy without the key'),
}


def _bad(path, line, what, fix):
    return '%s:%d: %s is outside the transpiled subset; write %s instead' % (path, line, what, fix)


# What a site's rules may import: the helpers the built-in rules use, by their own names.
SITE_MODULES = ('kmgen.rules.portable', 'kmgen.rules.values')
SITE_IMPORT = 'from kmgen.rules.portable import field, ... (or from kmgen.rules.values import clean, ...)'
# The site's entry points and their arguments.
SITE_FUNCTIONS = {'before': ('call', 'settings'), 'after': ('call', 'ops', 'settings')}


def site_helpers():
    """{module: public names} a site's rules may import (the twinned helpers and values.py)."""
    rules = Path(__file__).resolve().parent.parent / 'rules'
    names = {}
    for module in SITE_MODULES:
        tree = ast.parse((rules / (module.rsplit('.', 1)[1] + '.py')).read_text(encoding='utf-8'))
        names[module] = {node.name for node in tree.body
                         if isinstance(node, ast.FunctionDef) and not node.name.startswith('_')}
    return names


class _Checker(ast.NodeVisitor):
    def __init__(self, path, site=False):
        self.path = path
        self.site = site
        self.errors = []
        self.bool_names = set()
        self.line = 1

    def visit(self, node):
        self.line = getattr(node, 'lineno', self.line)
        return super().visit(node)

    def fail(self, node, what, fix):
        self.errors.append(_bad(self.path, getattr(node, 'lineno', self.line), what, fix))

    def generic_visit(self, node):
        for kind, (what, fix) in CONSTRUCT_FIXES.items():
            if isinstance(node, kind):
                self.fail(node, what, SITE_IMPORT if self.site and kind is ast.Import else fix)
                return
        if not isinstance(node, (ast.Module,) + STATEMENTS + EXPRESSIONS + CONTEXTS):
            self.fail(node, '%s' % type(node).__name__, 'the constructs listed in docs/site-rules.md')
            return
        super().generic_visit(node)

    def _boolean(self, node):
        """Truth tests must be booleans: JavaScript and Python disagree on {} and []."""
        if isinstance(node, (ast.Compare, ast.Call)):
            return True
        if isinstance(node, ast.Constant) and isinstance(node.value, bool):
            return True
        if isinstance(node, ast.BoolOp):
            return all(self._boolean(v) for v in node.values)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return self._boolean(node.operand)
        return isinstance(node, ast.Name) and node.id in self.bool_names

    def _test(self, node):
        if isinstance(node, ast.BoolOp) or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)):
            return  # their operands are tested when they are visited
        if not self._boolean(node):
            self.fail(node, 'the truth test `%s`' % ast.unparse(node),
                      'an explicit comparison such as len(x) > 0 or x != \'\'')

    def visit_ImportFrom(self, node):
        if self.site:
            return self._site_import(node)
        if node.level != 1 or node.module not in ('portable', 'values', 'mapping'):
            self.fail(node, "'from %s import'" % ('.' * node.level + (node.module or '')),
                      "a relative import of a rules module ('from .portable import ...')")

    def _site_import(self, node):
        helpers = site_helpers()
        if node.level != 0 or node.module not in helpers or node.col_offset != 0:
            self.fail(node, "'from %s import'" % ('.' * node.level + (node.module or '')),
                      'a top-level ' + SITE_IMPORT)
            return
        for alias in node.names:
            if alias.asname is not None:
                self.fail(node, "'import %s as %s'" % (alias.name, alias.asname), "'import %s'" % alias.name)
            elif alias.name not in helpers[node.module]:
                self.fail(node, 'the name `%s` from %s' % (alias.name, node.module),
                          'a helper %s defines (docs/site-rules.md, "Helpers")' % node.module)

    def visit_FunctionDef(self, node):
        args = node.args
        wanted = SITE_FUNCTIONS.get(node.name) if self.site and node.col_offset == 0 else None
        if wanted is not None and len(args.args) != len(wanted):
            self.fail(node, 'def %s(%s)' % (node.name, ', '.join(a.arg for a in args.args)),
                      'def %s(%s)' % (node.name, ', '.join(wanted)))
        if node.decorator_list or args.defaults or args.kw_defaults or args.vararg or \
                args.kwarg or args.kwonlyargs or args.posonlyargs:
            self.fail(node, 'decorators, defaults or */** arguments', 'plain positional arguments')
        self._name(node, node.name)
        for arg in args.args:
            self._name(arg, arg.arg)
        saved = self.bool_names
        self.bool_names = set()
        self.generic_visit(node)
        self.bool_names = saved

    def visit_Assign(self, node):
        if len(node.targets) != 1 or not isinstance(node.targets[0], (ast.Name, ast.Subscript)):
            self.fail(node, 'multiple or unpacking assignment', 'one assignment per line')
        target = node.targets[0]
        if isinstance(target, ast.Name):
            if self._boolean(node.value):
                self.bool_names.add(target.id)
            else:
                self.bool_names.discard(target.id)
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        if not isinstance(node.op, (ast.Add, ast.Sub)):
            self.fail(node, 'augmented assignment other than += and -=', 'x = x * y')
        self.generic_visit(node)

    def visit_If(self, node):
        self._test(node.test)
        self.generic_visit(node)

    visit_While = visit_If
    visit_IfExp = visit_If

    def visit_BoolOp(self, node):
        for value in node.values:
            self._test(value)
        self.generic_visit(node)

    def visit_UnaryOp(self, node):
        if isinstance(node.op, ast.Not):
            self._test(node.operand)
        self.generic_visit(node)

    def visit_For(self, node):
        iterable = node.iter
        if not (isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name)
                and iterable.func.id in ('range', 'keys')) or not isinstance(node.target, ast.Name) \
                or node.orelse:
            self.fail(node, "'for x in %s'" % ast.unparse(iterable),
                      "'for i in range(len(items))' or 'for k in keys(d)'")
        self.generic_visit(node)

    def visit_Compare(self, node):
        if len(node.ops) != 1:
            self.fail(node, 'a chained comparison', "two comparisons joined by 'and'")
        self.generic_visit(node)

    def visit_Call(self, node):
        if isinstance(node.func, ast.Attribute):
            name = node.func.attr
            self.fail(node, 'the method call `.%s()`' % name,
                      METHOD_FIXES.get(name, 'a portable helper from portable.py'))
            return
        if not isinstance(node.func, ast.Name):
            self.fail(node, 'a call of `%s`' % ast.unparse(node.func), 'a call of a named function')
            return
        name = node.func.id
        if hasattr(builtins, name) and name not in ALLOWED_BUILTINS:
            self.fail(node, 'the builtin `%s()`' % name, BUILTIN_FIXES.get(name, 'a portable helper'))
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            self.fail(node, 'keyword or starred arguments', 'positional arguments')
        for arg in node.args:
            self.visit(arg)

    def visit_Attribute(self, node):
        self.fail(node, 'the attribute `%s`' % ast.unparse(node), 'a portable helper or a plain name')

    def visit_Subscript(self, node):
        index = node.slice
        if isinstance(index, ast.UnaryOp) and isinstance(index.op, ast.USub):
            self.fail(node, 'the negative index `%s`' % ast.unparse(node), 'items[len(items) - 1]')
        self.generic_visit(node)

    def visit_BinOp(self, node):
        if isinstance(node.op, ast.Mult) and any(
                isinstance(side, ast.Constant) and isinstance(side.value, str)
                for side in (node.left, node.right)):
            self.fail(node, 'string repetition', 'a loop with push and join')
        self.generic_visit(node)

    def visit_Dict(self, node):
        for key in node.keys:
            if not (isinstance(key, ast.Constant) and isinstance(key.value, str)) or \
                    key.value == '__proto__':
                self.fail(node, 'a dict literal key other than a plain string',
                          "d = {} then d[key] = value")
        self.generic_visit(node)

    def visit_Constant(self, node):
        if not isinstance(node.value, (str, int, float, bool, type(None))):
            self.fail(node, 'the constant %r' % (node.value,), 'a str, int, float, bool or None')

    def visit_Name(self, node):
        self._name(node, node.id)

    def _name(self, node, name):
        if name == 'type' or name.startswith('py_') or name in JS_RESERVED or (
                hasattr(builtins, name) and name not in ALLOWED_BUILTINS
                and name not in ('True', 'False', 'None')):
            self.fail(node, 'the name `%s`' % name, 'another name (e.g. call_type)')


def check_source(source, path, site=False):
    """Messages for every construct of ``source`` outside the subset (``path`` names it);
    ``site``: the rules of a site, which import the helpers as ``kmgen.rules.portable``."""
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as err:
        return ['%s:%d: invalid Python (%s); fix the syntax' % (path, err.lineno or 1, err.msg)]
    checker = _Checker(path, site)
    checker.visit(tree)
    if site and not any(isinstance(node, ast.FunctionDef) and node.name in SITE_FUNCTIONS for node in tree.body):
        checker.errors.append('%s:1: the file defines neither before(call, settings) nor after(call, ops, '
                              'settings); define one of them (kmgen init writes both)' % path)
    return checker.errors


def check_rules(rules_dir=RULES_DIR):
    """Messages for every construct outside the subset in the transpiled modules of ``rules/``."""
    errors = []
    for path in sorted(Path(rules_dir).glob('*.py')):
        if path.name not in NOT_TRANSPILED:
            errors.extend(check_source(path.read_text(encoding='utf-8'), 'rules/' + path.name))
    return errors


class SubsetError(BuildError):
    """Rules (kmgen's or a site's) leave the transpiled subset; every command refuses them."""


def refuse(problems):
    """Raise SubsetError listing every problem (file, line, construct, fix), one per line."""
    raise SubsetError('the rules leave the transpiled subset (%d problem%s); kmgen runs no rules until '
                      'every one is fixed:\n%s' % (len(problems), '' if len(problems) == 1 else 's',
                                                  '\n'.join('  ' + p for p in problems)))
