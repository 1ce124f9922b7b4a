"""The interface every render backend implements: the preview painter and diffusers.

The executor (`kscript.render.executor`) owns the order of work, warps, masks, caching,
colour coherence and crossfades; a backend only turns requests into images. Images are
numpy arrays, height x width x 3, uint8, RGB. Masks are height x width float32 in 0..1,
1 where the backend must paint.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

# Called after each denoising step: (step, total). Raising from it cancels the call
# (the only way that works for every diffusers pipeline; Kandinsky's ignore `_interrupt`).
StepCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class Request:
    """What one model call needs, taken from one plan frame."""

    prompts: tuple[tuple[str, float], ...]  # (text, weight), weights sum to 1
    negative: str
    seed: int
    steps: int
    guidance: float
    strength: float
    width: int
    height: int
    on_step: StepCallback | None = field(default=None, compare=False)
    #: the camera's accumulated move from the chain's first frame (the last text2image) to
    #: this one: 9 floats, row-major, the homography taking that frame's pixels to this
    #: frame's (`kscript.geometry` conventions), composed by the executor from the plan's
    #: motions only. The preview painter draws its painting through it, so the painting
    #: moves with the camera; model backends ignore it.
    camera: tuple[float, ...] | None = None
    #: the seed of the chain's first frame (its text2image call), for the same reason
    origin_seed: int | None = None
    #: when the chain starts from an init image (`image "photo.png"`): that picture fitted
    #: to the film (RGB uint8), and the SHA-256 of its file, which the chain's keys hold.
    #: The preview painter paints from it (its layout moves with the camera, as a model's
    #: img2img keeps the photo's); model backends ignore both.
    origin_image: np.ndarray | None = field(default=None, compare=False, repr=False)
    origin_image_key: str | None = None
    #: the frame is a depth warp (`Frame.depth`): its picture moved with parallax, which
    #: `camera` (one homography) does not describe; the preview painter then pulls nothing
    #: toward a painting drawn through it (model backends ignore it)
    parallax: bool = False


@dataclass
class CallCounts:
    text2image: int = 0
    img2img: int = 0
    inpaint: int = 0
    prior: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"text2image": self.text2image, "img2img": self.img2img, "inpaint": self.inpaint, "prior": self.prior}


class Backend(ABC):
    """Turns requests into images. Subclasses: `PreviewBackend`, the diffusers backends."""

    #: a short name for messages and reports ("preview", "kandinsky2.2", "stable-diffusion")
    name: str = "backend"

    def __init__(self) -> None:
        self.calls = CallCounts()
        #: denoiser forwards by kind (one forward = one denoising step, a guidance batch
        #: once), counted by hooks on the UNets and the prior; the preview runs none
        self.steps = CallCounts()

    @property
    @abstractmethod
    def fingerprint(self) -> str:
        """Identifies everything besides the plan that changes the pixels (model ids, dtype,
        backend version). Part of every cache key, so a preview frame is never reused for a
        diffusers build of the same plan."""

    @property
    def has_inpaint(self) -> bool:
        """Whether `inpaint` paints with a model; else the executor fills the border itself
        and the img2img call redraws it."""
        return True

    #: told, in a few words, what the backend is doing while no frame is (loading a model
    #: from a folder or the hub, running the prior over the prompts): a first load from the
    #: hub can take minutes, and the user must see why. The executor points it at the
    #: build's progress display; silent by default.
    status: Callable[[str], None] | None = None

    def say(self, message: str) -> None:
        """Pass `message` to `status`, if anyone listens."""
        if self.status is not None:
            self.status(message)

    def load(self) -> None:
        """Load models; raise `kscript.errors.ModelError` naming what was looked for.
        Called once before any frame is rendered."""

    def embed_prompts(self, pairs: set[tuple[str, str]]) -> None:
        """Told, after `load` and before the first frame, every (prompt, negative) the frames
        to render will ask for: a backend may encode them all now and free the encoder
        (Kandinsky frees its prior). Default: nothing."""

    @abstractmethod
    def text2image(self, req: Request) -> np.ndarray: ...

    @abstractmethod
    def img2img(self, image: np.ndarray, req: Request) -> np.ndarray: ...

    @abstractmethod
    def inpaint(self, image: np.ndarray, mask: np.ndarray, req: Request) -> np.ndarray: ...

    def repaint(self, image: np.ndarray, mask: np.ndarray, req: Request) -> np.ndarray:
        """The outpainting call of a frame that paints its revealed band (`Frame.inpaint`):
        where `mask` is 1 painted anew, elsewhere redrawn at `req.strength`, as ONE model
        call costing what the frame's img2img call would (counted as one inpaint call).

        This default paints the band (`inpaint`) and then redraws the frame (`img2img`):
        right for the preview painter, which costs nothing; the diffusers backends make one
        masked img2img call instead (`DiffusersBackend.repaint`).
        """
        painted = self.inpaint(image, mask, req)
        out = self.img2img(painted, req)
        self.calls.img2img -= 1  # one outpainting call, counted as inpaint
        return out

    def close(self) -> None:
        """Release models and memory."""
