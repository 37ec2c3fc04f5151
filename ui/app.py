"""The Canopy web app: ``build_app(services)`` composes the screens; ``serve`` launches it;
``main(argv)`` is the entrypoint behind ``python app.py`` and ``canopy serve``.

Nothing happens at import: the store, the engine and the Blocks are made by ``main`` (or
by a test, around a memory store and the scripted engine).
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from ui import handlers as h
from ui.bigtree import build_bigtree
from ui.clusters import build_clusters
from ui.compare import build_compare
from ui.history import build_history
from ui.keys import build_keys
from ui.replay_player import build_replay_player
from ui.services import Services
from ui.solve import build_solve
from ui.steering import build_steering
from ui.teach import build_teacher
from ui.training import build_training
from ui.views import CSS, plotly_js_path

log = logging.getLogger(__name__)

HEADER = (
    "## Canopy · watch LLM reasoning search grow\n"
    "Type a problem, pick an algorithm, press **Run**; click any node to inspect it."
)


def build_app(services: Services) -> gr.Blocks:
    with gr.Blocks(title="Canopy", analytics_enabled=False) as demo:
        gr.Markdown(HEADER)
        history_notice(services)
        with gr.Tabs() as tabs:
            with gr.Tab("Solve", id="solve"):
                solve = build_solve(services, demo)
                build_clusters(services, solve.run, solve.status)  # issue 16: answer clusters
                build_steering(services, solve)  # issue 16: prune, expand, add my step, fork
                build_teacher(services, solve)  # issue 16: teacher mode
                build_keys()  # issue 16: keyboard shortcuts
                build_bigtree(services, solve)  # issue 16: find, focus, collapse
            with gr.Tab("History", id="history") as history_tab:
                history = build_history(services)
                build_replay_player()  # issue 15: play / pause and speed under the replay slider
            with gr.Tab("Compare", id="compare"):
                build_compare(services)  # issue 17: runs side by side on one budget, tree diff
            with gr.Tab("Training", id="training"):
                build_training(services, demo, solve, tabs)  # issue 20: evolve runs, charts, use a round
        history_tab.select(
            history.handlers.rows,
            history.refresh_inputs,
            history.list,
            concurrency_limit=None,
            show_progress="hidden",
            api_visibility="private",
        )
    return demo


def history_notice(services: Services) -> gr.Markdown:
    """The banner under the header that stays while the page is open: what ``open_store``
    had to do with the history file (read-only, moved aside, in memory only); hidden when
    the history is fine."""
    banner = h.history_banner(services)
    return gr.Markdown(banner, visible=bool(banner), elem_id="history-notice")


#: the largest file the page takes (Import JSONL); a 10,000-node run exports to a few MB
MAX_UPLOAD = "100mb"


def launch_options() -> dict[str, Any]:
    """What ``Blocks.launch`` needs for Canopy: local plotly.js, CSS, no telemetry, no API
    docs, no monitoring or run-history pages. Unexpected errors are never shown to the page,
    on a network or not: their text can name server paths, and it can carry a run's or a file's
    own text, which Gradio's error toast renders as HTML (an imported run's markup in a
    ValueError loaded an image once). Messages meant for the user are returned or raised as
    ``gr.Error`` with escaped text; the full error is in the server's log."""
    return {
        "allowed_paths": [str(plotly_js_path())],
        "css": CSS,
        "theme": gr.themes.Default(),  # its fonts ship with Gradio: no request leaves the machine
        "show_error": False,
        "footer_links": ["settings"],  # no "api": every event is private (ui/solve.py, ui/history.py)
        "run_history": False,
        "enable_monitoring": False,
        "max_file_size": MAX_UPLOAD,
    }


def is_loopback(host: str) -> bool:
    """True when ``host`` only accepts connections from this machine (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name or "": it may resolve to (or mean) any interface


def check_exposure(host: str, share: bool, auth: Sequence[Any] | None, no_auth: bool) -> tuple[bool, str]:
    """(may start, what to tell the operator): off loopback (or with ``--share``) the app
    needs ``--auth``, or ``--no-auth`` to say that anyone who can reach it may use it."""
    where = "a public share link" if share else f"{host or 'every interface'}"
    if auth and no_auth:
        return False, "--auth/--auth-file and --no-auth contradict each other: give one of them."
    if not share and is_loopback(host):
        return True, ""
    if auth:
        return True, (
            f"Canopy is reachable on {where}; logins are required. Passwords travel in clear text "
            "unless a TLS reverse proxy is in front (docs/UI.md: Running on a network)."
        )
    if no_auth:
        return True, (
            f"WARNING: Canopy is reachable on {where} WITHOUT authentication (--no-auth): anyone who "
            "can reach it can run searches on this machine's CPU, read every stored run, delete runs "
            "and import files. See docs/UI.md: Running on a network."
        )
    local = "Leave out --share" if share else "Use --host 127.0.0.1 (the default)"
    return False, (
        f"Refusing to listen on {where} without authentication. Give --auth USER:PASS (repeatable) "
        "or --auth-file FILE (user:pass lines) to require a login, or --no-auth to allow anyone who "
        f"can reach it. {local} to keep Canopy on this machine only."
    )


def credential(text: str) -> tuple[str, str]:
    """``USER:PASS`` as (user, password); the password may contain ':'."""
    user, sep, password = text.partition(":")
    if not sep or not user.strip() or not password:
        raise argparse.ArgumentTypeError("expected USER:PASS with a non-empty user and password")
    return user.strip(), password


def read_auth_file(path: str | Path) -> list[tuple[str, str]]:
    """``user:pass`` lines (blank lines and ``#`` comments skipped); errors name the line, not
    its content, which holds a password."""
    out = []
    for k, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            out.append(credential(line.rstrip("\r\n")))
        except argparse.ArgumentTypeError as exc:
            raise ValueError(f"{path}, line {k}: {exc}") from None
    if not out:
        raise ValueError(f"{path} holds no user:pass line")
    return out


def serve(
    services: Services,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    block: bool = True,
    auth: Sequence[tuple[str, str]] | None = None,
    root_path: str | None = None,
) -> gr.Blocks:
    """Build and launch; with ``block=False`` returns at once (tests, notebooks). ``main``
    has checked the exposure (``check_exposure``); this launches what it is given."""
    demo = build_app(services)
    # api_open=False: no direct REST call skips the queue (every event goes through it, as the page's do)
    demo.queue(default_concurrency_limit=None, api_open=False)
    with patient_localhost_check(LOCALHOST_PATIENCE_S):
        demo.launch(
            server_name=host,
            server_port=port,
            share=share,
            auth=list(auth) if auth else None,
            root_path=root_path,
            prevent_thread_lock=not block,
            quiet=not block,
            **launch_options(),
        )
    return demo


#: how long launch may wait for the new server to answer its own first request
LOCALHOST_PATIENCE_S = 60.0


@contextlib.contextmanager
def patient_localhost_check(patience_s: float = LOCALHOST_PATIENCE_S) -> Iterator[None]:
    """Gradio's ``launch`` asks the server it just started for its page, gives up at the first
    3 s timeout, and then refuses to start ("When localhost is not accessible, a shareable
    link must be created"). A laptop busy with a search or an evolve run answers slower than
    that (seen here at a load average of 5 on 2 cores), so within ``launch`` that check is
    retried until ``patience_s`` has passed; a server that never answers still gets the error."""
    from gradio import networking

    quick = networking.url_ok

    def patient(url: str) -> bool:
        deadline = time.monotonic() + patience_s
        while not quick(url):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.5)
        return True

    networking.url_ok = patient
    try:
        yield
    finally:
        networking.url_ok = quick


def parse_args(argv: Sequence[str] | None = None, prog: str = "app.py") -> argparse.Namespace:
    """The web app's flags, the one definition behind ``python app.py`` and ``canopy serve``
    (ui/cli.py passes its arguments through; ``prog`` names the command in usage and errors)."""
    p = argparse.ArgumentParser(prog=prog, description="Canopy web app: watch reasoning search trees grow.")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; others need --auth or --no-auth)",
    )
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument(
        "--root-path",
        default=None,
        metavar="PATH",
        help="the sub-path a reverse proxy serves the app under, e.g. /canopy (docs/UI.md)",
    )
    p.add_argument(
        "--share",
        action="store_true",
        help="also open a public Gradio share link (needs internet; needs --auth or --no-auth)",
    )
    p.add_argument(
        "--auth",
        action="append",
        type=credential,
        default=[],
        metavar="USER:PASS",
        help="require this login (repeatable); needed off loopback unless --no-auth",
    )
    p.add_argument(
        "--auth-file",
        default=None,
        metavar="FILE",
        help="require a login from FILE's user:pass lines (keeps passwords out of the process list)",
    )
    p.add_argument(
        "--no-auth",
        action="store_true",
        help="allow a non-loopback --host or --share without any login (prints a warning)",
    )
    p.add_argument(
        "--engine", default=None, help="llamacpp (default), transformers, vllm, openai or scripted"
    )
    p.add_argument(
        "--model",
        default=None,
        help="GGUF path, HF id, served model name, scripted rules file, or (openai) the servers' base "
        "URLs: URL or URL1,URL2 (requests spread over them; docs/GPU.md)",
    )
    p.add_argument(
        "--engine-opt",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option of the engine's load (repeatable), e.g. gpu_memory_utilization=0.6, "
        "ppm_gpu_memory_utilization=0.2 (vllm), extra_body='{\"top_k\": 20}', timeout=900 (openai)",
    )
    p.add_argument("--db", default=None, help="history database (default $CANOPY_HOME/canopy.sqlite)")
    p.add_argument("--algorithm", default="rstar", help="algorithm selected when the page opens")
    p.add_argument(
        "--ppm",
        default="default",
        help="process preference model: default (the shipped one, rStar-Math with the embedded model), "
        "none, or a PPM directory",
    )
    p.add_argument(
        "--runs-dir",
        default="runs",
        metavar="DIR",
        help="where the Training tab lists `canopy evolve` runs (default ./runs); on loopback the page may "
        "also list any folder typed, off loopback only folders inside DIR",
    )
    p.add_argument("--verbose", "-v", action="store_true", help="log progress details")
    return p.parse_args(argv)


def logins(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The logins of ``--auth`` and ``--auth-file`` together."""
    return [*args.auth, *(read_auth_file(args.auth_file) if args.auth_file else [])]


def engine_options(args: argparse.Namespace) -> dict:
    """``--engine-opt`` pairs, typed and checked against the engine (a ValueError says which)."""
    from backend.engines import DEFAULT_ENGINE
    from backend.engines.options import parse_engine_options

    return parse_engine_options(args.engine or DEFAULT_ENGINE, args.engine_opt)


def open_services(args: argparse.Namespace) -> Services:
    """Open the history, mark runs cut off by an earlier stop as interrupted, and bundle the
    services; never fails on the history file (``open_store`` falls back and says so). Every
    run's RunSpec gets ``--ppm`` (default: the shipped PPM where it applies).

    The store's ``notice`` was logged as a warning by ``open_store`` (on the console, once);
    the page shows it too (``history_notice``). A failing ``recover`` (a locked file, say)
    is a warning as well: the app still starts."""
    from backend.engines import DEFAULT_ENGINE
    from backend.store import StoreError, open_store
    from ui.services import EngineSlot
    from ui.training_runs import TrainingSettings

    store = open_store(args.db)
    try:
        closed = store.recover()
    except StoreError as exc:
        log.warning("runs cut off by an earlier stop could not be marked interrupted: %s", exc)
        closed = []
    if closed:
        log.warning("%d run(s) cut off by an earlier stop are now marked interrupted", len(closed))
    return Services(
        store=store,
        engine=EngineSlot(
            args.engine or DEFAULT_ENGINE, args.model, options=getattr(args, "engine_options", None) or {}
        ),
        default_algorithm=args.algorithm,
        ppm=args.ppm,
        training=TrainingSettings(  # the page may type folders outside --runs-dir on this machine only
            Path(getattr(args, "runs_dir", "runs")), anywhere=is_loopback(args.host) and not args.share,
            # a round's GGUF loads as the server's llama.cpp engine does (threads, buffer types)
            llamacpp_options=dict(getattr(args, "engine_options", None) or {})
            if (args.engine or DEFAULT_ENGINE) == "llamacpp" else {},
        ),
    )


def main(argv: Sequence[str] | None = None, prog: str = "app.py") -> int:
    """Check the exposure, open the history, mark runs cut off by an earlier stop as
    interrupted, serve."""
    args = parse_args(argv, prog)
    try:
        auth = logins(args)
    except (OSError, ValueError) as exc:
        print(f"canopy: --auth-file: {exc}", file=sys.stderr)
        return 2
    try:
        args.engine_options = engine_options(args)
    except ValueError as exc:
        print(f"canopy: --engine-opt: {exc}", file=sys.stderr)
        return 2
    from backend.engines.server_pool import looks_like_urls, split_urls

    try:  # server URLs in --model are shown on the page: one with a login or query is refused now
        if looks_like_urls(args.model):
            split_urls(args.model)
    except ValueError as exc:
        print(f"canopy: --model: {exc}", file=sys.stderr)
        return 2
    ok, message = check_exposure(args.host, args.share, auth, args.no_auth)
    if message:
        print(message, file=sys.stderr)
    if not ok:
        return 2
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    services = open_services(args)
    try:
        serve(
            services,
            host=args.host,
            port=args.port,
            share=args.share,
            block=True,
            auth=auth,
            root_path=args.root_path,
        )
    except KeyboardInterrupt:
        pass
    finally:
        services.close()
    return 0
