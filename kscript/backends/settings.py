"""How the diffusers backends load and run their models, besides which models: the options
of `kscript build` that change memory, speed or what happens to a flagged frame, never the
plan. One table of them, read by the CLI, `BuildOptions` and the backends.
"""

from __future__ import annotations

from dataclasses import dataclass

#: --dtype values: "auto" is float16 on a GPU, float32 on the CPU (kscript.backends.device)
DTYPES = ("auto", "float16", "bfloat16", "float32")


@dataclass(frozen=True)
class ModelOptions:
    """Attributes:
        safety_checker: keep the checkpoint's safety checker (SD 1.x ships one). Off by
            default, as animation tools do: a flagged frame comes back black, and a black
            frame warped and redrawn would become the rest of the scene. When on, a flagged
            frame stops the build with a `ModelError` (finished frames stay cached).
        dtype: one of `DTYPES`; part of the fingerprint (other precision, other pixels).
        offload: `enable_model_cpu_offload` (accelerate): each module moves to the GPU only
            while it runs; slower, for GPUs too small for the whole model.
        threads: torch's CPU thread count (None: `choose_threads`). Output bytes depend on it.
    """

    safety_checker: bool = False
    dtype: str = "auto"
    offload: bool = False
    threads: int | None = None
