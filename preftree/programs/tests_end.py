# fmt: off
import os as _preftree_os, sys as _preftree_sys  # noqa: E401, F401, I001
for _preftree_stream in (_preftree_sys.stdout, _preftree_sys.__stdout__):
    try:
        _preftree_stream.flush()
    except Exception:
        pass
