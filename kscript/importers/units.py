"""The one place the importers convert Deforum's per-frame motion into kscript's units.

kscript's camera channels are rates per second and pans are a percent of the frame
(/work/UNITS.md, docs/language.md "Channels"); Deforum's are per frame, in pixels. The
conversion of each channel comes from the channel table `kscript.channels` (its
`Channel.from_frame`), so that the importers and the compiler can never disagree.
"""

from __future__ import annotations

# Until the channel table (kscript/channels.py) is on main: the same conversions, from
# /work/UNITS.md. Removed when it lands.
_LOCAL = {
    "zoom": "factor_per_second", "angle": "per_second", "x": "width_percent_per_second",
    "y": "height_percent_per_second", "turn": "per_second", "tilt": "per_second",
}


def conversion(channel: str) -> str:
    """How the channel's language value relates to its per-frame plan value: "same",
    "per_second", "factor_per_second", "width_percent_per_second", "height_percent_per_second"."""
    return _LOCAL.get(channel, "same")


def from_frame(channel: str, value: float, fps: float, width: int, height: int) -> float:
    """The language value of `channel` whose per-frame plan value is `value`."""
    c = conversion(channel)
    if c == "factor_per_second":
        return value**fps
    if c == "per_second":
        return value * fps
    if c == "width_percent_per_second":
        return value * 100.0 * fps / width
    if c == "height_percent_per_second":
        return value * 100.0 * fps / height
    return value


def to_frame(channel: str, value: float, fps: float, width: int, height: int) -> float:
    """The per-frame plan value of a language value of `channel`."""
    c = conversion(channel)
    if c == "factor_per_second":
        return value ** (1.0 / fps)
    if c == "per_second":
        return value / fps
    if c == "width_percent_per_second":
        return value / 100.0 * width / fps
    if c == "height_percent_per_second":
        return value / 100.0 * height / fps
    return value


def linear_factor(channel: str, fps: float, width: int, height: int) -> float | None:
    """The factor k with language value = k * per-frame value, for the linear conversions;
    None for zoom (a factor per second is the per-frame factor to the power fps)."""
    if conversion(channel) == "factor_per_second":
        return None
    return from_frame(channel, 1.0, fps, width, height)
