"""Builds on a local Ray instance (2 CPUs, the preview painter, 64x64, a few frames).

Ray starts once for the module (it costs seconds); each test starts its own workers. A
stand-in backend (`SlowPreview`: the preview painter's pixels, slowed down like a model)
lets a kill or a Ctrl-C land mid-chain; it travels to the workers by value.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'kscript[cluster]') : the cluster tests need it")

# One Ray instance for the whole module (pyproject's `--dist loadfile` keeps the module's
# tests in one xdist worker).

from kscript.backends.preview import PreviewBackend  # noqa: E402
from kscript.cluster.driver import Cluster, FilmJob  # noqa: E402
from kscript.compile import compile_source  # noqa: E402
from kscript.render.build import BuildOptions, build  # noqa: E402
from kscript.render.cache import FrameCache, address  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
KSCRIPT = Path(sys.executable).with_name("kscript")

FILM = """film "cluster test" {
  size: 64x64
  fps: 8
  seed: 3
  model: "preview"
  coherence: lab
}
scene park 6f {
  prompt "a misty autumn park"
  zoom: 1.03
}
scene street 5f {
  prompt "a neon city street at night"
  x: 1.5
  transition crossfade 3f
}
scene sea 4f {
  continue
  prompt "a stormy sea at dusk"
  angle: 1
}
"""


class SlowPreview(PreviewBackend):
    """The preview painter, taking `delay` seconds more per model call (same pixels, same
    fingerprint: its frames are the preview's)."""

    delay = 0.15

    def text2image(self, req):
        time.sleep(self.delay)
        return super().text2image(req)

    def img2img(self, image, req):
        time.sleep(self.delay)
        return super().img2img(image, req)


def slow_preview(plan):
    return SlowPreview()


SLOW_SITE = """
import time
from kscript.backends import preview
_real = preview.PreviewBackend.img2img
def _slow(self, image, req):
    if "slowly" in req.prompts[0][0]:  # only the Ctrl-C test's film
        time.sleep(0.1)
    return _real(self, image, req)
preview.PreviewBackend.img2img = _slow
"""


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    # Every Ray process of the module's instance runs this sitecustomize: it slows the painter
    # for one film, so that a Ctrl-C sent to a `kscript build` that joins the instance lands
    # mid-chain. The instance's processes inherit PYTHONPATH when it starts.
    site = tmp_path_factory.mktemp("site")
    (site / "sitecustomize.py").write_text(SLOW_SITE)
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(site)] + ([before] if before else []))
    try:
        for attempt in (1, 2):
            try:
                ray.init(address="local", num_cpus=2, include_dashboard=False, configure_logging=False,
                         log_to_driver=False)
                break
            except Exception:
                # Ray gives its raylet 30 s to start; a machine under heavy load can miss it.
                ray.shutdown()
                if attempt == 2:
                    raise
    finally:
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def pool(local_ray):
    """Two workers for the module's tests (starting an actor costs a second or two)."""
    with Cluster("local", workers=2) as cluster:
        yield cluster


@pytest.fixture
def cluster(pool):
    """The module's workers, with this test's stand-in backend and progress callback reset after."""
    yield pool
    pool.backend_factory = None
    pool.progress = None


def _film(tmp_path: Path, text: str = FILM):
    path = tmp_path / "film.kscene"
    path.write_text(text)
    return path, compile_source(text, str(path))


def _sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _local(plan, tmp_path: Path) -> str:
    report = build(plan, tmp_path / "local.mp4", BuildOptions(cache_dir=tmp_path / "local-cache"))
    return _sha(report.output)


def test_a_cluster_build_makes_the_same_video_bytes_as_a_local_build(tmp_path, cluster):
    path, plan = _film(tmp_path)
    report = build(plan, options=BuildOptions(cluster=cluster))  # the Python API's front door
    assert cluster.stats.workers == 2
    # park, and street+sea (sea continues street): two chains on two workers.
    assert sorted(cluster.stats.frames_sent[0]) == list(range(15))
    assert report.output == str(tmp_path / "film.mp4")
    assert report.frames_total == 15 and report.frames_rendered == 15 and report.frames_cached == 0
    assert report.model_calls["text2image"] == 2 and report.model_calls["img2img"] == 13
    assert _sha(tmp_path / "film.mp4") == _local(plan, tmp_path)


def test_a_film_with_cadence_in_betweens_makes_the_same_video_bytes_on_the_cluster(tmp_path, cluster):
    """In-betweens read the NEXT model frame: the worker makes it first, sends the frames in
    plan order, and the video is the local build's, byte for byte."""
    text = FILM.replace('  zoom: 1.03\n', '  zoom: 1.03\n  cadence: 3\n').replace('  x: 1.5\n', '  x: 1.5\n  cadence: 2\n')
    path, plan = _film(tmp_path, text)
    assert sum(len(f.inputs) == 2 for f in plan.frames) >= 4
    report = build(plan, options=BuildOptions(cluster=cluster))
    assert report.frames_rendered == len(plan.frames)
    assert sum(report.model_calls.values()) == sum(plan.model_calls().values())
    assert _sha(tmp_path / "film.mp4") == _local(plan, tmp_path)


def test_cached_frames_are_never_sent_to_a_worker(tmp_path, cluster):
    path, plan = _film(tmp_path)
    reference = _local(plan, tmp_path)
    cache = FrameCache(tmp_path / "local-cache")
    addr = [address(f.key, PreviewBackend().fingerprint) for f in plan.frames]
    # Lose the end of street (frames 9, 10) and all of sea (11-14); keep park and street's start.
    for i in range(9, 15):
        cache.path(addr[i]).unlink()
    report = cluster.build(plan, tmp_path / "film.mp4", BuildOptions(cache_dir=tmp_path / "local-cache"))
    assert cluster.stats.frames_sent == [list(range(9, 15))]
    assert sorted(cluster.stats.frames_rendered_by_workers[0]) == list(range(9, 15))
    # Resumed from street's frame 8, with street's first frame (6) as the colour reference.
    assert cluster.stats.starts_sent == 2
    assert report.frames_rendered == 6 and report.frames_cached == 9
    assert _sha(report.output) == reference

    again = cluster.build(plan, tmp_path / "again.mp4", BuildOptions(cache_dir=tmp_path / "local-cache"))
    assert cluster.stats.frames_sent == [[]] and again.frames_rendered == 0
    assert _sha(again.output) == reference


def test_a_worker_killed_mid_chain_costs_only_its_frame_in_flight(tmp_path, cluster):
    path, plan = _film(tmp_path)
    reference = _local(plan, tmp_path)
    street = [f.index for f in plan.frames if f.scene in ("street", "sea")]
    killed: dict[str, int] = {}
    received: list[int] = []

    def progress(p):
        if p.phase == "frame" and p.chain == "street+sea":
            received.append(p.done)
            if p.done == 3 and not killed:
                killed["pid"] = p.worker
                os.kill(p.worker, signal.SIGKILL)

    cluster.backend_factory, cluster.progress = slow_preview, progress
    report = cluster.build(plan, tmp_path / "film.mp4", BuildOptions(cache_dir=tmp_path / "cache"))
    stats = cluster.stats
    assert killed and stats.retries == 1
    sent = stats.frames_sent[0]
    # Every frame was received (and cached) exactly once: what came back before the kill
    # was kept, and the resumed task asked only for the frames that had not come back.
    assert stats.frames_received == 15 and report.frames_rendered == 15
    resumed = sent[15:]
    assert resumed and resumed == street[len(street) - len(resumed):]
    assert len(resumed) <= len(street) - 3
    assert _sha(report.output) == reference


def test_many_films_share_the_workers_with_a_seed_sweep_from_the_command_line(tmp_path, pool):
    from kscript.cli import main

    pool.stop_workers()  # the command starts its own two workers on the two CPUs

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, _ = _film(tmp_path / "a")
    b, _ = _film(tmp_path / "b", FILM.replace("seed: 3", "seed: 9").replace("autumn park", "pine forest"))
    assert main(["build", str(a), str(b), "--cluster", "local", "--seeds", "1,2", "-q",
                 "--report", str(tmp_path / "r.json")]) == 0
    outputs = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.glob("*/*.mp4"))
    assert outputs == ["a/film.seed1.mp4", "a/film.seed2.mp4", "b/film.seed1.mp4", "b/film.seed2.mp4"]
    # The sweep changes the film seed: different frames, different videos.
    assert _sha(tmp_path / "a/film.seed1.mp4") != _sha(tmp_path / "a/film.seed2.mp4")
    import json

    reports = json.loads((tmp_path / "r.json").read_text())
    assert [r["frames_rendered"] for r in reports] == [15, 15, 15, 15]


def _chain_workers() -> list[int]:
    """Process ids of the live kscript worker actors on this machine."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if cmdline.startswith(b"ray::ChainWorker") and state != "Z":
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(not KSCRIPT.exists(), reason="the kscript script is not installed beside this Python")
def test_ctrl_c_stops_every_worker_and_keeps_the_finished_frames(tmp_path, local_ray, pool):
    pool.stop_workers()  # the command's own two workers take the two CPUs
    deadline = time.monotonic() + 15
    while _chain_workers() and time.monotonic() < deadline:
        time.sleep(0.1)
    text = FILM.replace("6f", "16f").replace("5f", "12f").replace("a misty", "slowly, a misty").replace("a neon", "slowly, a neon")
    path, plan = _film(tmp_path, text)
    # Joins the module's Ray instance by its address (so no second Ray starts).
    proc = subprocess.Popen([str(KSCRIPT), "build", str(path), "--cluster", local_ray, "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    cache = FrameCache(tmp_path / ".kscript")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        if len(cache.entries()) >= 4:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()
    assert len(_chain_workers()) == 2
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 130, err.decode()
    assert "interrupted: finished frames are kept in the cache" in err.decode()
    assert "Traceback" not in err.decode()
    kept = len(cache.entries())
    assert 4 <= kept < len(plan.frames)
    assert not (tmp_path / "film.mp4").exists()
    deadline = time.monotonic() + 15
    while _chain_workers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _chain_workers() == []
    # What finished is kept, whole (a resumed build starts from it: see the tests above).
    assert all(cache.get(p.parent.name + p.stem) is not None for p, _, _ in cache.entries())


def test_watch_mode_renders_on_the_cluster_and_a_newer_save_cancels_without_losing_the_workers(tmp_path, cluster):
    from kscript.watch.pipeline import KscriptPipeline, RenderCancelled

    path, plan = _film(tmp_path)
    pipeline = KscriptPipeline(cluster=cluster)
    compiled = pipeline.compile(path)
    seen = []
    rendered = pipeline.render(compiled, progress=seen.append, should_cancel=lambda: False)
    assert rendered.frames_rendered == 15 and seen[-1].done == 15
    assert _sha(rendered.video) == _local(plan, tmp_path)

    # An edit to one scene, cancelled by a newer save once a frame of it has arrived.
    path.write_text(FILM.replace("a stormy sea", "slowly, a calm sea").replace("angle: 1", "angle: 1\n  zoom: 1.01"))
    edited = pipeline.compile(path)
    seen.clear()
    workers = list(cluster.workers)
    with pytest.raises(RenderCancelled):
        pipeline.render(edited, progress=seen.append, should_cancel=lambda: bool(seen))
    assert cluster.workers == workers  # kept, with their backends
    again = pipeline.render(edited, progress=seen.append, should_cancel=lambda: False)
    assert 0 < again.frames_rendered < 4  # sea's frames, less what arrived before the cancel


def test_a_tiny_stable_diffusion_model_renders_the_same_video_on_the_cluster(tmp_path, cluster):
    """A real diffusers pipeline (tiny random weights, saved in the real layout and loaded by
    each worker through `from_pretrained`) gives the same video bytes on the cluster as a
    local build, with the same model calls: the workers load the film's model, not a stand-in."""
    from tiny_pipelines import build_stable_diffusion

    model = build_stable_diffusion(tmp_path / "sd")
    text = (
        f'film "tiny sd on ray" {{ size: 64x64 fps: 4 seed: 5 model: "{model}" steps: 4 strength: 0.5 }}\n'
        'scene a 3f { prompt "a red square" zoom: 1.2 }\n'
        'scene b 2f { prompt "a blue circle" }\n'
    )
    path, plan = _film(tmp_path, text)
    report = build(plan, options=BuildOptions(cluster=cluster, threads=1))
    assert report.backend != "preview" and report.frames_rendered == 5
    assert sorted(cluster.stats.frames_sent[0]) == list(range(5))
    local = build(plan, tmp_path / "local.mp4", BuildOptions(cache_dir=tmp_path / "local-cache", threads=1))
    assert local.model_calls == report.model_calls and local.denoising_steps == report.denoising_steps
    assert _sha(report.output) == _sha(local.output)
