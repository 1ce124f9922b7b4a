"""Decoder denoising steps per second of video on Deforum-Kandinsky's default clip, and the
masks kscript outpaints with.

The clip: Deforum-Kandinsky's README example (github.com/ai-forever/deforum-kandinsky),
`animations=['live', 'right', 'right', 'right']`, one second each, 640x640 at 24 fps, with
its defaults `steps = 100`, `strength_schedule = "0: (0.13)"`, `diffusion_cadence = '2'`.
Deforum-Kandinsky makes the first frame with 100 steps, then an img2img call every second
frame at strength 0.13, `int(100 * 0.13) = 13` UNet forwards each, on a frame whose border
it fills by `replicate` padding (it never inpaints): its `max_frames` is 4 x 24 + 1 = 97, so
49 generations, 100 + 48 * 13 = 724 decoder steps in 4 s, 181 per second. That is the
budget. (kscript's 96 frames make 48 key frames: 100 + 47 * 13 at most.)

kscript renders the same film with the standard effects that reproduce those presets
(`live`, `pan_right`, docs/language.md) through `kscript.render.build.build` with a tiny
random-weight Kandinsky 2.2 saved in the real layout and loaded through kscript's own
`from_pretrained` path, at the clip's real size, and counts every forward of the decoder's
UNet with a hook on `UNet2DConditionModel.forward` (not the backend's own counter; a
guidance batch is one forward). The decoder is the light one
(`tests/tiny_pipelines.build_kandinsky_decoder(light=True)`: no attention blocks, a MoVQ
that scales by 8 as the real one does), so 640x640 is counted on a CPU in minutes; with
the test decoder's attention one 13-step call took about 53 s already at 256x256. The count does not
depend on the weights' architecture: it is what kscript's plan (which frames paint, their
steps and strength) and diffusers' scheduler ask the UNet to run, and the plan's estimate
and the build's report are printed beside it.

Every revealed band 8 px deep (`kscript.geometry.BAND_PX`) or more is painted by the
model: in one masked img2img call of the frame's own 13 steps that starts the band from
noise, so painting it costs nothing over the frame's img2img call. Before this, every
moving frame made a 100-step inpaint call before its img2img call: 1,352 decoder steps per
second on this clip.

Measured (1 torch thread, this 2-core machine):
    .venv/bin/python benchmarks/bench_outpaint_cost.py --size 640 --masks benchmarks/results/outpaint_masks_640
at load average 1.14 before, 2.02 after (`uptime`): 711 decoder steps counted by the hook
(report 711, plan estimate 711), 177.8 per second of video against 181; 11 frames paint a
band (bands 11-13 columns, 1.7-2.0 % of the frame); built in 161 s. At `--size 64` (load
1.07 / 1.15): the same 711 and 177.8 per second, but 1 frame paints (one 8-column band,
12.5 % of the frame). The steps are the same because a painting frame's one call has the
frame's own steps; the number of painting frames follows the frame width, since pans move
a percent of the frame (kscript/channels.py) and `BAND_PX` is a fixed 8 pixels. Output of
the 640 run: benchmarks/results/outpaint_cost_640.txt (not tracked: benchmarks/results/ is
in .gitignore).

Prints the steps per video second against 181, the frames that painted a band, the band
areas, and writes the first few masks as PNGs (white: painted by the model) to --masks.
Exits 1 when the steps per video second exceed 181.

Usage:
    .venv/bin/python benchmarks/bench_outpaint_cost.py [--size 640] [--threads 1] [--masks benchmarks/results/outpaint_masks]
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # tiny_pipelines lives with the tests

DEFORUM_STEPS_PER_SECOND = (100 + 48 * int(100 * 0.13)) / 4  # 181

FILM = """\
film "deforum default clip" {{
  size: {size}x{size}
  fps: 24
  seed: 1
  model: "{model}"
  steps: 100
  strength: 0.13
  cadence: 2
}}

scene winter 1s {{
  prompt "winter forest, snowflakes, Van Gogh style"
  effect live
}}

scene spring 1s {{
  continue
  prompt "spring forest, flowers, sun rays, Van Gogh style"
  effect pan_right
}}

scene summer 1s {{
  continue
  prompt "summer forest, lake, reflections on the water, summer sun, Van Gogh style"
  effect pan_right
}}

scene autumn 1s {{
  continue
  prompt "autumn forest, rain, Van Gogh style"
  effect pan_right
}}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=640)
    parser.add_argument("--masks", default=str(ROOT / "benchmarks" / "results" / "outpaint_masks"),
                        help="folder for the first few band masks as PNG")
    parser.add_argument("--keep", type=int, default=4, help="how many masks to save")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads for the build (kscript's BuildOptions.threads; default 1)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import numpy as np
    import torch
    from diffusers import PriorTransformer, UNet2DConditionModel
    from PIL import Image

    torch.set_num_threads(args.threads)  # the build sets it again, from BuildOptions.threads
    import kscript.compile as compile_module
    import kscript.render.build as build_module
    from kscript.compile.cost import plan_estimate
    from kscript.backends.kandinsky import KandinskyBackend
    from tiny_pipelines import build_kandinsky_decoder, build_kandinsky_prior

    counts = {"unet": 0, "prior": 0}
    for name, cls in (("unet", UNet2DConditionModel), ("prior", PriorTransformer)):
        original = cls.forward

        def wrapper(module, *a, _name=name, _original=original, **kw):
            counts[_name] += 1
            return _original(module, *a, **kw)

        cls.forward = functools.wraps(original)(wrapper)

    masks: list[tuple[int, np.ndarray]] = []
    original_repaint = KandinskyBackend.repaint

    def recording(self, image, mask, req):
        masks.append((req.seed, np.asarray(mask, dtype=np.float32).copy()))
        return original_repaint(self, image, mask, req)

    KandinskyBackend.repaint = recording

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_kandinsky_prior(root / "kandinsky-2-2-prior")
        build_kandinsky_decoder(root / "kandinsky-2-2-decoder", light=True)
        film = root / "clip.kscene"
        film.write_text(FILM.format(size=args.size, model=root / "kandinsky-2-2-decoder"), encoding="utf-8")
        plan = compile_module.compile_file(film)
        start = time.perf_counter()
        report = build_module.build(plan, root / "clip.mp4", build_module.BuildOptions(cache_dir=root / "cache",
                                                                                       threads=args.threads))
        seconds = time.perf_counter() - start
        estimate = plan_estimate(plan)

    video_s = report.video_seconds
    decoder = counts["unet"]
    painting = [f for f in plan.frames if f.inpaint]
    print(f"clip: {len(plan.frames)} frames, {video_s:g} s of video, {args.size}x{args.size}, built in {seconds:.1f} s "
          f"on {torch.get_num_threads()} torch thread(s), load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"decoder denoising steps: {decoder} counted by the UNet hook "
          f"(report {report.denoising_steps['total'] - report.denoising_steps['prior']}, "
          f"plan estimate {estimate.denoising_steps['total'] - estimate.denoising_steps['prior']})")
    print(f"decoder steps per video second: {decoder / video_s:.1f} (Deforum-Kandinsky: {DEFORUM_STEPS_PER_SECOND:.0f}; "
          f"kscript before: 1352)")
    print(f"prior steps: {counts['prior']} ({report.model_calls['prior']} prompts x 25; Deforum-Kandinsky runs "
          "its prior on every generated frame)")
    print(f"model calls: {report.model_calls}")
    print(f"frames that painted a band: {len(painting)} "
          f"(reveal = warps each band comes from: {[f.reveal for f in painting]})")
    areas = [float((m > 0.5).mean()) for _, m in masks]
    if areas:
        print(f"band areas (fraction of the frame repainted from noise): min {min(areas):.4f}, "
              f"mean {sum(areas) / len(areas):.4f}, max {max(areas):.4f}")
        widths = [int((m > 0.5).any(axis=0).sum()) for _, m in masks]
        print(f"band widths in columns: {widths}")
    out = Path(args.masks)
    out.mkdir(parents=True, exist_ok=True)
    for n, (_, mask) in enumerate(masks[: args.keep]):
        Image.fromarray((np.clip(mask, 0, 1) * 255).astype(np.uint8), "L").save(out / f"band_{n:02d}_frame{painting[n].index}.png")
    print(f"masks: {min(len(masks), args.keep)} written to {out}")
    return 0 if decoder / video_s <= DEFORUM_STEPS_PER_SECOND else 1


if __name__ == "__main__":
    raise SystemExit(main())
