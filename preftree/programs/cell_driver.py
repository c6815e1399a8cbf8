# fmt: off
import ast as _ast, linecache as _linecache, os as _os, sys as _sys, traceback as _traceback, types as _types
_main = _types.ModuleType("__main__")
_main.__dict__["__builtins__"] = __builtins__
_sys.modules["__main__"] = _main
_ns = _main.__dict__

def _compile(src, name, display):
    _linecache.cache[name] = (len(src), None, src.splitlines(True), name)
    tree = _ast.parse(src, name)
    last = None
    if display and tree.body and isinstance(tree.body[-1], _ast.Expr):
        last = compile(_ast.Expression(tree.body.pop().value), name, "eval", dont_inherit=True)
    return compile(tree, name, "exec", dont_inherit=True), last

for _i, _src in enumerate(_PRIOR, start=1):
    _saved = _sys.stdout
    _sys.stdout = open(_os.devnull, "w")
    try:
        exec(_compile(_src, "<cell-%d>" % _i, False)[0], _ns)
    except BaseException:
        pass
    finally:
        _sys.stdout.close()
        _sys.stdout = _saved

_code, _last = _compile(_NEW, "<cell-%d>" % (len(_PRIOR) + 1), True)
try:
    exec(_code, _ns)
    if _last is not None:
        _value = eval(_last, _ns)
        if _value is not None:
            print(repr(_value))
except MemoryError:
    raise
except Exception as _exc:
    _tb = _exc.__traceback__
    while _tb is not None and not _tb.tb_frame.f_code.co_filename.startswith("<cell-"):
        _tb = _tb.tb_next
    _sys.stdout.flush()
    _traceback.print_exception(type(_exc), _exc, _tb)
    _sys.exit(1)
# ruff: noqa: E401, F821, I001, UP031
