"""Importers: Deforum settings files and Parseq manifests -> readable kscript films.

`kscript import deforum` (`kscript.importers.deforum`) and `kscript import parseq`
(`kscript.importers.parseq`). Both describe the film as per-frame facts and write it with
`kscript.importers.film`; schedules are read by `kscript.importers.schedule`, whose maths
(numexpr syntax) is parsed, evaluated and translated by our own code in
`kscript.importers.numexpr_lang` (no eval, no numexpr). The motion units come from one
place, `kscript.importers.units`. Light: no torch, diffusers, av or cv2.
"""

from __future__ import annotations

from pathlib import Path


def read_input(path: Path, not_it: type[Exception]) -> str:
    """The text of a settings file or manifest, read as films are (`SourceFile.read`: only a
    regular file, no FIFO or device, within the plan files' size limit, a BOM dropped), its
    failures raised as `not_it` (the importer's "this is not a settings file")."""
    from kscript.limits import MAX_PLAN_BYTES
    from kscript.source import NotUTF8, SourceFile, Unreadable

    try:
        return SourceFile.read(path, limit=MAX_PLAN_BYTES).text
    except NotUTF8:
        raise not_it("it is not UTF-8 text (settings files are JSON text)") from None
    except Unreadable as err:
        raise not_it(err.reason) from None
