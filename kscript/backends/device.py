"""Where the models run, in which precision, and the random generators they draw from.

The first available of cuda, mps, cpu, unless the user names one (`--device`). Half
precision on a GPU (twice as fast, half the memory, the way these models are published),
full precision on the CPU (float16 matmuls there are slow or missing).

Generators live on the CPU whatever the device: diffusers draws the initial noise there
and moves it, so a seed gives the same noise on every machine, and a frame's pixels depend
on its seed, not on which GPU rendered it (up to the device's own arithmetic).
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from kscript.errors import UsageError

KNOWN_DEVICES = ("cuda", "mps", "cpu")
_DEVICE_NAME = re.compile(r"auto|cpu|mps|cuda(:[0-9]+)?")


def device_name(text: str) -> str:
    """`--device`'s value, checked for form only (no torch import, so it runs for every
    build, the preview's included): auto, cpu, mps, cuda or cuda:N. Whether that device is
    there is `choose_device`'s question, asked when a model is loaded."""
    if not _DEVICE_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"unknown device '{text}': use cuda, cuda:N (the N-th GPU), mps or cpu, or leave --device out"
        )
    return text


def choose_device(name: str | None = None) -> Any:
    """The `torch.device` to run on: `name` when given ("cpu", "cuda", "cuda:1", "mps"),
    else the first available of cuda, mps, cpu.

    Raises:
        UsageError: `name` is not a device, or that device is not available here.
    """
    import torch

    if name is None or name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise UsageError(
            f"unknown device '{name}'",
            hint=f"use one of {', '.join(KNOWN_DEVICES)} (or cuda:N for the N-th GPU), or leave --device out",
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(
                f"device '{name}' is not available: this torch has no CUDA GPU to use",
                hint="leave --device out to use what is there, or install a CUDA build of torch",
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UsageError(
                f"device '{name}' is not available: there are {torch.cuda.device_count()} CUDA devices",
                hint="count from cuda:0",
            )
    elif device.type == "mps":
        if not _mps_available():
            raise UsageError(f"device '{name}' is not available here", hint="mps needs Apple silicon; try cpu")
    elif device.type != "cpu":
        raise UsageError(f"device '{name}' is not supported", hint=f"use one of {', '.join(KNOWN_DEVICES)}")
    return device


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def choose_dtype(device: Any, name: str = "auto") -> Any:
    """`name` ("float16", "bfloat16", "float32"), or for "auto" float16 on a GPU and float32
    on the CPU."""
    import torch

    if name and name != "auto":
        return getattr(torch, name)
    return torch.float32 if device.type == "cpu" else torch.float16


def generator(seed: int) -> Any:
    """A CPU `torch.Generator` seeded with `seed` (a new one per call: the same request
    gives the same image whatever ran before it)."""
    import torch

    # torch seeds are unsigned 64-bit; fold anything else into that range deterministically.
    return torch.Generator(device="cpu").manual_seed(int(seed) % (2**64))


#: below this many weight bytes on disk (about 100 M float32 parameters) a model runs on one
#: CPU thread: measured on the 2-core machines, tiny models ran 6-7x faster on 1 thread than
#: on 2 (thread hand-offs cost more than the work); the full-size UNet ran 1.8x faster on 2.
SMALL_MODEL_BYTES = 400 * 1024 * 1024


def set_threads(threads: int | None, source: Any = None) -> int:
    """Set torch's intra-op CPU threads, deliberately: `threads` when given, else 1 for a
    model under `SMALL_MODEL_BYTES` of weights and every core for a bigger one. Returns the
    count. Frames are byte-identical across runs at the same count; another count changes
    the order of floating-point sums, so the bytes (not the picture) differ."""
    import os

    import torch

    if threads is None:
        size = 0
        folder = getattr(source, "folder", None)
        if folder is not None:
            try:
                size = sum(p.stat().st_size for p in folder.rglob("*.safetensors"))
                size += sum(p.stat().st_size for p in folder.rglob("*.bin"))
            except OSError:
                size = 0
        threads = 1 if 0 < size < SMALL_MODEL_BYTES else (os.cpu_count() or 1)
    threads = max(1, int(threads))
    torch.set_num_threads(threads)
    return threads


def planned_device(name: str | None, dtype: str = "auto") -> tuple[str, str]:
    """(device type, dtype name) that `choose_device`/`choose_dtype` will give, without
    importing torch when it is not imported yet: a named device is what it says; "auto" is
    cuda when the installed torch is a CUDA build (its `version.py`) and the NVIDIA driver is
    there, mps on Apple silicon, else cpu."""
    import sys

    if "torch" in sys.modules:
        device = choose_device(name)
        return device.type, str(choose_dtype(device, dtype))
    if name and name != "auto":
        kind = name.split(":", 1)[0]
    else:
        kind = "cpu"
        import importlib.util
        import os
        import platform
        import re as _re

        spec = importlib.util.find_spec("torch")
        built_cuda = False
        if spec is not None and spec.origin:
            try:
                text = open(os.path.join(os.path.dirname(spec.origin), "version.py"), encoding="utf-8").read()
                built_cuda = bool(_re.search(r"^cuda\b[^=]*=\s*['\"]", text, _re.M))
            except OSError:
                built_cuda = False
        if built_cuda and (os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidiactl")):
            kind = "cuda"
        elif sys.platform == "darwin" and platform.machine() == "arm64":
            kind = "mps"
    if dtype and dtype != "auto":
        return kind, f"torch.{dtype}"
    return kind, "torch.float32" if kind == "cpu" else "torch.float16"
