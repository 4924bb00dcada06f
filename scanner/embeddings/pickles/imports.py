"""Which globals a pickle may name without importing code: the security view of a pickle.

Loading a pickle imports every global it names and calls most of them. A short allow-list
of data constructors (numpy's array rebuild, containers, dates, joblib's array wrappers) is
harmless; anything else imports code. Known code-execution primitives (`os.system`,
`builtins.eval`, `subprocess.*`, `pickle.loads` …) are told apart from merely unknown
classes, which still run their module's code when imported.
"""

from __future__ import annotations

from dataclasses import dataclass

from scanner.embeddings.pickles.objects import (
    FROMBUFFER,
    JOBLIB_EXTERNAL,
    JOBLIB_WRAPPERS,
    RECONSTRUCT,
    SCALAR,
    canonical_module,
)

SAFE_GLOBALS = frozenset(
    {
        *RECONSTRUCT,
        *FROMBUFFER,
        *SCALAR,
        *JOBLIB_WRAPPERS,
        *JOBLIB_EXTERNAL,
        "numpy.ndarray",
        "numpy.dtype",
        "numpy.ma.core._mareconstruct",
        "numpy.ma.core.MaskedArray",
        "collections.OrderedDict",
        "collections.defaultdict",
        "collections.Counter",
        "collections.deque",
        "builtins.set",
        "builtins.frozenset",
        "builtins.complex",
        "builtins.bytearray",
        "builtins.bytes",
        "builtins.slice",
        "builtins.range",
        "builtins.list",
        "builtins.dict",
        "builtins.tuple",
        "builtins.int",
        "builtins.float",
        "builtins.bool",
        "builtins.object",
        "copyreg._reconstructor",
        "_codecs.encode",
        "datetime.datetime",
        "datetime.date",
        "datetime.time",
        "datetime.timedelta",
        "datetime.timezone",
        "decimal.Decimal",
        "uuid.UUID",
        "fractions.Fraction",
    }
)
_BUILTIN_DANGER = {
    "eval": "evaluates Python code",
    "exec": "executes Python code",
    "execfile": "executes a Python file",
    "compile": "compiles Python code",
    "getattr": "reaches any attribute (the building block of pickle exploits)",
    "setattr": "changes any attribute",
    "delattr": "deletes any attribute",
    "__import__": "imports any module",
    "open": "opens files",
    "file": "opens files",
    "globals": "reaches the interpreter's globals",
    "locals": "reaches the interpreter's locals",
    "vars": "reaches any object's attributes",
    "input": "reads from the terminal",
    "breakpoint": "starts a debugger",
    "apply": "calls any function",
    "reload": "reloads modules",
}
_MODULE_DANGER = {
    "runs programs or changes files": "os posix nt subprocess pty commands popen2 platform",
    "loads further serialized code": "pickle _pickle cPickle marshal dill cloudpickle shelve",
    "imports or runs modules": "importlib runpy pkgutil zipimport imp site code codeop",
    "opens network connections": (
        "socket urllib urllib2 http httplib requests ftplib smtplib telnetlib webbrowser xmlrpc"
    ),
    "reaches the interpreter, files or arbitrary callables": (
        "shutil tempfile glob pathlib io _io sys ctypes types functools operator inspect gc "
        "threading multiprocessing asyncio signal pdb bdb timeit trace profile cProfile"
    ),
}
_DANGER_BY_MODULE = {m: why for why, mods in _MODULE_DANGER.items() for m in mods.split()}


@dataclass(frozen=True)
class UnsafeImport:
    qualname: str
    reason: str
    known_dangerous: bool  # a known code-execution primitive, not just an unknown class


def judge_import(module: str, name: str) -> UnsafeImport | None:
    """None for an allow-listed data constructor; otherwise why importing it is a risk."""
    module = canonical_module(module)
    qualname = f"{module}.{name}"
    if qualname in SAFE_GLOBALS:
        return None
    if module.startswith("<"):
        return UnsafeImport(qualname, "a global computed at load time: cannot be vetted", True)
    if module == "builtins" and name in _BUILTIN_DANGER:
        return UnsafeImport(qualname, _BUILTIN_DANGER[name], True)
    reason = _DANGER_BY_MODULE.get(module.split(".", 1)[0])
    if reason is not None:
        return UnsafeImport(qualname, reason, True)
    if module.startswith("numpy.testing") or module.startswith("numpy.f2py"):
        return UnsafeImport(qualname, "runs code (numpy test and build helpers)", True)
    return UnsafeImport(
        qualname, "not a known data constructor: loading imports it and runs its code", False
    )
