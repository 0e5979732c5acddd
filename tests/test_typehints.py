"""Type hints on the public API of every package: each public function (module level, in a module
whose name is not private) and each public method of a public class (and its __init__) annotates
every parameter but self/cls, and its return (__init__ excepted). Read with `ast`: nothing is
imported. A miss is reported as file:line function (the parameters lacking a hint)."""

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TORCHCAFFE = "torchcaffe"
PACKAGES = ["caffeio", "netspec", "zoo", "engine", "surgery", "layers", "solvers", TORCHCAFFE]
# Packages whose public functions are checked but whose methods are not (yet).
METHODS_UNCHECKED: set[str] = set()  # none now: every package's methods are checked too


def _missing(node, method):
    """Parameter names of FunctionDef `node` lacking an annotation, plus 'return'."""
    a = node.args
    args = a.posonlyargs + a.args + a.kwonlyargs
    if method and args and args[0].arg in ("self", "cls"):
        args = args[1:]
    args += [x for x in (a.vararg, a.kwarg) if x is not None]
    out = [x.arg for x in args if x.annotation is None]
    if node.returns is None and node.name != "__init__":
        out.append("return")
    return out


def _module_functions(body):
    """FunctionDefs at module level, those under `if` / `try` included."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node
        elif isinstance(node, (ast.If, ast.Try)):
            for part in (node.body, node.orelse, getattr(node, "finalbody", [])):
                yield from _module_functions(part)
            for handler in getattr(node, "handlers", []):
                yield from _module_functions(handler.body)


def unannotated(source, path, methods=True):
    """['path:line name (what lacks a hint)'] for the public functions (and, with `methods`,
    the public methods of public classes) of module source text `source`."""
    tree = ast.parse(source, path)
    found = []
    for node in _module_functions(tree.body):
        if not node.name.startswith("_"):
            found.append((node, False))
    for cls in tree.body if methods else ():
        if isinstance(cls, ast.ClassDef) and not cls.name.startswith("_"):
            for node in cls.body:
                if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                if not node.name.startswith("_") or node.name == "__init__":
                    found.append((node, True))
    out = []
    for node, method in found:
        missing = _missing(node, method)
        if missing:
            out.append(f"{path}:{node.lineno} {node.name} ({', '.join(missing)})")
    return out


def package_files(package):
    """The package's modules: every .py below it except private modules (_name.py; __init__
    and __main__ count), e.g. caffeio/_caffe_pb2.py, which is generated."""
    for base, dirs, files in os.walk(os.path.join(ROOT, package)):
        dirs[:] = sorted(d for d in dirs if not d.startswith(("_", ".")))
        for name in sorted(files):
            if name.endswith(".py") and (not name.startswith("_") or name.startswith("__")):
                yield os.path.join(base, name)


def check_package(package):
    found = []
    for path in package_files(package):
        with open(path, encoding="utf-8") as f:
            source = f.read()
        found += unannotated(source, os.path.relpath(path, ROOT), package not in METHODS_UNCHECKED)
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_public_functions_have_type_hints(package):
    found = check_package(package)
    assert not found, f"{len(found)} public functions without type hints:\n" + "\n".join(found)


def test_every_package_is_listed():
    """A new top-level package is checked too (or listed as torchcaffe is)."""
    on_disk = {d for d in os.listdir(ROOT) if os.path.isfile(os.path.join(ROOT, d, "__init__.py"))}
    assert on_disk == set(PACKAGES) | {TORCHCAFFE}


def test_the_check_finds_what_lacks_a_hint():
    """The checker itself can fail: a bare parameter, *args/**kwargs, a missing return, a
    method's parameter (self exempt) and __init__'s, a function under `if`; private names,
    private classes' methods and nested functions are left alone."""
    source = """
def ok(a: int, *b: str, c: float = 1.0, **d: bool) -> None: ...
def bare(a, b: int): ...
def star(*args, **kwargs) -> int: ...
def _private(a): ...
if True:
    def inside(a: int): ...
def outer() -> None:
    def nested(a): ...
class Public:
    def __init__(self, x) -> None: ...
    def method(self, y: int): ...
    @classmethod
    def make(cls, z: int) -> "Public": ...
    def _helper(self, a): ...
    def __repr__(self): ...
class _Private:
    def method(self, a): ...
"""
    found = unannotated(source, "m.py")
    assert found == [
        "m.py:3 bare (a, return)",
        "m.py:4 star (args, kwargs)",
        "m.py:7 inside (return)",
        "m.py:11 __init__ (x)",
        "m.py:12 method (return)",
    ]
    assert unannotated(source, "m.py", methods=False) == found[:3]
