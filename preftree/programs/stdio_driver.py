# fmt: off
# The main program of every preftree.sandbox_stdio.run_stdio sandbox. It holds no data of its own: stdin
# brings one line with the run's nonce, then the JSON [solution, cases, got_limit]. Read to its end before
# the solution runs, then replaced by each case's input, stdin leaves the nonce in no file, argument,
# variable or /proc entry; it lives only in this process's memory (see docs/sandbox.md).
__builtins__ = dict(vars(__builtins__))  # the functions below look builtins up in this copy, not in builtins


def _preftree_driver():
    import builtins, fcntl, json, linecache, math, os, re, sys, threading, traceback, types
    # everything the driver calls once the solution has run is bound here, before it runs: rebinding
    # os.write, json.dumps, math.isclose & co. from the solution cannot change a verdict or a report
    read, write, dup, dup2, close, fstat, pread = os.read, os.write, os.dup, os.dup2, os.close, os.fstat, os.pread
    lseek, memfd_create, seek_set = os.lseek, os.memfd_create, os.SEEK_SET
    fcntl_, dupfd = fcntl.fcntl, fcntl.F_DUPFD_CLOEXEC
    isfinite, isclose, format_exception = math.isfinite, math.isclose, traceback.format_exception
    all_threads, main_thread, module_type = threading.enumerate, threading.main_thread, types.ModuleType
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
    _SOURCE, _CASES, _GOT_LIMIT = json.loads(data)
    out_fd = dup(1)  # the real stdout: only the driver's report lines go there
    number = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
    integer = re.compile(r"[+-]?\d+")
    prefix = nonce + b" "

    def report(prefix, *event):  # one line, one write: the nonce, then the repr of a tuple of str / int
        data = prefix + repr(event).encode("utf-8", "surrogatepass") + b"\n"  # (C code, unlike json)
        while data:
            data = data[write(out_fd, data):]

    def same_token(a, b):
        if a == b:
            return True
        if integer.fullmatch(a) and integer.fullmatch(b):
            try:
                return int(a) == int(b)
            except ValueError:  # more digits than int() converts
                return False
        if number.fullmatch(a) and number.fullmatch(b):
            x, y = float(a), float(b)
            return isfinite(x) and isfinite(y) and isclose(x, y, rel_tol=1e-6, abs_tol=1e-6)
        return False

    def same(got, want):
        a, b = got.split(), want.split()
        return len(a) == len(b) and all(same_token(x, y) for x, y in zip(a, b))

    def formatted(exc):
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != "<solution>":
            tb = tb.tb_next
        try:  # a plain str whatever the solution did to traceback or to its exception
            return "".join(["", *format_exception(type(exc), exc, tb)])
        except BaseException:
            return ""

    def join_threads():
        for thread in all_threads():
            if thread is not main_thread() and not thread.daemon:
                thread.join()

    def memfd(name, payload=b""):
        fd = memfd_create(name)
        if fd < 3:  # the solution closed fd 0 or 1 (a garbage-collected open(0)): keep them for dup2
            fd, spare = fcntl_(fd, dupfd, 3), fd
            close(spare)
        view = memoryview(payload)
        while view:
            view = view[write(fd, view):]
        lseek(fd, 0, seek_set)
        return fd

    linecache.cache["<solution>"] = (len(_SOURCE), None, _SOURCE.splitlines(True), "<solution>")
    try:
        code = compile(_SOURCE, "<solution>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        report(prefix, "case", 0, "error", "", formatted(exc))
        report(prefix, "end")
        return
    for index, (data, want) in enumerate(_CASES):
        report(prefix, "start", index)
        in_fd = memfd("stdin", data.encode("utf-8", "surrogatepass"))
        case_out = memfd("stdout")
        dup2(in_fd, 0)
        close(in_fd)
        dup2(case_out, 1)
        sys.stdin = open(0, encoding="utf-8", errors="replace", closefd=False)
        sys.stdout = open(1, "w", encoding="utf-8", errors="surrogatepass", closefd=False)
        main = module_type("__main__")
        main.__dict__["__builtins__"] = builtins
        sys.modules["__main__"] = main
        failed, error = False, ""
        try:
            try:
                exec(code, main.__dict__)
            finally:
                join_threads()
        except SystemExit as exc:
            if exc.code is not None and exc.code != 0:
                failed = True
                try:
                    error = "SystemExit: " + str(exc.code)  # + makes a plain str of a str subclass
                except BaseException:
                    error = "SystemExit"
        except MemoryError:
            raise
        except BaseException as exc:
            failed = True
            error = formatted(exc) or "".join(["", type(exc).__name__])
        for stream in (sys.stdout, sys.__stdout__):
            try:
                stream.flush()
            except Exception:
                pass
        size = fstat(case_out).st_size
        got = pread(case_out, size, 0).decode("utf-8", "replace") if size else ""
        close(case_out)
        verdict = "error" if failed else ("ok" if same(got, want) else "wrong")
        report(prefix, "case", index, verdict, got[:_GOT_LIMIT], error[-_GOT_LIMIT:])
        if verdict != "ok":
            break
    dup2(out_fd, 1)
    report(prefix, "end")


_preftree_driver()
# ruff: noqa: B905, E401, I001
