"""Thin DVC stage modules, one per stage: `python -m stages.<name>` (see dvc.yaml)."""
