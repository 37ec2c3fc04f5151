"""The head PPM: rStar-Math's value head over the frozen policy model's own hidden states.

The paper's PPM is a fine-tuned backbone plus a linear value head (``ppm.py``). On a CPU the
fast variant keeps the backbone frozen: it is the embedded model the policy already runs, and
its last-token hidden state (after the final norm) comes from llama.cpp in a second context on
the same loaded model (``backend/engines/llamacpp_hidden.py``). Only the head is trained, so a
step's value is one dot product: v = w·h + b, and the search gets tanh(v / 5) (official
``rm_generate``). Scoring needs numpy only; training (:func:`train_head`) uses torch.

A head PPM directory holds two JSON files (no pickle: loading one runs no code):

- ``canopy_ppm.json``: ``{"format": "canopy-ppm-head", "version": 1, "backbone": {"sha256":
  <the GGUF's sha256>, "name": <its file name>, "hidden_size": N}, "feature": "llama.cpp
  last-token hidden state (final norm)", ...training info...}``;
- ``value_head.json``: ``{"weight": [N floats], "bias": float}``.

Version 2 adds the PPM's own fine-tuned top layers: ``"adapter": {"file": "ppm_lora.gguf",
"sha256": ...}`` names a llama.cpp LoRA GGUF in the same directory (made by
``backend/train/top_layers_export.py`` from a ``TopLayersPPM``), applied in the hidden-state
context only, so the policy keeps running the plain model while the PPM reads its adapted
states (the paper's PPM: a fine-tuned backbone plus the head, with its bottom layers frozen).

:meth:`HeadPPM.load` refuses (ValueError) a directory whose files are malformed, and an
engine that is not a llama.cpp engine: a head is meaningless on another model's hidden states,
so its backbone is checked by sha256. When the policy runs another model (an evolve round's
fine-tuned policy, say), a head trained on the embedded model loads that model beside the
policy (:func:`own_backbone`): as in the paper, the PPM is then a model of its own that values
the policy's steps as text. So does a head trained on another model whose GGUF lies beside the
PPM's folder under the name its marker records (an evolve round's ``round-N/policy.gguf`` next
to ``round-N/ppm/``), its sha256 checked: round 3's PPM can value round 4's policy's steps.
Any other backbone must be the policy's own model.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from backend.reward.step_scorer import MARKER, read_marker

FORMAT = "canopy-ppm-head"
VERSION = 1
VERSION_ADAPTER = 2  # a head over the PPM's own LoRA adapter (the "adapter" entry)
HEAD_FILE = "value_head.json"
ADAPTER_FILE = "ppm_lora.gguf"
MAX_ADAPTER_BYTES = 64 << 20  # a rank-16 LoRA of 4 layers of the 0.5B model is ~3 MB
FEATURE = "llama.cpp last-token hidden state (final norm)"
SCORE_SCALE = 5.0  # rm_generate: tanh(value / 5); the same constant as ppm.SCORE_SCALE (which imports torch)
MAX_HIDDEN = 1 << 16  # no backbone Canopy runs on a CPU is wider; bounds what a hostile file can ask for
MAX_FILE_BYTES = 32 << 20  # a head of MAX_HIDDEN floats written out in full is ~1.6 MB
_SHA256 = re.compile(r"[0-9a-f]{64}")
_BELOW_ONE = float(np.nextafter(1.0, 0.0))  # tanh rounds to ±1.0 for |v| > ~95; the protocol is (−1, 1)


# --- the file format -----------------------------------------------------------------------


def _number(value: Any, what: str) -> float:
    """A finite JSON number (not a bool) as a float, else ValueError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} is not a number")
    try:
        out = float(value)
    except OverflowError:
        raise ValueError(f"{what} is too large") from None
    if not math.isfinite(out):
        raise ValueError(f"{what} is not finite")
    return out


def check_marker(about: Any, where: str | Path = MARKER) -> dict[str, Any]:
    """The marker of a head PPM, checked: format, version, backbone (sha256, name, hidden_size)
    and feature; a ValueError says what is wrong."""
    if not isinstance(about, dict):
        raise ValueError(f"{where}: not a JSON object")
    if about.get("format") != FORMAT:
        raise ValueError(f"{where}: format is {about.get('format')!r}, not {FORMAT!r}")
    version = about.get("version")
    if isinstance(version, bool) or version not in (VERSION, VERSION_ADAPTER):
        raise ValueError(f"{where}: version {version!r} is not one this Canopy reads "
                         f"({VERSION}, {VERSION_ADAPTER})")
    adapter = about.get("adapter")
    if (adapter is not None) != (version == VERSION_ADAPTER):
        raise ValueError(f"{where}: version {VERSION_ADAPTER} and only it names an 'adapter'")
    if adapter is not None:
        if not isinstance(adapter, dict) or adapter.get("file") != ADAPTER_FILE:
            raise ValueError(f"{where}: 'adapter' must be {{\"file\": \"{ADAPTER_FILE}\", \"sha256\": ...}}")
        if not isinstance(adapter.get("sha256"), str) or not _SHA256.fullmatch(adapter["sha256"]):
            raise ValueError(f"{where}: adapter.sha256 is not a sha256 (64 lowercase hex digits)")
    backbone = about.get("backbone")
    if not isinstance(backbone, dict):
        raise ValueError(f"{where}: no 'backbone' object (sha256, name, hidden_size)")
    sha = backbone.get("sha256")
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        raise ValueError(f"{where}: backbone.sha256 is not a sha256 (64 lowercase hex digits)")
    if not isinstance(backbone.get("name", ""), str):
        raise ValueError(f"{where}: backbone.name is not a string")
    size = backbone.get("hidden_size")
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_HIDDEN:
        raise ValueError(f"{where}: backbone.hidden_size must be an integer in 1..{MAX_HIDDEN}")
    if about.get("feature") != FEATURE:
        raise ValueError(f"{where}: feature {about.get('feature')!r} is not the one this Canopy computes "
                         f"({FEATURE!r})")
    return about


def read_head(path: str | Path, hidden_size: int) -> tuple[np.ndarray, float]:
    """(weight, bias) from a ``value_head.json``; ValueError unless it holds exactly
    ``hidden_size`` finite weights and a finite bias."""
    path = Path(path)
    try:
        if not path.is_file():
            raise ValueError(f"{path}: missing (a head PPM directory holds {MARKER} and {HEAD_FILE})")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ValueError(f"{path}: larger than {MAX_FILE_BYTES} bytes; not a value head")
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, int too long: all ValueErrors
        raise ValueError(f"{path}: not a readable value head ({exc})") from None
    except (OSError, RecursionError) as exc:
        raise ValueError(f"{path}: not a readable value head ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a JSON object with 'weight' and 'bias'")
    weight = data.get("weight")
    if not isinstance(weight, list) or len(weight) != hidden_size:
        got = len(weight) if isinstance(weight, list) else type(weight).__name__
        raise ValueError(f"{path}: 'weight' must be a list of {hidden_size} numbers (got {got})")
    w = np.array([_number(x, f"{path}: weight[{i}]") for i, x in enumerate(weight)], dtype=np.float64)
    return w, _number(data.get("bias"), f"{path}: 'bias'")


def _write_json(path: Path, data: Any) -> None:
    """Write atomically: a crash never leaves half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, allow_nan=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_head(directory: str | Path, weight: Any, bias: float, about: Mapping[str, Any],
              adapter: str | Path | None = None) -> Path:
    """Write a head PPM: ``value_head.json`` (and ``adapter``, a LoRA GGUF, copied in as
    ``ppm_lora.gguf``), then the marker (so a half-written directory is not a PPM). ``about``
    must hold ``backbone`` (:func:`backbone_of`) and may hold any JSON training information
    (pairs, epochs, held-out accuracy...)."""
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim != 1 or not w.size or not np.all(np.isfinite(w)):
        raise ValueError("weight must be a non-empty 1-D array of finite numbers")
    b = _number(bias, "bias")
    about = dict(about)
    for key in ("format", "version", "feature", "adapter"):
        about.pop(key, None)
    marker = {"format": FORMAT, "version": VERSION if adapter is None else VERSION_ADAPTER,
              "backbone": about.pop("backbone", None), "feature": FEATURE, **about}
    if adapter is not None:
        marker["adapter"] = {"file": ADAPTER_FILE, "sha256": file_sha256(adapter)}
    check_marker(marker, "about")
    if marker["backbone"]["hidden_size"] != w.size:
        raise ValueError(f"backbone.hidden_size is {marker['backbone']['hidden_size']} "
                         f"but the weight has {w.size} entries")
    out = Path(directory).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).unlink(missing_ok=True)  # the old marker must not vouch for new files
    _write_json(out / HEAD_FILE, {"weight": w.tolist(), "bias": b})
    if adapter is not None:
        if Path(adapter).resolve() != (out / ADAPTER_FILE).resolve():
            shutil.copyfile(adapter, out / ADAPTER_FILE)
    else:
        (out / ADAPTER_FILE).unlink(missing_ok=True)
    _write_json(out / MARKER, marker)
    return out


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def adapter_path(where: Path, about: Mapping[str, Any]) -> Path | None:
    """The PPM's LoRA GGUF when its (checked) marker names one, verified by size and sha256
    before llama.cpp reads a byte of it; ValueError otherwise."""
    adapter = about.get("adapter")
    if adapter is None:
        return None
    path = where / ADAPTER_FILE
    if not path.is_file():
        raise ValueError(f"{path}: missing (the marker names this PPM's LoRA adapter)")
    if path.stat().st_size > MAX_ADAPTER_BYTES:
        raise ValueError(f"{path}: larger than {MAX_ADAPTER_BYTES} bytes; not a PPM's adapter")
    if file_sha256(path) != adapter["sha256"]:
        raise ValueError(f"{path}: its sha256 is not the one the marker records (changed or corrupt)")
    return path


# --- hidden states: one context per engine ---------------------------------------------------

_HIDDEN: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_HIDDEN_LOCK = threading.Lock()


def hidden_states_for(engine: Any, adapter: str | Path | None = None) -> Any:
    """The :class:`~backend.engines.llamacpp_hidden.LlamaCppHiddenStates` of a llama.cpp engine
    (with ``adapter``, a LoRA GGUF, applied in it), made once per engine and adapter and shared
    by every PPM over it (and by feature extraction): llama.cpp frees an adapter only with
    its model, so it is loaded once (keyed by its path and content: a rebuilt file is a new
    adapter)."""
    from backend.engines.base import underlying
    from backend.engines.llamacpp_hidden import LlamaCppHiddenStates

    engine = underlying(engine)  # one context per loaded model, however a caller wraps it
    path = None if adapter is None else str(Path(adapter).resolve())
    key = None if path is None else (path, file_sha256(path))
    with _HIDDEN_LOCK:
        contexts = _HIDDEN.setdefault(engine, {})
        hidden = contexts.get(key)
        if hidden is None or hidden._ctx is None:
            hidden = contexts[key] = LlamaCppHiddenStates.for_engine(engine, adapter=path)
        return hidden


#: llama.cpp engines of a head PPM's own backbone, loaded beside a policy that runs another
#: model (by backbone sha256 and thread count), kept for the process as llama.cpp adapters are
_OWN_BACKBONES: dict[tuple[str, int], Any] = {}
_OWN_LOCK = threading.Lock()
#: KV cells of an own backbone's generation context: it never generates (the PPM reads states
#: in its own hidden-state context, sized by ``n_ctx``), so it holds next to nothing
_OWN_KV_CELLS = 256


def own_backbone(backbone: Mapping[str, Any], where: Path, policy: Any) -> Any:
    """A llama.cpp engine of the model a head PPM was trained on, for a ``policy`` engine that
    runs another model: the embedded model (found from its sha256: it ships with Canopy), or
    the GGUF beside the PPM (:func:`backbone_beside`). ValueError, naming the model to load,
    when it is neither."""
    from backend.engines.embedded import EMBEDDED
    from backend.engines.llamacpp import LlamaCppEngine

    have = backbone_of(policy)
    model = None if backbone["sha256"] == EMBEDDED.sha256 else backbone_beside(backbone, where)
    if backbone["sha256"] != EMBEDDED.sha256 and model is None:
        name = backbone.get("name") or "another model"
        raise ValueError(
            f"the head PPM in {where} was trained on {name} (sha256 {backbone['sha256'][:12]}…), which "
            f"is neither the embedded model nor beside the PPM with that checksum; this engine runs "
            f"{have['name']} (sha256 {have['sha256'][:12]}…): load that model "
            f"(`--engine llamacpp --model ...`)")
    policy = _llamacpp(policy, "a head PPM")
    threads = int(policy.info.details.get("n_threads") or 1)
    key = (backbone["sha256"], threads)
    with _OWN_LOCK:
        engine = _OWN_BACKBONES.get(key)
        if engine is None or engine._model is None:
            engine = _OWN_BACKBONES[key] = LlamaCppEngine.load(
                model, n_threads=threads, n_ctx=policy.n_ctx, max_batch=1, kv_cells=_OWN_KV_CELLS)
        return engine


def backbone_beside(backbone: Mapping[str, Any], where: Path) -> str | None:
    """The GGUF a head PPM in ``where`` was trained on, when it lies beside it: named as the
    marker says (a plain file name, no folder) in ``where`` or its parent (an evolve round keeps
    ``policy.gguf`` next to ``ppm/``), a regular file whose sha256 is the marker's. None if not."""
    name = backbone.get("name")
    if not isinstance(name, str) or not name.endswith(".gguf") or Path(name).name != name:
        return None
    from backend.runspec import model_checksum

    sha = backbone["sha256"]
    for folder in (where, where.parent):
        path = folder / name
        if path.is_file() and not path.is_symlink() and model_checksum("llamacpp", str(path)) == sha:
            return str(path.resolve())
    return None


def _llamacpp(engine: Any, what: str) -> Any:
    """The llama.cpp engine ``engine`` is or wraps (``underlying``: the page runs every engine
    inside a lock); ValueError naming the flag to use for any other engine."""
    from backend.engines.base import underlying
    from backend.engines.llamacpp import LlamaCppEngine

    inner = underlying(engine)
    if not isinstance(inner, LlamaCppEngine):
        kind = getattr(getattr(inner, "info", None), "name", type(inner).__name__)
        raise ValueError(f"{what} reads the policy model's hidden states through llama.cpp: it needs "
                         f"`--engine llamacpp` with the model it was trained on (this engine is {kind!r})")
    return inner


def backbone_of(engine: Any) -> dict[str, Any]:
    """The ``backbone`` record of a llama.cpp engine's model: sha256, file name, hidden size."""
    from backend.runspec import model_checksum

    engine = _llamacpp(engine, "a head PPM")
    if engine._model is None:
        raise ValueError("this llamacpp engine is closed")
    sha = model_checksum("llamacpp", engine.info.model)
    if sha is None:
        raise ValueError(f"cannot compute the sha256 of {engine.info.model!r}")
    size = int(engine._lib.llama_model_n_embd(engine._model))
    return {"sha256": sha, "name": Path(engine.info.model).name, "hidden_size": size}


# --- the scorer ------------------------------------------------------------------------------


class HeadPPM:
    """A value head over last-token hidden states; implements ``StepScorer``."""

    name = "ppm"

    def __init__(self, weight: Any, bias: float, features: Callable[[Sequence[str]], np.ndarray],
                 about: Mapping[str, Any] | None = None) -> None:
        """``features(texts)`` returns (len(texts), hidden) states; :meth:`load` passes the
        engine's :func:`hidden_states_for` ``.last_hidden``."""
        self.weight = np.asarray(weight, dtype=np.float64)
        self.bias = float(bias)
        self._features = features
        self.about = dict(about or {})

    @classmethod
    def load(cls, directory: str | Path, engine: Any) -> HeadPPM:
        """The head PPM in ``directory`` over ``engine`` (a llama.cpp engine running the model
        the head was trained on); ValueError for anything else, or for malformed files."""
        where = Path(directory).expanduser()
        try:
            about = read_marker(where)
        except RecursionError:
            raise ValueError(f"{where / MARKER}: not readable JSON (nested too deeply)") from None
        about = check_marker(about, where / MARKER)
        backbone = about["backbone"]
        weight, bias = read_head(where / HEAD_FILE, backbone["hidden_size"])
        adapter = adapter_path(where, about)  # checked before llama.cpp reads a byte of it
        engine = _llamacpp(engine, f"the head PPM in {where}")
        have = backbone_of(engine)
        if have["sha256"] != backbone["sha256"]:  # the policy is another model: the PPM brings its own
            policy_name = have["name"]
            engine = own_backbone(backbone, where, engine)
            have = backbone_of(engine)
            shown = have["name"]
            if shown == policy_name:  # two rounds' policy.gguf: say whose
                shown = f"{Path(engine.info.model).parent.name}/{shown}"
            about = {**about, "own_backbone": shown}
        if have["hidden_size"] != backbone["hidden_size"]:  # same file, so only a corrupt marker gets here
            raise ValueError(f"{where / MARKER}: hidden_size {backbone['hidden_size']} but the model's is "
                             f"{have['hidden_size']}")
        return cls(weight, bias, hidden_states_for(engine, adapter).last_hidden, about)

    def values(self, texts: Sequence[str]) -> np.ndarray:
        """The head's raw values v = w·h + b (float64), one per text."""
        if not texts:
            return np.zeros(0)
        feats = np.asarray(self._features(texts), dtype=np.float64)
        return feats @ self.weight + self.bias

    def score_steps(self, texts: Sequence[str]) -> list[float]:
        """tanh(v / 5) per text, in (−1, 1), from one hidden-state call."""
        scores = np.tanh(self.values(texts) / SCORE_SCALE)
        return np.clip(scores, -_BELOW_ONE, _BELOW_ONE).tolist()


# --- training --------------------------------------------------------------------------------


def _pairs(fc: Any, fr: Any) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(fc, dtype=np.float64), np.asarray(fr, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape or not a.shape[0] or not a.shape[1]:
        raise ValueError(f"chosen and rejected features must be two (pairs, hidden) arrays of one shape, "
                         f"got {a.shape} and {b.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("features must be finite")
    return a, b


def pairwise_accuracy(weight: Any, bias: float, fc: Any, fr: Any) -> float:
    """The fraction of pairs whose chosen step the head values above the rejected one
    (ties count as wrong; the bias cancels but is taken for symmetry with scoring)."""
    a, b = _pairs(fc, fr)
    w = np.asarray(weight, dtype=np.float64)
    return float(np.mean(a @ w + bias > b @ w + bias))


def train_head(
    fc: Any,
    fr: Any,
    weights: Any = None,
    *,
    epochs: int = 30,
    lr: float = 1e-3,
    seed: int = 0,
    l2: float = 1e-4,
    batch_size: int = 64,
) -> tuple[np.ndarray, float, list[float]]:
    """Fit a value head to preference pairs of features: (weight, bias, loss per epoch).

    ``fc[i]`` / ``fr[i]``: the hidden states of pair i's chosen and rejected step; ``weights[i]``
    its weight (``PPMPair.weight``; default 1). The loss is the official pairwise one,
    Σ −log σ(s_c − s_r) · w (``ppm.ppm_loss``), divided by the batch's total weight so that
    ``lr`` and ``l2`` do not depend on the pairs' weighting, plus ``l2`` · ‖w‖² on the head
    over standardised features (each dimension divided by its standard deviation, folded
    back into the returned weight). Adam, minibatches shuffled by ``seed``: the same inputs
    and seed give the same head. The losses are each epoch's weighted mean pairwise loss
    (without the L2 term).

    The pairwise loss cannot see the bias (it cancels in s_c − s_r), so the bias is set after
    training to centre the training steps' values: b = −mean(w·h) over chosen and rejected
    steps, so an average step starts at Q ≈ 0 in the search.
    """
    import torch

    from backend.reward.ppm import ppm_loss

    a, b = _pairs(fc, fr)
    n, dim = a.shape
    wts = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    if wts.shape != (n,) or not np.all(np.isfinite(wts)) or np.any(wts < 0) or wts.sum() <= 0:
        raise ValueError(f"weights must be {n} finite non-negative numbers, not all zero")
    if epochs < 1 or batch_size < 1 or not lr > 0 or not l2 >= 0:
        raise ValueError("need epochs >= 1, batch_size >= 1, lr > 0 and l2 >= 0")
    scale = np.concatenate([a, b]).std(axis=0)
    scale[scale < 1e-8] = 1.0
    gen = torch.Generator().manual_seed(seed)
    xc = torch.from_numpy(a / scale).float()
    xr = torch.from_numpy(b / scale).float()
    tw = torch.from_numpy(wts).float()
    head = torch.nn.Parameter(torch.randn(dim, generator=gen) * 1e-6 + 5e-7)  # the official init
    opt = torch.optim.Adam([head], lr=lr)
    losses: list[float] = []
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        total, seen = 0.0, 0.0
        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size]
            bw = tw[idx]
            mass = float(bw.sum())
            if mass <= 0:
                continue
            pair = ppm_loss(xc[idx] @ head, xr[idx] @ head, bw)
            loss = pair / mass + l2 * (head * head).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(pair.detach())
            seen += mass
        losses.append(total / seen)
    weight = head.detach().double().numpy() / scale
    bias = -float(np.concatenate([a, b]).mean(axis=0) @ weight)
    return weight, bias, losses
