"""kscript: a declarative scene-script compiler for AI animation.

The pipeline, one direction, a package per stage:

    source (.kscene) --syntax--> AST --check--> checked program --compile--> render plan
        --render--> frames --encode--> video

`kscript.plan.RenderPlan` is the contract between the language and the render engine:
everything a frame depends on is in it.
"""

__version__ = "0.1.0"
