"""An evolved policy as a GGUF for the llama.cpp engine (backend/evolve/gguf_export.py).

The round trip is the real one: the embedded GGUF as transformers loads it (the HF folder the
transformers engine caches, float32, what fine-tuning starts from) exported back must give
llama.cpp's greedy text of the original GGUF token for token; one scaled layer must change
it; a policy of another shape is refused before anything is written.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.engines.conftest import requires_llamacpp

pytest.importorskip("gguf")

QUESTIONS = [
    "Write a Python function that returns the sum of a list.",
    "What is 17 * 23? Think step by step.",
    "Natalia sold clips to 48 of her friends in April, and then half as many in May. How many in all?",
]
TOKENS = 24
CHANGED = "model.layers.6.mlp.up_proj.weight"  # Q5_0 in the base: re-encoded by the exporter


def greedy(path: str | None) -> list[tuple[str, int]]:
    from backend.engines.llamacpp import LlamaCppEngine

    engine = LlamaCppEngine.load(path, max_batch=4, seed=0)
    try:
        prompts = [engine.chat_prompt([{"role": "user", "content": q}]) for q in QUESTIONS]
        rows = engine.generate(prompts, max_tokens=TOKENS, temperature=0)
        return [(row[0].text, row[0].tokens) for row in rows]
    finally:
        engine.close()


@pytest.fixture(scope="module")
def hf_base() -> Path:
    """The embedded GGUF converted by transformers (cached by the transformers engine)."""
    from backend.engines.embedded import resolve_model
    from backend.engines.transformers import TransformersEngine, _load_gguf_source

    source = resolve_model(None)
    _where, converted = _load_gguf_source(source, True)
    if converted is None:
        TransformersEngine.load(source, device="cpu", dtype="float32").close()
        _where, converted = _load_gguf_source(source, True)
    if converted is None:
        pytest.skip("no converted copy of the embedded model could be cached")
    return converted


@pytest.fixture(scope="module")
def base_text() -> list[tuple[str, int]]:
    return greedy(None)


@pytest.fixture(scope="module")
def changed_policy(hf_base, tmp_path_factory) -> Path:
    """A policy folder (RUN/round-1/policy) whose one MLP layer is scaled by 0.5."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("run") / "round-1" / "policy"
    folder.mkdir(parents=True)
    shutil.copy(hf_base / "config.json", folder / "config.json")
    with safe_open(str(hf_base / "model.safetensors"), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not iterable)
    tensors[CHANGED] = tensors[CHANGED] * 0.5
    save_file(tensors, str(folder / "model.safetensors"))
    return folder


def needs_model(test):
    """The embedded model, on llama.cpp (integration)."""
    return pytest.mark.model(requires_llamacpp(test))


@pytest.mark.slow  # ~27 s: exports all 291 tensors; the block-level tests below keep the rule in the suite
@needs_model
def test_round_trip_gives_the_original_gguf_greedy_tokens(hf_base, base_text, tmp_path):
    from backend.evolve.gguf_export import export_gguf
    from backend.evolve.manifest import folder_sha256

    res = export_gguf(hf_base, tmp_path / "rt.gguf")
    assert res.source_sha256 == folder_sha256(hf_base)
    assert len(res.unchanged) == sum(res.types.values()) == 291 and not res.retyped  # nothing re-encoded
    assert greedy(str(res.path)) == base_text


@pytest.mark.slow  # 13 s; the export tests above check the written blocks against the policy
@needs_model
def test_reencoding_the_base_weights_gives_the_base_blocks_back():
    """The encoder on its own: Q5_0 and Q8_0 tensors dequantised (as transformers loads them)
    and re-encoded are byte for byte the base's blocks; the K-quants, which gguf.quants cannot
    write, become Q8_0."""
    import gguf
    import numpy as np
    from gguf import GGMLQuantizationType as T

    from backend.engines.embedded import resolve_model
    from backend.evolve.gguf_export import _encode, read_gguf, target_type

    tensors = {t.name: t for t in read_gguf(resolve_model(None)).tensors}
    for name in ("blk.0.attn_q.weight", "blk.0.attn_v.weight", "blk.0.attn_q.bias", "blk.0.attn_k.weight"):
        t = tensors[name]
        assert target_type(t.tensor_type) == t.tensor_type
        again = _encode(gguf.quants.dequantize(t.data, t.tensor_type), t.tensor_type)
        assert np.array_equal(again.view(np.uint8).reshape(-1), np.asarray(t.data).view(np.uint8).reshape(-1))
    assert {target_type(T.Q4_K), target_type(T.Q6_K)} == {T.Q8_0}


@needs_model
def test_only_a_bit_for_bit_unchanged_weight_keeps_the_base_blocks():
    """What decides copy or re-encode: one element off by one ulp is a changed weight."""
    import gguf
    import numpy as np

    from backend.engines.embedded import resolve_model
    from backend.evolve.gguf_export import _same_as_base, read_gguf

    for t in read_gguf(resolve_model(None)).tensors:
        if t.name in ("blk.0.ffn_down.weight", "blk.0.attn_q.weight", "blk.0.attn_norm.weight"):
            weight = gguf.quants.dequantize(t.data, t.tensor_type).copy()
            assert _same_as_base(t, weight)
            weight.flat[7] = np.nextafter(weight.flat[7], np.float32(1))
            assert not _same_as_base(t, weight), t.name


@pytest.mark.slow  # writes a 2.5 GB policy folder and exports it: about a minute here
@needs_model
def test_a_scaled_layer_changes_the_greedy_text(changed_policy, base_text):
    import gguf
    import numpy as np
    from safetensors import safe_open

    from backend.evolve.gguf_export import export_gguf, read_gguf

    res = export_gguf(changed_policy, changed_policy.with_name("policy.gguf"))
    assert res.retyped == [] and "blk.6.ffn_up.weight" not in res.unchanged
    assert len(res.unchanged) == sum(res.types.values()) - 1  # the other 290 keep the base's blocks
    written = next(t for t in read_gguf(res.path).tensors if t.name == "blk.6.ffn_up.weight")
    with safe_open(str(changed_policy / "model.safetensors"), framework="pt") as f:
        want = f.get_tensor(CHANGED).numpy()
    got = gguf.quants.dequantize(written.data, written.tensor_type)
    assert np.abs(got - want).max() <= 0.05 * np.abs(want).max()  # Q5_0: 1/16 of a block's range
    assert greedy(str(res.path)) != base_text


@pytest.mark.slow  # shares the scaled policy above
@needs_model
def test_evolve_searches_a_policy_on_llamacpp_from_its_exported_gguf(changed_policy, monkeypatch):
    """LocalModels(policy_engine="llamacpp") runs a policy from RUN/round-N/policy.gguf and
    does not export again when that file already records the policy's checksum."""
    import backend.evolve.gguf_export as gx
    from backend.evolve.models import LocalModels

    gguf_path = changed_policy.with_name("policy.gguf")
    if not gguf_path.is_file():
        gx.export_gguf(changed_policy, gguf_path)

    def no_export(*args, **kwargs):
        raise AssertionError("exported again although policy.gguf is this policy's")

    monkeypatch.setattr(gx, "export_gguf", no_export)
    models = LocalModels("llamacpp", None, policy_engine="llamacpp")
    try:
        engine = models.engine(str(changed_policy))
        assert engine.info.name == "llamacpp" and Path(engine.info.model).name == "policy.gguf"
        assert models.prepare_policy(str(changed_policy))["gguf"] == str(gguf_path)
        assert models.describe(str(changed_policy))["engine"] == "llamacpp"
    finally:
        models.close()


@needs_model
def test_a_policy_of_another_shape_is_refused_before_writing(hf_base, tmp_path):
    from backend.cli import main
    from backend.evolve.gguf_export import PolicyMismatch, export_gguf

    config = json.loads((hf_base / "config.json").read_text())
    for key, value, said in [("num_hidden_layers", 23, "num_hidden_layers 23 (base: 24)"),
                             ("model_type", "llama", "architecture 'llama'"),
                             ("vocab_size", 151665, "vocab_size 151665")]:
        policy = tmp_path / key
        policy.mkdir()
        (policy / "config.json").write_text(json.dumps({**config, key: value}))
        with pytest.raises(PolicyMismatch, match="does not match the base GGUF") as err:
            export_gguf(policy, tmp_path / f"{key}.gguf")
        assert said in str(err.value)
        assert not list(tmp_path.glob(f"{key}.gguf*"))
    assert main(["export-gguf", str(tmp_path / "num_hidden_layers"), str(tmp_path / "x.gguf")]) == 2


def test_a_policy_engine_that_cannot_run_a_policy_is_refused():
    from backend.evolve.models import LocalModels

    with pytest.raises(ValueError, match="transformers, vllm, llamacpp"):
        LocalModels(policy_engine="openai")
    with pytest.raises(ValueError, match="GGUF base"):
        LocalModels("transformers", "Qwen/Qwen2.5-0.5B-Instruct", policy_engine="llamacpp")


def test_on_vllm_a_fine_tuned_policy_searches_from_its_merged_folder(monkeypatch):
    """The paper presets' GPU path: a round's policy folder goes to vLLM as the HF model it is
    (vLLM itself needs CUDA: the call is recorded here, the adapter is tests/engines' vLLM
    tests'), the base model to the run's engine; nothing is exported to GGUF."""
    from backend.evolve.models import LocalModels

    loaded = []
    monkeypatch.setattr("backend.engines.load_engine", lambda name, model=None, **kw: loaded.append(
        (name, model, kw)) or object())
    models = LocalModels("vllm", "Qwen/Qwen2.5-Math-7B", policy_engine="vllm")
    assert models.prepare_policy("runs/r/round-1/policy") == {}
    models.engine("runs/r/round-1/policy")
    models.engine(None)
    assert loaded == [("vllm", "runs/r/round-1/policy", {}), ("vllm", "Qwen/Qwen2.5-Math-7B", {})]


def test_the_policy_stage_prepares_each_new_policy_for_its_engine(tmp_path):
    """With ``--policy-engine llamacpp`` the policy stage exports the GGUF right after
    fine-tuning (LocalModels.prepare_policy) and policy.json records it; a round with the tiny
    Qwen2 and the scripted engine, the GGUF step stood in for."""
    pytest.importorskip("trl")
    pytest.importorskip("peft")
    from backend.engines.scripted import ScriptedEngine
    from backend.evolve.rounds import problem_sets, run_evolve
    from tests.evolve.test_rounds import ScriptedModels, rules_for, settings

    class PreparingModels(ScriptedModels):
        def prepare_policy(self, policy):
            self.prepared = policy
            return {"gguf": policy + ".gguf", "gguf_seconds": 1.5}

    train, test = problem_sets(settings(rounds=1, evaluate_base=False))
    models = PreparingModels(ScriptedEngine(rules_for(train + test)))
    run_evolve(tmp_path / "run", settings(rounds=1, evaluate_base=False), models, say=lambda _s: None)
    summary = json.loads((tmp_path / "run" / "round-1" / "policy.json").read_text())
    assert models.prepared == str(tmp_path / "run" / "round-1" / "policy")
    assert summary["policy"] == "round-1/policy"  # the record keeps the run's paths relative
    assert summary["gguf"] == "round-1/policy.gguf" and summary["gguf_seconds"] == 1.5


def test_one_string_field_is_read_by_walking_the_header(tmp_path):
    """``string_field`` seeks over every other value (string arrays included, as a vocabulary
    is) and gives what gguf's own reader gives; a file that is not GGUF, or is cut short, is a
    ValueError, and ``gguf_source_sha`` says None for both."""
    import gguf

    from backend.evolve.gguf_export import SOURCE_SHA_KEY, gguf_source_sha, string_field

    path = tmp_path / "stub.gguf"
    writer = gguf.GGUFWriter(str(path), "qwen2")
    writer.add_array("tokenizer.ggml.tokens", ["a", "bb", "ccc"] * 1000)
    writer.add_array("tokenizer.ggml.scores", [0.5] * 3000)
    writer.add_uint32("qwen2.block_count", 24)
    writer.add_bool("flag", True)
    writer.add_string(SOURCE_SHA_KEY, "ab" * 32)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    reader = gguf.GGUFReader(str(path))
    for key in ("general.architecture", SOURCE_SHA_KEY):
        assert string_field(path, key) == reader.fields[key].contents()
    assert string_field(path, "no.such.key") is None and gguf_source_sha(path) == "ab" * 32
    with pytest.raises(ValueError, match="not a string"):
        string_field(path, "qwen2.block_count")

    (tmp_path / "text.gguf").write_text("not a model", encoding="utf-8")
    (tmp_path / "cut.gguf").write_bytes(path.read_bytes()[:200])
    for bad in ("text.gguf", "cut.gguf"):
        with pytest.raises(ValueError):
            string_field(tmp_path / bad, SOURCE_SHA_KEY)
        assert gguf_source_sha(tmp_path / bad) is None


def test_the_header_reader_gives_gguf_readers_values_and_shapes_without_the_arrays(tmp_path):
    """``read_header`` (what the LoRA export checks an adapter against): every scalar and
    string, every tensor's numpy shape, as gguf's reader gives them; arrays are passed over;
    a cut-off header is a ValueError."""
    import gguf
    import numpy as np

    from backend.gguf_header import read_header

    path = tmp_path / "small.gguf"
    writer = gguf.GGUFWriter(str(path), "qwen2")
    writer.add_array("tokenizer.ggml.tokens", ["a", "bb"] * 500)
    writer.add_uint32("qwen2.block_count", 2)
    writer.add_float32("adapter.lora.alpha", 8.0)
    writer.add_bool("flag", True)
    writer.add_tensor("blk.0.attn_q.weight", np.zeros((6, 4), dtype=np.float16))
    writer.add_tensor("blk.1.ffn_up.weight", np.zeros((3, 5, 2), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    header = read_header(path)
    reader = gguf.GGUFReader(str(path))
    assert header.shapes == {t.name: tuple(int(d) for d in reversed(t.shape)) for t in reader.tensors}
    assert header.shapes["blk.0.attn_q.weight"] == (6, 4)
    assert header.fields["qwen2.block_count"] == 2 and header.fields["flag"] is True
    assert header.fields["adapter.lora.alpha"] == 8.0 and header.fields["general.architecture"] == "qwen2"
    assert "tokenizer.ggml.tokens" not in header.fields
    (tmp_path / "cut.gguf").write_bytes(path.read_bytes()[:120])
    with pytest.raises(ValueError):
        read_header(tmp_path / "cut.gguf")


# --- a round's LoRA adapter as llama.cpp's LoRA GGUF (backend/evolve/lora_gguf.py) -------------

LORA_TARGETS = ["q_proj", "v_proj", "up_proj"]


def _lora_adapter(hf_base: Path, folder: Path, *, std: float) -> Any:
    """A rank-4 PEFT adapter over the embedded model with B drawn at ``std`` (0: an adapter that
    changes nothing), rounded and saved as a fine-tuned round saves it; the PeftModel back."""
    import torch
    import transformers
    from peft import LoraConfig, get_peft_model

    from backend.train.sft import round_adapter, save_adapter

    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_pretrained(hf_base, dtype=torch.float32)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=LORA_TARGETS))
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, std) if std else param.zero_()
    round_adapter(peft_model)
    save_adapter(peft_model, folder)
    return peft_model


def _last_logits_llamacpp(base: str, lora: str | None, texts: list[str]) -> list[Any]:
    """Last-token logits from llama-cpp-python's own Llama (its lora_path): the reference the
    adapter file is checked with, apart from Canopy's engine."""
    import llama_cpp.llama_cpp as lib
    import numpy as np
    from llama_cpp import Llama

    default_params = lib.llama_model_default_params

    def params():  # extra buffer types off, as Canopy's engine loads: AMX repacking segfaults
        p = default_params()  # on multi-token prompts (backend/engines/llamacpp.py)
        p.use_extra_bufts = False
        return p

    lib.llama_model_default_params = params
    try:
        llm = Llama(model_path=base, lora_path=lora, n_threads=2, n_ctx=512, verbose=False, logits_all=True)
    finally:
        lib.llama_model_default_params = default_params
    try:
        out = []
        for text in texts:
            llm.reset()
            tokens = llm.tokenize(text.encode(), add_bos=False)
            llm.eval(tokens)
            out.append(np.array(llm.scores[llm.n_tokens - 1], dtype=np.float64))
        return out
    finally:
        llm.close()


@needs_model
def test_a_lora_gguf_changes_llamacpp_as_the_merged_adapter_changes_transformers(hf_base, tmp_path):
    """The adapter file is right in layout and scale: the change it makes to llama.cpp's logits
    (quantised base + LoRA) points the way the same adapter changes transformers' float32
    logits, with the same size (a missing alpha/r would halve it here; a transposed A or B
    would not load)."""
    import numpy as np
    import torch

    from backend.engines.embedded import resolve_model
    from backend.evolve.lora_gguf import export_lora_gguf
    from backend.gguf_header import lora_base

    peft_model = _lora_adapter(hf_base, tmp_path / "policy.adapter", std=0.02)
    res = export_lora_gguf(tmp_path / "policy.adapter", tmp_path / "policy.lora.gguf")
    assert res.tensors == 2 * 3 * 24 and res.rank == 4 and res.alpha == 8
    assert res.size_bytes < 2e6 and lora_base(res.path) == "embedded"
    assert lora_base(resolve_model(None)) is None  # the base itself is no adapter

    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(hf_base)
    texts = [f"Question: {q}\nAnswer:" for q in QUESTIONS]
    hf_on, hf_off = [], []
    with torch.no_grad():
        for text in texts:
            ids = tokenizer(text, return_tensors="pt").input_ids
            hf_on.append(peft_model(ids).logits[0, -1].double().numpy())
            with peft_model.disable_adapter():
                hf_off.append(peft_model(ids).logits[0, -1].double().numpy())
    base = resolve_model(None)
    cpp_off = _last_logits_llamacpp(base, None, texts)
    cpp_on = _last_logits_llamacpp(base, str(res.path), texts)
    for on, off, c_on, c_off in zip(hf_on, hf_off, cpp_on, cpp_off, strict=True):
        want, got = on - off, c_on - c_off
        assert np.linalg.norm(want) > 0.05 * np.linalg.norm(off), "the adapter must matter"
        cosine = want @ got / (np.linalg.norm(want) * np.linalg.norm(got))
        assert cosine > 0.9, cosine
        assert 0.8 < np.linalg.norm(got) / np.linalg.norm(want) < 1.25


def _synthetic_adapter(folder: Path, *, std: float) -> Path:
    """A PEFT-layout rank-4 adapter on every layer's q, v and up projections of the embedded
    model, drawn without loading the model (B = 0 when ``std`` is 0)."""
    import json

    import torch
    from safetensors.torch import save_file

    shapes = {"self_attn.q_proj": (896, 896), "self_attn.v_proj": (128, 896), "mlp.up_proj": (4864, 896)}
    gen = torch.Generator().manual_seed(0)
    tensors = {}
    for layer in range(24):
        for module, (out_dim, in_dim) in shapes.items():
            key = f"base_model.model.model.layers.{layer}.{module}"
            tensors[f"{key}.lora_A.weight"] = (torch.randn(4, in_dim, generator=gen) * 0.03).half()
            tensors[f"{key}.lora_B.weight"] = (torch.randn(out_dim, 4, generator=gen) * std).half()
    folder.mkdir(parents=True)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    config = {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": LORA_TARGETS}
    (folder / "adapter_config.json").write_text(json.dumps(config))
    return folder


@needs_model
def test_the_llamacpp_engine_runs_a_lora_gguf_over_the_base_it_names(base_text, tmp_path):
    """``--engine llamacpp --model ADAPTER.gguf``: a zero adapter gives the base's greedy text
    (and hidden states) exactly; a strong one changes both; the engine says which base it loaded."""
    import numpy as np

    from backend.engines.embedded import resolve_model
    from backend.engines.llamacpp import LlamaCppEngine
    from backend.evolve.lora_gguf import export_lora_gguf

    zero = export_lora_gguf(_synthetic_adapter(tmp_path / "zero", std=0.0), tmp_path / "zero.gguf").path
    assert greedy(str(zero)) == base_text
    strong = export_lora_gguf(_synthetic_adapter(tmp_path / "strong", std=0.2), tmp_path / "strong.gguf").path
    assert greedy(str(strong)) != base_text
    engine = LlamaCppEngine.load(str(strong), max_batch=1)
    try:
        assert engine.info.model == str(strong)
        assert engine.info.details["lora_base"] == resolve_model(None)
    finally:
        engine.close()
    # a hidden-state context on that engine (the head PPM's) sees the model as loaded: adapted
    base_states = _hidden(None)
    assert np.array_equal(_hidden(str(zero)), base_states)
    assert not np.allclose(_hidden(str(strong)), base_states, atol=1e-3)


def _hidden(model: str | None) -> Any:
    from backend.engines.llamacpp import LlamaCppEngine
    from backend.engines.llamacpp_hidden import LlamaCppHiddenStates

    engine = LlamaCppEngine.load(model, max_batch=1)
    try:
        states = LlamaCppHiddenStates(engine)
        try:
            return states.last_hidden(["Question: what is 2 + 3?\nAnswer:"])
        finally:
            states.close()
    finally:
        engine.close()


def test_an_adapter_llamacpp_cannot_apply_is_refused_before_writing(tmp_path):
    import json

    from backend.evolve.lora_gguf import export_lora_gguf
    from backend.gguf_header import AdapterMismatch

    folder = tmp_path / "adapter"
    folder.mkdir()
    with pytest.raises(AdapterMismatch, match="not a saved LoRA adapter"):
        export_lora_gguf(folder, tmp_path / "out.gguf")
    (folder / "adapter_model.safetensors").write_bytes(b"")
    refused = (
        ({"use_dora": True}, "use_dora"),
        ({"modules_to_save": ["lm_head"]}, "modules_to_save"),
        ({"peft_type": "IA3"}, "not LORA"),
    )
    for extra, why in refused:
        config = {"peft_type": "LORA", "r": 4, "lora_alpha": 8, **extra}
        (folder / "adapter_config.json").write_text(json.dumps(config))
        with pytest.raises(AdapterMismatch, match=why):
            export_lora_gguf(folder, tmp_path / "out.gguf")
    assert not (tmp_path / "out.gguf").exists()


def test_a_lora_gguf_that_names_no_base_is_refused_with_the_fix(tmp_path):
    import gguf
    import numpy as np

    from backend.gguf_header import AdapterMismatch, lora_base

    path = tmp_path / "foreign.gguf"
    writer = gguf.GGUFWriter(path, "qwen2")
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_tensor("blk.0.attn_q.weight.lora_a", np.zeros((4, 8), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(AdapterMismatch, match="names no base model"):
        lora_base(path)


@requires_llamacpp
def test_a_lora_gguf_whose_base_is_not_a_model_is_refused_before_loading(tmp_path):
    """The base an adapter names is file data: it is loaded only if it is a GGUF that exists."""
    import gguf

    from backend.engines.llamacpp import LlamaCppEngine
    from backend.gguf_header import LORA_BASE_KEY

    for base in ("/etc/passwd", str(tmp_path / "missing.gguf")):
        path = tmp_path / "hostile.gguf"
        writer = gguf.GGUFWriter(path, "qwen2")
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(LORA_BASE_KEY, base)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        with pytest.raises(ValueError, match="which is not a GGUF here"):
            LlamaCppEngine.load(str(path))
