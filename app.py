"""``python app.py``: the Canopy web app on http://127.0.0.1:7860 with the embedded model.

    python app.py                              # embedded Qwen2.5-Coder-0.5B via llama.cpp
    python app.py --port 8000 --host 0.0.0.0   # reachable from the network
    python app.py --engine transformers --model Qwen/Qwen2.5-Math-1.5B-Instruct
    python app.py --engine scripted --model rules.json   # canned text: pipeline demos, not a model

The engine loads on the first Run (the page comes up at once and says when the model is
missing). History lives in ``$CANOPY_HOME/canopy.sqlite`` (default ``~/.cache/canopy``).
``canopy serve`` calls ``main``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="app.py", description="Canopy web app: watch reasoning search trees grow.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--share", action="store_true", help="also open a public Gradio share link (needs internet)")
    p.add_argument("--engine", default=None, help="llamacpp (default), transformers, vllm, openai or scripted")
    p.add_argument("--model", default=None, help="GGUF path, HF id, served model name or scripted rules file")
    p.add_argument("--db", default=None, help="history database (default $CANOPY_HOME/canopy.sqlite)")
    p.add_argument("--algorithm", default="rstar", help="algorithm selected when the page opens")
    p.add_argument("--verbose", "-v", action="store_true", help="log progress details")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    from backend.engines import DEFAULT_ENGINE
    from backend.store import open_store
    from ui.app import serve
    from ui.services import EngineSlot, Services

    store = open_store(args.db)
    closed = store.recover()
    if closed:
        logging.getLogger("canopy").warning("%d run(s) cut off by an earlier stop marked interrupted", len(closed))
    services = Services(
        store=store,
        engine=EngineSlot(args.engine or DEFAULT_ENGINE, args.model),
        default_algorithm=args.algorithm,
    )
    try:
        serve(services, host=args.host, port=args.port, share=args.share, block=True)
    except KeyboardInterrupt:
        pass
    finally:
        services.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
