"""Facts about model names that every stage reads (the checker, the plan, the backends)."""

from __future__ import annotations


def is_preview_model(name: str | None) -> bool:
    """Whether a `model:` (or `--model`) names the weightless preview painter. Spelling
    is forgiven: "Preview" and " preview " are the painter too, never a model folder."""
    return name is not None and name.strip().lower() == "preview"
