"""``python app.py``: the Canopy web app on http://127.0.0.1:7860 with the embedded model.

    python app.py                              # embedded Qwen2.5-Coder-0.5B via llama.cpp
    python app.py --host 0.0.0.0 --auth-file logins.txt   # the network, with logins (docs/UI.md)
    python app.py --engine transformers --model Qwen/Qwen2.5-Math-1.5B-Instruct
    python app.py --engine scripted --model rules.json   # canned text: pipeline demos, not a model
    python app.py --engine openai --model http://gpu1:8000/v1,http://gpu2:8000/v1  # vllm serve boxes

The engine loads on the first Run (the page comes up at once and says when the model is
missing). History lives in ``$CANOPY_HOME/canopy.sqlite`` (default ``~/.cache/canopy``).
The code is ``ui.app.main``, which ``canopy serve`` (``ui/cli.py``) calls too: its flags are
``ui.app.parse_args``, the one definition of both (``python app.py --help``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from ui.app import main as app_main

    return app_main(argv)


if __name__ == "__main__":
    sys.exit(main())
