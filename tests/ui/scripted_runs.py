"""Real searches over canned text, for the Run, handler, figure and browser tests.

The tests run what users run: rStar-Math and CPL, the registry's own classes, over the
scripted engine (``backend/engines/scripted.py``), whose rules here write each format's
steps for one egg-selling problem: rStar's code steps (run in the sandbox, one that fails
with a NameError, final steps that print 18 or, forgetting the price, 9) and CPL's plan
steps, solutions (\\boxed{18} or \\boxed{9}) and one malformed step. Every expansion offers
at least two steps that go on, so a run grows until the algorithm's own ``max_depth`` ends
its paths: the size of a tree is set with the search's knobs (``rollouts``, ``children``,
``max_depth``), its pace with the engine's ``delay_s`` (a pretend generation time per call).
CPL needs no sandbox, so the big trees (thousands of nodes) are CPL runs.

Prompts of neither format (LIPS, the baselines) get a plain default text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from backend.engines.scripted import Rule, ScriptedEngine
from backend.search.registry import create_search, make_config

PROBLEM = (
    "Janet's ducks lay 16 eggs per day. She eats 3 for breakfast and bakes muffins with 4. "
    "She sells the rest at $2 per egg. How much does she make every day?"
)
ANSWER = "18"
DEFAULT_TEXT = "I can only write rStar-Math and CPL steps about Janet's ducks."
#: step numbers are written out to this depth; deeper steps reuse the last rule's texts
NUMBERED = 16

_ASSISTANT = "<|im_start|>assistant\n"  # the open assistant turn of plain_chat_prompt
_PLANS = "Plans:\n"


# --- where a prompt is ------------------------------------------------------------------------


def rstar_depth(prompt: str) -> int | None:
    """Steps already written in an rStar prompt (None: not an rStar step prompt)."""
    if "<end_of_step>" not in prompt or _PLANS in prompt:
        return None
    return prompt.count("<end_of_step>", prompt.rfind(_ASSISTANT))


def cpl_depth(prompt: str) -> int | None:
    """Plan steps already written in a CPL prompt (None: not a CPL prompt)."""
    start = prompt.rfind(_PLANS)
    return None if start < 0 else prompt.count("<endstep>", start)


def _at(depth_of: Callable[[str], int | None], depth: int, deeper: bool = False) -> Callable[[str], bool]:
    def fits(prompt: str) -> bool:
        d = depth_of(prompt)
        return d is not None and (d == depth or (deeper and d > depth))

    return fits


# --- the texts --------------------------------------------------------------------------------


def rstar_texts(depth: int) -> list[str]:
    """The candidates of an rStar step after ``depth`` steps (left = 9 on every path)."""
    k = depth + 1
    if depth == 0:
        first = "<code>\n# Step 1: {}\n<end_of_step>"
        return [
            first.format("Eggs left after breakfast (3) and baking (4)\nleft = 16 - 3 - 4"),
            first.format("Let $x$ be the eggs she sells: $x = 16 - 7$\nleft = 16 - 7"),
            first.format("Eggs she keeps, then the rest\nkept = 3 + 4\nleft = 16 - kept"),
            first.format("A wrong turn: divide the eggs\nleft = 16 / undefined_name"),  # a NameError
        ]
    final = "\n# Now print the final answer\nprint({})\n<end_of_code>"
    return [
        f"\n# Step {k}: Each egg sells for $2\nmoney = left * 2\n<end_of_step>",
        final.format("left * 2"),
        f"\n# Step {k}: Check that no egg went missing\nassert 0 < left <= 16\n<end_of_step>",
        final.format("left"),  # forgot the price: 9
        f"\n# Step {k}: The money in cents\ncents = left * 200\n<end_of_step>",
        final.format("2 * left"),
    ]


SOLUTION = (
    "Detailed Implementation:\n1. 16 - 3 - 4 = 9 eggs are left.\n{}"
    "The final answer is \\boxed{{{}}}.<endsolution>"
)


def cpl_texts(depth: int) -> list[str]:
    """The candidates of a CPL step after ``depth`` plan steps."""
    k = depth + 1
    return [
        f"Plan {k}: Find the eggs left after breakfast and baking.<endstep>",
        f"Plan {k}: Multiply the eggs left by the $2 price.<endstep>",
        SOLUTION.format("2. 9 * 2 = 18 dollars.\n", 18),
        f"Plan {k}: Check the count against the 16 eggs laid.<endstep>",
        "I will just guess the answer.<endstep>",  # malformed: an invalid terminal
        f"Plan {k}: Add up what she sells in a day.<endstep>",
        SOLUTION.format("", 9),  # forgot the price
        SOLUTION.format("2. She makes 9 * $2 = $18.\n", 18),
    ]


def scripted_rules() -> list[Rule]:
    rules = []
    for depth in range(NUMBERED + 1):
        last = depth == NUMBERED
        rules.append(Rule(_at(rstar_depth, depth, last), rstar_texts(depth)))
        rules.append(Rule(_at(cpl_depth, depth, last), cpl_texts(depth)))
    return rules


def scripted_engine(delay_s: float = 0.0) -> ScriptedEngine:
    """The engine of the test server and of ``make_run``: rStar and CPL steps, stateless."""
    return ScriptedEngine(scripted_rules(), default=DEFAULT_TEXT, delay_s=delay_s)


# --- a PPM for these steps ---------------------------------------------------------------------

#: what the test PPM (tests/factories.py: RulePPM, a rule table, never a trained model) says
#: about the rStar steps above: it likes the final step that forgot the price (9) best, and
#: dislikes the cents detour and the "kept" opening, so the search's Q (backed up from the
#: final steps' values) drifts away from these scores and PPM diagnostics have something to show.
#: Rules are tried in order on the whole path, so final steps come first, first steps last.
PPM_RULES = {
    "print(left * 2)": 0.7,
    "print(2 * left)": 0.6,
    "print(left)": 0.8,
    "cents = left * 200": -0.5,
    "assert 0 < left": 0.1,
    "money = left * 2": 0.4,
    "kept = 3 + 4": -0.3,
    "x = 16 - 7": 0.2,
    "left = 16 - 3 - 4": 0.3,
}


def scripted_ppm() -> Any:
    """A fresh rule-table PPM for the scripted rStar steps (a test fixture)."""
    from tests.factories import RulePPM

    return RulePPM(PPM_RULES)


# --- runs -------------------------------------------------------------------------------------


def make_run(
    problem: str = PROBLEM,
    *,
    algorithm: str = "rstar",
    run_id: str | None = None,
    seed: int = 0,
    delay_s: float = 0.0,
    **config: Any,
) -> Any:
    """A search as the page builds it (registry, default preset, overrides), not started."""
    return create_search(
        algorithm,
        problem,
        engine=scripted_engine(delay_s),
        config=make_config(algorithm, **config),
        seed=seed,
        run_id=run_id,
    )
