"""Step pairs labelled by the reference solution's intermediate values (training-data mode).

The official PPM pairs are read off Q values, i.e. decided by later rollouts; on this CPU the
official filter keeps under two pairs a searched problem, and no PPM trained on them ranks
held-out steps better than step length (docs/PPM.md). A GSM8K training problem's worked
solution names every intermediate value (``48/2 = <<48/2=24>>24``). A step that computes one
of them is on the reference path; a step that computes a new number that is neither given nor
on it has left the path. Among sibling steps that split so, the first is preferred. Measured on
the committed trees (docs/PPM.md, "Pairs from the reference solution"): where the two sides of
an official pair split so, the reference label and the Q label agree on 97% of them; and every
expansion of every searched tree can give such pairs, not only the few the Q filter keeps.

Like the Q pairs, these use the known answer, so they are training data only. Each step's code
runs after its prefix in the sandbox (``pair_equivalence.effect``); nothing is evaluated here,
and the solution text is read by a regular expression, never evaluated.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from backend.train.pair_equivalence import effect
from backend.train.ppm_pairs import PPMPair, prefix_text, step_text
from backend.tree import Tree

#: ``<<48/2=24>>``: the value after the last "=" of a calculator annotation
_ANNOTATION = re.compile(r"<<[^<>]{0,200}=\s*(-?[\d,]{0,30}\.?\d{1,30})\s*>>")
_NUMBER = re.compile(r"-?\d{1,30}(?:\.\d{1,30})?(?:[eE][-+]?\d{1,3})?")
_GIVEN = re.compile(r"\d[\d,]{0,30}(?:\.\d{1,30})?")
#: a solution is read only up to this many characters (GSM8K's longest is about 1,300)
MAX_SOLUTION_CHARS = 20_000
#: at most this many preferred x this many dispreferred siblings a parent, as the official 2 x 2
PER_SIDE = 2


@dataclass(frozen=True)
class Reference:
    """The numbers a problem's worked solution computes, and those its question gives."""

    computed: frozenset[float]
    given: frozenset[float]


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def reference(question: str, solution: str) -> Reference:
    """Read a GSM8K worked solution (``... <<a*b=c>>c ... #### N``): its annotated values and
    final answer, minus the numbers the question already gives."""
    solution = solution[:MAX_SOLUTION_CHARS]
    values = {v for m in _ANNOTATION.finditer(solution) if (v := _number(m.group(1))) is not None}
    if "####" in solution:
        final = _number(solution.rsplit("####", 1)[1].strip())
        if final is not None:
            values.add(final)
    question = question[:MAX_SOLUTION_CHARS]
    given = {v for m in _GIVEN.finditer(question) if (v := _number(m.group(0))) is not None}
    return Reference(frozenset(v for v in values if not _among(v, given)), frozenset(given))


def _among(x: float, values) -> bool:
    return any(abs(x - v) <= 1e-6 * max(1.0, abs(v)) for v in values)


def label(step_effect: tuple[str, str] | None, ref: Reference) -> bool | None:
    """True: the step computes a value of the reference solution; False: it computes a new
    number that is neither given nor on the reference path; None: it did not run, or only
    restates given numbers (no evidence either way)."""
    if step_effect is None:
        return None
    printed, values = step_effect
    numbers = [v for m in _NUMBER.finditer(values + " " + printed) if (v := _number(m.group(0))) is not None]
    if any(_among(n, ref.computed) for n in numbers):
        return True
    if any(not _among(n, ref.given) for n in numbers):
        return False
    return None


def reference_pairs(tree: Tree, ref: Reference, run: Callable) -> list[PPMPair]:
    """Sibling pairs (on the reference path, off it) of every expansion of ``tree``: up to
    ``PER_SIDE`` of each side a parent, highest Q first among the preferred, lowest among the
    others. Each pair's margin is 1 (the label is not a Q difference); its weight counts the
    sides as the official loss does."""
    if tree.root_id is None:
        return []
    pairs: list[PPMPair] = []
    for parent in tree.nodes.values():
        kids = [tree.nodes[k] for k in parent.children if tree.nodes[k].code]
        if len(kids) < 2:
            continue
        prefix = prefix_text(tree, parent.id)
        labels = {k.id: label(effect(prefix, step_text(k), run), ref) for k in kids}
        good = sorted((k for k in kids if labels[k.id] is True), key=lambda k: -k.q)[:PER_SIDE]
        bad = sorted((k for k in kids if labels[k.id] is False), key=lambda k: k.q)[:PER_SIDE]
        for w in good:
            for lose in bad:
                chosen, rejected = step_text(w), step_text(lose)
                if chosen != rejected:
                    pairs.append(PPMPair(prefix, chosen, rejected, 1.0, len(good), len(bad), w.id, lose.id))
    return pairs
