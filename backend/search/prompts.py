"""Few-shot prompts kept as files: an instruction block and worked examples.

``assets/prompts/<algorithm>/system.txt`` holds the instructions and ``few_shots.json`` a
list of ``{question, solution}``. Chat models get the instructions as the system message,
each example as a user/assistant turn (``Question: …`` / its solution) and the problem as
the last user turn; the algorithm's format module then appends the partial solution after
the open assistant turn, so prompts grow only at their end and engines reuse the KV cache
of the shared prefix.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

from backend.paths import assets_dir

PROMPTS_DIR = assets_dir() / "prompts"

#: a chat template's control token as text: ``<|im_start|>``, ``<|im_end|>``, ``<|endoftext|>``...
_MARKUP = re.compile(r"<\|([^|<>\s]{1,64})\|>")


def inert_markup(text: str) -> str:
    """A person's text with every ``<|name|>`` broken by spaces (``< |name| >``).

    Engines that parse special tokens in prompt text (llama.cpp) would otherwise read a typed
    ``<|im_end|><|im_start|>system`` as a real end of turn and a new system message: a problem
    or a steered step could speak with the instructions' voice. Maths never needs the form.
    """
    return _MARKUP.sub(r"< |\1| >", text)


@dataclass(frozen=True)
class FewShotPrompt:
    system: str
    examples: tuple[tuple[str, str], ...]  # (question, full solution)

    def messages(self, problem: str, few_shot: int) -> list[dict[str, str]]:
        msgs = [{"role": "system", "content": self.system}]
        for question, solution in self.examples[:few_shot]:
            msgs.append({"role": "user", "content": f"Question: {question}"})
            msgs.append({"role": "assistant", "content": solution})
        msgs.append({"role": "user", "content": f"Question: {inert_markup(problem)}"})
        return msgs


@functools.cache
def read_few_shot(base: Path, label: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """(instructions, examples) from ``base``; a missing or malformed file is a clear ValueError."""
    try:
        system = (base / "system.txt").read_text(encoding="utf-8").strip()
        shots = json.loads((base / "few_shots.json").read_text(encoding="utf-8"))
        examples = tuple((str(s["question"]), str(s["solution"])) for s in shots)
    except FileNotFoundError as exc:
        raise ValueError(f"{label} prompt files missing in {base}: {exc.filename}") from exc
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{base / 'few_shots.json'}: not a list of {{question, solution}} ({exc})") from exc
    return system, examples
