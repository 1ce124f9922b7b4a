"""The worker actor: keeps its backend loaded and renders chains, streaming each image back.

One actor per GPU (``num_gpus=1``) on a GPU cluster, one per CPU otherwise. An actor keeps
the plans it was sent and the backend it loaded between tasks, so the second chain of a
film (or the next film with the same model) costs no model load. `render` is a Ray
generator task: every chain image goes back to the driver the moment it exists, and the
driver caches it at once, so a worker that dies loses only the frame it was making.

Actors run two threads (``max_concurrency=2``): one renders (the driver sends one chain at a
time), the other takes `cancel`. They are started with ``max_restarts=-1`` (Ray starts a dead actor's process again, on
another node if its node is gone) and ``max_task_retries=0``: a failed chain task is not
re-run by Ray from its beginning, the driver resumes it from the last frame it received.

This module imports Ray; only `kscript.cluster.driver` imports it, and only on `--cluster`.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import ray

from kscript.plan import RenderPlan

#: plans an actor keeps (by id) between tasks; a film's chains share one
_PLANS_KEPT = 4


@dataclass(frozen=True)
class BackendSpec:
    """How a worker makes the backend of a build: `kscript.render.build.make_backend`'s
    options (the film's own model unless `preview`/`model` say otherwise), or a factory
    (a stand-in backend for tests and benchmarks; it must be importable or picklable)."""

    preview: bool = False
    model: str | None = None
    device: str | None = None
    base_dir: str | None = None
    factory: Callable[[RenderPlan], Any] | None = None


def _backend_key(spec: BackendSpec, plan: RenderPlan) -> tuple:
    # Everything of the film a backend may read (models, seed for Kandinsky's prior, size),
    # not what only names or times the film: films that differ in those share a backend.
    film = plan.film.model_dump(exclude={"title", "frame_count", "duration"})
    return (spec, tuple(sorted(film.items())))


class ChainWorker:
    """A Ray actor (see the module docstring); `kscript.cluster.driver` starts them."""

    def __init__(self) -> None:
        # `cancel` runs on the actor's second thread while `render` runs on the first.
        self._cancelled = threading.Event()
        self._token: str | None = None
        self._lock = threading.Lock()
        self._plans: dict[str, RenderPlan] = {}
        self._backend: Any = None
        self._backend_key: tuple | None = None
        self._loaded = False

    # -- what the driver asks -------------------------------------------------------------

    def describe(self, box: list, plan_id: str, spec: BackendSpec) -> dict[str, Any]:
        """The backend this worker would render `plan` with (name, cache fingerprint), made
        but not loaded, and where the worker runs (for progress and errors)."""
        backend = self._backend_for(self._plan(box, plan_id), spec)
        return {"name": backend.name, "fingerprint": backend.fingerprint, **self.where()}

    def where(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "host": socket.gethostname()}

    def render(
        self, box: list, plan_id: str, spec: BackendSpec, frames: list[int], start: dict[int, np.ndarray],
        token: str = "",
    ) -> Iterator[tuple]:
        """Render chain images `frames` of the plan, from the `start` images they read;
        `cancel(token)` stops it.

        Yields ``("frame", index, image)`` for each as it is made, then one
        ``("done", {"calls": ..., "steps": ..., "rendered": [...]})``.
        """
        from kscript.render.executor import Executor

        plan = self._plan(box, plan_id)
        backend = self._backend_for(plan, spec)
        if not self._loaded:
            backend.load()
            self._loaded = True
        before = backend.calls.as_dict()
        steps_before = backend.steps.as_dict()
        with self._lock:
            self._token = token
            self._cancelled.clear()
        # Checked at every frame boundary and model step: raises BuildCancelled.
        from kscript.render.build import BuildOptions, film_depth

        # the film's depth model, relative folders from the film's folder (loaded per task)
        depth = film_depth(plan, BuildOptions(base_dir=spec.base_dir), backend)
        executor = Executor(plan, backend, None, should_cancel=self._cancelled.is_set, depth=depth)
        rendered = []
        for index, image in executor.render_chain(list(frames), dict(start)):
            rendered.append(index)
            yield ("frame", index, image)
        after = backend.calls.as_dict()
        steps_after = backend.steps.as_dict()
        yield (
            "done",
            {
                "calls": {k: after[k] - before.get(k, 0) for k in after},
                "steps": {k: steps_after[k] - steps_before.get(k, 0) for k in steps_after},
                "rendered": rendered,
                **self.where(),
            },
        )

    def cancel(self, token: str) -> None:
        """Stop the chain task `token` at its next frame or model step (watch mode: a newer
        save), keeping the worker and its loaded model; the task raises BuildCancelled. A
        cancel that comes after its task ended does nothing to the next one."""
        with self._lock:
            if self._token == token:
                self._cancelled.set()

    # -- kept between tasks ---------------------------------------------------------------

    def _plan(self, box: list, plan_id: str) -> RenderPlan:
        # The plan travels in a list so that Ray does not fetch it for every task: an actor
        # fetches each plan once and keeps it for the film's other chains.
        plan = self._plans.get(plan_id)
        if plan is None:
            plan = ray.get(box[0])
            if len(self._plans) >= _PLANS_KEPT:
                self._plans.pop(next(iter(self._plans)))
            self._plans[plan_id] = plan
        return plan

    def _backend_for(self, plan: RenderPlan, spec: BackendSpec) -> Any:
        key = _backend_key(spec, plan)
        if self._backend is not None and self._backend_key == key:
            return self._backend
        if self._backend is not None:
            # One model in memory at a time: a GPU holds one Kandinsky or SD comfortably.
            self._backend.close()
            self._backend = None
        if spec.factory is not None:
            backend = spec.factory(plan)
        else:
            from kscript.render.build import BuildOptions, make_backend

            options = BuildOptions(preview=spec.preview, model=spec.model, device=spec.device, base_dir=spec.base_dir)
            backend = make_backend(plan, options)
        self._backend, self._backend_key, self._loaded = backend, key, False
        return backend


def actor_class(num_gpus: float, num_cpus: float) -> Any:
    """`ChainWorker` as a Ray actor class with these resources per actor."""
    return ray.remote(num_gpus=num_gpus, num_cpus=num_cpus, max_restarts=-1, max_task_retries=0,
                      max_concurrency=2)(ChainWorker)
