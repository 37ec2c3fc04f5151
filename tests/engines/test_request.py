"""GenerationRequest: the argument checks every engine shares (backend/engines/base.py)."""

from __future__ import annotations

import dataclasses

import pytest

from backend.engines.base import GenerationRequest
from tests.engines.contract import BAD_REQUESTS


def test_a_sound_request_keeps_its_values():
    req = GenerationRequest.make(
        ["a", "b"], n=3, max_tokens=5, temperature=0, top_p=1, stop=["x", "", "y"], seed=0
    )
    assert req == GenerationRequest(("a", "b"), 3, 5, 0, 1, ("x", "y"), 0)  # empty stop strings dropped
    assert GenerationRequest.make([]).prompts == ()  # no prompts: nothing to do, not an error


def test_defaults_are_the_engine_interface_defaults():
    req = GenerationRequest.make(("p",))
    assert (req.n, req.max_tokens, req.temperature, req.top_p, req.stop, req.seed) == (
        1,
        256,
        0.7,
        1.0,
        (),
        None,
    )


@pytest.mark.parametrize(("prompts", "bad"), BAD_REQUESTS)
def test_a_bad_request_names_the_argument(prompts, bad):
    name = next(iter(bad), "prompts")
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        GenerationRequest.make(prompts, **bad)


def test_a_request_is_checked_however_it_is_built():
    req = GenerationRequest.make(["p"])
    with pytest.raises(ValueError, match="top_p"):
        dataclasses.replace(req, top_p=2.0)
    with pytest.raises(ValueError, match="stop"):
        GenerationRequest(("p",), stop=("",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        req.n = 2  # type: ignore[misc]
