"""``canopy evolve``'s rounds end to end at smoke scale: the scripted engine searches (over the
real rStar core and sandbox) and the tiny Qwen2 of tests/train is fine-tuned; a run killed
mid-round and resumed writes the same report as one that never stopped.

The scripted engine is the seam's test double: it replays the same texts whichever policy
is asked for, so these tests check the pipeline (which problems, which data, which files,
what resumes), not that a policy learns."""

from __future__ import annotations

import json

import pytest

from backend.engines.scripted import Rule, ScriptedEngine
from backend.evolve.manifest import EvolveSettings, folder_sha256, read_json
from backend.evolve.rounds import problem_sets, run_evolve
from backend.evolve.run_paths import portable
from tests.train.tiny import tiny_model_and_tokenizer

pytest.importorskip("trl")
pytest.importorskip("peft")

STEP = "<code>\n# Step 1: start from one\nx = 1\n<end_of_step>"


def settings(**changes) -> EvolveSettings:
    base = {
        "rounds": 2,
        "train_count": 3,
        "test_start": 100,
        "test_count": 2,
        "search": {"rollouts": 2, "children": 2, "few_shot": 0},
        "eval_search": {"rollouts": 2, "children": 2, "few_shot": 0},
        "sft": {"max_steps": 2, "grad_accum": 1, "threads": 1, "lora_rank": 4},
    }
    return EvolveSettings(**{**base, **changes})


def rules_for(problems, *, far_apart: bool = False) -> list[Rule]:
    """Per problem: a first step, then a right and a wrong final step (the wrong one first
    for every other problem, so the searches differ); a whole right solution for greedy.
    ``far_apart``: the wrong step differs enough (≥ 20 edits) to make official PPM pairs."""
    rules = []
    for i, p in enumerate(problems):
        right = f"\n# Now print the final answer\nprint(x + {p.answer} - 1)\n<end_of_code>"
        say = "# Now print the final answer"
        if far_apart:
            say = "# Every apple counts twice, so add them up again"
        wrong = f"\n{say}\nprint(x + {p.answer})\n<end_of_code>"
        finals = [right, wrong] if i % 2 == 0 else [wrong, right]
        q = p.question
        rules.append(Rule(lambda t, q=q: q in t and t.endswith("<end_of_step>"), finals))
        rules.append(Rule(lambda t, q=q: q in t and t.endswith("assistant\n"), [STEP + right]))
    return rules


class Killed(BaseException):
    """A simulated kill: not an Exception, so nothing on the way catches it."""


class ScriptedModels:
    """The Models seam for tests: the scripted engine, the tiny Qwen2 as the base policy."""

    def __init__(self, engine: ScriptedEngine) -> None:
        self._engine = engine
        self.asked: list[str | None] = []

    def engine(self, policy):
        self.asked.append(policy)
        return self._engine

    def trainable(self, policy):
        if policy is None:
            model, tokenizer = tiny_model_and_tokenizer()
            tokenizer.eos_token = "<|endoftext|>"
            return model, tokenizer
        import transformers

        return (
            transformers.AutoModelForCausalLM.from_pretrained(policy),
            transformers.AutoTokenizer.from_pretrained(policy),
        )

    def describe(self, policy):
        if policy is None:
            return {"engine": "scripted", "model": "tiny", "sha256": None}
        return {"engine": "scripted", "model": policy, "sha256": folder_sha256(policy)}

    def close(self):
        pass


class DyingEngine(ScriptedEngine):
    def __init__(self, rules, die_at: int) -> None:
        super().__init__(rules)
        self.die_at = die_at

    def generate(self, prompts, **kw):
        if len(self.calls) + 1 >= self.die_at:
            raise Killed(f"killed at engine call {self.die_at}")
        return super().generate(prompts, **kw)


def without_times(rows):
    """Report rows without measured seconds and memory, and run-specific paths."""
    text = json.dumps(rows)
    return [{k: v for k, v in r.items() if k not in ("seconds", "peak_rss_mb")} for r in json.loads(text)]


@pytest.fixture(scope="module")
def problems():
    train, test = problem_sets(settings())
    return train, test


def test_two_rounds_run_end_to_end_and_write_manifest_reports_and_policies(tmp_path, problems):
    train, test = problems
    engine = ScriptedEngine(rules_for(train + test))
    models = ScriptedModels(engine)
    said = []
    rows = run_evolve(tmp_path / "run", settings(), models, say=said.append)

    assert [r["round"] for r in rows] == [0, 1, 2]
    one, two = rows[1], rows[2]
    assert one["kind"] == two["kind"] == "terminal-guided"
    assert one["problems_searched"] == 3 and one["solved_in_search"] == 3
    assert one["solved_in_search_won_lost"] is None  # round 1 has no earlier search to count against
    assert two["solved_in_search_won_lost"] == [0, 0]  # the scripted engine solves all three both times
    assert one["sft_examples"] >= 3 and one["policy_trained"] and one["train_steps"] == 2
    assert two["policy_in"] == one["policy"]  # round 2 searches with the round-1 policy
    assert one["policy_in"] == "base" and models.asked[0] is None
    assert not one["ppm_trained"] and "a PPM needs at least 30" in one["ppm_note"]
    assert any("no PPM trained" in s for s in said)
    # greedy right on both held-out problems (the scripted solution prints the answer)
    assert rows[0]["heldout_greedy_accuracy"] == one["heldout_greedy_accuracy"] == 1.0
    assert one["heldout_greedy_won_lost"] == [0, 0]  # right in round 0 and round 1 alike
    assert "heldout_greedy_won_lost" not in rows[0]  # round 0 is what the others are counted against
    greedy_files = sorted((tmp_path / "run" / "round-1" / "eval" / "greedy").glob("*.json"))
    spent = [read_json(f)["tokens"] for f in greedy_files]
    assert len(spent) == 2 and all(t > 0 for t in spent)
    from backend.evolve.machine import cpu_name

    assert {read_json(f)["cpu"] for f in greedy_files} == {cpu_name()}  # where it was measured
    assert one["heldout_cpu_note"] is None  # round 0 on the same CPU
    assert one["heldout_greedy_tokens"] == round(sum(spent) / 2, 1)  # the cost beside the accuracy
    assert rows[0]["heldout_search_tokens"] > rows[0]["heldout_greedy_tokens"]  # a search spends more

    run = tmp_path / "run"
    manifest = read_json(run / "manifest.json")
    assert manifest["train_problems"] == ["gsm8k-train/0", "gsm8k-train/1", "gsm8k-train/2"]
    assert manifest["test_problems"] == ["gsm8k/100", "gsm8k/101"]
    assert manifest["seeds"]["search"]["gsm8k-train/2"] == 2
    assert manifest["rounds"]["1"]["search_spec"]["reward"] == "truth"
    assert manifest["rounds"]["2"]["policy_in"]["model"] == "round-1/policy"  # relative to the run
    assert one["policy"] == str(run / "round-1" / "policy")
    assert manifest["rounds"]["1"]["made"]["policy"]["sha256"] == folder_sha256(one["policy"])
    sft = [json.loads(line) for line in (run / "round-1" / "sft.jsonl").read_text().splitlines()]
    assert sft[0]["completion"].startswith(STEP) and "print(x + " in sft[0]["completion"]
    assert "| 1 | terminal-guided | 3 | 3 |" in (run / "report.md").read_text()
    assert read_json(run / "round-2" / "report.json") == portable(rows[2], run)
    assert read_json(run / "round-2" / "report.json")["policy_in"] == "round-1/policy"
    assert "plotly" in (run / "report.html").read_text()[:100000].lower()

    # a finished run resumes to the same report without searching or training again
    calls = len(engine.calls)
    again = run_evolve(run, settings(), models, say=lambda _: None)
    assert again == rows and len(engine.calls) == calls


def test_won_and_lost_count_each_held_out_problem_against_round_0(tmp_path):
    from backend.evolve.manifest import write_json
    from backend.evolve.report import markdown, won_lost
    from backend.evolve.stages import versus_round_0

    def results(round_, kind, right):
        for pid, ok in right.items():
            name = pid.replace("/", "_") + ".json"  # as held_out_accuracy names them
            write_json(tmp_path / round_ / "eval" / kind / name, {"id": pid, "correct": ok})

    results("round-0", "greedy", {"gsm8k/100": True, "gsm8k/101": False, "gsm8k/102": False})
    results("round-1", "greedy", {"gsm8k/100": False, "gsm8k/101": True, "gsm8k/102": True})
    results("round-0", "search", {"gsm8k/100": True})  # round 1's search has not run yet
    versus = versus_round_0(tmp_path / "round-1")
    assert versus == {"greedy": [2, 1]}
    row = {"round": 1, **won_lost(versus)}
    assert row["heldout_search_won_lost"] is None
    assert "| 2/1 | – |" in markdown([row]) and "won/lost vs round 0" in markdown([row])
    assert versus_round_0(tmp_path / "elsewhere" / "round-1") == {}  # no round 0: nothing to count


def test_the_training_search_is_counted_problem_by_problem_against_the_previous_round(tmp_path, problems):
    from backend.evolve.report import markdown, search_won_lost
    from backend.evolve.stages import versus_previous_search
    from backend.train.ppm_data import search_trees

    train, _ = problems

    def search(round_, solved):
        """Truth searches of the three training problems; the unsolved ones only ever get a
        wrong final step, so no trace in their tree holds the known answer."""
        rules = rules_for([p for i, p in enumerate(train) if i in solved])
        for i, p in enumerate(train):
            if i not in solved:
                wrong = f"\n# Now print the final answer\nprint(x + {p.answer})\n<end_of_code>"
                asks = p.question
                rules.append(Rule(lambda t, q=asks: q in t and t.endswith("<end_of_step>"), [wrong]))
                rules.append(Rule(lambda t, q=asks: q in t and t.endswith("assistant\n"), [STEP + wrong]))
        config = {"rollouts": 2, "children": 2, "few_shot": 0}
        search_trees(train, tmp_path / round_ / "trees", engine=ScriptedEngine(rules), config=config)

    search("round-1", solved={1})
    search("round-2", solved={0, 2})
    versus = versus_previous_search(tmp_path / "round-2", 2)
    # problems 0 and 2 solved only now, problem 1 only before
    assert versus["solved_in_search_won_lost"] == [2, 1]
    assert versus["search_answer_won_lost"] == [2, 1]  # the truth reward backs the right answer
    row = {"round": 2, "solved_in_search": 2, **search_won_lost(versus)}
    assert "| 2 | 2/1 |" in markdown([row]) and "solved won/lost vs previous round" in markdown([row])

    (tmp_path / "round-1" / "trees" / "gsm8k-train_1.jsonl.gz").unlink()  # searched in one round only
    assert versus_previous_search(tmp_path / "round-2", 2)["solved_in_search_won_lost"] == [2, 0]
    nothing = dict.fromkeys(versus)
    assert versus_previous_search(tmp_path / "round-1", 1) == nothing  # round 0 searches nothing
    assert search_won_lost(None) == nothing


def test_a_round_report_gives_the_mean_tokens_a_held_out_problem_cost(tmp_path):
    from backend.evolve.manifest import write_json
    from backend.evolve.report import baseline_report, markdown, round_report
    from backend.evolve.stages import eval_tokens

    for pid, tokens in {"gsm8k/100": 100, "gsm8k/101": 251}.items():
        write_json(tmp_path / "round-0" / "eval" / "greedy" / (pid.replace("/", "_") + ".json"),
                   {"id": pid, "correct": True, "tokens": tokens, "wall_s": 1.0})
    assert eval_tokens(tmp_path / "round-0") == {"greedy": 175.5}  # no search files: no figure
    row = baseline_report({"problems": 2, "greedy": {"accuracy": 1.0}}, eval_tokens(tmp_path / "round-0"))
    assert row["heldout_greedy_tokens"] == 175.5 and row["heldout_search_tokens"] is None
    assert "greedy tokens / problem" in markdown([row]) and "| 175.5 | – |" in markdown([row])
    assert eval_tokens(tmp_path / "round-1") == {}
    stage = {"seconds": 0.0, "problems": 0, "right_answer_in_tree": 0, "search_answer_right": 0,
             "sft_examples": 0, "ppm_pairs": 0, "trained": False}
    one = round_report(1, "terminal-guided", policy_in=None, ppm_in=None, search=stage, data=stage,
                       policy=stage, ppm=stage, evaluation={"problems": 2}, tokens={"search": 1500.0})
    assert one["heldout_search_tokens"] == 1500.0 and one["heldout_greedy_tokens"] is None


def test_a_run_killed_mid_round_resumes_to_the_same_report(tmp_path, problems):
    train, test = problems
    rules = rules_for(train + test)
    reference = ScriptedEngine(rules)
    expected = run_evolve(tmp_path / "whole", settings(), ScriptedModels(reference), say=lambda _: None)

    dying = DyingEngine(rules, die_at=len(reference.calls) // 2)
    with pytest.raises(Killed):
        run_evolve(tmp_path / "killed", settings(), ScriptedModels(dying), say=lambda _: None)
    killed = tmp_path / "killed"
    assert (killed / "round-1" / "search.json").is_file()  # some stages finished before the kill
    assert not (killed / "report.json").exists()
    kept = {p: p.stat().st_mtime_ns for p in killed.rglob("*.json*") if not p.name.endswith(".partial")}
    resumed = run_evolve(killed, settings(), ScriptedModels(ScriptedEngine(rules)), say=lambda _: None)

    def same(rows):
        drop = ("seconds", "peak_rss_mb", "policy", "policy_in", "ppm")  # measured, or run paths
        return [{k: v for k, v in r.items() if k not in drop} for r in rows]

    assert same(resumed) == same(expected)
    # what was finished before the kill was read back, not made again
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items() if p.name != "manifest.json")


def test_a_resume_with_other_settings_is_refused(tmp_path, problems):
    train, test = problems
    models = ScriptedModels(ScriptedEngine(rules_for(train + test)))
    run_evolve(tmp_path, settings(rounds=1, evaluate_base=False), models, say=lambda _: None)
    with pytest.raises(ValueError, match="other settings"):
        run_evolve(tmp_path, settings(rounds=1, evaluate_base=False, top_k=1), models, say=lambda _: None)


def test_a_finished_run_given_more_rounds_continues_and_fewer_are_refused(tmp_path, problems):
    train, test = problems
    models = ScriptedModels(ScriptedEngine(rules_for(train + test)))
    one = run_evolve(tmp_path, settings(rounds=1, evaluate_base=False), models, say=lambda _: None)
    # the stage files (a round's report.json is rewritten on every resume: it compares with round 0)
    kept = {p: p.stat().st_mtime_ns for p in (tmp_path / "round-1").rglob("*.json")
            if p.name != "report.json"}
    two = run_evolve(tmp_path, settings(rounds=2, evaluate_base=False), models, say=lambda _: None)
    assert [r["round"] for r in two] == [1, 2] and two[0] == one[0]
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items())  # round 1 was read back, not redone
    assert read_json(tmp_path / "manifest.json")["settings"]["rounds"] == 2
    assert [r["round"] for r in read_json(tmp_path / "report.json")["rounds"]] == [1, 2]
    with pytest.raises(ValueError, match="--rounds 2 or more"):
        run_evolve(tmp_path, settings(rounds=1, evaluate_base=False), models, say=lambda _: None)


def test_round_0_can_be_measured_after_the_rounds(tmp_path, problems):
    """A long run does its searches first (--no-base-eval) and measures the base policy in a
    later invocation: that resume is the same experiment, not a refused change of settings."""
    train, test = problems
    models = ScriptedModels(ScriptedEngine(rules_for(train + test)))
    first = run_evolve(tmp_path, settings(rounds=1, evaluate_base=False), models, say=lambda _: None)
    assert [r["round"] for r in first] == [1] and not (tmp_path / "round-0").exists()
    rows = run_evolve(tmp_path, settings(rounds=1), models, say=lambda _: None)
    assert [r["round"] for r in rows] == [0, 1]
    assert rows[1]["heldout_greedy_won_lost"] is not None, "compared with the round 0 measured later"
    assert read_json(tmp_path / "manifest.json")["settings"]["evaluate_base"] is True
    # a later resume without round 0 neither refuses nor forgets it
    again = run_evolve(tmp_path, settings(rounds=1, evaluate_base=False), models, say=lambda _: None)
    assert [r["round"] for r in again] == [1]
    assert read_json(tmp_path / "manifest.json")["settings"]["evaluate_base"] is True


def test_a_run_carried_without_its_merged_policy_rebuilds_it_from_the_adapter(tmp_path, problems):
    """A run folder copied to another machine without the merged weights (2 GB on the
    embedded model) resumes from the round's 16-bit adapter: the same policy, checksum and
    report, and no fine-tuning again."""
    import shutil

    train, test = problems
    models = ScriptedModels(ScriptedEngine(rules_for(train + test)))
    quick = settings(rounds=1, evaluate_base=False)
    rows = run_evolve(tmp_path, quick, models, say=lambda _: None)
    trained = read_json(tmp_path / "round-1" / "policy.json")
    adapter = tmp_path / "round-1" / "policy.adapter"
    assert read_json(adapter / "canopy_policy.json")["format"] == "canopy-policy-adapter"
    assert trained["adapter_sha256"] == folder_sha256(adapter)

    shutil.rmtree(tmp_path / "round-1" / "policy")
    said = []
    again = run_evolve(tmp_path, quick, models, say=said.append)
    rebuilt = read_json(tmp_path / "round-1" / "policy.json")
    assert rebuilt["rebuilt_from_adapter"] and rebuilt["same_sha256"]
    assert folder_sha256(tmp_path / "round-1" / "policy") == trained["sha256"]
    assert any("policy rebuilt from policy.adapter/" in line for line in said)
    assert not any("fine-tune" in line for line in said), said
    assert without_times(again) == without_times(rows)

    shutil.rmtree(tmp_path / "round-1" / "policy")
    shutil.rmtree(adapter)
    with pytest.raises(ValueError, match=r"delete \S*policy\.json to fine-tune round 1 again"):
        run_evolve(tmp_path, quick, models, say=lambda _: None)


def test_a_run_moved_to_another_folder_resumes_with_its_own_models(tmp_path, problems):
    """A run folder copied elsewhere (assets/evolve-300 → runs/evo-300 in any checkout) goes
    on from the models in the folder it is in now: no record names the old place, and the
    next round fine-tunes the moved round-1 policy, not a path that is gone."""
    import shutil

    train, test = problems
    models = ScriptedModels(ScriptedEngine(rules_for(train + test)))
    first, moved = tmp_path / "first", tmp_path / "elsewhere" / "run"
    run_evolve(first, settings(rounds=1, evaluate_base=False, finetune_from="previous"), models,
               say=lambda _: None)
    assert read_json(first / "round-1" / "policy.json")["policy"] == "round-1/policy"
    shutil.move(first, moved)
    models.asked.clear()
    rows = run_evolve(moved, settings(rounds=2, evaluate_base=False, finetune_from="previous"), models,
                      say=lambda _: None)
    assert rows[1]["policy_in"] == str(moved / "round-1" / "policy")
    assert read_json(moved / "round-2" / "policy.json")["start_from"] == "round-1/policy"
    assert models.asked and all(p is None or p.startswith(str(moved)) for p in models.asked)
    records = [p for p in moved.rglob("*.json") if "policy" not in p.parent.name]  # not model folders
    assert records and not [p for p in records if str(tmp_path) in p.read_text()]


def test_records_keep_run_paths_relative_and_read_old_absolute_ones_from_where_the_run_is(tmp_path):
    from backend.evolve.run_paths import anchored, portable

    run = tmp_path / "run"
    (run / "round-2" / "ppm").mkdir(parents=True)
    record = {"policy": str(run / "round-2" / "policy"), "ppm": "/elsewhere/ppm", "start_from": "base",
              "why": "/not/a/model is text", "nested": [{"path": str(run / "round-1" / "policy")}]}
    stored = portable(record, run)
    assert stored["policy"] == "round-2/policy" and stored["nested"][0]["path"] == "round-1/policy"
    assert stored["ppm"] == "/elsewhere/ppm" and stored["start_from"] == "base"
    back = anchored(stored, run)
    assert back["policy"] == str(run / "round-2" / "policy") and back["ppm"] == "/elsewhere/ppm"
    assert back["start_from"] == "base"
    # a record written before paths were portable, by a run that lived somewhere else
    old = {"ppm": "/work/main/runs/evo-300/round-2/ppm", "policy": str(tmp_path), "gguf": "runs/x.gguf"}
    fixed = anchored(old, run)
    assert fixed["ppm"] == str(run / "round-2" / "ppm")
    assert fixed["policy"] == str(tmp_path)  # exists: a model outside the run, kept
    assert fixed["gguf"] == "runs/x.gguf"  # relative, not a round's: as the user gave it
    climbing = {"ppm": "round-1/../../../etc", "policy": "/gone/round-1/../../x"}
    assert anchored(climbing, run) == climbing  # never re-rooted outside the run


def test_a_ppm_round_without_a_ppm_says_why(tmp_path, problems):
    train, test = problems
    models = ScriptedModels(ScriptedEngine(rules_for(train + test)))
    with pytest.raises(ValueError, match="round 3 is PPM-augmented and no PPM exists"):
        quick = settings(rounds=3, evaluate_base=False, test_count=0)
        run_evolve(tmp_path, quick, models, say=lambda _: None)


def test_with_ppm_training_off_the_pairs_are_kept_and_no_ppm_is_trained(tmp_path, problems):
    """--no-ppm-training (a CPU round measuring the policy only): the same pairs that would
    train a PPM (the bar lowered to 1) are written, and the round says why it trained none."""
    train, test = problems
    models = ScriptedModels(ScriptedEngine(rules_for(train + test, far_apart=True)))
    said: list[str] = []
    quick = settings(rounds=1, evaluate_base=False, test_count=1, ppm_min_pairs=1, train_ppm=False)
    (one,) = run_evolve(tmp_path, quick, models, say=said.append)
    assert one["ppm_pairs"] >= 3 and not one["ppm_trained"] and one["policy_trained"]
    assert "--no-ppm-training" in one["ppm_note"] and any("--no-ppm-training" in s for s in said)
    lines = (tmp_path / "round-1" / "ppm_pairs.jsonl").read_text().splitlines()
    assert len(lines) == one["ppm_pairs"] and not (tmp_path / "round-1" / "ppm").exists()


def test_ppm_rounds_with_ppm_training_off_and_no_ppm_are_refused_before_any_work():
    with pytest.raises(ValueError, match="--no-ppm-training"):
        settings(rounds=3, train_ppm=False)
    assert settings(rounds=3, train_ppm=False, ppm="some/ppm").rounds == 3


def test_a_trained_ppm_drives_the_ppm_augmented_round_3(tmp_path, problems):
    """With pairs enough (the bar lowered to 1), each round trains a PPM (the new policy's
    backbone + a value head) and measures it on the held-out share of its problems
    (gsm8k-train/1 is held out by its id's hash); round 3 searches with round 2's PPM."""
    train, test = problems
    models = ScriptedModels(ScriptedEngine(rules_for(train + test, far_apart=True)))
    quick = settings(rounds=3, evaluate_base=False, test_count=1, ppm_min_pairs=1,
                     ppm_train={"epochs": 1, "batch_size": 2, "lr": 1e-3, "threads": 1})
    rows = run_evolve(tmp_path, quick, models, say=lambda _: None)
    one, two, three = rows
    assert one["ppm_pairs"] >= 3 and one["ppm_trained"]
    assert 0.0 <= one["ppm_heldout_pairwise_accuracy"] <= 1.0
    assert three["kind"] == "ppm-augmented" and three["ppm_in"] == two["ppm"]
    from backend.train.ppm_data import read_tree, tree_file

    tree = read_tree(tree_file(tmp_path / "round-3" / "trees", train[0]))
    assert tree.started.spec["ppm"] == two["ppm"]
    assert any(n.ppm is not None for n in tree.nodes.values())  # the PPM valued new steps
    ppm = read_json(tmp_path / "round-1" / "ppm.json")
    assert ppm["heldout_pairs"] >= 1 and ppm["train_pairs"] >= 2
    marker = read_json(tmp_path / "round-1" / "ppm" / "canopy_ppm.json")
    assert marker["gradient_checkpointing"]  # the 12 GB budget (bench/ppm_memory.py)


def test_the_charts_plot_the_report_rows():
    from backend.evolve.charts import round_figure

    rows = [
        {"round": 0, "heldout_greedy_accuracy": 0.25, "heldout_search_accuracy": 0.2},
        {"round": 1, "heldout_greedy_accuracy": 0.35, "heldout_search_accuracy": 0.3, "solved_in_search": 8,
         "sft_examples": 15, "ppm_pairs": 4, "train_loss_first": 0.9, "train_loss_last": 0.5},
        {"round": 2, "solved_in_search": 9, "solved_in_search_won_lost": [3, 2]},
    ]
    traces = {t.name: t for t in round_figure(rows).data}
    assert list(traces["greedy"].y) == [0.25, 0.35, None] and list(traces["search"].x) == [0, 1, 2]
    # a solved bar's hover says what the count hides; round 1 has nothing to count against
    assert list(traces["solved in search"].hovertext) == ["", "won 3, lost 2 against round 1 (same problems)"]
    # a run folder is data: anything but two counts (a hostile report.json) makes no hover text
    hostile = [{"round": 2, "solved_in_search": 9, "solved_in_search_won_lost": ["<img onerror=x>", 1]}]
    solved = next(t for t in round_figure(hostile).data if t.name == "solved in search")
    assert list(solved.hovertext) == [""]
    assert list(traces["SFT examples"].x) == [1, 2] and list(traces["SFT examples"].y) == [15, None]
    assert list(traces["loss, last step"].y) == [0.5, None]
    assert not any("self-consistency" in name for name in traces)  # a run without it: no line
    rows[0]["heldout_sc_accuracy"] = 0.37  # --eval-sc on round 0 only, so far
    sc = next(t for t in round_figure(rows).data if t.name == "self-consistency (search's tokens)")
    assert list(sc.x) == [0, 1, 2] and list(sc.y) == [0.37, None, None]


def test_the_charts_keep_equal_accuracies_apart_and_say_why_panels_are_empty():
    from backend.evolve.charts import round_figure

    fig = round_figure([{"round": 0, "heldout_greedy_accuracy": 0.26, "heldout_search_accuracy": 0.26}])
    traces = {t.name: t for t in fig.data}
    greedy, search = traces["greedy"].marker, traces["search"].marker
    assert greedy.symbol == "circle-open" and greedy.size > search.size  # one ring around one dot
    assert [a.text for a in fig.layout.annotations if a.text.startswith("drawn")] == [
        "drawn when round 1 ends"] * 2
    later = round_figure([{"round": 0}, {"round": 1, "sft_examples": 3}])
    assert not [a for a in later.layout.annotations if a.text.startswith("drawn")]


def test_the_cpu_of_each_held_out_result_is_recorded_and_a_round_on_another_cpu_is_flagged(tmp_path):
    """llama.cpp's greedy answers change with the CPU (19 of 100 between an AVX-512 and an AVX2
    machine): a round evaluated elsewhere than round 0 says so under its table."""
    from backend.evolve.machine import describe_cpu
    from backend.evolve.manifest import write_json
    from backend.evolve.report import markdown
    from backend.evolve.stages import cpu_note, eval_cpus

    epyc = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx avx2 fma\n"
    xeon = "model name\t: Intel Xeon\nflags\t\t: avx2 avx512f avx512_bf16 amx_tile\n"
    assert describe_cpu(epyc) == "AMD EPYC (avx2)" and describe_cpu(xeon) == "Intel Xeon (amx)"
    assert describe_cpu("model name : Old\nflags : sse2\n") == "Old"

    def results(round_, cpu):
        for kind in ("greedy", "search"):
            row = {"id": "gsm8k/100", "correct": True, **({"cpu": cpu} if cpu else {})}
            write_json(tmp_path / round_ / "eval" / kind / "gsm8k_100.json", row)

    results("round-0", "Intel Xeon (amx)")
    results("round-1", "AMD EPYC (avx2)")
    results("round-2", "Intel Xeon (amx)")
    assert eval_cpus(tmp_path / "round-1") == ["AMD EPYC (avx2)"]
    note = cpu_note(tmp_path / "round-1")
    assert "AMD EPYC (avx2)" in note and "round 0 on Intel Xeon (amx)" in note
    assert cpu_note(tmp_path / "round-2") is None  # the same CPU: nothing to say
    results("round-3", None)  # files from before the CPU was recorded: unknown, not flagged
    assert eval_cpus(tmp_path / "round-3") == [] and cpu_note(tmp_path / "round-3") is None
    table = markdown([{"round": 1, "heldout_cpu_note": note}, {"round": 2, "heldout_cpu_note": None}])
    assert "Machines:\n- round 1: held-out evaluation on AMD EPYC (avx2)" in table
    assert "- round 2" not in table


def test_a_round_whose_own_evaluations_ran_on_different_cpus_says_so(tmp_path):
    """Round 3 of evo-300: greedy on one machine, search on another. Its search against its
    greedy (or self-consistency) then compares machines as well as methods."""
    from backend.evolve.manifest import write_json
    from backend.evolve.report import baseline_report, markdown
    from backend.evolve.stages import cpu_note

    def result(round_, kind, cpu):
        write_json(tmp_path / round_ / "eval" / kind / "gsm8k_100.json",
                   {"id": "gsm8k/100", "correct": True, "cpu": cpu})

    for kind in ("greedy", "search"):
        result("round-0", kind, "Intel Xeon (amx)")
    result("round-3", "greedy", "AMD EPYC (avx512)")
    result("round-3", "search", "Intel Xeon (amx)")
    note = cpu_note(tmp_path / "round-3")
    assert note.startswith("held-out evaluation on AMD EPYC (avx512) + Intel Xeon (amx), round 0 on Intel")
    assert "different CPUs (greedy on AMD EPYC (avx512), search on Intel Xeon (amx))" in note
    assert cpu_note(tmp_path / "round-0") is None  # one CPU, and round 0 is not compared with itself
    result("round-0", "sc", "AMD EPYC (avx2)")  # its self-consistency measured later, elsewhere
    base_note = cpu_note(tmp_path / "round-0")
    assert base_note.startswith("this round's evaluations ran on different CPUs (greedy on Intel")
    assert "sc on AMD EPYC (avx2)" in base_note and "round 0 on" not in base_note
    row = baseline_report({"problems": 1}, cpu_note=base_note)
    assert "Machines:\n- round 0: this round's evaluations ran on different CPUs" in markdown([row])
    assert "heldout_cpu_note" not in baseline_report({"problems": 1})  # nothing to say: no key


def test_self_consistency_is_added_to_evaluated_rounds_at_their_searches_tokens(tmp_path, problems):
    """``eval_sc`` asked after the rounds were evaluated: each round (round 0 too) gains
    self-consistency with k = its search's tokens / its greedy's, from one batched call a
    problem; greedy and search are not run again, and the report compares the search with it."""
    from backend.evolve.stages import eval_tokens

    train, test = problems
    engine = ScriptedEngine(rules_for(train + test))
    models = ScriptedModels(engine)
    run_evolve(tmp_path, settings(rounds=1), models, say=lambda _: None)
    before = {p: p.read_bytes() for p in tmp_path.glob("round-*/eval/*/*.json")}
    calls = len(engine.calls)

    rows = run_evolve(tmp_path, settings(rounds=1, eval_sc=True), models, say=lambda _: None)

    assert {p: p.read_bytes() for p in before} == before, "greedy and search were not run again"
    sampled = engine.calls[calls:]
    for number, row in zip((0, 1), rows, strict=True):
        folder = tmp_path / f"round-{number}"
        tokens = eval_tokens(folder)
        k = max(2, round(tokens["search"] / tokens["greedy"]))
        assert read_json(folder / "eval.json")["sc_samples"] == row["heldout_sc_samples"] == k
        assert len(list((folder / "eval" / "sc").glob("*.json"))) == len(test)
        assert row["heldout_sc_accuracy"] == 1.0  # every scripted sample is the right program
        assert row["heldout_sc_tokens"] == tokens["sc"] and tokens["sc"] > tokens["greedy"]
        search_wrong = round((1 - row["heldout_search_accuracy"]) * len(test))
        assert row["heldout_search_vs_sc_won_lost"] == [0, search_wrong]  # right wherever the search was
    assert rows[1]["heldout_sc_won_lost"] == [0, 0]
    assert rows[0]["heldout_sc_won_lost"] is None  # round 0 is what the others count against
    assert [c["n"] for c in sampled] == [rows[0]["heldout_sc_samples"]] * len(test) + [
        rows[1]["heldout_sc_samples"]] * len(test), "one call of k samples a problem, nothing else"
    assert read_json(tmp_path / "manifest.json")["settings"]["eval_sc"] is True
    report = (tmp_path / "report.md").read_text()
    assert "Self-consistency at the search's tokens" in report
    assert "search won/lost vs self-consistency" in report

    calls = len(engine.calls)
    again = run_evolve(tmp_path, settings(rounds=1), models, say=lambda _: None)
    assert len(engine.calls) == calls and again[1]["heldout_sc_accuracy"] == 1.0  # kept, not re-run


def test_self_consistency_samples_match_the_search_and_the_search_is_counted_against_it(tmp_path):
    from backend.evolve.manifest import write_json
    from backend.evolve.report import markdown, sc_keys
    from backend.evolve.stages import sc_samples, versus_search

    def results(kind, rows):
        for pid, (ok, tokens) in rows.items():
            write_json(tmp_path / "eval" / kind / (pid.replace("/", "_") + ".json"),
                       {"id": pid, "correct": ok, "tokens": tokens})

    with pytest.raises(ValueError, match="matched to the search's tokens"):
        sc_samples(tmp_path)  # nothing to match yet
    results("greedy", {"gsm8k/100": (True, 150), "gsm8k/101": (False, 150)})
    results("search", {"gsm8k/100": (True, 2300), "gsm8k/101": (False, 2460)})
    assert sc_samples(tmp_path) == 16  # 2380 / 150 = 15.9
    results("search", {"gsm8k/100": (True, 100), "gsm8k/101": (False, 100)})
    assert sc_samples(tmp_path) == 2  # a search cheaper than two programs still gets a vote of two
    assert versus_search(tmp_path) is None  # no self-consistency results yet
    results("sc", {"gsm8k/100": (False, 900), "gsm8k/101": (True, 900), "gsm8k/102": (True, 900)})
    assert versus_search(tmp_path) == [1, 1]  # only the problems both ran count
    keys = sc_keys({"problems": 2, "sc": {"accuracy": 0.5}, "sc_samples": 6}, {"sc": 900.0}, None, [1, 1])
    assert keys == {"heldout_sc_accuracy": 0.5, "heldout_sc_samples": 6, "heldout_sc_tokens": 900.0,
                    "heldout_search_vs_sc_won_lost": [1, 1], "heldout_sc_won_lost": None}
    assert sc_keys({"problems": 2}, None, None, None) == {}  # a round without it reads as before
    row = {"round": 1, "heldout_search_accuracy": 0.5, **keys}
    assert "| 1 | 0.500 | 0.500 | 6 | – | 900.0 | 1/1 | – |" in markdown([row])
    assert "self-consistency" not in markdown([{"round": 1}])


def test_self_consistency_with_no_held_out_problems_is_an_empty_row_not_an_error(tmp_path, problems):
    train, test = problems
    models = ScriptedModels(ScriptedEngine(rules_for(train + test)))
    rows = run_evolve(tmp_path, settings(rounds=1, test_count=0, eval_sc=True), models, say=lambda _: None)
    assert [r["heldout_sc_accuracy"] for r in rows] == [None, None]
    assert [r["heldout_search_vs_sc_won_lost"] for r in rows] == [None, None]
