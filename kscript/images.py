"""A scene's init image (`image "photo.png"`, docs/language.md "Init images"): read, check,
orient and fit it to the film.

Read at check time, so that a missing, unreadable, non-image or huge file is a diagnostic
(E038) at the `image` statement before anything renders, and again by the executor when a
frame needs it (the plan holds the path and the SHA-256 of the file's bytes; the executor
refuses a file whose bytes changed since the plan was made, as the cache is keyed on them):

- `read_image` reads the file through `kscript.source.read_bytes` (a regular file within
  `limits.MAX_IMAGE_BYTES`), hashes those very bytes, and decodes them with Pillow: PNG, JPEG
  or WebP only (by content, not by name), its width, height and pixel count checked from
  the header *before* decoding (`limits.MAX_IMAGE_SIDE`, `MAX_IMAGE_PIXELS`: a small file
  can hold a decompression bomb), then turned upright by its EXIF orientation (a phone's
  portrait photo is stored sideways with a tag saying so) and converted to 8-bit RGB
  (transparency is dropped, palette and grey pictures become RGB).
- `fit` makes the film's W x H from it: scaled to *cover* the frame (the smallest scale at
  which it fills both width and height, aspect kept), then cropped about its centre. A
  picture already W x H is used as it is, pixel for pixel.

Pillow is imported inside the functions: a film without an image never imports it.
Errors are `ImageError(reason)`; the checker reports them at the statement (E038).
"""

from __future__ import annotations

import hashlib
import io
import math
import os
from dataclasses import dataclass

import numpy as np

from kscript.limits import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE
from kscript.source import Unreadable, Unusable, read_bytes

#: the formats an init image may be in (Pillow's names), as docs/language.md lists them
FORMATS = ("PNG", "JPEG", "WEBP")


class ImageError(Unusable):
    """An init image that cannot be used; `reason` says why in a few words."""


@dataclass(frozen=True)
class Picture:
    """A decoded init image, upright: RGB uint8 pixels (H x W x 3) and the SHA-256 of the
    file's bytes."""

    pixels: np.ndarray
    sha256: str

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of the file's bytes as `read_image` hashes them (same limits)."""
    try:
        return hashlib.sha256(read_bytes(path, MAX_IMAGE_BYTES)).hexdigest()
    except Unreadable as err:
        raise ImageError(err.reason) from None


def read_image(path: str | os.PathLike[str]) -> Picture:
    """Read, check and decode the picture at `path` (see the module docstring).

    Raises:
        ImageError: missing, unreadable, too large a file, not PNG/JPEG/WebP, too many
            pixels, or damaged.
    """
    try:
        data = read_bytes(path, MAX_IMAGE_BYTES)
    except Unreadable as err:
        raise ImageError(err.reason) from None
    sha = hashlib.sha256(data).hexdigest()
    if sha in _PICTURES:  # the same bytes as before (watch mode checks again on every save)
        return _PICTURES[sha]
    picture = Picture(_decode(data), sha)
    _PICTURES.pop(sha, None)
    _PICTURES[sha] = picture
    while len(_PICTURES) > _KEEP:
        _PICTURES.pop(next(iter(_PICTURES)))
    return picture


# The last few pictures decoded in this process, by content (never by path).
_PICTURES: dict[str, Picture] = {}
_KEEP = 4


def _decode(data: bytes) -> np.ndarray:
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise ImageError("the file is empty")
    try:
        with Image.open(io.BytesIO(data), formats=list(FORMATS)) as im:
            w, h = im.size
            if w > MAX_IMAGE_SIDE or h > MAX_IMAGE_SIDE or w * h > MAX_IMAGE_PIXELS:
                raise ImageError(f"{w}x{h} pixels, more than an init image may have "
                                 f"({MAX_IMAGE_SIDE} a side and {MAX_IMAGE_PIXELS / 1e6:g} megapixels)")
            if w < 1 or h < 1:
                raise ImageError("it has no pixels")
            im.load()
            upright = ImageOps.exif_transpose(im)
            rgb = upright.convert("RGB")
            pixels = np.asarray(rgb, dtype=np.uint8).copy()
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError("not a PNG, JPEG or WebP picture") from None
    except Image.DecompressionBombError:
        raise ImageError("too many pixels to decode safely") from None
    except (OSError, ValueError, SyntaxError, EOFError) as err:  # truncated or damaged data
        raise ImageError(f"the picture is damaged ({str(err) or type(err).__name__})") from None
    return pixels


def fit(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """The picture as a `width` x `height` frame: scaled to cover it (aspect kept), then
    cropped about the centre; a picture of that size already is returned as it is."""
    h, w = pixels.shape[:2]
    if (w, h) == (width, height):
        return pixels
    from PIL import Image

    scale = max(width / w, height / h)
    nw, nh = max(width, math.ceil(w * scale - 1e-9)), max(height, math.ceil(h * scale - 1e-9))
    resized = np.asarray(Image.fromarray(pixels).resize((nw, nh), Image.LANCZOS), dtype=np.uint8)
    x0, y0 = (nw - width) // 2, (nh - height) // 2
    return np.ascontiguousarray(resized[y0:y0 + height, x0:x0 + width])
