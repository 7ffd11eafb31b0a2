"""The performance harness: every hot path of the workflow, timed in one run, printed as ratios.

    python benchmarks/harness.py                      # all sections (a few minutes on 2 cores)
    python benchmarks/harness.py --only jacobian stats
    python benchmarks/harness.py --model resources/models/smollm2_135m \
        --activations results/smollm2_135m/activations.npy --layer 5     # a trained block at real states

Sections (each prints its own table; absolute seconds are shown for reading, never judged):
  jacobian    per-Jacobian time of the paper's torch.autograd.functional.jacobian against the
              project's engines (autodiff, closed form, in-context), GFLOP/s beside a matmul
  stats       per-sample σ_max, σ_min, κ, PR, ‖J‖_F: the project's path against
              numpy.linalg.svd per sample, and the largest relative deviation
  schur       per-layer eigenvalues and complex Schur form, in units of one complex matmul
  leiden      signed Leiden on a d = 4096, k = 20 correlation graph
  memory      peak RSS of the Jacobian stage (subprocess) at N and 4N samples
  end_to_end  the last `make run`: wall time, and wall time per rule from benchmarks/out/

Machines here are shared: compare ratios within one run, not seconds across runs.
"""
from __future__ import annotations

import os

# One BLAS thread everywhere, as in the workflow's jobs: numpy's OpenBLAS would otherwise use
# every core while torch is held to --threads, which flatters numpy in the comparisons.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import bench_jacobian as bj  # noqa: E402
from timing import best_of  # noqa: E402

SECTIONS = ("jacobian", "stats", "schur", "leiden", "memory", "end_to_end")


def table(title: str, header: list[str], rows: list[list]) -> None:
    print(f"\n## {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        cells = [f"{c:.3g}" if isinstance(c, float) else str(c) for c in row]
        print("| " + " | ".join(cells) + " |")


# -- sections -------------------------------------------------------------------------
def section_jacobian(args) -> None:
    res = bj.measure(bj.load_model(args.model), layer=args.layer, samples=args.samples, context=args.context)
    rows = [[name, t, res.t_paper / t, res.flops / t / 1e9, err] for name, t, err in res.rows]
    table(
        f"Jacobian engines (d = {res.d}, {args.samples} samples; float32 matmul in this run: {res.peak:.1f} GFLOP/s)",
        ["engine", "s / Jacobian", "× paper", "GFLOP/s", "max rel. err vs float64"],
        rows,
    )
    print(f"\nclosed form: {res.flops / res.t_closed / 1e9 / res.peak:.0%} of the matmul rate; autodiff "
          f"(counting its own {res.flops_autodiff / 1e9:.2f} GFLOP): "
          f"{res.flops_autodiff / res.t_autodiff / 1e9 / res.peak:.0%}")
    print(bj.in_context_ratios(res))


def _jacobians(args) -> torch.Tensor:
    """Closed-form Jacobians (float64) of the chosen block: at real residual states when
    --activations is given, else at seeded synthetic states. Made once, shared by sections."""
    key = (args.model, args.activations, args.layer, args.samples)
    if key not in _JACOBIANS:
        _JACOBIANS[key] = _make_jacobians(args)
    return _JACOBIANS[key]


_JACOBIANS: dict = {}


def _make_jacobians(args) -> torch.Tensor:
    model = bj.load_model(args.model)
    if not args.activations:
        return bj.closed_form_jacobians(model, args.layer, args.samples).double()
    from resdyn.dynamics.jacobians import single_token_jacobians
    from resdyn.models.architectures import architecture_of
    from resdyn.models.block import Block

    states = np.load(args.activations, mmap_mode="r")[: args.samples, 2 * args.layer]
    block = Block(model, args.layer, architecture_of(model.config.model_type))
    return single_token_jacobians(block, torch.from_numpy(np.ascontiguousarray(states))).double()


def section_stats(args) -> None:
    from resdyn.dynamics.jacobians import singular_value_stats

    jac = _jacobians(args)
    mats = jac.numpy()
    n = len(mats)
    ref = np.stack([np.linalg.svd(m, compute_uv=False) for m in mats])
    want = {"sigma_max": ref[:, 0], "kappa": ref[:, 0] / ref[:, -1],
            "pr": (ref**2).sum(1) ** 2 / (ref**4).sum(1), "fro": np.sqrt((ref**2).sum(1))}
    ours = singular_value_stats(jac)
    err = max(float(np.max(np.abs(ours[k] / want[k] - 1))) for k in want)
    svdvals_err = float(np.max(np.abs(torch.linalg.svdvals(jac)[:, -1].numpy() / ref[:, -1] - 1)))
    gram_min = torch.linalg.eigvalsh(jac.mT @ jac)[:, 0].clamp_min(0).sqrt().numpy()
    gram_err = float(np.max(np.abs(gram_min / ref[:, -1] - 1)))
    t_np = best_of(lambda: [np.linalg.svd(m) for m in mats], 1) / n
    t_np_vals = best_of(lambda: [np.linalg.svd(m, compute_uv=False) for m in mats]) / n
    t_ours = best_of(lambda: singular_value_stats(jac)) / n
    t_svdvals = best_of(lambda: torch.linalg.svdvals(jac)) / n
    t_gram = best_of(lambda: torch.linalg.eigvalsh(jac.mT @ jac)) / n
    kappa = want["kappa"]
    rows = [
        ["numpy.linalg.svd per sample (U, S, V)", t_np, 1.0, t_np_vals / t_np, "reference"],
        ["numpy.linalg.svd(compute_uv=False) per sample", t_np_vals, t_np / t_np_vals, 1.0, "0"],
        ["resdyn: Gram + LU + Lanczos, float64 (used on CPUs)", t_ours, t_np / t_ours, t_np_vals / t_ours, f"{err:.1e}"],
        ["batched torch svdvals, float64 (used on GPUs)", t_svdvals, t_np / t_svdvals, t_np_vals / t_svdvals,
         f"σ_min {svdvals_err:.1e}"],
        ["eigvalsh of JᵀJ, float64 (rejected)", t_gram, t_np / t_gram, t_np_vals / t_gram, f"σ_min off by {gram_err:.1e}"],
    ]
    table(
        f"Per-sample statistics (d = {mats.shape[1]}, {n} closed-form Jacobians, κ {kappa.min():.2g} to {kappa.max():.2g})",
        ["path", "s / sample", "× svd (U, S, V)", "× svd (S only)", "max rel. dev. (σ_max, κ, PR, ‖J‖_F)"],
        rows,
    )


def section_schur(args) -> None:
    import scipy.linalg as sla

    from resdyn.dynamics.schur import complex_schur

    J = _jacobians(args).mean(0).numpy()
    d = J.shape[0]
    a = (J + 1j * J.T).astype(np.complex128)
    t_mm = best_of(lambda: a @ a)
    rows = []
    for name, fn in [
        ("eigenvalues (scipy.linalg.eigvals)", lambda: sla.eigvals(J)),
        ("singular values (svdvals)", lambda: sla.svdvals(J)),
        ("complex Schur: real Schur + rsf2csf (used)", lambda: complex_schur(J, order="lapack")),
        ("complex Schur: schur(output='complex')", lambda: sla.schur(J.astype(np.complex128), output="complex")),
    ]:
        t = best_of(fn, 2)
        rows.append([name, t, t / t_mm])
    table(f"Per-layer decompositions (d = {d}, float64; one complex d×d matmul here: {t_mm * 1e3:.0f} ms)",
          ["decomposition", "s / layer", "× complex matmul"], rows)
    _schur_orders(J, t_mm)


def _schur_orders(J: np.ndarray, t_mm: float) -> None:
    """What the resolution checks add per layer: eigenvalue condition numbers, the canonical
    Schur order, and each random order of schur.order_draws (reorder + its dose products)."""
    import scipy.linalg as sla

    from resdyn.dynamics import spectra
    from resdyn.dynamics.cumulative import new_product
    from resdyn.dynamics.schur import complex_schur, dose_sweep, random_order, surgery_terms

    doses = [0, 0.25, 0.5, 0.75, 1, 1.5, 2]
    t_eig = best_of(lambda: sla.eigvals(J), 2)
    t_cond = best_of(lambda: spectra.eigen_conditioned(J), 2)
    t_lapack = best_of(lambda: complex_schur(J, order="lapack"), 2)
    t_canon = best_of(lambda: complex_schur(J), 2)
    form = complex_schur(J)
    t_random = best_of(lambda: random_order(form, np.random.default_rng(0)), 2)
    cons = ["dose", "control_a", "control_b"]
    t_sweep = best_of(lambda: dose_sweep([form], "J", cons, doses, draws=2, precision="single"), 2)

    def one_order():  # what each order draw adds to a layer of the sweep (the final SVDs are per run)
        f = random_order(form, np.random.default_rng(1)).astype(np.complex64)
        base, direction = surgery_terms(f, "dose", None)
        products = [new_product("exact", 0) for _ in doses]
        for p, c in zip(products, doses):
            p.right_multiply(base + c * direction)

    t_one = best_of(one_order, 2)
    rows = [
        ["eigvals (before)", t_eig, t_eig / t_eig],
        ["eigenvalues + condition numbers (eig, left + right vectors)", t_cond, t_cond / t_eig],
        ["complex Schur, LAPACK's order (before)", t_lapack, t_lapack / t_lapack],
        ["complex Schur, canonical order (used)", t_canon, t_canon / t_lapack],
        ["one random order (ztrexc) of a Schur form", t_random, t_random / t_lapack],
        ["sweep job, one layer: 3 constructions, 2 draws, 7 doses (before)", t_sweep, t_sweep / t_sweep],
        ["  added per layer by each of schur.order_draws", t_one, t_one / t_sweep],
    ]
    table(f"Schur order and eigenvalue conditioning (d = {J.shape[0]}; ratios to the row marked before)",
          ["step", "s / layer", "× before"], rows)


def section_leiden(args) -> None:
    from resdyn.topology.communities import detect, summarise
    from resdyn.topology.graphs import correlation_graph
    from resdyn.topology.participation import participation

    rng = np.random.default_rng(0)
    d, n, k, groups = args.leiden_d, 1000, 20, 80
    labels = rng.integers(0, groups, d)
    signs = np.where(rng.random(d) < 0.5, -1.0, 1.0)
    x = (rng.standard_normal((n, groups))[:, labels] * signs + rng.standard_normal((n, d))).astype(np.float32)
    t_corr = best_of(lambda: np.corrcoef(x, rowvar=False), 1)
    t0 = time.perf_counter()
    g = correlation_graph(x, k)
    t_graph = time.perf_counter() - t0
    import leidenalg  # noqa: F401  (import time excluded)

    t_cpm = best_of(lambda: detect(g, "signed_cpm", gamma=0.001, gamma_neg=0.0, seed=0), 2)
    part = detect(g, "signed_cpm", gamma=0.001, gamma_neg=0.0, seed=0)
    t_pc = best_of(lambda: participation(g, part.membership), 2)
    rows = [
        ["dense correlation (np.corrcoef)", t_corr, 1.0],
        [f"signed kNN graph ({g.n_edges} edges)", t_graph, t_graph / t_corr],
        [f"signed CPM Leiden ({summarise(part.membership)['n_communities']} communities)", t_cpm, t_cpm / t_corr],
        ["participation coefficients", t_pc, t_pc / t_corr],
    ]
    table(f"Graph stage at d = {d}, N = {n}, k = {k}", ["step", "s", "× correlation"], rows)


def _rss_fixture(folder: Path, n: int) -> tuple[Path, Path]:
    """A SmolLM2-shaped two-layer random model (prepared-folder format) and N activation rows."""
    from transformers import AutoModelForCausalLM, LlamaConfig

    model_dir = folder / "model"
    if not model_dir.exists():
        cfg = LlamaConfig(hidden_size=576, intermediate_size=1536, num_hidden_layers=2, num_attention_heads=9,
                          num_key_value_heads=3, vocab_size=1000)
        torch.manual_seed(0)
        AutoModelForCausalLM.from_config(cfg).save_pretrained(model_dir, safe_serialization=True)
    acts = folder / f"activations_{n}.npy"
    rng = np.random.default_rng(0)
    np.save(acts, rng.standard_normal((n, 4, 576)).astype(np.float32))
    return model_dir, acts


def section_memory(args) -> None:
    n = args.samples_rss
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for count in (n, 4 * n):
            model_dir, acts = _rss_fixture(Path(tmp), count)
            out = subprocess.run(
                [sys.executable, str(HERE / "rss_probe.py"), str(model_dir), str(acts), "--layer", "1",
                 "--batch-size", str(args.batch_size)],
                check=True, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
            )
            probe = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append([count, probe["peak_rss_mb"], probe["baseline_rss_mb"], probe["seconds"]])
    ratio = rows[1][1] / rows[0][1]
    rows = [r + [r[1] / rows[0][1]] for r in rows]
    table(f"Jacobian stage peak RSS (single-token, d = 576, batch {args.batch_size}, subprocess per N)",
          ["samples", "peak RSS (MB)", "RSS after imports + model (MB)", "s", "× peak at N"], rows)
    print(f"\npeak RSS at 4N / at N = {ratio:.3f}")


def section_end_to_end(args) -> None:
    import pandas as pd

    out = ROOT / "benchmarks" / "out"
    record = out / "make_run.tsv"
    runs = pd.read_csv(record, sep="\t") if record.is_file() else pd.DataFrame(columns=["jobs"])
    runs = runs[runs["jobs"] > 0]
    if runs.empty:
        print("\n## End to end\n\nno `make run` that ran jobs is recorded in benchmarks/out/make_run.tsv; run `make run`")
        return
    last = runs.iloc[-1]
    print(f"\n## End to end\n\nlast `make run` ({last['finished']}): {last['wall_s']} s wall for {last['jobs']} jobs "
          f"on {last['cpus']} CPUs")
    per_rule: dict[str, list[float]] = {}
    for f in out.rglob("*.tsv"):
        if f.name == "make_run.tsv":
            continue
        rule = f.relative_to(out).parts[0].removesuffix(".tsv")
        lines = f.read_text().strip().splitlines()
        if len(lines) >= 2:
            per_rule.setdefault(rule, []).append(float(lines[-1].split("\t")[0]))
    total = sum(sum(v) for v in per_rule.values())
    rows = [[rule, len(v), sum(v), sum(v) / total] for rule, v in sorted(per_rule.items(), key=lambda kv: -sum(kv[1]))]
    table("Job wall time by rule (sum over jobs of their benchmark files; jobs overlap on several cores)",
          ["rule", "jobs", "s (sum)", "share"], rows)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    ap.add_argument("--model", default=None, help="prepared model folder (default: random SmolLM2-shaped block)")
    ap.add_argument("--activations", default=None, help="the run's activations.npy: real residual states")
    ap.add_argument("--layer", type=int, default=0)
    ap.add_argument("--samples", type=int, default=8, help="states per timing")
    ap.add_argument("--context", type=int, default=32, help="tokens of context for the in-context engine")
    ap.add_argument("--samples-rss", type=int, default=128, help="N of the memory section (and 4N)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--leiden-d", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (jobs run with 1; BLAS threads: "
                    "OMP_NUM_THREADS, default 1)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"# resdyn performance harness — torch {torch.__version__}, {args.threads} thread(s), "
          f"{os.cpu_count()} CPU(s); ratios are within this run")
    for name in SECTIONS:
        if name in args.only:
            globals()[f"section_{name}"](args)


if __name__ == "__main__":
    main()
