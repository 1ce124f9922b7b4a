"""The driver: sends chains to worker actors, caches every frame they stream back, encodes.

`Cluster` is a connection to Ray and a pool of `kscript.cluster.worker.ChainWorker`
actors. `Cluster.build_films` builds several films on the pool at once:

1. Each worker says which backend it would render a film with (its name and cache
   fingerprint: a GPU worker's differs from a CPU one's); they must agree.
2. Each film's plan is split into chains (`kscript.cluster.chains`); a chain's frames the
   cache already holds are never sent, and its uncached frames go to a worker with the
   images of the cached frames they are made from.
3. Chain tasks, longest first, go to free workers; each is a Ray generator task, and the
   driver stores every image it yields in the frame cache the moment it arrives.
4. When every chain of a film is done, the film is encoded here by `kscript.render.build`
   from the cache, exactly as a local build encodes it, so the video is byte-identical to a
   local build of the same plan on the same kind of device.

`BuildOptions.should_cancel` (watch mode: a newer save) stops the workers' chains at their
next frame or model step without stopping the workers, and raises `BuildCancelled`.

A worker that dies (killed, out of memory, its node lost) costs the frame it was making:
its chain goes back to the queue from the last image received, and Ray restarts the
actor. Ctrl-C (`KeyboardInterrupt`) kills every worker and keeps what was cached.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import ray
from ray.exceptions import RayError, RayTaskError

from kscript.cluster.chains import Chain, ChainWork, chain_work, needed, split_chains, start_frames
from kscript.cluster.worker import BackendSpec, actor_class
from kscript.errors import KscriptError, RenderError, UsageError
from kscript.backends.interface import Backend, Request
from kscript.plan import RenderPlan, content_key
from kscript.render.build import BuildOptions, BuildReport, build, film_path, frame_cache, resolve_output
from kscript.render.cache import BackgroundWriter, FrameCache, address
from kscript.render.executor import BuildCancelled, Executor, dependencies, depth_roots, select_frames

#: a chain whose worker died this many times is given up (the same frame keeps killing them)
MAX_FAILURES = 3
#: how long the driver waits for a stream at a time: also how soon Ctrl-C is seen
_POLL_SECONDS = 0.2
#: after this long waiting for workers to start, say so (a cluster with no free GPU/CPU)
_WAIT_NOTICE = 20.0
logger = logging.getLogger("kscript.cluster")


@dataclass(frozen=True)
class ChainProgress:
    """What a cluster progress callback receives.

    Attributes:
        phase: "start" (a worker took the chain), "frame" (a frame arrived and was
            cached), "retry" (its worker died; the chain goes back to the queue), "done"
            (every frame of the chain is cached), "film" (a film's video is written),
            "waiting" (workers have not started yet: `done` of `total` have).
        film: the film's place in the build (0 for the first).
        film_name: its file's name (or its title).
        chain: the chain's name (its scenes joined by "+").
        done, total: frames of the chain rendered in this build, and to render.
        worker: the process id of the worker (None when not known).
    """

    phase: str
    film: int
    film_name: str
    chain: str
    done: int = 0
    total: int = 0
    worker: int | None = None


ClusterProgressCallback = Callable[[ChainProgress], None]


@dataclass
class FilmJob:
    """One film of a `Cluster.build_films` call: a plan, its output, its build options."""

    plan: RenderPlan
    output: str | Path | None = None
    options: BuildOptions = field(default_factory=BuildOptions)


class CachedFrames(Backend):
    """The backend of the final encode: the cluster rendered every frame and the cache
    holds them all, so this one must never be asked for a picture. It carries the workers'
    name and fingerprint, so the encode reads the frames under their addresses and picks the
    same encoder settings as a local build with that backend."""

    def __init__(self, name: str, fingerprint: str) -> None:
        super().__init__()
        self.name = name
        self._fingerprint = fingerprint

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    def _missing(self, *_: Any) -> np.ndarray:
        raise RenderError(
            "a frame the cluster rendered is no longer in the frame cache",
            hint="is another build evicting entries of the same cache? build again (it resumes)",
        )

    def text2image(self, req: Request) -> np.ndarray:
        return self._missing()

    def img2img(self, image: np.ndarray, req: Request) -> np.ndarray:
        return self._missing()

    def inpaint(self, image: np.ndarray, mask: np.ndarray, req: Request) -> np.ndarray:
        return self._missing()


@dataclass
class _Film:
    """A film being built: its plan, cache, chains and what its workers reported."""

    number: int
    job: FilmJob
    output: str
    name: str
    spec: BackendSpec
    cache: FrameCache
    temporary: tempfile.TemporaryDirectory | None
    plan_id: str = ""
    box: list = field(default_factory=list)
    backend_name: str = ""
    fingerprint: str = ""
    addr: list[str] = field(default_factory=list)
    deps: list[list[int]] = field(default_factory=list)
    tasks_left: int = 0
    rendered: int = 0
    sent: list[int] = field(default_factory=list)
    worker_rendered: list[int] = field(default_factory=list)
    starts_sent: int = 0
    calls: Counter = field(default_factory=Counter)
    steps: Counter = field(default_factory=Counter)  # denoiser forwards by kind (kscript.compile.cost)
    retries: int = 0
    report: BuildReport | None = None


@dataclass
class _Task:
    """A chain's remaining work: frames still to render, and the images they start from."""

    film: _Film
    work: ChainWork
    start: dict[int, np.ndarray]
    failures: int = 0
    done: int = 0  # frames of work.render received so far
    total: int = 0
    worker: int | None = None
    token: str = ""  # names the running try, for `ChainWorker.cancel`
    #: images received that later frames of the chain still read (a resumed task's start)
    held: dict[int, np.ndarray] = field(default_factory=dict)
    last_use: dict[int, int] = field(default_factory=dict)


@dataclass
class ClusterStats:
    """What the workers did in one `build_films` call (for tests and benchmarks).

    Attributes:
        frames_sent: per film, the frames sent to workers to render (each once per try).
        frames_rendered_by_workers: per film, the frames that workers said they rendered in
            chain tasks that finished (a killed worker's frames are not in it).
        starts_sent: start images sent with chain tasks.
        retries: chain tasks resumed after their worker died.
        workers: worker actors used.
        driver_seconds: time the driver spent on each frame it received (fetch, cache
            write, bookkeeping), summed.
        frames_received: frames received from workers.
    """

    frames_sent: list[list[int]] = field(default_factory=list)
    frames_rendered_by_workers: list[list[int]] = field(default_factory=list)
    starts_sent: int = 0
    retries: int = 0
    workers: int = 0
    driver_seconds: float = 0.0
    frames_received: int = 0


class Cluster:
    """A Ray connection and a pool of worker actors, reusable for many builds.

    Args:
        address: "local" starts a Ray instance on this machine (stopped on `close`);
            "auto" or "HOST:PORT" (or "ray://HOST:PORT") joins a running cluster. When Ray
            is already initialised in this process, that connection is used.
        workers: the most worker actors to start (default: one per GPU of the cluster, or
            one per CPU when it has none). Never more than there are chains to render.
        gpus: give each worker one GPU (default: when the cluster has GPUs and the film
            names a model; the preview painter always runs on CPU workers).
        backend_factory: make every worker's backend with this (plan -> Backend) instead of
            the film's model: a stand-in for tests and benchmarks. It travels to the workers,
            so it must be importable there (or registered with Ray's cloudpickle by value).
        progress: called with a `ChainProgress` as chains start, frames arrive, chains end.
    """

    def __init__(
        self,
        address: str = "local",
        *,
        workers: int | None = None,
        gpus: bool | None = None,
        backend_factory: Callable[[RenderPlan], Backend] | None = None,
        progress: ClusterProgressCallback | None = None,
    ) -> None:
        if workers is not None and workers < 1:
            raise UsageError(f"--workers {workers}: a cluster build needs at least one worker")
        self.address = address
        self.max_workers = workers
        self.gpus = gpus
        self.backend_factory = backend_factory
        self.progress = progress
        self.workers: list[Any] = []
        self.pids: dict[int, int] = {}  # worker number -> process id, as last reported
        self.stats = ClusterStats()
        self._started_ray = False
        self._use_gpus: bool | None = None
        self._tokens = 0

    # -- connection and pool --------------------------------------------------------------

    def connect(self) -> None:
        """Join or start Ray (once)."""
        if ray.is_initialized():
            return
        kwargs: dict[str, Any] = {
            "include_dashboard": False,
            "configure_logging": False,
            "logging_level": logging.WARNING,
            "log_to_driver": False,
        }
        if self.address == "local":
            # Enough CPU slots for the workers asked for, even past the cores (a benchmark
            # of 4 CPU workers on 2 cores); Ray counts slots, the OS shares the cores.
            kwargs["num_cpus"] = max(os.cpu_count() or 1, self.max_workers or 0)
            address = "local"
        else:
            address = self.address
        try:
            ray.init(address=address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise UsageError(
                f"cannot join the Ray cluster at '{self.address}': {err}",
                hint="start one with `ray start --head` (then --cluster auto), or use --cluster local",
            ) from None
        self._started_ray = True

    def _ensure_workers(self, wanted: int, films: list[_Film]) -> None:
        self.connect()
        if self._use_gpus is None:
            resources = ray.cluster_resources()
            has_gpus = resources.get("GPU", 0) >= 1
            models = any(f.spec.factory is None and not _is_preview(f) for f in films)
            self._use_gpus = self.gpus if self.gpus is not None else (has_gpus and models)
            slots = resources.get("GPU", 0) if self._use_gpus else resources.get("CPU", 1)
            self._slots = max(int(slots), 1)
        limit = self.max_workers or self._slots
        wanted = min(max(wanted, 1), limit)
        self.stats.workers = max(len(self.workers), wanted)
        if len(self.workers) >= wanted:
            return
        cls = actor_class(num_gpus=1 if self._use_gpus else 0, num_cpus=0 if self._use_gpus else 1)
        while len(self.workers) < wanted:
            self.workers.append(cls.remote())

    def stop_workers(self) -> None:
        """Kill every worker now (Ctrl-C): what they were making is lost, the cache keeps the rest."""
        for worker in self.workers:
            try:
                ray.kill(worker, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self.workers = []
        self.pids = {}

    def close(self) -> None:
        """Stop the workers, and Ray itself when this `Cluster` started it."""
        if ray.is_initialized():
            self.stop_workers()
            if self._started_ray:
                ray.shutdown()
        self._started_ray = False

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- builds ---------------------------------------------------------------------------

    def build(self, plan: RenderPlan, output: str | Path | None = None, options: BuildOptions | None = None) -> BuildReport:
        """Build one film on the cluster (see `build_films`); also what
        `kscript.render.build.build` calls for `BuildOptions(cluster=this)`."""
        options = dataclasses.replace(options, cluster=None) if options is not None else BuildOptions()
        return self.build_films([FilmJob(plan, output, options)])[0]

    def build_films(self, jobs: list[FilmJob]) -> list[BuildReport]:
        """Render every film's uncached frames on the workers, then encode each film here.

        Chains of all the films share the workers, longest first, so N workers render N
        chains at once while there are N. Reports come back in the order of `jobs`.

        Raises:
            UsageError: a bad option, or Ray cannot be joined.
            ModelError: a worker cannot load the model (raised as the worker raised it).
            RenderError: workers disagree on the backend, or a chain failed `MAX_FAILURES` times.
            KeyboardInterrupt: Ctrl-C; every worker is stopped, finished frames stay cached.
        """
        self._began = time.perf_counter()
        self.stats = ClusterStats()
        jobs = [dataclasses.replace(job, options=dataclasses.replace(job.options, cluster=None)) for job in jobs]
        films = [self._film(n, job) for n, job in enumerate(jobs)]
        self.stats.frames_sent = [f.sent for f in films]
        self.stats.frames_rendered_by_workers = [f.worker_rendered for f in films]
        writers: dict[Path, BackgroundWriter] = {}
        try:
            tasks = self._plan_work(films)
            for film in films:
                writers.setdefault(film.cache.root, BackgroundWriter(film.cache, depth=16))
            self._run(films, tasks, writers)
            for writer in writers.values():
                writer.close()
            writers = {}
            for film in films:
                if film.report is None:  # nothing to render for it
                    self._encode(film)
        except BuildCancelled:
            for writer in writers.values():
                writer.close(raise_error=False)  # what arrived is cached; the workers stay
            raise
        except BaseException:
            for writer in writers.values():
                writer.close(raise_error=False)
            self.stop_workers()
            raise
        finally:
            for film in films:
                if film.temporary is not None:
                    film.temporary.cleanup()
        return [f.report for f in films]  # type: ignore[misc]

    # -- the steps ------------------------------------------------------------------------

    def _film(self, number: int, job: FilmJob) -> _Film:
        plan, options = job.plan, job.options
        source = film_path(plan)
        output = resolve_output(plan, job.output, options)
        select_frames(plan, options.scene)  # an unknown --scene fails before Ray starts
        temporary = None
        if options.no_cache:
            # The frames must meet somewhere between the workers and the encoder.
            temporary = tempfile.TemporaryDirectory(prefix="kscript-cluster-")
            cache = FrameCache(temporary.name, limit=None)
        else:
            cache = frame_cache(plan, output, options)
        spec = BackendSpec(
            preview=options.preview,
            model=options.model,
            device=options.device,
            base_dir=str(options.base_dir) if options.base_dir is not None else (str(source.parent) if source else None),
            factory=self.backend_factory,
        )
        name = source.name if source is not None else plan.film.title
        return _Film(number=number, job=job, output=output, name=name, spec=spec, cache=cache, temporary=temporary)

    def _plan_work(self, films: list[_Film]) -> deque[_Task]:
        """Ask the workers for each film's backend; list the chains to render, longest first."""
        if not films:
            return deque()
        chain_counts = []
        for film in films:
            roots = depth_roots(film.job.plan.frames)
            film.deps = [dependencies(fr, roots[i]) for i, fr in enumerate(film.job.plan.frames)]
            chain_counts.append(len(split_chains(film.job.plan, film.deps)))
        self._ensure_workers(sum(chain_counts), films)
        for film in films:
            film.plan_id = content_key([fr.key for fr in film.job.plan.frames] + [film.job.plan.film.model_dump(mode="json")])
            film.box = [ray.put(film.job.plan)]
        self._describe(films)
        tasks: list[_Task] = []
        for film in films:
            plan = film.job.plan
            film.addr = [address(fr.key, film.fingerprint) for fr in plan.frames]
            # Validates the plan's order and dependencies, as a local build would.
            Executor(plan, CachedFrames(film.backend_name, film.fingerprint), None, scene=film.job.options.scene)
            targets = select_frames(plan, film.job.options.scene)
            for chain in split_chains(plan, film.deps):
                task = self._chain_task(film, chain, targets)
                if task is not None:
                    tasks.append(task)
            film.tasks_left = sum(1 for t in tasks if t.film is film)
        tasks.sort(key=lambda t: -len(t.work.render))  # longest first: the last to finish is short
        if tasks:
            self._ensure_workers(len(tasks), films)
        return deque(tasks)

    def _describe(self, films: list[_Film]) -> None:
        """Every worker's backend for each film: name and fingerprint, which must agree."""
        calls = [(film, w, self.workers[w].describe.remote(film.box, film.plan_id, film.spec))
                 for film in films for w in range(len(self.workers))]
        waited = 0.0
        while True:  # the first answer of a worker is when it has started: say why we wait
            _, pending = ray.wait([ref for _, _, ref in calls], num_returns=len(calls), timeout=_WAIT_NOTICE)
            if not pending:
                break
            waited += _WAIT_NOTICE
            if self.progress is not None:
                self.progress(ChainProgress(phase="waiting", film=0, film_name=films[0].name, chain="",
                                            done=len(calls) - len(pending), total=len(calls)))
            logger.warning("kscript: waited %.0f s for %d of %d cluster workers to start: are the cluster's %s all in use?",
                           waited, len(pending), len(calls), "GPUs" if self._use_gpus else "CPUs")
        for film, w, ref in calls:
            info = self._get(ref)
            self.pids[w] = info["pid"]
            seen = (info["name"], info["fingerprint"])
            if not film.fingerprint:
                film.backend_name, film.fingerprint = seen
            elif seen != (film.backend_name, film.fingerprint):
                raise RenderError(
                    f"the cluster's workers would render {film.name} differently: {film.backend_name} "
                    f"({film.fingerprint}) on one, {seen[0]} ({seen[1]}) on {info['host']}",
                    hint="give every node the same devices, models and kscript, or pass --device",
                )

    def _chain_task(self, film: _Film, chain: Chain, targets: list[int]) -> _Task | None:
        cache = film.cache
        plan = film.job.plan
        cached = {i for i in chain.frames if cache.has(film.addr[i])}
        start: dict[int, np.ndarray] = {}
        while True:
            work = chain_work(chain, film.deps, needed(plan, film.deps, targets, cached), cached)
            if work is None:
                return None
            missing = [i for i in work.start if i not in start]
            for i in missing:
                image = cache.get(film.addr[i])
                if image is None or image.shape != (plan.film.height, plan.film.width, 3):
                    cached.discard(i)  # corrupt or vanished: render it too
                else:
                    start[i] = image
            if all(i in start for i in work.start):
                break
        start = {i: start[i] for i in work.start}
        return _Task(film=film, work=work, start=start, total=len(work.render))

    def _submit(self, task: _Task, w: int) -> Any:
        film = task.film
        remaining = task.work.render[task.done:]
        film.sent.extend(remaining)
        film.starts_sent += len(task.start)
        self.stats.starts_sent += len(task.start)
        task.last_use = {}
        for i in remaining:
            for d in film.deps[i]:
                task.last_use[d] = max(task.last_use.get(d, -1), i)
        task.held = dict(task.start)
        task.worker = self.pids.get(w)
        self._tokens += 1
        task.token = f"{id(self)}-{self._tokens}"
        self._report(task, "start")
        return self.workers[w].render.remote(film.box, film.plan_id, film.spec, remaining, task.start, task.token)

    def _run(self, films: list[_Film], queue: deque[_Task], writers: dict[Path, BackgroundWriter]) -> None:
        free = list(range(len(self.workers)))
        running: dict[Any, tuple[_Task, int]] = {}
        cancels = [f.job.options.should_cancel for f in films if f.job.options.should_cancel is not None]
        cancelled = False
        while queue or running:
            if not cancelled and any(c() for c in cancels):
                # Watch mode: a newer save. The workers stop at their next frame or step and
                # keep their models; the frames that still arrive are cached.
                cancelled = True
                queue.clear()
                for task, w in running.values():
                    self.workers[w].cancel.remote(task.token)
            while queue and free:
                task = queue.popleft()
                w = free.pop(0)
                running[self._submit(task, w)] = (task, w)
            ready, _ = ray.wait(list(running), num_returns=1, timeout=_POLL_SECONDS)
            for stream in ready:
                task, w = running[stream]
                try:
                    item = self._next(stream)
                except StopIteration:
                    del running[stream]
                    free.append(w)
                    continue
                except BuildCancelled:
                    del running[stream]
                    free.append(w)
                    if not cancelled:  # not ours (a stale cancel): go on from where it stopped
                        self._retry(task, RayError("the chain was cancelled"), queue)
                    continue
                except RayError as err:
                    del running[stream]
                    free.append(w)  # Ray restarts the actor; tasks sent meanwhile wait for it
                    self._retry(task, err, queue)
                    continue
                if item[0] == "frame":
                    self._received(task, item[1], item[2], writers[task.film.cache.root])
                elif not cancelled:
                    self._finished(task, item[1], w, writers)
        if cancelled:
            raise BuildCancelled()

    def _next(self, stream: Any) -> tuple:
        try:
            ref = next(stream)
        except StopIteration:
            raise
        return self._get(ref)

    def _get(self, ref: Any) -> Any:
        """`ray.get`, with a worker's own error (a model that cannot load) raised as itself."""
        try:
            return ray.get(ref)
        except RayTaskError as err:
            cause = getattr(err, "cause", None)
            if isinstance(cause, KscriptError):
                raise cause from None
            if isinstance(cause, RayError):
                raise cause from None
            raise RenderError(f"a cluster worker failed: {cause!r}" if cause is not None else str(err)) from None

    def _received(self, task: _Task, index: int, image: np.ndarray, writer: BackgroundWriter) -> None:
        began = time.perf_counter()
        film = task.film
        expected = task.work.render[task.done]
        if index != expected:
            raise RenderError(f"a worker sent frame {index} of {film.name} where frame {expected} was due")
        writer.put(film.addr[index], image)
        task.done += 1
        film.rendered += 1
        if task.last_use.get(index, -1) > index:
            task.held[index] = image
        for j in [j for j in task.held if task.last_use.get(j, -1) <= index]:
            del task.held[j]
        self.stats.frames_received += 1
        self.stats.driver_seconds += time.perf_counter() - began
        self._report(task, "frame")

    def _finished(self, task: _Task, info: dict, w: int, writers: dict[Path, BackgroundWriter]) -> None:
        film = task.film
        self.pids[w] = info["pid"]
        film.calls.update(info["calls"])
        film.worker_rendered.extend(info["rendered"])
        film.steps.update(info["steps"])
        film.tasks_left -= 1
        self._report(task, "done")
        if film.tasks_left == 0:
            # Encode this film now, while the workers go on with the other films' chains.
            writers[film.cache.root].close()
            writers[film.cache.root] = BackgroundWriter(film.cache, depth=16)
            self._encode(film)

    def _retry(self, task: _Task, err: RayError, queue: deque[_Task]) -> None:
        task.failures += 1
        film = task.film
        film.retries += 1
        self.stats.retries += 1
        if task.failures >= MAX_FAILURES:
            raise RenderError(
                f"chain {task.work.chain.name} of {film.name} lost its worker {task.failures} times "
                f"(last: {type(err).__name__}: {err})",
                hint="a frame that kills its worker each time: out of GPU memory? try a smaller size",
            )
        remaining = task.work.render[task.done:]
        task.start = {d: task.held[d] for d in start_frames(remaining, film.deps)}
        self._report(task, "retry")
        queue.appendleft(task)  # resumed first, from the last frame received

    def _encode(self, film: _Film) -> None:
        options = dataclasses.replace(
            film.job.options,
            cluster=None,
            backend=CachedFrames(film.backend_name, film.fingerprint),
            cache_dir=film.cache.root,
            no_cache=False,
            progress=None,
        )
        report = build(film.job.plan, film.output, options)
        calls = {k: int(film.calls.get(k, 0)) for k in ("text2image", "img2img", "inpaint", "prior")}
        steps = {k: int(film.steps.get(k, 0)) for k in ("text2image", "img2img", "inpaint", "prior")}
        steps["total"] = sum(steps.values())
        notes = list(report.notes)
        notes.append(
            f"rendered on a Ray cluster: {film.rendered} frames by {len(self.workers)} workers"
            + (f", {film.retries} chain(s) resumed after a worker died" if film.retries else "")
        )
        film.report = dataclasses.replace(
            report,
            frames_rendered=film.rendered,
            frames_cached=max(report.frames_cached - film.rendered, 0),
            model_calls=calls,
            denoising_steps=steps,
            seconds=round(time.perf_counter() - self._began, 4),
            notes=notes,
        )
        if film.temporary is not None:
            film.report.cache_dir = None
        self._report_film(film)

    # -- progress -------------------------------------------------------------------------

    def _report(self, task: _Task, phase: str) -> None:
        if self.progress is not None:
            self.progress(ChainProgress(phase=phase, film=task.film.number, film_name=task.film.name,
                                        chain=task.work.chain.name, done=task.done, total=task.total,
                                        worker=task.worker))

    def _report_film(self, film: _Film) -> None:
        if self.progress is not None:
            self.progress(ChainProgress(phase="film", film=film.number, film_name=film.name, chain=""))


def _is_preview(film: _Film) -> bool:
    from kscript.render.build import is_preview

    return is_preview(film.job.plan, film.job.options)
