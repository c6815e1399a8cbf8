"""A tokenizer read from a released vocabulary file, and the chat format and pad token the paper's models need.

``model.tokenizer.file`` names the file: ``mistral_common:<name>`` is ``<name>`` in the ``data/`` folder
of the installed mistral-common package (``tokenizer.model.v1`` is Mistral-7B-v0.1's 32K SentencePiece
vocabulary; ``mistral_instruct_tokenizer_*.model.v2/v3/v7`` are later ones); anything else is a path.
The package is located, never imported, so only its files are needed.

SentencePiece files (``*.model``, ``*.model.v<N>``) are converted by transformers into a fast
tokenizer with the same pieces and ids. Tekken files (``tekken_*.json``, Mistral's tiktoken-style
byte-level BPE of 131K tokens) are converted by transformers' Mistral converter (it needs
mistral-common >= 1.11.5, pinned) into a fast tokenizer with the ids of mistral-common's own
``Tekkenizer``; its special tokens (``<unk>`` 0, ``<s>`` 1, ``</s>`` 2) are named from the file.

Mistral-7B-v0.1 ships neither a pad token nor a chat template. ``prepare_chat_tokenizer`` gives a
tokenizer that lacks them (a vocabulary file here, or a local checkpoint folder) the paper's choices,
and says what it changed:

* **chat template**: Mistral's ``<s>[INST] {user} [/INST]{assistant}</s>`` format, the prompt format
  on the released Eurus-7B model cards (Eurus-7B-SFT is trained from Mistral-7B, paper §3), with
  each assistant ``{content}</s>`` inside ``{% generation %}`` so the SFT loss can be assistant-only;
  a system message, which the format lacks, is put before the first user message;
* **pad token**: the unknown token (``<unk>``, id 0 in Mistral's vocabularies), which never occurs in
  text, so no embedding is added and the weights stay as released. Pad must differ from eos: reward
  models read the last non-pad token. A tokenizer with neither pad nor a distinct unk is refused.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

PACKAGE_PREFIX = "mistral_common:"
PACKAGE = "mistral_common"

# Mistral-Instruct's format. Newlines are expressions (transformers compiles with trim_blocks).
INST_CHAT_TEMPLATE = (
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{%- set system = messages[0]['content'] -%}{%- set turns = messages[1:] -%}"
    "{%- else -%}{%- set system = '' -%}{%- set turns = messages -%}{%- endif -%}"
    "{{- bos_token -}}"
    "{%- for message in turns -%}"
    "{%- if message['role'] == 'user' -%}"
    "{{- '[INST] ' ~ ((system ~ '\\n\\n') if (loop.first and system) else '') ~ message['content'] ~ ' [/INST]' -}}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{% generation %}{{- message['content'] ~ eos_token -}}{% endgeneration %}"
    "{%- else -%}"
    "{{- raise_exception('unknown role: ' ~ message['role']) -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
)


def package_data_dir(package: str = PACKAGE) -> Path:
    """The ``data/`` folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"{package} is not installed: `pip install -e .` installs it (mistral-common, pinned in "
            "pyproject.toml), or name the vocabulary file by its path"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def resolve_vocab_file(spec: str) -> Path:
    """The vocabulary file ``spec`` names (``mistral_common:<name>`` or a path); a clear error when absent."""
    if spec.startswith(PACKAGE_PREFIX):
        name = spec[len(PACKAGE_PREFIX) :]
        folder = package_data_dir()
        path = folder / name
        if not name or "/" in name or not path.is_file():
            shipped = sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
            raise FileNotFoundError(
                f"model.tokenizer.file={spec}: no file {name!r} in {folder}; shipped: {', '.join(shipped) or 'none'}"
            )
    else:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"model.tokenizer.file={spec}: no such file")
    return path


def vocab_kind(path: Path) -> str:
    """``sentencepiece`` or ``tekken`` by the file's name (as mistral-common names them)."""
    name = path.name
    if "tekken" in name and name.endswith(".json"):
        return "tekken"
    if name.endswith(".model") or ".model." in name:
        return "sentencepiece"
    raise ValueError(f"{path}: not a SentencePiece (*.model, *.model.v<N>) or tekken (tekken*.json) vocabulary file")


def prepare_chat_tokenizer(tokenizer: Any, *, source: str, require_pad: bool = True) -> list[str]:
    """Give ``tokenizer`` the pad token and chat template it lacks (module docstring), in place;
    return one line per change (callers print them). Without a distinct unknown token the pad token
    stays unset, or raises when ``require_pad`` (training and reward models need one)."""
    notes: list[str] = []
    if tokenizer.pad_token is None:
        unk = tokenizer.unk_token
        if unk is None or tokenizer.unk_token_id == tokenizer.eos_token_id:
            if not require_pad:
                return [*notes, *_template(tokenizer, source)]
            raise ValueError(
                f"{source}: the tokenizer has no pad token and no unknown token distinct from eos to use as one; "
                "set a pad token in its tokenizer_config.json (it must differ from eos)"
            )
        tokenizer.pad_token = unk
        notes.append(
            f"{source}: no pad token; using the unknown token {unk!r} (id {tokenizer.pad_token_id}) as pad "
            f"(distinct from eos {tokenizer.eos_token!r}, never in text, no new embedding)"
        )
    return [*notes, *_template(tokenizer, source)]


def _template(tokenizer: Any, source: str) -> list[str]:
    if getattr(tokenizer, "chat_template", None):
        return []
    tokenizer.chat_template = INST_CHAT_TEMPLATE
    return [f"{source}: no chat template; using Mistral's [INST] ... [/INST] format with a generation span"]


def report(notes: list[str]) -> None:
    for line in notes:
        print(line, file=sys.stderr)


def _sentencepiece_tokenizer(path: Path) -> Any:
    from transformers import LlamaTokenizer

    with tempfile.TemporaryDirectory(prefix="preftree-vocab-") as tmp:
        shutil.copyfile(path, Path(tmp) / "tokenizer.model")
        return LlamaTokenizer.from_pretrained(tmp, local_files_only=True)


# Tekken's control tokens by rank (mistral-common's SpecialTokens order): the converter keeps the ids but
# names no role, so the roles are set here.
TEKKEN_ROLES = {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}


def _tekken_tokenizer(path: Path) -> Any:
    from transformers import PreTrainedTokenizerFast
    from transformers.integrations.mistral.tokenizer import MistralConverter

    tokenizer = PreTrainedTokenizerFast(tokenizer_object=MistralConverter(str(path)).converted())
    missing = [token for token in TEKKEN_ROLES.values() if tokenizer.convert_tokens_to_ids(token) is None]
    if missing:
        raise ValueError(f"{path}: a tekken file without the control tokens {missing}")
    for role, token in TEKKEN_ROLES.items():
        setattr(tokenizer, role, token)
    return tokenizer


def load_vocab_tokenizer(spec: str) -> Any:
    """A fast tokenizer from the vocabulary file ``spec`` names, ready for chat (pad token, [INST] template)."""
    path = resolve_vocab_file(spec)
    kind = vocab_kind(path)
    tokenizer = _tekken_tokenizer(path) if kind == "tekken" else _sentencepiece_tokenizer(path)
    tokenizer.padding_side = "right"
    tokenizer.chat_template = INST_CHAT_TEMPLATE  # the paper's format, whatever the file's version
    report(prepare_chat_tokenizer(tokenizer, source=spec))
    return tokenizer
