"""The surface language: kscene text to the AST of `kscript.syntax.nodes`.

`parse_source(text, path)` and `parse_file(path)` are the front door; both raise
`kscript.errors.ScriptErrors` (with `sources` set) for syntax errors, and `parse_file`
raises `UsageError` for a file that cannot be read.
"""

from kscript.syntax.parser import parse_file, parse_source

__all__ = ["parse_file", "parse_source"]
