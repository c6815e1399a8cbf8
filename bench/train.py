"""SFT training throughput: the stage's code path (preftree.train.sft.train_sft) against a plain trl
SFTTrainer script on the same model, data and config, in the same run, with and without packing.

    .venv/bin/python bench/train.py                         # CPU, a fresh tiny model built like models/base
    .venv/bin/python bench/train.py --steps 40 --repeats 3
    .venv/bin/python bench/train.py --device cuda --bf16 --model-size 1b --batch-size 8 --max-length 1024

Each measurement runs in a fresh subprocess (no import cache, allocator state or torch global flag
carries over from one side to the other), and the trials are interleaved (ours, plain, plain, ours,
...) so that load drift on a shared machine hits both sides alike. Throughput is non-pad training
tokens / seconds of ``trainer.train()`` (the same count on both sides: TrainingArguments'
``include_num_input_tokens_seen="non_padding"``), in wall seconds and in CPU seconds of the process
(with one thread the latter is what an idle core would take, so it is the robust figure on a loaded
machine). The table shows the best and median wall figures and the median per-CPU-second figure; the
ratio ours / plain should be ~1.0: the wrapper adds nothing inside the loop (the final losses must be
equal, as both run the same SFTTrainer configuration). ``total s`` is the whole call: for ours it
includes the two held-out loss evaluations and saving the folder + card, for plain load + trainer +
train + save.

``--model-size 1b`` builds a randomly initialised ~1B-parameter Llama (hidden 2048, 16 layers, GQA 32/8
heads, MLP 8192, the tiny tokenizer's vocabulary) for GPU runs; the table then adds MFU =
6 x n_params x tokens/s / (--peak-tflops x 1e12) (default 989: H100/H200 bf16 dense).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ARCH_1B = {
    "hidden_size": 2048,
    "intermediate_size": 8192,
    "num_hidden_layers": 16,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "max_position_embeddings": 4096,
    "rope_theta": 500000.0,
    "tie_word_embeddings": True,
}


# --------------------------------------------------------------------------------------------
# setup: data and model


def generated_sft(n: int, seed: int):
    """An SFT view (preftree.schema.SFT_SCHEMA) of n synthetic problems with correct solutions."""
    import polars as pl

    from preftree.schema import SFT_SCHEMA
    from preftree.sources.synthetic.problems import generate, render_solution

    rows = []
    for record in generate(n, seed=seed).iter_rows(named=True):
        response = render_solution(record, rng=random.Random(f"bench|{record['id']}"))
        rows.append(
            {
                "id": f"{record['id']}_1_1",
                "parent_id": record["id"],
                "task": record["task"],
                "dataset": record["dataset"],
                "instruction": record["instruction"],
                "response": response,
            }
        )
    return pl.DataFrame(rows, schema=SFT_SCHEMA)


def load_data(data: str | None, seed: int):
    import polars as pl

    folder = Path(data) if data else REPO / "data" / "tree" / "sft"
    if (folder / "train.parquet").is_file():
        train = pl.read_parquet(folder / "train.parquet")
        held = folder / "heldout.parquet"
        heldout = pl.read_parquet(held) if held.is_file() else train.head(32)
        return train, heldout, str(folder)
    if data:
        raise SystemExit(f"bench/train.py: {folder}/train.parquet does not exist")
    frame = generated_sft(732, seed)
    return frame.head(700), frame.tail(32), "generated (synthetic, 700 + 32 rows)"


def build_model_folder(out: Path, size: str, seed: int, tokenizer_from: str | None) -> None:
    """A fresh model folder: the tiny default arch (like models/base, untrained) or the ~1B config."""
    from preftree.compose import from_conf
    from preftree.config.model import ArchParams, TokenizerParams
    from preftree.models.checkpoint import save_model_folder
    from preftree.models.tiny import build_model
    from preftree.models.tokenizer import train_tokenizer
    from preftree.sources.synthetic.problems import pretraining_documents

    if tokenizer_from:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(tokenizer_from, local_files_only=True)
    else:
        docs = pretraining_documents(1000, seed=seed, min_steps=1, max_steps=5, correct_fraction=0.5)
        tokenizer = train_tokenizer(
            (t for d in docs for t in (d["instruction"], d["response"])), from_conf(TokenizerParams, "model.tokenizer")
        )
    arch = ArchParams(**ARCH_1B) if size == "1b" else from_conf(ArchParams, "model.arch")
    model = build_model(arch, tokenizer, seed=seed)
    save_model_folder(model, tokenizer, out, {"name": f"bench-{size}", "source": "random-init"})


# --------------------------------------------------------------------------------------------
# the two sides (each runs in its own process)


def run_ours(args: argparse.Namespace, train, heldout, packing: bool) -> dict:
    import trl  # noqa: F401 - imported before the clock starts, as in run_plain

    from preftree.compose import from_conf
    from preftree.config.runtime import RuntimeParams
    from preftree.config.train import SFTParams
    from preftree.train.sft import train_sft

    params = from_conf(SFTParams, "sft", optim=optim_params(args), packing=packing)
    runtime = from_conf(
        RuntimeParams, "runtime", device=args.device, bf16=args.bf16, progress=False, threads=args.threads
    )
    with tempfile.TemporaryDirectory(prefix="bench-sft-") as tmp:
        start = time.perf_counter()
        m = train_sft(
            Path(args.model), train, heldout, params, seed=args.seed, runtime=runtime, out_dir=Path(tmp) / "m", card={}
        )
        total = time.perf_counter() - start
    return {
        "tokens": m["train_tokens"],
        "train_s": m["train_seconds"],
        "total_s": total,
        "loss": m["train_loss_final"],
        "steps": m["train_steps"],
    }


def run_plain(args: argparse.Namespace, train, heldout, packing: bool) -> dict:
    """What one would write without preftree: load, build messages, SFTTrainer, train, save."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    del heldout
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(args.model, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(args.model, local_files_only=True, dtype=torch.float32)
    messages = [
        [{"role": "user", "content": i}, {"role": "assistant", "content": r}]
        for i, r in zip(train["instruction"].to_list(), train["response"].to_list(), strict=True)
    ]
    dataset = Dataset.from_dict({"messages": messages})
    with tempfile.TemporaryDirectory(prefix="bench-plain-") as tmp:
        config = SFTConfig(
            output_dir=tmp,
            learning_rate=args.lr,
            max_steps=args.steps,
            warmup_steps=0.1,
            lr_scheduler_type="cosine",
            per_device_train_batch_size=args.batch_size,
            logging_steps=max(1, args.steps // 4),
            seed=args.seed,
            bf16=args.bf16,
            gradient_checkpointing=False,
            use_cpu=args.device == "cpu",
            report_to=[],
            save_strategy="no",
            dataloader_num_workers=0,
            disable_tqdm=True,
            assistant_only_loss=True,
            packing=packing,
            max_length=args.max_length,
            include_num_input_tokens_seen="non_padding",
        )
        trainer = SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)
        t0 = time.perf_counter()
        trainer.train()
        train_s = time.perf_counter() - t0
        trainer.save_model(str(Path(tmp) / "m"))
    losses = [r["loss"] for r in trainer.state.log_history if "loss" in r]
    return {
        "tokens": int(trainer.state.num_input_tokens_seen),
        "train_s": train_s,
        "total_s": time.perf_counter() - start,
        "loss": losses[-1] if losses else None,
        "steps": trainer.state.global_step,
    }


def optim_params(args: argparse.Namespace):
    from preftree.compose import from_conf
    from preftree.config.train import OptimParams

    return from_conf(
        OptimParams,
        "sft.optim",
        lr=args.lr,
        max_steps=args.steps,
        warmup_ratio=0.1,
        scheduler="cosine",
        batch_size=args.batch_size,
        max_length=args.max_length,
        logging_steps=max(1, args.steps // 4),
    )


TRAIN_CLOCK: dict[str, float] = {}


def instrument_train() -> None:
    """Time ``SFTTrainer.train`` in CPU seconds too, identically on both sides: with one thread, CPU time is
    what the wall time would be on an idle core, so it survives other load on a shared machine."""
    import trl

    original = trl.SFTTrainer.train

    def train(self, *args, **kwargs):  # noqa: ANN001, ANN202 - mirrors Trainer.train
        cpu = time.process_time()
        try:
            return original(self, *args, **kwargs)
        finally:
            TRAIN_CLOCK["cpu_s"] = time.process_time() - cpu

    trl.SFTTrainer.train = train


def worker(args: argparse.Namespace) -> None:
    import torch

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    train, heldout, _ = load_data(args.data, args.seed)
    instrument_train()
    fn = run_ours if args.worker == "ours" else run_plain
    result = fn(args, train, heldout, bool(args.packing))
    result["cpu_s"] = TRAIN_CLOCK["cpu_s"]
    print("BENCH-RESULT " + json.dumps(result), flush=True)


# --------------------------------------------------------------------------------------------
# driver


def trial(args: argparse.Namespace, side: str, packing: bool) -> dict:
    cmd = [sys.executable, __file__, "--worker", side, "--packing", str(int(packing)), "--model", args.model]
    for name in ("steps", "batch_size", "max_length", "lr", "seed", "device", "threads"):
        cmd += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    if args.data:
        cmd += ["--data", args.data]
    if args.bf16:
        cmd.append("--bf16")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH-RESULT ")), None)
    if proc.returncode != 0 or line is None:
        sys.exit(f"bench/train.py: the {side} trial failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(line.removeprefix("BENCH-RESULT "))
    result["tps"] = result["tokens"] / result["train_s"]
    result["cpu_tps"] = result["tokens"] / result["cpu_s"]
    return result


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", help="model folder (default: a fresh tiny model built like models/base)")
    p.add_argument(
        "--data", help="folder with train.parquet [+ heldout.parquet] (default: data/tree/sft, else generated)"
    )
    p.add_argument("--model-size", choices=["tiny", "1b"], default="tiny", help="the fresh model's size (no --model)")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--max-length", type=int, default=512)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto (runtime.device)")
    p.add_argument("--bf16", action="store_true", help="bf16 mixed precision (GPU)")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (0 = torch's default); 1 by default: the tiny model's matmuls are too small "
        "to split, and on a shared 2-vCPU machine two threads spin on each other",
    )
    p.add_argument("--repeats", type=int, default=2, help="trials per cell, interleaved")
    p.add_argument("--packing", choices=["both", "0", "1"], default="both")
    p.add_argument("--peak-tflops", type=float, default=989.0, help="accelerator peak for MFU (H100/H200 bf16 dense)")
    p.add_argument("--worker", choices=["ours", "plain"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        args.packing = int(args.packing)
        worker(args)
        return

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    train, heldout, data_name = load_data(args.data, args.seed)
    tmp = tempfile.TemporaryDirectory(prefix="bench-train-")
    if not args.model:
        base = REPO / "models" / "base"
        tokenizer_from = str(base) if (base / "tokenizer.json").is_file() else None
        folder = Path(tmp.name) / f"model-{args.model_size}"
        print(f"building a fresh {args.model_size} model in {folder} ...", flush=True)
        build_model_folder(folder, args.model_size, args.seed, tokenizer_from)
        args.model = str(folder)
    from transformers import AutoConfig

    from preftree.models.checkpoint import validate_checkpoint

    n_params = validate_checkpoint(args.model)["num_parameters"]
    cfg = AutoConfig.from_pretrained(args.model, local_files_only=True)
    import torch

    print(
        f"model {args.model} ({cfg.model_type}, {n_params / 1e6:.2f}M params) | data {data_name} "
        f"({train.height} train / {heldout.height} held-out rows)\n"
        f"steps {args.steps}, batch {args.batch_size}, max_length {args.max_length}, device {args.device}, "
        f"bf16 {args.bf16}, threads {args.threads or torch.get_num_threads()} | torch {torch.__version__}, "
        f"python {platform.python_version()}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    packings = [False, True] if args.packing == "both" else [args.packing == "1"]
    results: dict[tuple[bool, str], list[dict]] = {(pk, s): [] for pk in packings for s in ("ours", "plain")}
    for r in range(args.repeats):
        for pk in packings:
            order = ("ours", "plain") if r % 2 == 0 else ("plain", "ours")
            for side in order:
                res = trial(args, side, pk)
                results[(pk, side)].append(res)
                print(
                    f"  trial {r + 1} packing={int(pk)} {side:5s}: {res['tps']:7.0f} tok/s"
                    f" ({res['cpu_tps']:5.0f} per CPU s)"
                    f"  train {res['train_s']:6.1f} s  total {res['total_s']:6.1f} s  loss {res['loss']:.4f}"
                    f"  (load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
    mfu = args.device != "cpu"
    head = (
        f"{'packing':>7} | {'side':>5} | {'best tok/s':>10} | {'median tok/s':>12} | {'tok/CPU s':>9} | "
        f"{'train s':>7} | {'total s':>7}"
    )
    head += f" | {'loss':>6}" + (" | MFU" if mfu else "")
    print("\n" + head + "\n" + "-" * len(head))
    for pk in packings:
        for side in ("ours", "plain"):
            rows = results[(pk, side)]
            best = max(rows, key=lambda x: x["tps"])
            line = (
                f"{int(pk):>7} | {side:>5} | {best['tps']:10.0f} | {statistics.median(x['tps'] for x in rows):12.0f} | "
                f"{statistics.median(x['cpu_tps'] for x in rows):9.0f} | "
                f"{best['train_s']:7.2f} | {best['total_s']:7.2f} | {best['loss']:6.4f}"
            )
            if mfu:
                line += f" | {6 * n_params * best['tps'] / (args.peak_tflops * 1e12):.1%}"
            print(line)
    print()
    for pk in packings:
        ours, plain = results[(pk, "ours")], results[(pk, "plain")]
        best = max(x["tps"] for x in ours) / max(x["tps"] for x in plain)
        med = statistics.median(x["tps"] for x in ours) / statistics.median(x["tps"] for x in plain)
        same = all(o["loss"] == ours[0]["loss"] for o in ours)
        cpu = statistics.median(x["cpu_tps"] for x in ours) / statistics.median(x["cpu_tps"] for x in plain)
        print(
            f"packing={int(pk)}: ours / plain tokens/s = {best:.3f} (best wall), {med:.3f} (median wall), "
            f"{cpu:.3f} (median per CPU s); "
            f"tokens per run {ours[0]['tokens']} vs {plain[0]['tokens']}; ours deterministic across trials: {same}"
        )
    tmp.cleanup()


if __name__ == "__main__":
    main()
