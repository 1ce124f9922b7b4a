"""Options that `build` and `watch` share: watch renders exactly as build does."""

from __future__ import annotations

import argparse


def add_render_options(parser: argparse.ArgumentParser) -> None:
    """Output, backend, device and cache: the same words and defaults for both commands."""
    parser.add_argument("-o", "--output", metavar="OUT", help="output video or PNG folder (default: FILM with .mp4)")
    parser.add_argument("--preview", action="store_true", help="draft with the weightless preview painter whatever model the film names")
    parser.add_argument("--model", metavar="M", help="render with this model instead of the film's (folder, hub id or 'preview')")
    parser.add_argument("--device", metavar="D", type=_device,
                        help="cuda, cuda:N, mps or cpu for diffusers models (default: the best available; "
                        "the preview painter always runs on the CPU)")
    parser.add_argument("--cache", metavar="DIR", help="frame cache folder (default: .kscript/ beside the film)")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """How a diffusers model loads and runs (`kscript.backends.settings.ModelOptions`)."""
    from kscript.backends.settings import DTYPES

    parser.add_argument("--prior", metavar="M",
                        help="Kandinsky 2.2 prior to use instead of the film's prior: (folder or hub id)")
    parser.add_argument("--inpaint", metavar="M",
                        help="inpainting model instead of the film's inpaint: ('none' for none; builds paint "
                        "revealed bands with the model itself, so this is checked but not loaded)")
    parser.add_argument("--safety-checker", action="store_true",
                        help="keep an SD checkpoint's safety checker: a frame it flags stops the build "
                        "(default: off, as animation tools do, and the summary says so)")
    parser.add_argument("--dtype", choices=DTYPES, default="auto",
                        help="model precision (default auto: float16 on a GPU, float32 on the CPU)")
    parser.add_argument("--offload", action="store_true",
                        help="CPU offload (accelerate): each model part moves to the GPU only while it runs; "
                        "slower, for small GPUs")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="torch CPU threads (default: 1 for models under 100 M parameters, else all cores); "
                        "frames are byte-identical only at the same thread count")


def _device(text: str) -> str:
    from kscript.backends.device import device_name

    return device_name(text)

