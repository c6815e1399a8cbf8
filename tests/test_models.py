"""Tests for preftree.models: tokenizer, tiny Llama pretraining, model folders and checkpoints."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from preftree.compose import from_conf
from preftree.config.model import ArchParams, PretrainParams, TokenizerParams
from preftree.models.checkpoint import (
    CheckpointChangedError,
    checkpoint_identity,
    resolve_model_dir,
    save_model_folder,
    validate_checkpoint,
    write_pointer,
)
from preftree.models.tiny import build_model, count_parameters, evaluate_loss, lr_at, pack_documents, pretrain
from preftree.models.tokenizer import SPECIAL_TOKENS, train_tokenizer

TINY_ARCH = from_conf(
    ArchParams,
    "model.arch",
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=2,
    num_key_value_heads=1,
    max_position_embeddings=128,
)
TINY_PRETRAIN = from_conf(PretrainParams, "model.pretrain", steps=30, batch_size=8, seq_len=64, warmup_steps=5, lr=1e-2)


def _doc(rng: random.Random) -> str:
    name = rng.choice(["Tom", "Ann", "Lee", "Maria", "Omar"])
    item = rng.choice(["apples", "coins", "books", "marbles"])
    value = rng.randint(2, 60)
    lines = [f"Problem: {name} has {value} {item} and buys some more. How many {item} now?", "Solution:"]
    for step in range(1, rng.randint(2, 4) + 1):
        add = rng.randint(1, 20)
        lines.append(f"Step {step}: {value} + {add} = {value + add}.")
        value += add
    lines.append(f"The answer is {value}.")
    return "\n".join(lines)


def synthetic_corpus(n: int, seed: int = 0) -> list[str]:
    """Templated arithmetic word problems with step-by-step solutions."""
    rng = random.Random(seed)
    return [_doc(rng) for _ in range(n)]


def state_sha256(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return synthetic_corpus(400)


@pytest.fixture(scope="module")
def tokenizer(corpus):
    return train_tokenizer(corpus, from_conf(TokenizerParams, "model.tokenizer", vocab_size=512))


@pytest.fixture(scope="module")
def trained(tokenizer, corpus):
    """Two identical 30-step pretraining runs on the tiny arch."""
    blocks = pack_documents(tokenizer, corpus, TINY_PRETRAIN.seq_len)
    runs = []
    for _ in range(2):
        model = build_model(TINY_ARCH, tokenizer, seed=3)
        records = pretrain(model, blocks, TINY_PRETRAIN, seed=7, progress=False, device="cpu")
        runs.append((model, records))
    return blocks, runs


# --------------------------------------------------------------------------------------------
# tokenizer


def test_tokenizer_is_deterministic(corpus, tokenizer):
    again = train_tokenizer(list(corpus), from_conf(TokenizerParams, "model.tokenizer", vocab_size=512))
    assert again.backend_tokenizer.to_str() == tokenizer.backend_tokenizer.to_str()
    assert len(tokenizer) <= 512  # fewer when the small corpus runs out of merges at min_frequency=2


def test_split_digits_gives_one_token_per_digit(corpus):
    split = train_tokenizer(list(corpus), from_conf(TokenizerParams, "model.tokenizer", vocab_size=512))
    merged = train_tokenizer(
        list(corpus) + ["1234 5678 " * 50],
        from_conf(TokenizerParams, "model.tokenizer", vocab_size=512, split_digits=False),
    )
    text = "has 1234 apples, sells 56"
    pieces = split.convert_ids_to_tokens(split(text)["input_ids"])
    assert [p for p in pieces if any(c.isdigit() for c in p)] == ["1", "2", "3", "4", "5", "6"]
    assert split.decode(split(text)["input_ids"]) == text
    assert any(len([c for c in p if c.isdigit()]) > 1 for p in merged.convert_ids_to_tokens(merged(text)["input_ids"]))
    pairs = train_tokenizer(
        list(corpus) + [" ".join(f"{i:02d}" for i in range(100))] * 3,
        from_conf(TokenizerParams, "model.tokenizer", vocab_size=512, digits_per_token=2),
    )
    text = "has 12345 apples, sells 56 and 7"
    pieces = pairs.convert_ids_to_tokens(pairs(text)["input_ids"])
    assert [p.strip("Ġ") for p in pieces if any(c.isdigit() for c in p)] == ["12", "34", "5", "56", "7"]
    assert pairs.decode(pairs(text)["input_ids"]) == text


@pytest.mark.parametrize(
    "text",
    [
        "def f(x):\n    return {'a': x ** 2}  # tabs\tand  spaces\n",
        "Ünïcödé: 日本語, emoji 🙂, ß → ∞, naïve café",
        r"$\frac{a}{b} + \sum_{i=1}^{n} x_i^2 \leq \sqrt{\pi}$",
        "  leading spaces, trailing newlines\n\n\n",
    ],
)
def test_round_trip(tokenizer, text):
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_special_tokens(tokenizer):
    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in SPECIAL_TOKENS}
    assert list(ids.values()) == list(range(len(SPECIAL_TOKENS)))
    assert tokenizer.pad_token == "<|pad|>" and tokenizer.eos_token == "<|end|>" and tokenizer.bos_token == "<|bos|>"
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    for tok, idx in ids.items():
        assert tokenizer.encode(f"a{tok}b")[1:-1] == [idx]
    assert tokenizer.encode("Step 1") == tokenizer("Step 1")["input_ids"]  # no bos/eos added


MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is 2 + 2?"},
    {"role": "assistant", "content": "Step 1: 2 + 2 = 4.\nThe answer is 4."},
    {"role": "user", "content": "And 3 + 3?"},
    {"role": "assistant", "content": "6"},
]


def test_chat_template_text(tokenizer):
    text = tokenizer.apply_chat_template(MESSAGES[1:3], tokenize=False)
    assert text == "<|user|>\nWhat is 2 + 2?<|end|>\n<|assistant|>\nStep 1: 2 + 2 = 4.\nThe answer is 4.<|end|>\n"
    prompt = tokenizer.apply_chat_template(MESSAGES[:2], tokenize=False, add_generation_prompt=True)
    assert prompt == "<|system|>\nBe brief.<|end|>\n<|user|>\nWhat is 2 + 2?<|end|>\n<|assistant|>\n"
    # the tokenized prompt is a prefix of the tokenized conversation (prompt/completion splits rely on it)
    p_ids = tokenizer.apply_chat_template(MESSAGES[:2], add_generation_prompt=True, return_dict=True)["input_ids"]
    full = tokenizer.apply_chat_template(MESSAGES[:3], return_dict=True)["input_ids"]
    assert full[: len(p_ids)] == p_ids


def test_assistant_mask_covers_content_and_end(tokenizer):
    out = tokenizer.apply_chat_template(MESSAGES, return_dict=True, return_assistant_tokens_mask=True)
    ids, mask = out["input_ids"], out["assistant_masks"]
    assert len(ids) == len(mask)
    spans, current = [], []
    for i, m in zip(ids, mask, strict=False):
        if m:
            current.append(i)
        elif current:
            spans.append(current)
            current = []
    if current:
        spans.append(current)
    expected = [tokenizer.encode(m["content"]) + [tokenizer.eos_token_id] for m in MESSAGES if m["role"] == "assistant"]
    assert spans == expected


def test_trl_sees_end_token_trained(tokenizer):
    from trl.chat_template_utils import is_chat_template_stop_token_trained

    assert is_chat_template_stop_token_trained(tokenizer)


# --------------------------------------------------------------------------------------------
# tiny model


def test_default_arch_param_count(tokenizer):
    arch = from_conf(ArchParams, "model.arch")
    tok = tokenizer
    vocab = len(tok)
    model = build_model(arch, tok, seed=0)
    h, inter, head_dim = arch.hidden_size, arch.intermediate_size, arch.hidden_size // arch.num_attention_heads
    attn = 2 * h * h + 2 * h * arch.num_key_value_heads * head_dim
    per_layer = attn + 3 * h * inter + 2 * h
    expected = vocab * h + arch.num_hidden_layers * per_layer + h  # tied lm_head
    assert count_parameters(model) == expected
    assert expected + (1024 - vocab) * arch.hidden_size == 918_656  # with the default 1024-token vocab
    assert model.lm_head.weight is model.model.embed_tokens.weight
    assert model.config.pad_token_id == tok.pad_token_id != model.config.eos_token_id == tok.eos_token_id
    assert state_sha256(build_model(arch, tok, seed=0)) == state_sha256(model)
    assert state_sha256(build_model(arch, tok, seed=1)) != state_sha256(model)


def test_pack_documents(tokenizer):
    docs = ["abc def", "Step 1: 2 + 2 = 4."]
    stream = [t for d in docs for t in tokenizer.encode(d) + [tokenizer.eos_token_id]]
    blocks = pack_documents(tokenizer, docs * 20, seq_len=16)
    assert blocks.dtype == torch.long and blocks.shape == (len(stream) * 20 // 16, 16)
    assert blocks.flatten().tolist() == (stream * 20)[: blocks.numel()]
    with pytest.raises(ValueError, match="fewer than one block"):
        pack_documents(tokenizer, ["a"], seq_len=64)


def test_lr_schedule():
    params = from_conf(PretrainParams, "model.pretrain", steps=100, warmup_steps=10, lr=1e-3)
    assert lr_at(1, params) == pytest.approx(1e-4)
    assert lr_at(10, params) == pytest.approx(1e-3)
    assert lr_at(100, params) == pytest.approx(1e-4)
    assert all(lr_at(s, params) >= lr_at(s + 1, params) for s in range(10, 100))


def test_pretrain_lowers_loss(trained):
    blocks, [(model, records), _] = trained
    assert [r["step"] for r in records] == list(range(1, 31))
    assert records[-1]["tokens"] == 30 * 8 * 64
    start, end = records[0]["loss"], sum(r["loss"] for r in records[-3:]) / 3
    assert start > 5.5  # ~ln(512) at init
    assert end < 0.7 * start, (start, end)  # observed: 6.10 -> 2.10 (ratio 0.34)
    assert evaluate_loss(model, blocks[:16], batch_size=8, device="cpu") < 0.7 * start


def test_pretrain_is_bit_identical(trained):
    _, [(m1, r1), (m2, r2)] = trained
    assert [r["loss"] for r in r1] == [r["loss"] for r in r2]
    assert state_sha256(m1) == state_sha256(m2)


# --------------------------------------------------------------------------------------------
# model folders and checkpoints


@pytest.fixture(scope="module")
def saved(tmp_path_factory, trained, tokenizer) -> Path:
    _, [(model, _), _] = trained
    out = tmp_path_factory.mktemp("models") / "base"
    out.mkdir()
    (out / "stale.txt").write_text("replaced atomically")
    save_model_folder(model, tokenizer, out, {"name": "tiny", "stage": "base", "pretrain": {"steps": 30}})
    return out


def test_save_model_folder_loads_back(saved, trained, tokenizer):
    _, [(model, _), _] = trained
    names = {p.name for p in saved.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "card.json", "README.md"} <= names
    assert "stale.txt" not in names and not list(saved.parent.glob(".base.*"))
    assert json.loads((saved / "card.json").read_text())["pretrain"] == {"steps": 30}
    readme = (saved / "README.md").read_text()
    assert readme.startswith("---\n") and "| `pretrain.steps` | 30 |" in readme
    loaded = AutoModelForCausalLM.from_pretrained(saved)
    tok = AutoTokenizer.from_pretrained(saved)
    text = "Problem: Tom has 3 apples. Step 1: 3 + 1 = 4."
    assert tok.encode(text) == tokenizer.encode(text)
    assert tok.pad_token_id == tokenizer.pad_token_id and tok.chat_template == tokenizer.chat_template
    ids = torch.tensor([tok.encode(text)])
    with torch.no_grad():
        assert torch.equal(loaded(ids).logits, model.eval()(ids).logits)


def test_validate_checkpoint(saved, trained):
    _, [(model, _), _] = trained
    info = validate_checkpoint(str(saved))
    assert info["path"] == str(saved.resolve())
    assert info["model_type"] == "llama" and info["architectures"] == ["LlamaForCausalLM"]
    assert info["vocab_size"] == len(AutoTokenizer.from_pretrained(saved)) == model.config.vocab_size
    assert info["num_parameters"] == count_parameters(model)
    assert info["identity"] == checkpoint_identity(saved)
    assert set(info["identity"]["files"]) >= {"config.json", "model.safetensors", "tokenizer.json"}


def test_validate_checkpoint_missing(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match=f"model.path={missing} does not exist"):
        validate_checkpoint(str(missing))


def test_validate_checkpoint_broken_config(tmp_path, saved):
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in saved.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    (broken / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="AutoConfig cannot load"):
        validate_checkpoint(str(broken))
    (broken / "config.json").write_bytes((saved / "config.json").read_bytes())
    (broken / "tokenizer.json").unlink()
    (broken / "tokenizer_config.json").write_text("{not json")
    with pytest.raises(ValueError, match="AutoTokenizer cannot load"):
        validate_checkpoint(str(broken))


def test_identity_of_large_files(tmp_path):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"\0" * (3 << 20))
    first = checkpoint_identity(tmp_path)
    assert set(first["files"]["model.safetensors"]) == {"size", "head_sha256", "tail_sha256"}
    with weights.open("r+b") as fh:
        fh.seek((3 << 20) - 10)
        fh.write(b"x")
    assert checkpoint_identity(tmp_path)["digest"] != first["digest"]


def test_pointer_and_resolve(tmp_path, saved):
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    for f in saved.iterdir():
        (ckpt / f.name).write_bytes(f.read_bytes())
    info = validate_checkpoint(str(ckpt))
    pointer = tmp_path / "models" / "base"
    write_pointer(pointer, info)
    assert sorted(p.name for p in pointer.iterdir()) == ["README.md", "card.json", "checkpoint.json"]
    assert json.loads((pointer / "checkpoint.json").read_text()) == json.loads(json.dumps(info))
    assert resolve_model_dir(pointer) == ckpt.resolve()
    assert resolve_model_dir(saved) == saved
    config = json.loads((ckpt / "config.json").read_text())
    config["rms_norm_eps"] = 1e-5
    (ckpt / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointChangedError, match=r"changed since `base` recorded it; rerun `dvc repro -f base`"):
        resolve_model_dir(pointer)
    with pytest.raises(FileNotFoundError, match="neither a model"):
        resolve_model_dir(tmp_path)
