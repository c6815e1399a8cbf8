"""Deterministic, seeded, procedurally generated verifiable problems in UltraInteract's task families.

* ``Math_CoT`` / ``Math_PoT``: multi-step integer word problems (``math.py``, solutions in
  ``math_solutions.py``); the task only changes the instruction prefix and the solution style (text
  steps + ``\\boxed{}`` vs a commented Python fence).
* ``Coding``: one function from 24 templates, checked by assert tests (``coding.py``).
* ``Logic``: ordering puzzles and syllogism chains with lettered options (``logic.py``).

Every row carries its ground truth (``answer``, ``tests``) and a structured reference solution
(``reference``, JSON; the layout per family is documented in each module) from which
``render_solution`` writes correct responses and responses with one realistic mistake.

The problem space is split by content hash into two disjoint pools (``in_pool``): ``pretrain`` feeds
the base model's pretraining corpus (``pretraining_documents``), ``instruct`` feeds ``select``; so the
base model can never have seen a problem it is later trained or evaluated on, whatever the seeds.

The API (``generate``, ``render_solution``, ``applicable_mistakes``, ``pretraining_documents``, ``in_pool``)
is in ``problems``; this package file stays docstring-only so that importing one module does not
load the others.
"""
