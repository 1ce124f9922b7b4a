"""`kscript build` as users run it: exit codes, report, outputs, and resuming after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kscript.cli import main
from kscript.plan import Motion
from kscript.render.cache import FrameCache
from plan_factory import SceneSpec, make_plan, three_scenes


def write_plan(path: Path, plan) -> Path:
    path.write_text(plan.to_json(), encoding="utf-8")
    return path


def test_build_writes_video_report_and_summary(tmp_path, capsys):
    plan = three_scenes()
    film = write_plan(tmp_path / "film.json", plan)
    calls = plan.model_calls()
    # 16 moving frames, each one model call: a masked "inpaint" call where the frame paints
    # its revealed band, else img2img
    assert calls["img2img"] + calls["inpaint"] == 16 and calls["inpaint"] > 0
    assert main(["build", str(film), "--report", str(tmp_path / "r.json")]) == 0
    assert (tmp_path / "film.mp4").is_file()
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["frames_total"] == 18 and report["frames_rendered"] == 18
    err = capsys.readouterr().err
    assert "18 rendered, 0 from cache" in err and "film.mp4" in err
    assert f"img2img {calls['img2img']}, inpaint {calls['inpaint']}" in err
    assert main(["build", str(film), "--quiet", "--report", str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["frames_cached"] == 18
    assert capsys.readouterr().err == ""


def test_output_formats_by_suffix(tmp_path):
    film = write_plan(tmp_path / "film.json", make_plan([SceneSpec("s", 3)]))
    assert main(["build", str(film), "-q", "-o", str(tmp_path / "v.webm")]) == 0
    assert main(["build", str(film), "-q", "-o", str(tmp_path / "pngs") + "/"]) == 0
    assert (tmp_path / "v.webm").is_file() and len(list((tmp_path / "pngs").iterdir())) == 3


@pytest.mark.parametrize(
    "extra,code,message",
    [
        (["--scene", "nope"], 2, "no scene 'nope'"),
        (["--cache-limit", "lots"], 2, "cannot read the size"),
        (["-o", "film.gif"], 2, "unknown suffix"),
        (["--crf", "99"], 2, "out of range"),
        (["--preset", "warp9"], 2, "unknown preset"),
    ],
)
def test_usage_errors_exit_2(tmp_path, capsys, extra, code, message):
    film = write_plan(tmp_path / "film.json", make_plan([SceneSpec("s", 2)]))
    assert main(["build", str(film), "-q", *extra]) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_missing_film_exits_2(tmp_path, capsys):
    assert main(["build", str(tmp_path / "missing.kscene")]) == 2
    assert "no such file: " in capsys.readouterr().err


def test_missing_model_exits_1_without_traceback(tmp_path, capsys):
    film = write_plan(tmp_path / "film.json", make_plan([SceneSpec("s", 2)], model=str(tmp_path / "no-model")))
    assert main(["build", str(film), "-q"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err
    assert not (tmp_path / "film.mp4").exists()
    # --preview drafts the same film without the model.
    assert main(["build", str(film), "-q", "--preview"]) == 0


# Slow the painter down (not its pixels) so that a kill lands mid-build.
SLOW_BUILD = (
    "import sys, time\n"
    "from kscript.backends import preview\n"
    "orig = preview.PreviewBackend.img2img\n"
    "def slow(self, image, req):\n"
    "    time.sleep(0.05)\n"
    "    return orig(self, image, req)\n"
    "preview.PreviewBackend.img2img = slow\n"
    "from kscript.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def test_a_build_killed_with_sigkill_resumes_from_its_finished_frames(tmp_path):
    plan = make_plan(
        [SceneSpec("a", 30, motion=lambda f: Motion(zoom=1.01 + 0.001 * f)),
         SceneSpec("b", 20, "stormy sea", continues=True, coherence="rgb")],
    )
    film = write_plan(tmp_path / "film.json", plan)
    frames_dir = tmp_path / ".kscript" / "frames"
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_BUILD, "build", str(film), "-q", "-o", str(tmp_path / "out") + "/"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    cache = FrameCache(tmp_path / ".kscript")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if frames_dir.is_dir() and len(cache.entries()) >= 12:
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    entries = cache.entries()  # whole entries only: a killed writer's temp file is not one
    finished = len(entries)
    assert 12 <= finished < 50, "the build was not killed mid-way"
    assert all(cache.get(p.parent.name + p.stem) is not None for p, _, _ in entries)  # none corrupt
    assert not (tmp_path / "out").exists()

    assert main(["build", str(film), "-q", "-o", str(tmp_path / "out") + "/", "--report", str(tmp_path / "r.json")]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["frames_rendered"] == 50 - finished
    assert report["frames_cached"] == finished

    assert main(["build", str(film), "-q", "--no-cache", "-o", str(tmp_path / "clean") + "/"]) == 0
    names = sorted(p.name for p in (tmp_path / "clean").iterdir())
    assert len(names) == 50
    assert all((tmp_path / "out" / n).read_bytes() == (tmp_path / "clean" / n).read_bytes() for n in names)


def test_ctrl_c_stops_cleanly_keeping_finished_frames_and_the_old_video(tmp_path, monkeypatch, capsys):
    from kscript.backends import preview

    film = write_plan(tmp_path / "film.json", three_scenes())
    assert main(["build", str(film), "-q", "--no-cache"]) == 0
    good = (tmp_path / "film.mp4").read_bytes()
    real = preview.PreviewBackend.img2img

    def interrupted(self, image, req):
        # the plan's moving frames make 5 img2img calls (the others paint their band with
        # one masked call): stop on the 4th
        if self.calls.img2img >= 3:
            raise KeyboardInterrupt
        return real(self, image, req)

    monkeypatch.setattr(preview.PreviewBackend, "img2img", interrupted)
    assert main(["build", str(film), "-q"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert (tmp_path / "film.mp4").read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == [".kscript", "film.json", "film.mp4"]
    monkeypatch.setattr(preview.PreviewBackend, "img2img", real)
    assert main(["build", str(film), "-q", "--report", str(tmp_path / "r.json")]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    # every frame before the one whose img2img call was interrupted was kept
    plain = [fr.index for fr in three_scenes().frames if fr.op in ("animate", "continue") and not fr.inpaint]
    assert report["frames_cached"] == plain[3] and report["frames_rendered"] == 18 - report["frames_cached"]


def test_progress_bar_follows_frames_and_steps():
    from kscript.commands.build import _Bar
    from kscript.render.executor import Progress

    with _Bar(3) as bar:
        bar(Progress("frame", 0, 3, 0))
        bar(Progress("step", 0, 3, 0, step=2, steps=4))
        bar(Progress("done", 1, 3, 0))
        task = bar.progress.tasks[bar.frames]
        steps = bar.progress.tasks[bar.steps]
        assert task.completed == 1 and task.total == 3
        assert steps.completed == 2 and steps.total == 4 and steps.visible


def test_one_scene_goes_beside_the_film_under_its_own_name(tmp_path):
    film = write_plan(tmp_path / "film.json", three_scenes())
    assert main(["build", str(film), "-q"]) == 0
    whole = (tmp_path / "film.mp4").read_bytes()
    assert main(["build", str(film), "-q", "--scene", "sea"]) == 0
    assert (tmp_path / "film.mp4").read_bytes() == whole
    import av

    with av.open(str(tmp_path / "film.sea.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 6


def test_an_mp4_build_killed_after_its_first_scene_resumes_with_that_scenes_segment(tmp_path):
    import av

    from kscript.render.segments import segment_frames

    plan = make_plan(
        [SceneSpec("a", 10), SceneSpec("b", 30, "stormy sea", continues=True, coherence="rgb")],
    )
    film = write_plan(tmp_path / "film.json", plan)
    segments_dir = tmp_path / ".kscript" / "segments"
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_BUILD, "build", str(film), "-q", "-o", str(tmp_path / "film.mp4")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if segments_dir.is_dir() and [p for p in segments_dir.glob("*.mp4") if not p.name.startswith(".")]:
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    whole = [p for p in segments_dir.glob("*.mp4") if not p.name.startswith(".")]  # not temporaries
    assert len(whole) == 1 and segment_frames(whole[0], 64, 64) == 10  # scene a, whole
    assert not (tmp_path / "film.mp4").exists()
    finished = len([e for e in FrameCache(tmp_path / ".kscript").entries() if e[0].suffix == ".frame"])

    report_path = tmp_path / "r.json"
    assert main(["build", str(film), "-q", "-o", str(tmp_path / "film.mp4"), "--report", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert report["segments_cached"] == 1 and report["segments_encoded"] == 1
    # Nothing finished is made again, and of scene a at most its last frame (b continues from
    # it; the cache writer may not have stored it before the kill): its segment is whole.
    assert report["frames_rendered"] <= min(40 - finished, 31)
    with av.open(str(tmp_path / "film.mp4")) as c:
        resumed = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert main(["build", str(film), "-q", "-o", str(tmp_path / "again.mp4"), "--cache", str(tmp_path / "fresh")]) == 0
    with av.open(str(tmp_path / "again.mp4")) as c:
        fresh = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    # The same frames, so the same segments: the resumed video is the uninterrupted one.
    assert len(resumed) == len(fresh) == 40 and all((a == b).all() for a, b in zip(resumed, fresh))


# -- outputs and reports that must not destroy what is not ours ----------------------------------


def test_a_frames_folder_holding_other_files_is_refused_before_rendering(tmp_path, capsys):
    film = write_plan(tmp_path / "film.json", make_plan([SceneSpec("s", 3)]))
    pics = tmp_path / "pics"
    pics.mkdir()
    (pics / "holiday.jpg").write_text("important")
    assert main(["build", str(film), "-q", "-o", str(pics) + "/"]) == 2
    err = capsys.readouterr().err
    assert "the folder holds other files (holiday.jpg)" in err and "Traceback" not in err
    assert (pics / "holiday.jpg").read_text() == "important"
    assert not (tmp_path / ".kscript").exists()  # refused before anything was rendered


def test_a_frames_folder_of_an_earlier_build_is_replaced_whole(tmp_path):
    film = write_plan(tmp_path / "film.json", make_plan([SceneSpec("s", 5)]))
    out = str(tmp_path / "frames") + "/"
    assert main(["build", str(film), "-q", "-o", out]) == 0
    assert len(list((tmp_path / "frames").iterdir())) == 5
    shorter = write_plan(tmp_path / "film.json", make_plan([SceneSpec("s", 3)]))
    assert main(["build", str(shorter), "-q", "-o", out]) == 0
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == [f"frame_{i:06d}.png" for i in range(3)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".kscript", "film.json", "frames"]  # no temporaries


@pytest.mark.parametrize("where", ["./", "the film's folder by another name"])
def test_the_working_folder_is_never_a_frames_output(tmp_path, monkeypatch, capsys, where):
    film = write_plan(tmp_path / "film.json", make_plan([SceneSpec("s", 2)]))
    monkeypatch.chdir(tmp_path)
    out = "./" if where == "./" else f"../{tmp_path.name}/"
    assert main(["build", "film.json", "-q", "-o", out]) == 2
    assert "it is the folder you are working in" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.json"]


@pytest.mark.parametrize(
    "output,message",
    [
        ("film.json/x.mp4", "'{d}/film.json' is a file, not a folder"),
        ("plain", "cannot write PNG frames to '{d}/plain': it is a file"),
        ("folder.mp4", "cannot write the video '{d}/folder.mp4': it is a folder"),
    ],
)
def test_output_paths_that_cannot_be_written_are_usage_errors(tmp_path, capsys, output, message):
    film = write_plan(tmp_path / "film.json", make_plan([SceneSpec("s", 2)]))
    (tmp_path / "plain").write_text("x")
    (tmp_path / "folder.mp4").mkdir()
    assert main(["build", str(film), "-q", "-o", str(tmp_path / output)]) == 2
    assert message.format(d=tmp_path) in capsys.readouterr().err


@pytest.mark.parametrize(
    "report,message",
    [
        ("film.kscene", "would replace a film"),
        ("film.mp4", "is the build's output"),
        ("adir", "is a folder"),
        ("plain/r.json", "'{d}/plain' is a file, not a folder"),
    ],
)
def test_a_report_that_would_replace_the_film_the_video_or_a_folder_is_refused(tmp_path, capsys, report, message):
    film = tmp_path / "film.kscene"
    film.write_text('film "r" { size: 64x64, fps: 8 }\nscene a 2f {\n  prompt "x"\n}\n')
    (tmp_path / "adir").mkdir()
    (tmp_path / "plain").write_text("x")
    assert main(["build", str(film), "-q", "--report", str(tmp_path / report)]) == 2
    assert message.format(d=tmp_path) in capsys.readouterr().err
    assert film.read_text().startswith("film")
    assert not (tmp_path / "film.mp4").exists()  # refused before the build


def test_a_report_in_a_new_folder_is_written(tmp_path):
    film = write_plan(tmp_path / "film.json", make_plan([SceneSpec("s", 2)]))
    assert main(["build", str(film), "-q", "--report", str(tmp_path / "reports" / "r.json")]) == 0
    assert json.loads((tmp_path / "reports" / "r.json").read_text())["frames_total"] == 2


def test_a_device_that_is_no_device_is_a_usage_error_for_every_backend(tmp_path, capsys):
    film = write_plan(tmp_path / "film.json", make_plan([SceneSpec("s", 2)]))
    with pytest.raises(SystemExit) as exit_:
        main(["build", str(film), "-q", "--device", "tpu"])
    assert exit_.value.code == 2
    assert "unknown device 'tpu'" in capsys.readouterr().err
    assert main(["build", str(film), "-q", "--device", "cpu"]) == 0  # the preview runs on the CPU anyway


def test_an_unknown_option_shows_the_commands_own_usage(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["build", "film.kscene", "--frobnicate"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: kscript build") and "unrecognized arguments: --frobnicate" in err


def test_a_plan_that_is_not_one_names_what_is_wrong(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"film": {"title": 3}}')
    assert main(["build", str(bad), "-q"]) == 2
    err = capsys.readouterr().err
    assert "film.title: Input should be a valid string" in err and "film.width: Field required" in err
    assert main(["check", str(bad)]) == 2
    assert "is JSON, not a .kscene film" in capsys.readouterr().err


def test_sigterm_stops_a_build_like_ctrl_c(tmp_path):
    plan = make_plan([SceneSpec("a", 40, motion=lambda f: Motion(zoom=1.01))])
    film = write_plan(tmp_path / "film.json", plan)
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_BUILD, "build", str(film), "-q"], stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )
    cache = FrameCache(tmp_path / ".kscript")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(cache.entries()) < 5:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert "terminated: finished frames are kept in the cache" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [".kscript", "film.json"]
    temporaries = [p for p in (tmp_path / ".kscript").rglob("*") if ".tmp" in p.name]
    assert temporaries == []


def test_a_preview_draft_never_replaces_the_models_video(tmp_path, capsys):
    film = tmp_path / "film.kscene"
    film.write_text('film "d" {\n  size: 64x64\n  fps: 8\n  model: "models/some-decoder"\n}\n'
                    'scene a 2f {\n  prompt "x"\n}\nscene b 2f {\n  prompt "y"\n}\n')
    (tmp_path / "film.mp4").write_bytes(b"the model's render")
    assert main(["build", str(film), "-q", "--preview"]) == 0
    assert (tmp_path / "film.mp4").read_bytes() == b"the model's render"
    assert (tmp_path / "film.preview.mp4").is_file()
    assert main(["build", str(film), "-q", "--preview", "--scene", "b"]) == 0
    assert (tmp_path / "film.b.preview.mp4").is_file()


@pytest.mark.parametrize("spelling", ["Preview", "PREVIEW", " preview "])
def test_preview_is_the_painter_however_it_is_spelt(tmp_path, capsys, spelling):
    film = tmp_path / "film.kscene"
    film.write_text(f'film "p" {{\n  size: 64x64\n  fps: 8\n  model: "{spelling}"\n}}\nscene a 2f {{\n  prompt "x"\n}}\n')
    assert main(["build", str(film)]) == 0
    assert "backend preview" in capsys.readouterr().err
    assert (tmp_path / "film.mp4").is_file()  # the film's own model is the painter: not a draft
    other = tmp_path / "other.kscene"
    other.write_text(film.read_text().replace(spelling, "models/x"))
    assert main(["build", str(other), "-q", "--model", spelling, "-o", str(tmp_path / "o.mp4")]) == 0
