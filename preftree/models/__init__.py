"""The policy model: byte-level BPE tokenizer, tiny Llama trained from scratch, model folders.

* :mod:`preftree.models.tokenizer` - ``train_tokenizer`` and the chat template.
* :mod:`preftree.models.tiny` - ``build_model`` (Llama or Mistral), ``pack_documents``, ``pretrain``,
  ``evaluate_loss``.
* :mod:`preftree.models.vocab_file` - ``load_vocab_tokenizer`` (a released SentencePiece vocabulary, e.g.
  Mistral's from the mistral-common wheel) and ``prepare_chat_tokenizer`` (pad token, [INST] template).
* :mod:`preftree.models.checkpoint` - ``save_model_folder``, ``validate_checkpoint``,
  ``checkpoint_identity``, ``write_pointer``, ``resolve_model_dir``.

Submodules are imported explicitly (no re-exports) so that importing the package stays cheap.
"""
