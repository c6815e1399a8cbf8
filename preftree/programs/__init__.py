"""Python programs that run inside the sandbox, shipped as package data (read as text, never imported).

Each is a fixed program that its reader completes with data lines; the line layout is chosen so
that every line of the program keeps the line number (and text) it had when these programs were
strings inside their readers, since tracebacks shown to the model name them:

* ``cell_driver.py`` (``preftree.env.build_program``): the notebook replay of Math_PoT and
  answer-judged Coding. Preceded by one line ``_PRIOR, _NEW = [<earlier cells>], '<new cell>'``.
* ``stdio_driver.py`` (``preftree.sandbox_stdio.stdio_program``): runs a solution once per
  stdin/stdout case. Preceded by one line ``_PREFTREE_ARGS = '<json>'``.
* ``tests_end.py`` (``preftree.sandbox.run_tests``): put after the test snippets (its first line, a
  comment, where a blank line stood), followed by the line that writes the run's nonce.

``tests/test_env.py`` and ``tests/test_sandbox.py`` run each file and pin the layout.

``# fmt: off`` keeps the formatter from moving lines; the ``noqa`` codes cover what the layout needs
(names defined by the data line, several imports on one line, %-formatting kept as it was).
"""
