"""The one place the importers convert Deforum's per-frame motion into kscript's units.

kscript's camera channels are rates per second and pans are a percent of the frame
(/work/UNITS.md, docs/language.md "Channels"); Deforum's are per frame, in pixels. The
conversion of each channel comes from the channel table `kscript.channels` (its
`Channel.from_frame`), so that the importers and the compiler can never disagree.
"""

from __future__ import annotations

from kscript.channels import CHANNELS


def conversion(channel: str) -> str:
    """How the channel's language value relates to its per-frame plan value: "same",
    "per_second", "factor_per_second", "width_percent_per_second", "height_percent_per_second"."""
    return CHANNELS[channel].conversion


def from_frame(channel: str, value: float, fps: float, width: int, height: int) -> float:
    """The language value of `channel` whose per-frame plan value is `value`."""
    return CHANNELS[channel].from_frame(value, fps, width, height)


def to_frame(channel: str, value: float, fps: float, width: int, height: int) -> float:
    """The per-frame plan value of a language value of `channel`."""
    return CHANNELS[channel].to_frame(value, fps, width, height)


def linear_factor(channel: str, fps: float, width: int, height: int) -> float | None:
    """The factor k with language value = k * per-frame value, for the linear conversions;
    None for zoom (a factor per second is the per-frame factor to the power fps)."""
    if conversion(channel) == "factor_per_second":
        return None
    return from_frame(channel, 1.0, fps, width, height)
