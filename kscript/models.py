"""Model names: the one fact about `model:` that every stage needs.

The checker (which values `model:` may take), the plan, the build and the backends all ask
whether a name means the weightless preview painter; it is answered here, upstream of all of
them, so that no early stage imports a later one to ask.
"""

from __future__ import annotations

#: the model name of the weightless preview painter (kscript/backends/preview.py)
PREVIEW_MODEL = "preview"


def is_preview_model(name: str | None) -> bool:
    """Whether a `model:` (or `--model`) names the weightless preview painter. Spelling
    is forgiven: "Preview" and " preview " are the painter too, never a model folder."""
    return name is not None and name.strip().lower() == PREVIEW_MODEL
