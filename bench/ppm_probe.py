"""Which of the embedded model's layers, if any, separates the PPM's step pairs?

The shipped-PPM design reads the *last* layer's last-token state (llama.cpp gives only that)
and a linear head ranked held-out pairs at chance (docs/PPM.md). Before paying for more
searches or a fine-tuned backbone, this asks a cheaper question: does any layer's frozen
last-token state (or its mean over the step's tokens, or the model's own log-probability of
the step) carry what the pairs separate? For every ``--every``-th layer it fits the
same linear head with the official pairwise loss (``backend/reward/ppm_head.py``) under
5-fold cross-validation *by problem* (no problem's pairs on both sides), and prints the pooled
held-out pairwise accuracy with a binomial standard error, next to two text-only baselines
(prefer the shorter step; prefer the step whose code has fewer characters of output).

Data: the pairs of the committed training searches (``assets/ppm-data/trees``, GSM8K *train*
problems only; the official filter of ``backend/train/ppm_pairs.py``).

    python -m bench.ppm_probe --threads 2 --every 4
    python -m bench.ppm_probe --model RUN/round-1/policy --trees TREES...   # a fine-tuned policy's states
"""

from __future__ import annotations

import argparse
import hashlib
import math
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TREES = ROOT / "assets" / "ppm-data" / "trees"
FOLDS = 5


def fold_of(problem_id: str) -> int:
    """A problem's fold, from a hash of its id (stable across runs and subsets)."""
    return hashlib.sha256(problem_id.encode()).digest()[0] % FOLDS


def layer_states(model, tokenizer, texts, max_length, cache: Path | None, starts=None):
    """(last, pooled, logprob): arrays (layers + 1, len(texts), hidden) of each layer's
    last-token state and of its mean over the step's tokens (those from ``starts[i]``, the
    prefix's token count), and (len(texts),) the step tokens' mean log-probability under the
    model itself (its own confidence in the step). One text at a time (no padding); kept in
    ``cache`` (keyed by the texts) so a second look costs nothing."""
    import numpy as np
    import torch

    starts = starts or [0] * len(texts)
    key = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16] + "-v2"
    if cache is not None and cache.is_file():
        held = np.load(cache)
        if str(held["key"]) == key:
            return held["states"], held["pooled"], held["logprob"]
    rows, pooled, logprob = [], [], []
    with torch.no_grad():
        for i, text in enumerate(texts):
            ids = tokenizer(text, return_tensors="pt").input_ids[:, :max_length]
            out = model(input_ids=ids, output_hidden_states=True)
            first = min(max(starts[i], 1), ids.shape[1] - 1)  # the step's first token
            rows.append(np.stack([h[0, -1].float().numpy() for h in out.hidden_states]))
            pooled.append(np.stack([h[0, first:].float().mean(0).numpy() for h in out.hidden_states]))
            logits = torch.log_softmax(out.logits[0, first - 1 : -1].float(), dim=-1)
            picked = logits.gather(1, ids[0, first:].unsqueeze(1))
            logprob.append(float(picked.mean()))
            if (i + 1) % 50 == 0:
                print(f"  {i + 1}/{len(texts)} texts", flush=True)
    states, pooled_a, logprob_a = np.stack(rows, axis=1), np.stack(pooled, axis=1), np.array(logprob)
    if cache is not None:
        np.savez(cache, key=key, states=states, pooled=pooled_a, logprob=logprob_a)
    return states, pooled_a, logprob_a


#: questions appended after the step, asking the model itself to judge it (two, fixed before
#: looking: a comment in the code's own language, and a plain chat-style question)
JUDGES = (
    "\n# Check: is the last step above correct? Answer yes or no.\n# Answer:",
    "\n\nQuestion: Is the last step of this solution correct? Answer yes or no.\nAnswer:",
)


def judge_margins(model, tokenizer, texts, max_length, judges=JUDGES):
    """(len(JUDGES), len(texts)): logit(" yes") - logit(" no") at the end of text + question,
    the model's own verdict on the step (a value read off its last-token state through the
    language-model head)."""
    import numpy as np
    import torch

    yes = tokenizer(" yes").input_ids[-1]
    no = tokenizer(" no").input_ids[-1]
    out = np.zeros((len(judges), len(texts)))
    with torch.no_grad():
        for j, question in enumerate(judges):
            for i, text in enumerate(texts):
                ids = tokenizer(text + question, return_tensors="pt").input_ids[:, -max_length:]
                logits = model(input_ids=ids).logits[0, -1].float()
                out[j, i] = float(logits[yes] - logits[no])
                if (i + 1) % 100 == 0:
                    print(f"  judge {j}: {i + 1}/{len(texts)} texts", flush=True)
    return out


def cross_validated(fc, fr, weights, folds, **opts):
    """(accuracy, ties): pooled held-out pairwise accuracy of the linear head over the folds,
    a tie counting as wrong, and how many held-out pairs tied."""
    import numpy as np

    from backend.reward.ppm_head import train_head

    right = ties = 0
    for k in np.unique(folds):
        test = folds == k
        if test.all():
            continue
        w, _, _ = train_head(fc[~test], fr[~test], weights[~test], **opts)
        sc, sr = fc[test] @ w, fr[test] @ w
        right += int(np.sum(sc > sr))
        ties += int(np.sum(sc == sr))
    return right / len(folds), ties


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--every", type=int, default=4, help="probe every N-th layer (and the last)")
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--l2", type=float, default=1e-2)
    parser.add_argument("--folds", choices=["hash5", "problem"], default="problem",
                        help="5 folds by a hash of the problem id, or leave one problem out")
    parser.add_argument("--judge", action="store_true",
                        help="also ask the model to judge each step (yes/no logit margin)")
    parser.add_argument("--judge-only", action="store_true", help="stop after the judge features")
    parser.add_argument("--judges", type=int, default=len(JUDGES), help="how many of the questions to ask")
    parser.add_argument("--model", default=None,
                        help="the backbone whose states are probed: an HF folder (e.g. an evolve round's "
                             "policy/, the paper's PPM starts from the fine-tuned policy) or a .gguf; "
                             "default: the embedded model")
    parser.add_argument("--trees", type=Path, nargs="+", default=[TREES],
                        help="folders of truth-mode search trees (GSM8K train) to read pairs from")
    parser.add_argument("--cache", type=Path, default=None,
                        help="the states' cache (default: /tmp/canopy-ppm-probe[-MODEL HASH].npz)")
    args = parser.parse_args()
    if args.cache is None:
        tag = "" if args.model is None else "-" + hashlib.sha256(str(args.model).encode()).hexdigest()[:8]
        args.cache = Path(f"/tmp/canopy-ppm-probe{tag}.npz")

    import numpy as np
    import torch

    from backend.reward.ppm import load_backbone
    from backend.train.build_ppm import collect_pairs
    from backend.train.ppm_pairs import longer_step_accuracy

    torch.set_num_threads(args.threads)
    found = collect_pairs(sorted(f for folder in args.trees for f in folder.glob("*.jsonl.gz")))
    pairs = [p for _, p in found]
    ids = sorted({pid for pid, _ in found})
    if args.folds == "hash5":
        folds = np.array([fold_of(pid) for pid, _ in found])
    else:
        folds = np.array([ids.index(pid) for pid, _ in found])
    weights = np.array([p.weight for p in pairs], dtype=np.float32)
    n = len(pairs)
    se = 0.5 / math.sqrt(n)
    print(f"{n} pairs from {len(ids)} problems, folds: {args.folds}; "
          f"one SE of an accuracy near 0.5: ±{se:.3f}")

    longer = longer_step_accuracy(pairs)
    print(f"baseline: prefer the longer step (no fit, ties half)    {longer:.3f}")
    same_end = np.mean([p.chosen[-1:] == p.rejected[-1:] for p in pairs])
    print(f"pairs whose two steps end in the same character: {same_end:.2f}")

    model, tokenizer = load_backbone(args.model)
    model.eval()
    depth = model.config.num_hidden_layers
    layers = sorted({*range(0, depth + 1, args.every), depth})
    sides = {p.prefix + s: p.prefix for p in pairs for s in (p.chosen, p.rejected)}
    texts = sorted(sides)
    starts = [len(tokenizer(sides[t]).input_ids) for t in texts]
    index = {t: i for i, t in enumerate(texts)}
    ci = np.array([index[p.prefix + p.chosen] for p in pairs])
    ri = np.array([index[p.prefix + p.rejected] for p in pairs])
    opts = {"epochs": args.epochs, "lr": args.lr, "l2": args.l2}
    length = np.array([[len(t)] for t in texts], dtype=np.float64)
    if args.judge:
        t0 = time.monotonic()
        margins = judge_margins(model, tokenizer, texts, args.max_length, JUDGES[: args.judges])
        print(f"the model's own verdicts on {len(texts)} texts in {time.monotonic() - t0:.0f} s")
        for j, m in enumerate(margins):
            wins = np.mean(m[ci] > m[ri])
            feats = np.stack([length[:, 0], m], axis=1)
            acc, ties = cross_validated(feats[ci], feats[ri], weights, folds, **opts)
            print(f"judge {j} ({JUDGES[j].strip()[:40]!r}): prefer the step it calls right (no fit) "
                  f"{wins:.3f}; + step length, fitted {acc:.3f} ({ties} ties)", flush=True)
        if args.judge_only:
            return
    t0 = time.monotonic()
    states, pooled, logprob = layer_states(model, tokenizer, texts, args.max_length, args.cache, starts)
    print(f"hidden states of {len(texts)} texts, every layer, in {time.monotonic() - t0:.0f} s")
    acc, ties = cross_validated(length[ci], length[ri], weights, folds, **opts)
    print(f"step length alone, fitted:   held-out pairwise accuracy {acc:.3f} ({ties} ties)")
    higher = np.mean(logprob[ci] > logprob[ri])
    print(f"prefer the step the model finds likelier (mean token log-prob, no fit): {higher:.3f}")
    both = np.stack([length[:, 0], logprob], axis=1)
    acc, ties = cross_validated(both[ci], both[ri], weights, folds, **opts)
    print(f"step length + mean log-prob, fitted: held-out pairwise accuracy {acc:.3f} ({ties} ties)")
    for name, feats in (("last token", states), ("mean over the step", pooled)):
        for layer in layers:
            x = feats[layer]
            acc, ties = cross_validated(x[ci], x[ri], weights, folds, **opts)
            print(f"{name}, layer {layer:2d}/{depth}: held-out pairwise accuracy {acc:.3f} "
                  f"(±{se:.3f}, {ties} ties)", flush=True)


if __name__ == "__main__":
    main()
