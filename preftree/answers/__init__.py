"""Answer extraction and equivalence, in one place and below everything that reads answers.

* :mod:`preftree.answers.core`: what every reader shares and the sources need: a number's canonical
  string, the last ``\\boxed{}``, GSM8K's ``####`` final answer.
* :mod:`preftree.answers.extract`: pulling code and stated answers out of a model's text, and answers
  out of a program's stdout.
* :mod:`preftree.answers.match`: the hand-written equivalence the environment judges with
  (``answers_match``, gold lists, option letters, HotpotQA's text normalisation).
* :mod:`preftree.answers.bench`: the benchmark checkers (math-verify, TheoremQA, multiple choice,
  GSM-Plus's "no answer").

The modules import only the standard library, ``math_verify`` (``bench``, lazily) and each other
(``core`` <- ``extract`` <- ``match`` <- ``bench``).
"""
