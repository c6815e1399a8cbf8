"""preftree.generation: batched HF sampling on a tiny random model, the vLLM mapping on a fake vllm module."""

from __future__ import annotations

import importlib.util
import re
import sys
import types
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from preftree.generation.factory import make_generator
from preftree.generation.hf import HFBatchGenerator
from preftree.generation.sampling import Sampling, as_callable, cut_at_stop
from preftree.generation.vllm import VLLMUnavailableError

WORDS = "add the two numbers then print the result and check every step of the answer".split()


def chat(i: int, words: int) -> list[dict[str, str]]:
    """A user turn of `words` words (distinct per i), sometimes after a system message."""
    text = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(words))
    head = [{"role": "system", "content": "Be brief."}] if i % 3 == 0 else []
    return [*head, {"role": "user", "content": f"{i}: {text}"}]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random tiny Llama with the project's chat tokenizer (as in test_agents), saved as an HF folder;
    weights drawn with std 0.2 so that greedy text depends on the prompt."""
    from preftree.compose import from_conf
    from preftree.config.model import ArchParams, TokenizerParams
    from preftree.models.tiny import build_model
    from preftree.models.tokenizer import train_tokenizer

    params = TokenizerParams(vocab_size=300, min_frequency=2, split_digits=True, digits_per_token=1)
    tok = train_tokenizer([" ".join(WORDS)] * 20 + [f"{i} {w}" for i, w in enumerate(WORDS)], params)
    arch = from_conf(ArchParams, "model.arch", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                     num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=128)  # fmt: skip
    model = build_model(arch, tok, seed=0)
    with torch.random.fork_rng(devices=[]):  # at the default std 0.02 greedy text repeats one token
        torch.manual_seed(1)
        for p in model.parameters():
            if p.dim() == 2:
                torch.nn.init.normal_(p, std=0.2)
    folder = tmp_path_factory.mktemp("tiny") / "model"
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def gen(tiny_model: Path) -> HFBatchGenerator:
    return HFBatchGenerator(tiny_model, device="cpu", batch_size=4, progress=False)


def plain_greedy(gen: HFBatchGenerator, messages: list[dict[str, str]], max_new_tokens: int) -> str:
    """An unbatched greedy ``model.generate`` on one prompt, decoded up to eos."""
    enc = gen.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = gen.model.generate(**enc, do_sample=False, max_new_tokens=max_new_tokens, pad_token_id=gen.pad_id)
    new = out[0, enc["input_ids"].shape[1] :].tolist()
    cut = next((p for p, t in enumerate(new) if t in gen.eos_ids), len(new))
    return gen.tokenizer.decode(new[:cut], skip_special_tokens=True)


def test_sampling_checks_and_coerces() -> None:
    assert Sampling(stop=["a", "b"]).stop == ("a", "b")  # type: ignore[arg-type]
    assert Sampling(stop="x").stop == ("x",)  # type: ignore[arg-type]
    assert Sampling().greedy and not Sampling(temperature=0.5).greedy
    for bad in ({"n": 0}, {"temperature": -1.0}, {"top_p": 0.0}, {"max_new_tokens": 0}, {"stop": ("",)}):
        with pytest.raises(ValueError):
            Sampling(**bad)  # type: ignore[arg-type]
    assert cut_at_stop("abcXdefYg", ("Y", "X")) == "abc" and cut_at_stop("abc", ("z",)) == "abc"


def test_greedy_equals_unbatched_generate(gen: HFBatchGenerator) -> None:
    assert re.fullmatch(r"hf:.*@[0-9a-f]{12}", gen.identity)
    prompts = [chat(i, words) for i, words in enumerate((3, 12, 1, 7, 20))]  # 2 batches of mixed lengths
    out = gen.generate(prompts, Sampling(n=2, max_new_tokens=12))
    assert [len(o) for o in out] == [2] * len(prompts)
    for p, (a, b) in zip(prompts, out, strict=True):
        assert a == b == plain_greedy(gen, p, 12)
    assert any(len(a) > 0 for a, _ in out)


def test_samples_depend_only_on_seed_index_and_prompt(tiny_model: Path, gen: HFBatchGenerator) -> None:
    prompts = [chat(i, words) for i, words in enumerate((4, 15, 2, 9, 6))]
    s = Sampling(n=3, temperature=1.0, top_p=0.95, max_new_tokens=10, seed=5)
    out = gen.generate(prompts, s)
    assert all(len(set(o)) > 1 for o in out)  # n different samples
    assert gen.generate(prompts, s) == out  # deterministic
    other = HFBatchGenerator(tiny_model, device="cpu", batch_size=7, progress=False)
    assert other.generate(prompts[::-1], s)[::-1] == out  # another batch size and order
    assert gen.generate(prompts[3:4], s) == out[3:4]  # alone
    assert gen.generate(prompts[1:2], Sampling(n=2, temperature=1.0, top_p=0.95, max_new_tokens=10, seed=5)) == [
        out[1][:2]
    ]  # sample i does not depend on n
    assert gen.generate(prompts[:1], Sampling(n=3, temperature=1.0, top_p=0.95, max_new_tokens=10, seed=6)) != out[:1]
    same = gen.generate([prompts[0], prompts[0]], s)
    assert same[0] == same[1] == out[0]  # a repeated prompt gets the same samples


def test_batches_are_sorted_by_length(gen: HFBatchGenerator, monkeypatch: pytest.MonkeyPatch) -> None:
    widths: list[list[int]] = []
    run = gen._run

    def spy(ids: list[list[int]], seeds: Any, s: Sampling, context: list[list[int]]) -> list[str]:
        widths.append([len(x) for x in ids])
        return run(ids, seeds, s, context)

    monkeypatch.setattr(gen, "_run", spy)
    prompts = [chat(i, words) for i, words in enumerate((1, 20, 2, 18, 3, 16, 4, 14))]
    out = gen.generate(prompts, Sampling(max_new_tokens=3))
    flat = [w for batch in widths for w in batch]
    assert flat == sorted(flat, reverse=True) and [len(b) for b in widths] == [4, 4]
    assert out == [[plain_greedy(gen, p, 3)] for p in prompts]  # back in input order


def test_a_trailing_assistant_message_is_continued(gen: HFBatchGenerator) -> None:
    user = chat(0, 3)
    prefill = "one two"
    rendered = gen.render([*user, {"role": "assistant", "content": prefill}])
    assert rendered == gen.render(user) + prefill  # the chat up to the reply, then the prefill as it is
    (texts,) = gen.generate([[*user, {"role": "assistant", "content": prefill}]], Sampling(max_new_tokens=4))
    enc = gen.tokenizer(rendered, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = gen.model.generate(**enc, do_sample=False, max_new_tokens=4, pad_token_id=gen.pad_id)
    new = out[0, enc["input_ids"].shape[1] :].tolist()
    cut = next((p for p, t in enumerate(new) if t in gen.eos_ids), len(new))
    assert texts == [gen.tokenizer.decode(new[:cut], skip_special_tokens=True)]  # the continuation only


def first_letter(text: str, start: int) -> str | None:
    """The first ASCII letter or digit at or after `start` (one byte, so never half of a character)."""
    return next((c for c in text[start:] if c.isascii() and c.isalnum()), None)


def test_stop_strings_cut_the_text_and_end_the_batch_early(gen: HFBatchGenerator) -> None:
    candidates = [chat(i, 5) for i in range(12)]
    for s in (Sampling(max_new_tokens=40), Sampling(n=2, temperature=1.0, max_new_tokens=40, seed=3)):
        ref = gen.generate(candidates, s)
        keep = [i for i, o in enumerate(ref) if all(first_letter(t[:16], 4) for t in o)][:4]  # early stops
        assert len(keep) >= 3, ref
        full = [t for i in keep for t in ref[i]]
        stops = tuple(sorted({first_letter(t[:16], 4) for t in full}))  # type: ignore[type-var]
        calls: list[int] = []
        hook = gen.model.register_forward_hook(lambda *_, c=calls: c.append(1))
        try:
            cut = [t for o in gen.generate([candidates[i] for i in keep], replace(s, stop=stops)) for t in o]
        finally:
            hook.remove()
        assert cut == [cut_at_stop(t, stops) for t in full] and any(cut)
        assert all(len(c) < len(t) for c, t in zip(cut, full, strict=True))
        batches = -(-len(full) // gen.batch_size)
        assert len(calls) < 30 * batches  # one forward per step: stopped well before max_new_tokens


def test_long_prompts_are_cut_from_the_left(gen: HFBatchGenerator, caplog: pytest.LogCaptureFixture) -> None:
    long = [{"role": "user", "content": " ".join(WORDS * 12)}]  # far beyond 128 - 16 tokens
    with caplog.at_level("WARNING", logger="preftree.generation.chat"):
        out = gen.generate([chat(1, 3), long], Sampling(n=2, temperature=0.7, max_new_tokens=16))
    assert "1 of 2 prompts over 112 tokens (context less max_new_tokens) are cut from the left" in caplog.text
    assert [len(o) for o in out] == [2, 2] and all(isinstance(t, str) for o in out for t in o)


def test_as_callable_and_progress(tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    g = make_generator(tiny_model, engine="hf", device="cpu", batch_size=2, progress=True)
    f = as_callable(g)
    assert f.identity == g.identity  # type: ignore[attr-defined]
    prompts = [chat(i, 4) for i in range(3)]
    out = f(prompts, 2, 0.8, 6, 3, ["\n"])
    assert out == g.generate(prompts, Sampling(n=2, temperature=0.8, max_new_tokens=6, seed=3, stop=("\n",)))
    assert f(prompts, n=1, temperature=0.0, max_new_tokens=6, seed=0, stop=None) == [
        [plain_greedy(g, p, 6)] for p in prompts
    ]
    assert "generate" in capsys.readouterr().err  # the tqdm bar over batches
    assert g.generate([], Sampling()) == []


def test_unknown_engine_and_bad_settings(tiny_model: Path) -> None:
    with pytest.raises(ValueError, match="unknown engine 'nope'"):
        make_generator(tiny_model, engine="nope")
    with pytest.raises(ValueError, match="batch_size"):
        make_generator(tiny_model, batch_size=0)
    with pytest.raises(ValueError, match="dtype"):
        make_generator(tiny_model, dtype="int8")


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")
def test_vllm_without_vllm_is_a_clear_error(tiny_model: Path) -> None:
    with pytest.raises(VLLMUnavailableError, match=r"pip install -e '\.\[gpu\]'"):
        make_generator(tiny_model, engine="vllm")


def test_vllm_maps_sampling_onto_a_fake_vllm(
    tiny_model: Path, gen: HFBatchGenerator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The vLLM generator against a stand-in module with vLLM's LLM / SamplingParams surface."""
    seen: dict[str, Any] = {}

    class SamplingParams:
        def __init__(self, **kwargs: Any) -> None:
            self.kwargs = kwargs

    class LLM:
        def __init__(self, **kwargs: Any) -> None:
            seen["llm"] = kwargs

        def get_tokenizer(self) -> Any:
            return gen.tokenizer

        def generate(self, prompts: list[dict], params: list[SamplingParams], use_tqdm: bool) -> list[Any]:
            seen["prompts"], seen["params"] = prompts, [p.kwargs for p in params]
            return [
                types.SimpleNamespace(outputs=[types.SimpleNamespace(text=f"{k}.{j}") for j in range(p.kwargs["n"])])
                for k, p in enumerate(params)
            ]

    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=LLM, SamplingParams=SamplingParams))
    v = make_generator(tiny_model, engine="vllm", dtype="bfloat16")
    assert v.identity == gen.identity.replace("hf:", "vllm:", 1)
    assert seen["llm"] == {"model": str(gen.folder), "dtype": "bfloat16"}
    prompts = [chat(0, 3), chat(1, 5)]
    out = v.generate(prompts, Sampling(n=3, temperature=0.6, top_p=0.9, max_new_tokens=7, seed=2, stop=("\n\n",)))
    assert out == [["0.0", "0.1", "0.2"], ["1.0", "1.1", "1.2"]]
    assert [p["prompt_token_ids"] for p in seen["prompts"]] == [
        gen.tokenizer.apply_chat_template(p, add_generation_prompt=True, return_dict=True)["input_ids"] for p in prompts
    ]
    first, second = seen["params"]
    assert {k: first[k] for k in ("n", "temperature", "top_p", "max_tokens", "stop")} == {
        "n": 3, "temperature": 0.6, "top_p": 0.9, "max_tokens": 7, "stop": ["\n\n"]
    }  # fmt: skip
    assert isinstance(first["seed"], int) and first["seed"] != second["seed"]  # per prompt
    assert v.generate(prompts[:1], Sampling(n=2))[0] == ["0.0", "0.0"]  # greedy: one sample, copied
    assert seen["params"][0]["n"] == 1 and seen["params"][0]["stop"] is None
