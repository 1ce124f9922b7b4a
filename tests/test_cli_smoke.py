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
