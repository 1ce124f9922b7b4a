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


def _device(text: str) -> str:
    from kscript.backends.device import device_name

    return device_name(text)

