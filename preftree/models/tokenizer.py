"""Byte-level BPE tokenizer for the tiny from-scratch policy, with a chat template.

The tokenizer is trained with the ``tokenizers`` library on the pretraining corpus. It is
byte-level, so every string round-trips (``decode(encode(t)) == t``) and no unknown token exists.
With ``split_digits`` every number is cut into chunks of ``digits_per_token`` digits before BPE: one
token per digit (the usual choice for arithmetic: LLaMA, Mistral), or pairs (100 frequent tokens).
Special tokens take the first ids, in this order::

    <|pad|> <|bos|> <|end|> <|system|> <|user|> <|assistant|>

``<|end|>`` is the eos token and closes every chat turn; ``<|pad|>`` is a distinct pad token (reward
models read the last non-pad token, so pad must never equal eos).

The chat template renders ``<|role|>\\n{content}<|end|>\\n`` per message and wraps each assistant
``{content}<|end|>`` in ``{% generation %}`` so ``apply_chat_template(...,
return_assistant_tokens_mask=True, return_dict=True)`` yields the assistant-only loss mask.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from preftree.config.model import TokenizerParams

PAD = "<|pad|>"
BOS = "<|bos|>"
EOS = "<|end|>"
SYSTEM = "<|system|>"
USER = "<|user|>"
ASSISTANT = "<|assistant|>"
SPECIAL_TOKENS: tuple[str, ...] = (PAD, BOS, EOS, SYSTEM, USER, ASSISTANT)
ROLE_TOKENS: dict[str, str] = {"system": SYSTEM, "user": USER, "assistant": ASSISTANT}

# Newlines are emitted as expressions: transformers compiles templates with trim_blocks, which would
# eat a literal newline after a block tag.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{ '<|assistant|>\\n' }}{% generation %}{{ message['content'] ~ '<|end|>' }}{% endgeneration %}{{ '\\n' }}"
    "{%- elif message['role'] in ['user', 'system'] -%}"
    "{{ '<|' ~ message['role'] ~ '|>\\n' ~ message['content'] ~ '<|end|>\\n' }}"
    "{%- else -%}"
    "{{ raise_exception('unknown role: ' ~ message['role']) }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|assistant|>\\n' }}{%- endif -%}"
)


def digit_chunks(size: int) -> pre_tokenizers.PreTokenizer:
    """Cut every run of digits into chunks of ``size`` digits, left to right ("12345", 2: "12", "34", "5")."""
    if size == 1:
        return pre_tokenizers.Digits(individual_digits=True)
    return pre_tokenizers.Split(Regex(rf"[0-9]{{1,{size}}}"), behavior="isolated")


def _backend(params: TokenizerParams) -> tuple[Tokenizer, trainers.BpeTrainer]:
    """An untrained byte-level BPE backend and its trainer."""
    min_vocab = len(SPECIAL_TOKENS) + len(pre_tokenizers.ByteLevel.alphabet())
    if params.vocab_size < min_vocab:
        raise ValueError(f"model.tokenizer.vocab_size={params.vocab_size} is below the byte-level minimum {min_vocab}")
    tok = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    # Digits first: "1234" -> "1","2","3","4" before the byte-level split, so no merge spans two digits.
    # Each digit is then one frequent token instead of hundreds of rare number tokens, which a tiny model
    # can neither copy nor add (its number embeddings see a few examples each).
    tok.pre_tokenizer = (
        pre_tokenizers.Sequence([digit_chunks(params.digits_per_token), byte_level])
        if params.split_digits
        else byte_level
    )
    tok.decoder = decoders.ByteLevel()
    # Untrimmed offsets: every character maps to a token, which the assistant mask relies on.
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=params.vocab_size,
        min_frequency=params.min_frequency,
        special_tokens=[AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    return tok, trainer


def wrap_tokenizer(backend: Tokenizer) -> PreTrainedTokenizerFast:
    """Wrap a trained backend as a transformers tokenizer with special tokens and chat template."""
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        extra_special_tokens=[SYSTEM, USER, ASSISTANT],
        chat_template=CHAT_TEMPLATE,
        clean_up_tokenization_spaces=False,
        padding_side="right",
        add_bos_token=False,
        add_eos_token=False,
    )


def train_tokenizer(texts: Iterable[str], params: TokenizerParams) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on ``texts`` (deterministic: the same texts give the same vocab)."""
    tok, trainer = _backend(params)
    corpus = [t for t in texts if t]
    if not corpus:
        raise ValueError("train_tokenizer: the corpus is empty")
    tok.train_from_iterator(corpus, trainer=trainer, length=len(corpus))
    for i, token in enumerate(SPECIAL_TOKENS):
        got = tok.token_to_id(token)
        if got != i:  # pragma: no cover - guarded by the trainer's contract
            raise RuntimeError(f"special token {token} got id {got}, expected {i}")
    return wrap_tokenizer(tok)
