"""Render on a Ray cluster: a film's independent chains (and many films) on many workers.

`kscript build FILM --cluster ADDRESS` and `build(plan, options=BuildOptions(cluster=Cluster(...)))`
land here (`kscript.cluster.driver.Cluster`; the render stage calls it, never imports it). The plan is split into chains (`chains`), each chain's uncached frames are a
Ray generator task on a worker actor that keeps its backend loaded (`worker`), and the
driver caches every frame as it streams back, then encodes the video locally from the
cache (`driver`). docs/cluster.md tells the whole story.

Importing this package does not import Ray (so `import kscript` never does): `driver` and
`worker` import it, and only a cluster build imports them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kscript.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    from kscript.cluster.driver import Cluster

__all__ = ["INSTALL_HINT", "cluster_for", "require_ray"]

INSTALL_HINT = 'install Ray with `pip install "kscript[cluster]"` (or `pip install ray`), or build without --cluster'


def require_ray() -> None:
    """Raise a `UsageError` (exit 2) that says how to install Ray when it is missing."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise UsageError("--cluster needs Ray, which is not installed", hint=INSTALL_HINT) from None


def cluster_for(cluster: "str | Cluster", **kwargs: object) -> tuple["Cluster", bool]:
    """A `Cluster` for `--cluster ADDRESS` (or the `Cluster` given, to reuse), and whether
    the caller made it (and so must close it)."""
    require_ray()
    from kscript.cluster.driver import Cluster

    if isinstance(cluster, Cluster):
        return cluster, False
    if not isinstance(cluster, str) or not cluster.strip():
        raise UsageError(f"--cluster {cluster!r}: name an address", hint="local, auto, or HOST:PORT of a running Ray cluster")
    return Cluster(cluster.strip(), **kwargs), True  # type: ignore[arg-type]
