"""The command line answers --help for every command without loading heavy libraries."""

import subprocess
import sys

import pytest

from kscript.cli import COMMANDS, main


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert command in capsys.readouterr().out


def test_help_imports_no_heavy_library():
    code = (
        "import sys; from kscript.cli import build_parser; build_parser(); "
        "heavy = [m for m in ('torch', 'diffusers', 'av', 'cv2', 'transformers') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize("preset, expected", [(None, "1"), ("4", "4")])
def test_the_command_line_runs_numpy_blas_on_one_thread_unless_told(preset, expected):
    """Set before numpy loads (the commands load it only when they run); a user's own
    OPENBLAS_NUM_THREADS is kept."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if preset is not None:
        env["OPENBLAS_NUM_THREADS"] = preset
    code = "import os, sys; from kscript.cli import main; main(['effects']); print(os.environ['OPENBLAS_NUM_THREADS'], file=sys.stderr)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip().splitlines()[-1] == expected
