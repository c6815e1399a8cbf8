"""Answer extraction and equivalence, in one place and below everything that reads answers.

* :mod:`preftree.answers.check`: the one answer checker ``same_answer(pred, truth, rule=...)`` that
  ``interact``, ``eval`` and ``rerank`` judge answers with (math-verify for math, the hand-written
  checker as its fast path, per-benchmark rules on top), and ``rule_for`` an evaluation item.
* :mod:`preftree.answers.core`: what every reader shares and the sources need: a number's canonical
  string, the last ``\\boxed{}``, GSM8K's ``####`` final answer.
* :mod:`preftree.answers.extract`: pulling code and stated answers out of a model's text, and answers
  out of a program's stdout.
* :mod:`preftree.answers.match`: the hand-written equivalence (``answers_match``, gold lists, option
  letters, HotpotQA's text normalisation).
* :mod:`preftree.answers.mathverify`: math-verify behind guards (words, explosive input, threads).
* :mod:`preftree.answers.bench`: the benchmark primitives (LaTeX normalisation, Eurus's leniencies,
  TheoremQA, multiple choice, GSM-Plus's "None").

The modules import only the standard library, ``math_verify`` and ``sympy`` (``mathverify``, lazily)
and each other (``core`` <- ``extract`` <- ``match`` <- ``mathverify`` <- ``bench`` <- ``check``).
"""
