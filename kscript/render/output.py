"""Where a build's video goes and whether it may go there: output-path policy.

The output's kind is chosen by its path: ``.mp4``/``.mov``/``.mkv`` → H.264, ``.webm`` →
VP9, no suffix or a trailing ``/`` → a folder of ``frame_000000.png`` files. With no `-o`,
the video goes beside the film (`default_output`). Before anything is loaded or rendered,
`check_output` refuses a path that cannot be written or whose writing would destroy what is
not ours. Pure path logic: no PyAV, no pixels (the writers are in `kscript.render.encode`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from kscript.atomic import file_in_the_way
from kscript.errors import RenderError, UsageError

#: video suffixes and the codec each is written with
VIDEO_SUFFIXES = {".mp4": "h264", ".mov": "h264", ".mkv": "h264", ".webm": "vp9"}
#: the files of a PNG-frames output; a folder holding anything else is not ours to replace
FRAME_FILE = re.compile(r"frame_[0-9]{6}\.png")
_SUFFIX_HINT = "use .mp4 (H.264; also .mov, .mkv), .webm (VP9), or a folder name ending in / for PNG frames"


def output_kind(path: str | os.PathLike[str]) -> str:
    """"h264", "vp9" or "png" for an output path (see the module docstring).

    Raises:
        UsageError: an unknown suffix.
    """
    text = os.fspath(path)
    if text.endswith(("/", os.sep)):
        return "png"
    suffix = Path(text).suffix.lower()
    if not suffix:
        return "png"
    if suffix in VIDEO_SUFFIXES:
        return VIDEO_SUFFIXES[suffix]
    raise UsageError(f"cannot write a video to '{text}': unknown suffix '{suffix}'", hint=_SUFFIX_HINT)


def default_output(film: str | Path, scene: str | None = None, draft: bool | str = False) -> Path:
    """The video beside the film: `film.kscene` → `film.mp4`; one scene alone goes to
    `film.NAME.mp4`, a preview draft of a film that names a model (`--preview`, or
    `--model preview`) to `film.preview.mp4`, and a render with another model than the film's
    (`--model M`) to `film.M.mp4` (`draft` is then M's tag, `model_tag`), so none of them
    ever replaces the film's own video."""
    path = Path(film)
    tag = "preview" if draft is True else (draft or None)
    parts = [path.stem] + ([scene] if scene else []) + ([tag] if tag else [])
    return path.with_name(".".join(parts) + ".mp4")


def model_tag(model: str) -> str:
    """A model's short name for a file name: the last part of its path or hub id, in
    letters, digits, '-' and '_' (`models/sd-v1-5/` → `sd-v1-5`)."""
    import re

    last = model.strip().rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9_-]+", "-", last).strip("-") or "model"


def check_output(path: str | os.PathLike[str]) -> str:
    """Refuse, before anything is rendered, an output that cannot be written or that would
    destroy what is not ours; return its kind ("h264", "vp9" or "png").

    A folder of PNG frames is replaced whole when the build ends, so it must be new, empty,
    or hold nothing but `frame_NNNNNN.png` files (an earlier build's); it must not hold the
    working directory. (The film can never be the output: a video needs a video suffix,
    and a frames folder cannot be a file.)

    Raises:
        UsageError: the path cannot be an output (exit status 2, nothing rendered).
    """
    text = os.fspath(path)
    kind = output_kind(text)
    bare = text.rstrip("/" + os.sep) or "."
    target = Path(os.path.abspath(bare))
    blocking = file_in_the_way(bare)
    if blocking is not None:
        raise UsageError(f"cannot write '{text}': '{blocking}' is a file, not a folder",
                         hint="pass -o with a path inside a folder")
    if kind != "png":
        if target.is_dir():
            raise UsageError(f"cannot write the video '{text}': it is a folder", hint="pass -o with a file name")
        return kind
    if target.exists() and not target.is_dir():
        raise UsageError(f"cannot write PNG frames to '{text}': it is a file",
                         hint="name a new folder (ending in /) for PNG frames, or a video: .mp4, .mov, .mkv or .webm")
    if target.is_dir():
        cwd = Path(os.path.abspath(os.getcwd()))
        if cwd == target or target in cwd.parents:
            raise UsageError(f"cannot write PNG frames to '{text}': it is the folder you are working in",
                             hint="a frames folder is replaced whole: name a new folder, e.g. -o frames/")
        foreign = foreign_files(target)
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise UsageError(
                f"cannot write PNG frames to '{text}': the folder holds other files ({shown})",
                hint="a frames folder is replaced whole: name a new or empty folder, or one an earlier "
                "build wrote (only frame_NNNNNN.png files)",
            )
    return kind


def guard_frames_folder(target: Path) -> None:
    """The last guard before a frames folder is replaced, for a folder that changed since
    `check_output` looked: it must still be a folder holding only frames.

    Raises:
        RenderError: it is a file, or holds other files (which are kept).
    """
    if not target.is_dir():
        raise RenderError(f"cannot write PNG frames to '{target}': it is a file")
    foreign = foreign_files(target)
    if foreign:
        raise RenderError(f"cannot write PNG frames to '{target}': the folder holds other files ({foreign[0]})",
                          hint="name a new or empty folder")


def foreign_files(folder: Path) -> list[str]:
    """Names in a would-be frames folder that are not an earlier build's frames, sorted."""
    return sorted(e.name for e in os.scandir(folder) if not (FRAME_FILE.fullmatch(e.name) and e.is_file()))


def segmentable(output: str | os.PathLike[str]) -> bool:
    """Whether a film at `output` can be joined from cached scene segments (H.264 in an MP4
    or QuickTime container; see `kscript.render.segments`)."""
    return output_kind(output) == "h264" and Path(os.fspath(output)).suffix.lower() in (".mp4", ".mov")
