"""Typed params: one dataclass per ``params.yaml`` section, and the per-stage loader.

``params.yaml`` is composed from ``conf/`` by Hydra (``make params`` or ``dvc exp run``); ``conf/`` is the
only place a value is written. The dataclasses here declare types, never values: every field must be
present in ``params.yaml``. Import the submodule you need (this file imports nothing):

    load       load_stage_params / load_runtime, the whole-file Params and StageParams
    workspace  PARAMS_FILE, ParamsError, workspace_root, read_params_file
    validate   build / coerce: a mapping checked against a dataclass, errors naming the key
    model, sources, select, sandbox, agents, interact, tree, train, evaluate, runtime
               the section types (train: sft, align, rm; evaluate: eval, rerank)
"""
