"""model=mistral_tiny: Mistral's own SentencePiece vocabularies from the mistral-common wheel, the [INST]
chat format with an assistant mask, the pad-token rule, and a MistralForCausalLM base folder that
AutoModelForCausalLM / AutoTokenizer load back."""

from __future__ import annotations

from pathlib import Path

import pytest
import sentencepiece as spm
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast

from preftree.base_model import train_from_scratch
from preftree.compose import composed
from preftree.config.model import MistralArchParams, VocabFileParams
from preftree.config.params import validate_all
from preftree.config.validate import ParamsError
from preftree.models.tokenizer import train_tokenizer
from preftree.models.vocab_file import (
    INST_CHAT_TEMPLATE,
    load_vocab_tokenizer,
    package_data_dir,
    prepare_chat_tokenizer,
    resolve_vocab_file,
    vocab_kind,
)
from preftree.train.common import load_policy

REPO = Path(__file__).resolve().parents[1]
V1 = "mistral_common:tokenizer.model.v1"
CHAT = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is 12+7?"},
    {"role": "assistant", "content": "19"},
    {"role": "user", "content": "And 3*4?"},
    {"role": "assistant", "content": "12"},
]


@pytest.fixture(scope="module")
def v1() -> PreTrainedTokenizerFast:
    return load_vocab_tokenizer(V1)


def test_files_are_found_in_the_installed_wheel_or_by_path(tmp_path: Path) -> None:
    path = resolve_vocab_file(V1)
    assert path == package_data_dir() / "tokenizer.model.v1" and path.is_file()
    assert resolve_vocab_file(str(path)) == path  # a plain path works too
    with pytest.raises(FileNotFoundError, match=r"no file 'tokenizer\.model\.v9'.*shipped: .*tokenizer\.model\.v1"):
        resolve_vocab_file("mistral_common:tokenizer.model.v9")
    with pytest.raises(FileNotFoundError, match="no such file"):
        resolve_vocab_file(str(tmp_path / "missing.model"))
    assert vocab_kind(Path("mistral_instruct_tokenizer_240323.model.v3")) == "sentencepiece"
    assert vocab_kind(Path("tekken_240718.json")) == "tekken"
    with pytest.raises(ValueError, match="not a SentencePiece"):
        vocab_kind(Path("vocab.txt"))


def test_v1_is_mistral_7b_vocabulary_with_the_pad_rule(v1: PreTrainedTokenizerFast) -> None:
    assert len(v1) == 32000
    assert (v1.unk_token_id, v1.bos_token_id, v1.eos_token_id) == (0, 1, 2)
    assert v1.pad_token == "<unk>" and v1.pad_token_id == 0 != v1.eos_token_id  # Mistral ships no pad token
    sp = spm.SentencePieceProcessor(model_file=str(resolve_vocab_file(V1)))
    for text in ["Step 1: Add 3 + 4 = 7.\n\nAnswer:\n\\boxed{7}", "Hello world! ünïcödé 🙂 x_1 = y**2"]:
        ids = v1(text, add_special_tokens=False)["input_ids"]
        assert ids == sp.encode(text), text  # the same pieces and ids as SentencePiece itself
        assert v1.decode(ids) == text


def test_inst_chat_format_and_assistant_mask(v1: PreTrainedTokenizerFast) -> None:
    text = v1.apply_chat_template(CHAT, tokenize=False)
    assert text == "<s>[INST] Be brief.\n\nWhat is 12+7? [/INST]19</s>[INST] And 3*4? [/INST]12</s>"
    out = v1.apply_chat_template(CHAT, return_assistant_tokens_mask=True, return_dict=True)
    ids, mask = out["input_ids"], out["assistant_masks"]
    learned = v1.decode([i for i, m in zip(ids, mask, strict=True) if m])
    assert learned == "19</s>12</s>"  # only the assistant turns and their eos carry the SFT loss
    prompt = v1.apply_chat_template(CHAT[:2], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("[/INST]")  # generation continues right after [/INST]
    with pytest.raises(Exception, match="unknown role"):
        v1.apply_chat_template([{"role": "tool", "content": "x"}], tokenize=False)


@pytest.mark.parametrize(
    "name", ["mistral_instruct_tokenizer_240323.model.v3", "mistral_instruct_tokenizer_241114.model.v7"]
)
def test_other_shipped_sentencepiece_files(name: str) -> None:
    tok = load_vocab_tokenizer(f"mistral_common:{name}")
    assert len(tok) == 32768 and tok.pad_token_id == tok.unk_token_id != tok.eos_token_id
    ids = tok.apply_chat_template(CHAT[1:3], tokenize=True, return_dict=True)["input_ids"]
    assert tok.convert_ids_to_tokens(ids)[:2] == ["<s>", "[INST]"]  # v3+ have [INST] as a control token


def test_prepare_gives_a_bare_checkpoint_tokenizer_pad_and_template(v1: PreTrainedTokenizerFast) -> None:
    bare = load_vocab_tokenizer(V1)
    bare.pad_token, bare.chat_template = None, None
    notes = prepare_chat_tokenizer(bare, source="/models/Mistral-7B-v0.1")
    assert bare.pad_token == "<unk>" and bare.chat_template == INST_CHAT_TEMPLATE
    assert len(notes) == 2 and all(n.startswith("/models/Mistral-7B-v0.1: no ") for n in notes)
    assert prepare_chat_tokenizer(bare, source="again") == []  # nothing left to change
    no_unk = train_tokenizer(["abc abd 12"] * 4, _bpe())
    no_unk.pad_token = None
    with pytest.raises(ValueError, match="no pad token and no unknown token distinct from eos"):
        prepare_chat_tokenizer(no_unk, source="x")
    assert prepare_chat_tokenizer(no_unk, source="x", require_pad=False) == []  # generation falls back itself


def _bpe():  # the tiny model's tokenizer params, small
    from preftree.config.model import TokenizerParams

    return TokenizerParams(vocab_size=300, min_frequency=1, split_digits=True, digits_per_token=1)


def test_mistral_tiny_composes_and_a_bad_arch_value_names_the_right_key() -> None:
    params = validate_all(composed(REPO, ["model=mistral_tiny"]))
    assert isinstance(params.model.tokenizer, VocabFileParams) and params.model.tokenizer.file == V1
    assert isinstance(params.model.arch, MistralArchParams)
    with pytest.raises(ParamsError, match=r"model\.arch\.hidden_size: expected int"):
        validate_all(composed(REPO, ["model=mistral_tiny", "model.arch.hidden_size=wide"]))
    with pytest.raises(ParamsError, match=r"model\.arch\.hidden_size: expected int"):
        validate_all(composed(REPO, ["model.arch.hidden_size=wide"]))  # model=tiny: its own key, not Mistral's


def test_base_from_scratch_writes_a_mistral_folder_that_auto_classes_load(tmp_path: Path) -> None:
    small = ["model.pretrain.steps=2", "model.pretrain.documents=40", "model.pretrain.heldout_documents=8"]
    params = validate_all(composed(REPO, ["model=mistral_tiny", *small, "model.pretrain.seq_len=64"]))
    out = tmp_path / "base"
    result = train_from_scratch(params.model, seed=0, out_dir=out, device=torch.device("cpu"), progress=False)
    assert result.metrics["vocab_size"] == 32000 and len(result.history) == 2
    model = AutoModelForCausalLM.from_pretrained(out, local_files_only=True)
    assert type(model).__name__ == "MistralForCausalLM" and model.config.sliding_window == 1024
    tok = AutoTokenizer.from_pretrained(out, local_files_only=True)
    assert tok.pad_token_id == 0 and len(tok) == 32000
    assert (
        tok.apply_chat_template(CHAT[1:2], tokenize=False, add_generation_prompt=True)
        == "<s>[INST] What is 12+7? [/INST]"
    )
    policy, policy_tok = load_policy(out)
    assert policy_tok.pad_token_id == 0 and type(policy).__name__ == "MistralForCausalLM"


def test_load_policy_fixes_a_checkpoint_without_pad_or_template(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    tok = load_vocab_tokenizer(V1)
    params = validate_all(composed(REPO, ["model=mistral_tiny"]))
    from preftree.models.tiny import build_model

    model = build_model(params.model.arch, tok, seed=0)  # type: ignore[arg-type]
    tok.pad_token, tok.chat_template = None, None  # as Mistral-7B-v0.1 ships
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    capsys.readouterr()
    _, loaded = load_policy(tmp_path)
    assert loaded.pad_token == "<unk>" and "[INST]" in loaded.chat_template
    err = capsys.readouterr().err
    assert "no pad token; using the unknown token '<unk>' (id 0)" in err and "no chat template" in err


@pytest.mark.parametrize("name", ["tekken_240718.json", "tekken_240911.json"])
def test_tekken_files_give_mistral_commons_ids_with_the_pad_rule(name: str) -> None:
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

    tok = load_vocab_tokenizer(f"mistral_common:{name}")
    reference = Tekkenizer.from_file(str(resolve_vocab_file(f"mistral_common:{name}")))
    assert len(tok) == reference.n_words == 131072
    ids = (tok.unk_token_id, tok.bos_token_id, tok.eos_token_id)
    assert ids == (0, reference.bos_id, reference.eos_id) == (0, 1, 2)
    assert tok.pad_token == "<unk>" and tok.pad_token_id == 0 != tok.eos_token_id
    for text in ["Step 1: Add 3 + 4 = 7.\n\nAnswer:\n\\boxed{7}", "Hello world! ünïcödé 🙂 x_1 = y**2"]:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert ids == reference.encode(text, bos=False, eos=False), text
        assert tok.decode(ids) == text
    chat = tok.apply_chat_template([{"role": "user", "content": "What is 2 plus 3?"}], tokenize=False)
    assert chat == "<s>[INST] What is 2 plus 3? [/INST]"
