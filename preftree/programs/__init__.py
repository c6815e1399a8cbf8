"""Python programs that run inside the sandbox, shipped as package data (read as text, never imported).

* ``cell_driver.py`` (``preftree.env.build_program``): the notebook replay of Math_PoT and
  answer-judged Coding, completed by its reader with one data line
  ``_PRIOR, _NEW = [<earlier cells>], '<new cell>'`` before it; the line layout is chosen so that every
  line keeps the line number (and text) it had when it was a string inside its reader, since
  tracebacks shown to the model name them.
* ``tests_driver.py`` (``preftree.sandbox.run_tests``) and ``stdio_driver.py``
  (``preftree.sandbox_stdio.run_stdio``): the sandbox's main program, run unchanged; the run's nonce,
  the program and its tests (or stdin/stdout cases) come on stdin, so the nonce that proves "the tests
  ran to the end" is in no file the program can read (docs/sandbox.md).

``tests/test_env.py`` and ``tests/test_sandbox.py`` run each file.

``# fmt: off`` keeps the formatter from moving lines; the ``noqa`` codes cover what the layout needs
(names defined by the data line, several imports on one line, %-formatting kept as it was).
"""
