# fmt: off
def _preftree_driver(_SOURCE, _CASES, _NONCE, _GOT_LIMIT):
    import builtins, json, linecache, math, os, re, sys, threading, traceback, types

    out_fd = os.dup(1)  # the real stdout: only the driver's report lines go there
    number = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
    integer = re.compile(r"[+-]?\d+")

    def report(event):
        data = (_NONCE + " " + json.dumps(event) + "\n").encode("utf-8", "surrogatepass")
        while data:
            data = data[os.write(out_fd, data):]

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
            return math.isfinite(x) and math.isfinite(y) and math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-6)
        return False

    def same(got, want):
        a, b = got.split(), want.split()
        return len(a) == len(b) and all(same_token(x, y) for x, y in zip(a, b))

    def formatted(exc):
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != "<solution>":
            tb = tb.tb_next
        return "".join(traceback.format_exception(type(exc), exc, tb))

    def join_threads():
        for thread in threading.enumerate():
            if thread is not threading.main_thread() and not thread.daemon:
                thread.join()

    def memfd(name, payload=b""):
        fd = os.memfd_create(name)
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view):]
        os.lseek(fd, 0, os.SEEK_SET)
        return fd

    linecache.cache["<solution>"] = (len(_SOURCE), None, _SOURCE.splitlines(True), "<solution>")
    try:
        code = compile(_SOURCE, "<solution>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        report({"case": 0, "verdict": "error", "got": "", "error": formatted(exc)})
        report({"end": True})
        return
    for index, (data, want) in enumerate(_CASES):
        report({"start": index})
        in_fd = memfd("stdin", data.encode("utf-8", "surrogatepass"))
        case_out = memfd("stdout")
        os.dup2(in_fd, 0)
        os.close(in_fd)
        os.dup2(case_out, 1)
        sys.stdin = open(0, encoding="utf-8", errors="replace", closefd=False)
        sys.stdout = open(1, "w", encoding="utf-8", errors="surrogatepass", closefd=False)
        main = types.ModuleType("__main__")
        main.__dict__["__builtins__"] = builtins
        sys.modules["__main__"] = main
        error = ""
        try:
            try:
                exec(code, main.__dict__)
            finally:
                join_threads()
        except SystemExit as exc:
            if exc.code is not None and exc.code != 0:
                error = "SystemExit: " + str(exc.code)
        except MemoryError:
            raise
        except BaseException as exc:
            error = formatted(exc) or type(exc).__name__
        for stream in (sys.stdout, sys.__stdout__):
            try:
                stream.flush()
            except Exception:
                pass
        size = os.fstat(case_out).st_size
        got = os.pread(case_out, size, 0).decode("utf-8", "replace") if size else ""
        os.close(case_out)
        verdict = "error" if error else ("ok" if same(got, want) else "wrong")
        report({"case": index, "verdict": verdict, "got": got[:_GOT_LIMIT], "error": error[-_GOT_LIMIT:]})
        if verdict != "ok":
            break
    os.dup2(out_fd, 1)
    report({"end": True})


_preftree_driver(*__import__("json").loads(_PREFTREE_ARGS))
# ruff: noqa: B905, E401, F821, I001
