"""Importers: Deforum settings files and Parseq manifests -> readable kscript films.

`kscript import deforum` (`kscript.importers.deforum`) and `kscript import parseq`
(`kscript.importers.parseq`). Both describe the film as per-frame facts and write it with
`kscript.importers.film`; schedules are read by `kscript.importers.schedule`, whose maths
(numexpr syntax) is parsed, evaluated and translated by our own code in
`kscript.importers.numexpr_lang` (no eval, no numexpr). The motion units come from one
place, `kscript.importers.units`. Light: no torch, diffusers, av or cv2.
"""
