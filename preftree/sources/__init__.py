"""Instruction sources: file / Hugging Face readers, per-dataset adapters, and the loader."""
