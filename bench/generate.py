"""Generation throughput: preftree.generation's batched HF generator against a plain per-prompt
``model.generate`` loop and against batched ``model.generate`` calls, on the same model and chats, in
the same run.

    .venv/bin/python bench/generate.py                       # CPU, a fresh tiny model built like models/base
    .venv/bin/python bench/generate.py --prompts 128 --max-new-tokens 128 --batch-size 32 --repeats 3
    .venv/bin/python bench/generate.py --device cuda --model-size 1b --prompts 256 --batch-size 64
    .venv/bin/python bench/generate.py --temperature 0.7 --n 4     # sampling, n samples per prompt

The chats are synthetic problems (``preftree.sources.synthetic``) as single user turns, rendered with the
chat template on both sides. Plain: for each chat, ``tokenizer.apply_chat_template`` and one
``model.generate`` (``num_return_sequences=n``; greedy, or multinomial sampling with temperature and
top_p). Batched generate: the generator's path before ``preftree.generation.decode`` (the same
length-sorted, left-padded batches, one ``model.generate`` per batch, so every row runs until the batch's
last one finishes). Ours: ``make_generator(...).generate(chats, Sampling(...))`` (the same batches through
``decode``: a finished row leaves the batch; per-sample Gumbel noise). Throughput is generated tokens (up
to and including eos, so pad and the steps a finished row idles through do not count) / wall seconds of
the whole call, tokenising and decoding included. Each side runs once as a warm-up, then the trials are
interleaved (ours, plain, batched, batched, plain, ours, ...) so that load drift on a shared machine hits
all alike; the table shows the best and the median, and the ratios of the medians. Greedy texts must be
equal on all sides (checked): the batched generator decodes exactly what an unbatched greedy generate does.

A random model seldom emits eos, so most rows run to --max-new-tokens: the figure is then decoding speed,
not a property of the model, and leaving the batch early gains nothing. With a trained model
(``--model models/sft``, after ``make repro``) rows finish at different lengths, as in ``eval`` and
``rerank``. ``--model-size 1b`` builds a randomly initialised ~1B Llama for GPU runs (as in
bench/train.py, whose model builder this reuses).
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def build_model_folder(out: Path, size: str, seed: int) -> None:
    """bench/train.py's builder: the tiny default arch (like models/base, untrained) or the ~1B config."""
    spec = importlib.util.spec_from_file_location("bench_train", REPO / "bench" / "train.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.build_model_folder(out, size, seed, None)


def chats(n: int, seed: int) -> list[list[dict[str, str]]]:
    from preftree.sources.synthetic.problems import generate

    return [[{"role": "user", "content": r["instruction"]}] for r in generate(n, seed=seed).iter_rows(named=True)]


class TokenCounter:
    """Wraps ``model.generate``: adds up the new tokens of every returned row, up to and including eos."""

    def __init__(self, model: Any, eos_ids: set[int]) -> None:
        self.model, self.eos_ids, self.tokens = model, eos_ids, 0
        self.inner = model.generate

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        out = self.inner(*args, **kwargs)
        width = (kwargs.get("input_ids") if "input_ids" in kwargs else args[0]).shape[1]
        for row in out[:, width:].tolist():
            self.tokens += next((p + 1 for p, t in enumerate(row) if t in self.eos_ids), len(row))
        return out


def run_plain(
    model: Any, tokenizer: Any, prompts: list, args: argparse.Namespace, eos_ids: set[int]
) -> list[list[str]]:
    import torch

    sample = args.temperature > 0
    kwargs: dict[str, Any] = {"max_new_tokens": args.max_new_tokens, "do_sample": sample, "use_cache": True}
    kwargs |= {"num_return_sequences": args.n, "pad_token_id": tokenizer.pad_token_id}
    if sample:
        kwargs |= {"temperature": args.temperature, "top_p": args.top_p, "top_k": 0}
    texts = []
    with torch.no_grad():
        for messages in prompts:
            enc = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
            ).to(model.device)
            out = model.generate(**enc, **kwargs)
            rows = []
            for new in out[:, enc["input_ids"].shape[1] :].tolist():
                cut = next((p for p, t in enumerate(new) if t in eos_ids), len(new))
                rows.append(tokenizer.decode(new[:cut], skip_special_tokens=True))
            texts.append(rows if sample else rows[:1] * args.n)
    return texts


def run_batched_generate(
    model: Any, tokenizer: Any, gen: Any, prompts: list, args: argparse.Namespace, eos_ids: set[int]
) -> list[list[str]]:
    """The generator's path before preftree.generation.decode: the same length-sorted, left-padded
    batches of rows, each through one ``model.generate`` call (every row runs until the batch's last
    row finishes)."""
    import torch

    ids = gen.render.token_ids(prompts, None)
    sample = args.temperature > 0
    per = args.n if sample else 1
    rows = [(i, j) for i in sorted(range(len(prompts)), key=lambda i: -len(ids[i])) for j in range(per)]
    kwargs: dict[str, Any] = {"max_new_tokens": args.max_new_tokens, "do_sample": sample, "use_cache": True}
    kwargs |= {"pad_token_id": gen.pad_id, "eos_token_id": sorted(eos_ids)}
    if sample:
        kwargs |= {"temperature": args.temperature, "top_p": args.top_p, "top_k": 0}
    texts: dict[tuple[int, int], str] = {}
    with torch.no_grad():
        for k in range(0, len(rows), args.batch_size):
            batch = rows[k : k + args.batch_size]
            width = max(len(ids[i]) for i, _ in batch)
            input_ids = torch.tensor([[gen.pad_id] * (width - len(ids[i])) + ids[i] for i, _ in batch])
            mask = torch.tensor([[0] * (width - len(ids[i])) + [1] * len(ids[i]) for i, _ in batch])
            out = model.generate(input_ids=input_ids.to(model.device), attention_mask=mask.to(model.device), **kwargs)
            for row, new in zip(batch, out[:, width:].tolist(), strict=True):
                cut = next((p for p, t in enumerate(new) if t in eos_ids), len(new))
                texts[row] = tokenizer.decode(new[:cut], skip_special_tokens=True)
    return [[texts[i, j if sample else 0] for j in range(args.n)] for i in range(len(prompts))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="model folder (default: a fresh tiny model built like models/base)")
    p.add_argument("--model-size", choices=["tiny", "1b"], default="tiny", help="the fresh model's size (no --model)")
    p.add_argument("--prompts", type=int, default=64)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=16, help="rows per batch (ours)")
    p.add_argument("--n", type=int, default=1, help="samples per prompt")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (texts checked equal)")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto (runtime.device)")
    p.add_argument("--dtype", default="auto", help="auto | float32 | bfloat16 | float16")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (0 = torch's default); 1 by default, for steady figures on a shared machine",
    )
    p.add_argument("--repeats", type=int, default=2, help="trials per side, interleaved")
    args = p.parse_args()

    import torch

    from preftree.generation.factory import make_generator
    from preftree.generation.sampling import Sampling

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-gen-") as tmp:
        folder = Path(args.model) if args.model else Path(tmp) / "model"
        if not args.model:
            print(f"building a fresh {args.model_size} model in {folder} ...", flush=True)
            build_model_folder(folder, args.model_size, args.seed)
        gen: Any = make_generator(
            folder, engine="hf", device=args.device, batch_size=args.batch_size, dtype=args.dtype, progress=False
        )
        model, tokenizer, eos_ids = gen.model, gen.tokenizer, gen.eos_ids
        counter = TokenCounter(model, eos_ids)
        model.generate = counter  # the baselines call it: each trial's tokens are read off the counter
        import preftree.generation.hf as hf_module

        decode = hf_module.decode

        def counted_decode(*a: Any, **kw: Any) -> list[list[int]]:
            rows = decode(*a, **kw)  # each row ends at its finishing token (eos included)
            counter.tokens += sum(len(r) for r in rows)
            return rows

        hf_module.decode = counted_decode  # type: ignore[assignment]
        prompts = chats(args.prompts, args.seed)
        sampling = Sampling(
            n=args.n, temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens, seed=1
        )
        sides = {
            "ours (batched)": lambda: gen.generate(prompts, sampling),
            "plain loop": lambda: run_plain(model, tokenizer, prompts, args, eos_ids),
            "batched generate": lambda: run_batched_generate(model, tokenizer, gen, prompts, args, eos_ids),
        }
        lengths = [len(x) for x in gen.render.token_ids(prompts, None)]
        print(
            f"{platform.machine()} {platform.system()}, device {gen.device}, threads {torch.get_num_threads()} | "
            f"torch {torch.__version__} | {sum(p.numel() for p in model.parameters()):,} params | "
            f"{len(prompts)} prompts ({min(lengths)}..{max(lengths)} tokens), n {args.n}, "
            f"max_new_tokens {args.max_new_tokens}, temperature {args.temperature}, batch {args.batch_size} rows",
            flush=True,
        )
        results: dict[str, list[tuple[float, int]]] = {name: [] for name in sides}
        texts: dict[str, list[list[str]]] = {}
        names = list(sides)
        schedule = names + [name for r in range(args.repeats) for name in (names if r % 2 == 0 else names[::-1])]
        for k, name in enumerate(schedule):
            counter.tokens = 0
            if gen.device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            out = sides[name]()
            if gen.device.type == "cuda":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - start
            if k < len(sides):
                texts[name] = out  # the warm-up
                continue
            results[name].append((seconds, counter.tokens))
            print(
                f"  {name:<16} {counter.tokens:>7} tokens in {seconds:7.2f} s = {counter.tokens / seconds:9.1f} tok/s"
            )

    if args.temperature == 0:
        ours, plain, batched = texts.values()
        same = sum(a == b == c for a, b, c in zip(ours, plain, batched, strict=True))
        print(f"greedy texts equal on all three sides: {same}/{len(prompts)}")
    head = f"{'side':<16} {'tokens':>8} {'best tok/s':>11} {'median tok/s':>13} {'median s':>9}"
    print("\n" + head + "\n" + "-" * len(head))
    medians = {}
    for name, rows in results.items():
        rates = [t / s for s, t in rows]
        medians[name] = statistics.median(rates)
        print(
            f"{name:<16} {rows[0][1]:>8} {max(rates):>11.1f} {medians[name]:>13.1f} "
            f"{statistics.median(s for s, _ in rows):>9.2f}"
        )
    ours_rate, plain_rate, batched_rate = medians.values()
    print(f"\nratio ours / plain (median tok/s): {ours_rate / plain_rate:.2f}x")
    print(f"ratio ours / batched generate (median tok/s): {ours_rate / batched_rate:.2f}x")


if __name__ == "__main__":
    main()
