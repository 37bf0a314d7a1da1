"""DeepWalk / node2vec on Cora: linear probe on the public split (140 training nodes, 1000 test).

    flock /tmp/selfsup-heavy.lock nice -n 5 .venv/bin/python benchmarks/deepwalk_cora.py \
        [--seeds 0,1,2] [--variants deepwalk,node2vec] [--out benchmarks/deepwalk_cora.json]

Each seed trains new walks + skip-gram (the ``deepwalk`` method's defaults: 10 walks of 80
nodes per node, window 10, 128 dimensions, 5 negatives, 1 epoch, 2 workers; node2vec: p=1,
q=0.5); the probe is the node protocol of selfsup.eval.graph (the harness's linear probe, L2 picked on
the 500 public validation nodes), as for DGI/GRACE. Reported: mean ± std over the embedding seeds, next to the
probe on Cora's raw bag-of-words features.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--variants", default="deepwalk,node2vec")
    ap.add_argument("--out", default=str(Path(__file__).with_suffix(".json")))
    args = ap.parse_args()
    from selfsup.config import apply_overrides
    from selfsup.data.registry import load_dataset
    from selfsup.eval.graph import node_eval_config, node_protocols, node_split
    from selfsup.methods.word2vec import DeepWalkConfig
    from selfsup.word2vec.walks import node_embeddings

    data = load_dataset("cora")
    y = data.y
    split = node_split(y, data.train_mask, data.test_mask, val_mask=data.val_mask)
    eval_cfg = node_eval_config(labels=())

    def probe(z: torch.Tensor) -> float:
        return float(node_protocols(z, y, split, eval_cfg)["linear"]["public"]["mean"])

    out: dict = {"command": "python benchmarks/deepwalk_cora.py " + " ".join(f"--{k} {v}" for k, v in vars(args).items()
                                                                             if k != "out"),
                 "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                 "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                          text=True).stdout.strip(),
                 "raw_features": probe(data.x), "variants": {}}
    print(f"raw features: {out['raw_features']:.4f}", flush=True)
    for variant in args.variants.split(","):
        cfg = apply_overrides(DeepWalkConfig(), {"q": 0.5} if variant == "node2vec" else {})
        accs, secs = [], []
        for seed in (int(s) for s in args.seeds.split(",")):
            t = time.perf_counter()
            kw = {**cfg.model_kwargs(), "seed": seed}
            z, _ = node_embeddings(data, num_walks=cfg.num_walks, walk_length=cfg.walk_length, p=cfg.p, q=cfg.q, **kw)
            secs.append(time.perf_counter() - t)
            accs.append(probe(torch.from_numpy(z)))
            print(f"{variant} seed {seed}: {accs[-1]:.4f} ({secs[-1]:.1f} s walks + training)", flush=True)
        out["variants"][variant] = {"config": {**kw, "num_walks": cfg.num_walks, "walk_length": cfg.walk_length,
                                               "p": cfg.p, "q": cfg.q},
                                    "mean": float(np.mean(accs)), "std": float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0,
                                    "values": accs, "seconds": secs}
        print(f"{variant}: {np.mean(accs):.4f} ± {out['variants'][variant]['std']:.4f}", flush=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
