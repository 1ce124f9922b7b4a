"""`kscript watch FILM`: rebuild on every save and serve a live-reloading preview page."""

from __future__ import annotations

import argparse

from kscript.commands.options import add_render_options

HELP = "rebuild a film on every save and show it on a live page"
DESCRIPTION = (
    "Watch FILM and every file it imports. Each save (in place, atomic rename, or vim-style) "
    "recompiles and re-renders what changed (finished frames come from the cache); the page at "
    "http://127.0.0.1:PORT/ shows the newest video, the scene timeline, the motion curves and "
    "the errors of a broken script, and updates itself. Ctrl-C stops."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("film", metavar="FILM", help="the .kscene film to watch")
    add_render_options(parser)
    parser.add_argument("--port", type=int, default=8765, help="port of the preview page on 127.0.0.1 (default 8765; 0 picks one)")
    parser.add_argument("--open", action="store_true", help="open the page in the web browser")
    parser.add_argument("--cluster", metavar="ADDRESS",
                        help="render each build's chains on a Ray cluster ('local', 'auto' or HOST:PORT; see docs/cluster.md)")


def run(args: argparse.Namespace) -> int:
    import os
    import signal
    import sys
    import threading
    import time
    from pathlib import Path

    from kscript.errors import UsageError
    from kscript.watch.pipeline import KscriptPipeline
    from kscript.watch.server import PreviewServer
    from kscript.watch.state import LiveState
    from kscript.watch.watcher import FilmWatcher

    film = Path(args.film)
    if not film.parent.is_dir():
        raise UsageError(f"folder '{film.parent}' does not exist", hint="name a film in an existing folder")
    if film.exists() and not film.is_file():
        raise UsageError(f"'{film}' is not a file")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a port number", hint="use 0..65535 (0 picks a free one)")

    if args.cluster is not None:
        from kscript.cluster import require_ray

        require_ray()
    pipeline = KscriptPipeline(
        output=Path(args.output) if args.output else None,
        preview=args.preview,
        model=args.model,
        device=args.device,
        cache=Path(args.cache) if args.cache else None,
        cluster=args.cluster,
    )
    pipeline.connect()
    lock = threading.Lock()

    def log(text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        with lock:
            first, *rest = text.split("\n")
            print(f"[{stamp}] {first}", file=sys.stderr)
            for line in rest:
                print(line, file=sys.stderr)
            sys.stderr.flush()

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    state = LiveState()
    server = PreviewServer(state, port=args.port).start()
    watcher = FilmWatcher(film, pipeline, state, log=log)
    print(f"kscript watch: {server.url}  (watching {film}; Ctrl-C stops)", flush=True)
    # Ctrl-C, and `kill` (SIGTERM), end the session cleanly. SIGINT is set explicitly: a
    # process started in the background by a shell inherits it ignored.
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, interrupt)
    try:
        watcher.start()
        if args.open:
            import webbrowser

            threading.Thread(target=webbrowser.open, args=(server.url,), daemon=True).start()
        # Short sleeps, not one long one: the kernel may hand a process-directed SIGINT or
        # SIGTERM to another thread (the watcher's, the server's), and then Python runs our
        # handler only when the main thread next runs bytecode, which a long sleep delays
        # until it ends (seen as a test that hung once in ~20 runs on a busy machine).
        while True:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        # A second Ctrl-C while we tidy up must not turn into a traceback; stopping is bounded.
        if previous:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            watcher.stop(timeout=5.0)
        finally:
            server.stop()
            pipeline.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    if os.isatty(2):
        print("", file=sys.stderr)
    log("stopped")
    return 0
