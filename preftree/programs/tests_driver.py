# fmt: off
# The main program of every preftree.sandbox.run_tests sandbox. It holds no data of its own: stdin brings
# one line with the run's nonce, then [program, tests] (marshal, in hex). Read to its end before any candidate
# code runs, then replaced by /dev/null, stdin leaves the nonce in no file, argument, variable or /proc
# entry; it lives only in this process's memory (see docs/sandbox.md for what that still allows).
__builtins__ = dict(vars(__builtins__))  # the function below looks builtins up in this copy, not in builtins


def _preftree_tests(path, module):
    import builtins, io, marshal, os, sys
    read, write, dup, dup2, close = os.read, os.write, os.dup, os.dup2, os.close  # bound before the candidate runs
    lseek, memfd_create = os.lseek, os.memfd_create
    try:  # prctl(PR_SET_DUMPABLE, 0) before the nonce is read: /proc/self/mem, /proc/self/environ and ptrace
        import _ctypes  # are then closed to this process and its forks (_ctypes: 0.3 ms, ctypes: 5 ms)

        class Libc:
            _handle = _ctypes.dlopen(None, os.RTLD_NOW)

        class Function(_ctypes.CFuncPtr):
            _flags_ = _ctypes.FUNCFLAG_CDECL

        Function(("prctl", Libc()))(4, 0, 0, 0, 0)
    except Exception:  # no ctypes: verdicts still hold; the doc names what this closes
        pass
    chunks = []
    while True:
        chunk = read(0, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    nonce, _, data = b"".join(chunks).partition(b"\n")
    del chunks, chunk  # a list is found by gc.get_objects(); the nonce stays in locals of this frame only
    null = os.open(os.devnull, os.O_RDONLY)
    dup2(null, 0)  # the candidate's stdin is empty, as it always was
    close(null)
    report = dup(1)  # the real stdout, whatever the candidate does to fd 1 or sys.stdout
    program, tests = marshal.loads(bytes.fromhex(data.decode()))  # marshal and hex: no import of json and re
    # the layout of the program file this driver replaces: the program, a blank line, one test per line
    source = "\n".join([program, "", *tests]) + "\n"
    lines = source.splitlines(True)

    class Lines:  # puts `lines` in linecache under `path` (this file) once linecache is imported: inspect,
        # traceback.print_exc & co. then show the candidate's lines; importing it (and re) now costs ~5 ms
        def find_spec(self, name, where=None, target=None):
            if name != "linecache":
                return None
            sys.meta_path.remove(self)
            specs = (f.find_spec(name, where, target) for f in sys.meta_path if hasattr(f, "find_spec"))
            spec = next((s for s in specs if s is not None and s.loader is not None), None)
            if spec is not None:
                run = spec.loader.exec_module

                def exec_module(module):
                    run(module)
                    module.cache[path] = (len(source), None, lines, path)

                spec.loader.exec_module = exec_module
            return spec

    if "linecache" in sys.modules:
        sys.modules["linecache"].cache[path] = (len(source), None, lines, path)
    else:
        sys.meta_path.insert(0, Lines())
    main = type(sys)("__main__")  # a fresh __main__, as if the candidate were the script itself
    for key in ("__file__", "__loader__", "__spec__", "__package__", "__cached__"):
        if key in module:
            main.__dict__[key] = module[key]
    main.__dict__.update(__builtins__=builtins, __annotations__={})
    default_hook, real_open, source_fd = sys.excepthook, io.open, None

    def open_source(file, *args, **kwargs):  # io.open for the interpreter's C code that shows a source line
        nonlocal source_fd
        if file != path:
            return real_open(file, *args, **kwargs)
        if source_fd is None:
            source_fd, data = memfd_create("source"), source.encode("utf-8", "surrogatepass")
            while data:
                data = data[write(source_fd, data):]
        lseek(source_fd, 0, 0)
        return real_open(dup(source_fd), *args, **kwargs)

    def showing(action):  # run `action` with the candidate's lines, not this file's, under `path`
        saved, io.open = io.open, open_source
        try:
            return action()
        finally:
            io.open = saved

    def show(exc, hook):  # as the interpreter shows an uncaught exception (the default hook is C code)
        try:
            showing(lambda: hook(type(exc), exc, exc.__traceback__))
        except BaseException:
            showing(lambda: default_hook(type(exc), exc, exc.__traceback__))

    try:  # a SyntaxWarning is shown with its line, as when the candidate was the script
        code = showing(lambda: compile(source, path, "exec", dont_inherit=True))
    except Exception as exc:  # SyntaxError, null bytes, too deep: shown as for a script that does not compile
        if isinstance(exc, SyntaxError) and exc.filename == path and 0 < (exc.lineno or 0) <= len(lines):
            exc.text = lines[exc.lineno - 1]  # the parser read the line from this file, not from `source`
        show(exc.with_traceback(None), default_hook)
        raise SystemExit(1) from None
    sys.modules["__main__"] = main
    # this driver's two frames and exec's own evaluation loop count against the recursion limit: the
    # candidate gets the depth it had as the script itself (a RecursionError repeats its line as often)
    sys.setrecursionlimit(sys.getrecursionlimit() + 3)
    try:
        exec(code, main.__dict__)
    except SystemExit:
        raise  # sys.exit / exit() before the tests ended: its exit status, and no nonce
    except BaseException as exc:
        tb = exc.__traceback__
        show(exc.with_traceback(tb.tb_next if tb is not None else None), sys.excepthook)  # its frames only
        if isinstance(exc, KeyboardInterrupt):  # the interpreter would end by SIGINT (status "killed", -2)
            import signal
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except BaseException:
                    pass
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        raise SystemExit(1) from None
    else:  # the program and every test ran to the end without an exception: report it
        for stream in (sys.stdout, sys.__stdout__):
            try:
                stream.flush()
            except BaseException:
                pass
        data = b"\n" + nonce + b"\n"
        while data:
            data = data[write(report, data):]


_preftree_tests(__file__, dict(globals()))
# ruff: noqa: E401, I001
