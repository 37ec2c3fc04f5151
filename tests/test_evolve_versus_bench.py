"""bench/evolve_versus.py: an evolve run's held-out rounds against another method's rows, pairwise."""

from __future__ import annotations

import json

from backend.evolve.manifest import write_json
from bench import evolve_versus


def test_each_round_is_counted_problem_by_problem_against_the_other_method(tmp_path, capsys):
    run = tmp_path / "run"
    for number, right in ((0, {100: False, 101: True, 102: False}), (1, {100: True, 101: True, 102: True})):
        for i, ok in right.items():
            write_json(run / f"round-{number}" / "eval" / "search" / f"gsm8k_{i}.json",
                       {"id": f"gsm8k/{i}", "correct": ok, "tokens": 100 * (number + 1), "cpu": "X (amx)"})
    rows = [{"method": "sc", "id": f"gsm8k/{i}", "correct": i != 102, "tokens": 50}
            for i in (100, 101, 102, 103)]
    rows.append({"method": "greedy", "id": "gsm8k/102", "correct": True, "tokens": 10})  # another method
    against = tmp_path / "sc.jsonl"
    against.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")

    zero = evolve_versus.compare(evolve_versus.round_rows(run, 0, "search"),
                                 evolve_versus.method_rows(against, "sc"))
    # problem 103 is only on one side; round 0 loses 100 and wins none
    assert zero == {"problems": 3, "right": 1, "their_right": 2, "tokens": 100, "their_tokens": 50,
                    "won": 0, "lost": 1, "p": 1.0, "cpus": ["X (amx)"]}
    assert evolve_versus.main([str(run), "--against", str(against)]) == 0
    out = capsys.readouterr().out
    assert "| 0 | 3 | 1 | 100 | 2 | 50 | 0 / 1 (1.0) | X (amx) |" in out
    assert "| 1 | 3 | 3 | 200 | 2 | 50 | 1 / 0 (1.0) | X (amx) |" in out
    assert evolve_versus.main([str(run), "--against", str(against), "--method", "rstar"]) == 2
