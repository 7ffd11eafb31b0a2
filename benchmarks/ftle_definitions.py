"""lambda_1 of SmolLM2-135M under each FTLE definition, on the embedded default's samples, seeds
and cadence (config.yaml: lyapunov.n_samples 8, max_tokens 32, ftle seeds 0-9, cadence 4), float32.

After `make run` (it prepares the model and writes the corpus):
    PYTHONPATH=. .venv/bin/python benchmarks/ftle_definitions.py OUT.csv [N_SAMPLES [VARIANTS]]
(VARIANTS: comma-separated names of `variants` below, `last` first; default all four on 8 samples)
"""
import sys
import time

import pandas as pd
import torch

from resdyn.core.linalg import spearman
from resdyn.lyapunov.model_runs import ftle_tables, prepare

MODEL = "resources/models/smollm2_135m"
CORPUS = "results/corpus/samples.jsonl"
OUT = sys.argv[1] if len(sys.argv) > 1 else "benchmarks/out/ftle_definitions.csv"
N_SAMPLES = int(sys.argv[2]) if len(sys.argv) > 2 else 8
torch.set_num_threads(1)
model, samples, ids = prepare(MODEL, CORPUS, N_SAMPLES, 32, "auto")
kw = dict(seeds=range(10), cadence=4)
variants = {
    "last": dict(position="last"),
    "span_all": dict(position="span", span_tokens=32),  # every position alone, mean over positions
    "sequence_token": dict(position="sequence", norm="token"),  # Mohammad 2026
    "sequence_state": dict(position="sequence", norm="state"),
}
if len(sys.argv) > 3:
    variants = {name: variants[name] for name in sys.argv[3].split(",")}
means = {}
for name, opts in variants.items():
    t0 = time.time()
    table, _ = ftle_tables(model, samples, ids, "smollm2_135m", **kw, **opts)
    means[name] = table.groupby("sample").lambda1.mean()
    print(f"{name}: {time.time() - t0:.1f} s", flush=True)
df = pd.DataFrame(means)
df["n_tokens"] = [len(s) for s in samples]
df.to_csv(OUT)
print(df.to_string(float_format="%.4f"))
for name in variants:
    if name == "last":
        continue
    rho = spearman(df["last"], df[name])[0]
    print(f"{name}: mean {df[name].mean():.4f} vs last {df['last'].mean():.4f}, ratio of means "
          f"{df[name].mean() / df['last'].mean():.3f}, per-sample ratio {(df[name] / df['last']).min():.3f}-"
          f"{(df[name] / df['last']).max():.3f}, Spearman vs last {rho:.3f}")
    print(f"  mean of per-sample ratios {(df[name] / df['last']).mean():.3f}, median {(df[name] / df['last']).median():.3f}")
if {"span_all", "sequence_token"} <= set(df):
    print("Spearman sequence_token vs span_all", spearman(df["span_all"], df["sequence_token"])[0])
