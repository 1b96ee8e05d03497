"""A small, safe expression language for rewards typed into the reward editor.

The served dashboard is reachable by students, so text they type must never reach Python's
own evaluator: a reward like ``__import__('os').system(...)`` would run on the server. Instead
the text is parsed with :func:`ast.parse` (parsing only builds a tree, it runs nothing), the
tree is checked against a whitelist, and a small interpreter walks the checked tree, mapping
each node to a numpy operation. Expressions are therefore vectorized: every variable is an
array of shape (N,) and the result is one value per transition.

Allowed:

* numbers (``1``, ``0.5``, ``1e-3``, ``True``/``False`` as 1/0) and the constant ``pi``;
* the variables the caller allows (for rewards: ``x``, ``dx``, ``dist``, ... see
  :mod:`workbench.landscapes.rewards`);
* unary ``+ -``, binary ``+ - * / ** % //``;
* comparisons ``< <= > >= == !=``, chained as in Python (``0 < x < 1``), giving 1.0 or 0.0;
* ``and``, ``or``, ``not``, elementwise (``np.logical_and`` ...), giving 1.0 or 0.0; a value
  counts as true when it is non-zero;
* ``a if cond else b``, elementwise (``np.where``; both branches are computed);
* calls, by bare name and positional arguments only, to :data:`FUNCTIONS`: ``abs sqrt exp
  log tanh sin cos clip(x, lo, hi) minimum(a, b) maximum(a, b) where(c, a, b) norm(x, y, ...)
  hypot(a, b)``.

Everything else is refused with an :class:`ExpressionError` naming it: attribute access,
subscripts, imports and other statements, other calls, lambdas, comprehensions, strings,
f-strings, ``:=``, ``*args``, keyword arguments, unknown names. Texts longer than
:data:`MAX_TEXT_LENGTH` characters, or whose tree has more than :data:`MAX_NODES` nodes or is
deeper than :data:`MAX_DEPTH`, are refused too, which bounds the work one expression can ask
for. All arithmetic is float64 under ``np.errstate(all="ignore")``: division by zero, ``log``
of a negative number or an overflow give inf or NaN silently, and the caller decides what a
non-finite value means (the reward editor refuses it).
"""

from __future__ import annotations

import ast
import operator
import warnings
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

MAX_TEXT_LENGTH = 500
MAX_NODES = 200
MAX_DEPTH = 50

# Names that are constants rather than variables; a variable of the same name wins.
CONSTANTS: dict[str, float] = {"pi": float(np.pi)}


class ExpressionError(ValueError):
    """A reward expression that cannot be parsed, is not allowed, or cannot be evaluated.

    The message is one line and names the problem and the offending text or name.
    """


def _norm(*components: np.ndarray) -> np.ndarray:
    """Euclidean norm of the arguments, elementwise: norm(x, y) = sqrt(x**2 + y**2)."""
    return np.sqrt(sum(component * component for component in components))


def _where(condition: np.ndarray, if_true: np.ndarray, if_false: np.ndarray) -> np.ndarray:
    return np.where(_truth(condition), if_true, if_false)


@dataclass(frozen=True)
class Function:
    """One whitelisted function.

    Attributes:
        apply: the numpy implementation, called with float64 arrays.
        min_args: the fewest positional arguments it takes.
        max_args: the most positional arguments it takes; ``None`` for any number.
        signature: how it is called, for error messages (``"clip(x, lo, hi)"``).
    """

    apply: Callable[..., np.ndarray]
    min_args: int
    max_args: int | None
    signature: str


FUNCTIONS: dict[str, Function] = {
    "abs": Function(np.abs, 1, 1, "abs(x)"),
    "sqrt": Function(np.sqrt, 1, 1, "sqrt(x)"),
    "exp": Function(np.exp, 1, 1, "exp(x)"),
    "log": Function(np.log, 1, 1, "log(x)"),
    "tanh": Function(np.tanh, 1, 1, "tanh(x)"),
    "sin": Function(np.sin, 1, 1, "sin(x)"),
    "cos": Function(np.cos, 1, 1, "cos(x)"),
    "clip": Function(np.clip, 3, 3, "clip(x, lo, hi)"),
    "minimum": Function(np.minimum, 2, 2, "minimum(a, b)"),
    "maximum": Function(np.maximum, 2, 2, "maximum(a, b)"),
    "where": Function(_where, 3, 3, "where(condition, a, b)"),
    "norm": Function(_norm, 1, None, "norm(x, y, ...)"),
    "hypot": Function(np.hypot, 2, 2, "hypot(a, b)"),
}

_BINARY_OPERATORS: dict[type[ast.operator], Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.true_divide,
    ast.Pow: np.power,
    ast.Mod: np.mod,
    ast.FloorDiv: np.floor_divide,
}
_COMPARISONS: dict[type[ast.cmpop], Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_ALLOWED_UNARY = (ast.UAdd, ast.USub, ast.Not)

# Symbols of the refused operators, so the message shows what the user typed.
_OPERATOR_SYMBOLS: dict[type[ast.AST], str] = {
    ast.MatMult: "@",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.Invert: "~",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
}

# What each refused kind of node is called in an error message.
_REFUSED_NODES: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute access is",
    ast.Subscript: "subscripts (indexing) are",
    ast.Slice: "slices are",
    ast.Lambda: "lambda functions are",
    ast.ListComp: "comprehensions are",
    ast.SetComp: "comprehensions are",
    ast.DictComp: "comprehensions are",
    ast.GeneratorExp: "generator expressions are",
    ast.JoinedStr: "f-strings are",
    ast.FormattedValue: "f-strings are",
    ast.NamedExpr: "assignment expressions (:=) are",
    ast.Starred: "starred arguments (*...) are",
    ast.List: "lists are",
    ast.Tuple: "tuples are",
    ast.Set: "sets are",
    ast.Dict: "dicts are",
    ast.Await: "await is",
    ast.Yield: "yield is",
    ast.YieldFrom: "yield is",
}

_REFUSED_STATEMENTS: dict[type[ast.stmt], str] = {
    ast.Import: "imports",
    ast.ImportFrom: "imports",
    ast.Assign: "assignments",
    ast.AugAssign: "assignments",
    ast.AnnAssign: "assignments",
    ast.Delete: "del statements",
    ast.FunctionDef: "function definitions",
    ast.AsyncFunctionDef: "function definitions",
    ast.ClassDef: "class definitions",
}


def _truth(value: np.ndarray) -> np.ndarray:
    """Elementwise truth of a float array: non-zero is true (NaN too, as in Python)."""
    return np.asarray(value) != 0


@dataclass(frozen=True)
class Expression:
    """A parsed and checked expression; call it with variable arrays to evaluate it.

    Build one with :func:`parse_expression`, which does all the checking.

    Attributes:
        text: the text as typed, without surrounding spaces.
        variables: the variable names it uses, in order of first use, without repeats.
    """

    text: str
    variables: tuple[str, ...]
    # The checked tree; only parse_expression builds it, so it is always whitelisted.
    _tree: ast.expr = field(repr=False, compare=False)

    def __call__(self, env: Mapping[str, np.ndarray]) -> np.ndarray:
        """Evaluate with numpy over arrays.

        Args:
            env: a value for every name in :attr:`variables` (extra names are ignored);
                arrays of a common shape, usually (N,), or scalars.

        Returns:
            float64 values of the common shape of all of ``env``'s values: a constant
            expression is broadcast to it too. May hold inf or NaN (see the module docstring).
        """
        missing = [name for name in self.variables if name not in env]
        if missing:
            raise ExpressionError(
                f"no value for variable {missing[0]!r} of expression {self.text!r}"
            )
        values = {name: np.asarray(value, dtype=np.float64) for name, value in env.items()}
        shape = np.broadcast_shapes(*(value.shape for value in values.values()))
        with np.errstate(all="ignore"):
            result = _evaluate(self._tree, values)
        return np.array(np.broadcast_to(result, shape), dtype=np.float64)


def parse_expression(
    text: str, variables: Container[str], *, variables_text: str | None = None
) -> Expression:
    """Parse and check ``text``; raise :class:`ExpressionError` when it is not allowed.

    Args:
        text: the expression as the user typed it.
        variables: the variable names it may use (``name in variables`` decides).
        variables_text: how error messages list the allowed variables; by default the names
            of ``variables`` joined by commas. Give it when ``variables`` is a container that
            cannot list all its names (for example one that accepts ``o0, o1, ...``).

    Returns:
        The checked :class:`Expression`.
    """
    if variables_text is None:
        variables_text = (
            ", ".join(variables) if isinstance(variables, Iterable) else "(none listed)"
        )
    if not isinstance(text, str):
        raise ExpressionError(f"an expression must be text, got {type(text).__name__}")
    if not text.strip():
        raise ExpressionError("empty expression: write a formula such as 'dx - 0.1 * speed'")
    text = text.strip()  # leading spaces would be an indentation error to the parser
    if len(text) > MAX_TEXT_LENGTH:
        raise ExpressionError(
            f"expression too long: {len(text)} characters, at most {MAX_TEXT_LENGTH}"
        )
    if "\0" in text:
        raise ExpressionError("expression contains a null character")
    tree = _parse(text)
    _check_size(tree)
    used: dict[str, None] = {}  # an ordered set
    _check(tree.body, text, variables, variables_text, used)
    return Expression(text=text, variables=tuple(used), _tree=tree.body)


def _parse(text: str) -> ast.Expression:
    """The tree of ``text`` as one expression; statements and syntax errors are refused."""
    try:
        # Parsing runs nothing; warnings (invalid escapes in strings ...) would only be noise
        # for text that is refused anyway.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(text, mode="eval")
    except SyntaxError as error:
        syntax_error = error
    except (ValueError, RecursionError, MemoryError) as error:
        raise ExpressionError(f"cannot parse expression {text!r}: {error}") from None

    # Not one expression: parse as statements only to name what it is (imports ...).
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = ast.parse(text, mode="exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        module = None
    if module is not None and len(module.body) > 1:
        raise ExpressionError(f"only one expression is allowed, got several: {text!r}")
    if module is not None and module.body and not isinstance(module.body[0], ast.Expr):
        statement = module.body[0]
        what = _REFUSED_STATEMENTS.get(type(statement), "statements")
        segment = ast.get_source_segment(text, statement) or text
        raise ExpressionError(f"{what} are not allowed, only an expression: {segment.strip()!r}")
    message = (syntax_error.msg or "invalid syntax").replace("\n", " ")
    where = f"column {syntax_error.offset}" if syntax_error.offset else "position unknown"
    if syntax_error.lineno and syntax_error.lineno > 1:
        where = f"line {syntax_error.lineno}, {where}"
    raise ExpressionError(f"syntax error at {where}: {message} in {text!r}")


def _check_size(tree: ast.Expression) -> None:
    """Refuse trees with more than MAX_NODES expression nodes or deeper than MAX_DEPTH."""
    count, deepest = 0, 0
    stack: list[tuple[ast.AST, int]] = [(tree.body, 1)]
    while stack:  # iterative, so that a deep tree cannot exhaust Python's stack here
        node, depth = stack.pop()
        count += 1
        deepest = max(deepest, depth)
        stack.extend(
            (child, depth + 1)
            for child in ast.iter_child_nodes(node)
            if isinstance(child, ast.expr)
        )
    if count > MAX_NODES:
        raise ExpressionError(f"expression too large: {count} parts, at most {MAX_NODES}")
    if deepest > MAX_DEPTH:
        raise ExpressionError(f"expression nested too deeply: depth {deepest}, at most {MAX_DEPTH}")


def _check(
    node: ast.AST,
    text: str,
    variables: Container[str],
    variables_text: str,
    used: dict[str, None],
) -> None:
    """Raise ExpressionError at the first node outside the whitelist; collect variables."""

    def refuse(phrase: str, at: ast.AST | None = None) -> ExpressionError:
        segment = ast.get_source_segment(text, node if at is None else at)
        return ExpressionError(
            f"{phrase} not allowed: {segment!r}" if segment else f"{phrase} not allowed"
        )

    def check(child: ast.AST) -> None:
        _check(child, text, variables, variables_text, used)

    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, str):
            raise refuse("strings are")
        if isinstance(value, bytes):
            raise refuse("bytes are")
        if isinstance(value, complex):
            raise refuse("complex numbers are")
        if not isinstance(value, int | float):  # None, Ellipsis
            raise refuse(f"{value!r} is")
        try:
            float(value)
        except OverflowError:
            raise ExpressionError(f"number too large: {text[:40]!r}...") from None
    elif isinstance(node, ast.Name):
        name = node.id
        if name in variables:
            used[name] = None
        elif name in CONSTANTS:
            pass
        elif name in FUNCTIONS:
            raise ExpressionError(
                f"function {name!r} must be called, as in {FUNCTIONS[name].signature}"
            )
        else:
            raise ExpressionError(f"unknown variable {name!r}; allowed: {variables_text}")
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, _ALLOWED_UNARY):
            raise refuse(f"operator {_OPERATOR_SYMBOLS.get(type(node.op), '?')!r} is")
        check(node.operand)
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY_OPERATORS:
            raise refuse(f"operator {_OPERATOR_SYMBOLS.get(type(node.op), '?')!r} is")
        check(node.left)
        check(node.right)
    elif isinstance(node, ast.BoolOp):
        for value in node.values:
            check(value)
    elif isinstance(node, ast.Compare):
        for comparison in node.ops:
            if type(comparison) not in _COMPARISONS:
                symbol = _OPERATOR_SYMBOLS.get(type(comparison), "?")
                raise refuse(f"comparison {symbol!r} is")
        check(node.left)
        for comparator in node.comparators:
            check(comparator)
    elif isinstance(node, ast.IfExp):
        check(node.test)
        check(node.body)
        check(node.orelse)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            check(node.func)  # names what is called: a lambda, an attribute ...
            raise refuse("calling anything but a listed function by name is")
        _check_call(node, text, refuse)
        for argument in node.args:
            check(argument)
    else:
        raise refuse(_REFUSED_NODES.get(type(node), f"{type(node).__name__} is"))


def _check_call(
    node: ast.Call, text: str, refuse: Callable[[str, ast.AST | None], ExpressionError]
) -> None:
    """Only whitelisted functions by bare name, with the right number of positional args."""
    assert isinstance(node.func, ast.Name)  # _check refused every other callee
    name = node.func.id
    function = FUNCTIONS.get(name)
    if function is None:
        raise ExpressionError(
            f"function {name!r} is not allowed; functions: {', '.join(FUNCTIONS)}"
        )
    if node.keywords:
        raise refuse("keyword arguments are", node)
    if any(isinstance(argument, ast.Starred) for argument in node.args):
        raise refuse("starred arguments (*...) are", node)
    count = len(node.args)
    if count < function.min_args or (function.max_args is not None and count > function.max_args):
        segment = ast.get_source_segment(text, node)
        raise ExpressionError(
            f"{name} takes {function.signature}, got {count} argument"
            f"{'' if count == 1 else 's'}: {segment!r}"
        )


def _evaluate(node: ast.expr, env: Mapping[str, np.ndarray]) -> np.ndarray:
    """Value of a checked node: numpy float64 arrays all the way down."""
    if isinstance(node, ast.Constant):
        return np.asarray(float(node.value))
    if isinstance(node, ast.Name):
        if node.id in env:
            return env[node.id]
        return np.asarray(CONSTANTS[node.id])
    if isinstance(node, ast.UnaryOp):
        operand = _evaluate(node.operand, env)
        if isinstance(node.op, ast.USub):
            return -operand
        if isinstance(node.op, ast.Not):
            return (~_truth(operand)).astype(np.float64)
        return operand
    if isinstance(node, ast.BinOp):
        apply = _BINARY_OPERATORS[type(node.op)]
        return apply(_evaluate(node.left, env), _evaluate(node.right, env))
    if isinstance(node, ast.BoolOp):
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        truths = [_truth(_evaluate(value, env)) for value in node.values]
        result = truths[0]
        for truth in truths[1:]:
            result = combine(result, truth)
        return np.asarray(result, dtype=np.float64)
    if isinstance(node, ast.Compare):
        # Chained as in Python: a < b < c means a < b and b < c.
        left = _evaluate(node.left, env)
        result: np.ndarray = np.asarray(True)
        for comparison, comparator in zip(node.ops, node.comparators, strict=True):
            right = _evaluate(comparator, env)
            result = np.logical_and(result, _COMPARISONS[type(comparison)](left, right))
            left = right
        return np.asarray(result, dtype=np.float64)
    if isinstance(node, ast.IfExp):
        return np.where(
            _truth(_evaluate(node.test, env)),
            _evaluate(node.body, env),
            _evaluate(node.orelse, env),
        )
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)  # parse_expression allows nothing else
        arguments = [_evaluate(argument, env) for argument in node.args]
        return np.asarray(FUNCTIONS[node.func.id].apply(*arguments), dtype=np.float64)
    raise ExpressionError(f"cannot evaluate {type(node).__name__}")  # unreachable once checked


__all__ = [
    "CONSTANTS",
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_TEXT_LENGTH",
    "Expression",
    "ExpressionError",
    "Function",
    "parse_expression",
]
