"""The one generation engine below the agents, the evaluation and the reranking: chats in, sampled texts out.

* ``sampling``: ``Sampling`` (n, temperature, top_p, max_new_tokens, seed, stop), the ``Message`` type,
  the ``Generator`` interface, ``cut_at_stop`` and ``as_callable``;
* ``chat``: chat rendering with the tokenizer's template (``fold_system`` for templates without a system
  role, the left cut to the context);
* ``device``: ``resolve_device`` (``runtime.device`` -> a torch device);
* ``hf``: ``HFBatchGenerator`` on Hugging Face transformers (length-sorted batches, per-sample Gumbel noise);
* ``vllm``: ``VLLMGenerator`` on vLLM's offline engine (the optional extra; import-guarded);
* ``openai``: ``OpenAIGenerator`` on an OpenAI-compatible chat-completions endpoint;
* ``factory``: ``make_generator`` (hf | vllm) and ``shared_generator`` (one loaded model per process).

Import the submodules themselves: this file stays empty so that importing one engine loads no other.
"""
