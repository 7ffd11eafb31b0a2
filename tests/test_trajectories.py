"""Token trajectories: ct_t on maps with known exponents, CLIPPED_MAD, the
variance decomposition on prescribed shares, regimes, collapse episodes, decoding."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from resdyn.lyapunov.qr_flow import random_unit_vector
from resdyn.trajectories.collapse import collapse_table, episodes, exit_share
from resdyn.trajectories.normalise import add_scores, clipped_mad, summaries
from resdyn.trajectories.regimes import classify, regime_table, sensitivity_table
from resdyn.trajectories.token_metrics import ftle_and_kinematic, repeats_ngram
from resdyn.trajectories.variance import decompose


class LinearStack:
    """A "model" whose layer l maps every token state by x -> A_l x (SamplePass's interface)."""

    def __init__(self, matrices, hidden_last):
        self.mats = [torch.as_tensor(a, dtype=torch.float64) for a in matrices]
        self.n_layers = len(self.mats)
        d = self.mats[0].shape[0]
        n = hidden_last.shape[0]
        self.hidden = [torch.zeros(1, n, d, dtype=torch.float64) for _ in range(self.n_layers)]
        self.hidden.append(torch.as_tensor(hidden_last, dtype=torch.float64)[None])

    def token_maps(self, i, positions):
        a = self.mats[i]
        return [(f"L{i:02d}", lambda x: x @ a.T)]

    def token_states(self, i, positions):
        return torch.ones(len(positions), 1, self.mats[0].shape[0], dtype=torch.float64)


def with_singular_values(s, rng):
    d = len(s)
    u, _ = np.linalg.qr(rng.standard_normal((d, d)))
    v, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return u @ np.diag(s) @ v.T


def test_ct_dynamical_is_the_exponent_of_a_linear_map_with_prescribed_singular_values():
    rng = np.random.default_rng(0)
    d, n_layers, seeds = 6, 7, [0, 1, 2]
    mats = [with_singular_values(np.array([3.0, 1.5, 1.0, 0.7, 0.4, 0.1]) * (1 + 0.1 * l), rng)
            for l in range(n_layers)]
    stack = LinearStack(mats, rng.standard_normal((5, d)))
    lam, lam_std, _ = ftle_and_kinematic(stack, [1, 3], seeds, cadence=2)
    # known answer: (1/L) log ||A_L ... A_1 v0|| for each seed's unit tangent v0
    product = np.linalg.multi_dot(mats[::-1])
    known = [np.log(np.linalg.norm(product @ random_unit_vector(d, s).numpy())) / n_layers for s in seeds]
    np.testing.assert_allclose(lam, np.mean(known), atol=1e-8, rtol=0)
    np.testing.assert_allclose(lam_std, np.std(known), atol=1e-8, rtol=0)
    # all singular values equal (s times an orthogonal map): log s for any tangent
    q = [with_singular_values(np.full(d, 2.5), rng) for _ in range(n_layers)]
    lam, lam_std, _ = ftle_and_kinematic(LinearStack(q, rng.standard_normal((5, d))), [2], seeds, 3)
    np.testing.assert_allclose(lam, np.log(2.5), atol=1e-8, rtol=0)
    np.testing.assert_allclose(lam_std, 0, atol=1e-8)


def test_ct_kinematic_is_one_minus_the_cosine_of_successive_states():
    angles = np.array([0.0, 0.3, 1.2, np.pi / 2, 2.5])
    h = np.stack([np.cos(np.cumsum(angles)), np.sin(np.cumsum(angles)), np.zeros(5)], 1) * [[1], [2], [3], [4], [5]]
    stack = LinearStack([np.eye(3)], h)
    _, _, kin = ftle_and_kinematic(stack, [1, 2, 3, 4], [0], 1)
    np.testing.assert_allclose(kin, 1 - np.cos(angles[1:]), atol=1e-12)
    with pytest.raises(ValueError, match="positions must be >= 1"):
        ftle_and_kinematic(stack, [0, 1], [0], 1)


def test_ct_dynamical_of_a_model_uses_the_context_of_each_position(one_torch_thread):
    """The pass over the whole sequence gives position p what the pass over tokens 0..p gives its
    last token (causality, context K/V fixed): the FTLE of lyapunov_ftle at position `last`."""
    from resdyn.models.decoder_map import SamplePass
    from resdyn.lyapunov.model_runs import ftle_tables
    from tiny_models import tiny_model

    model = tiny_model("gemma3_text")  # sliding windows of 4 on 9 tokens: the window must matter
    ids = torch.tensor([5, 17, 33, 8, 99, 140, 7, 61, 250])
    lam, _, _ = ftle_and_kinematic(SamplePass(model, ids), [3, 8], [0, 1], 2)
    for j, p in enumerate([3, 8]):
        table, _ = ftle_tables(model, [ids[: p + 1]], [0], "tiny", seeds=[0, 1], cadence=2)
        np.testing.assert_allclose(lam[j], table["lambda1"].mean(), rtol=1e-5, atol=1e-6)


def test_clipped_mad_known_values_affine_invariance_and_bound():
    x = np.array([1.0, 2.0, 3.0, 4.0, 100.0])  # median 3, MAD 1
    k = 1.4826  # 1 / Phi^-1(3/4): 1.4826 MAD estimates a normal sample's standard deviation
    np.testing.assert_allclose(clipped_mad(x, 3.0), [-2 / k, -1 / k, 0, 1 / k, 3.0])
    y = np.random.default_rng(1).standard_t(2, size=500)
    z = clipped_mad(y, 2.5)
    np.testing.assert_allclose(clipped_mad(7.3 * y - 4.1, 2.5), z, atol=1e-12)
    np.testing.assert_allclose(clipped_mad(-0.2 * y + 9, 2.5), -z, atol=1e-12)  # a negative scale flips the sign
    assert np.abs(z).max() == 2.5 and (np.abs(z) == 2.5).sum() > 10
    with pytest.raises(ValueError, match="MAD is 0"):
        clipped_mad([1.0, 1.0, 1.0, 2.0], 3.0)


def test_scores_pool_each_run_and_summaries_are_median_iqr_spike_share():
    t = np.arange(1, 9)
    base = dict(category="c", decoding="greedy", entropy=1.0, repeat=False)
    tok = pd.DataFrame([dict(run=r, prompt=0, t=i, ct_dynamical=s * v, ct_kinematic=v + 1, **base)
                        for r, s in (("a", 1.0), ("b", 100.0)) for i, v in zip(t, [1, 2, 3, 4, 5, 6, 7, 40])])
    scored = add_scores(tok, 3.0)
    # a run's scores do not depend on the other run's scale
    np.testing.assert_allclose(scored.loc[scored.run == "a", "z_ct_dynamical"].to_numpy(),
                               scored.loc[scored.run == "b", "z_ct_dynamical"].to_numpy())
    s = summaries(scored, 1.0).set_index(["run", "metric", "normalisation"])
    raw = s.loc[("a", "ct_dynamical", "raw")]
    assert raw["level"] == 4.5 and raw["variability"] == np.percentile([1, 2, 3, 4, 5, 6, 7, 40], 75) - 2.75
    # median 4.5, MAD 2: |z| > 1 where |x - 4.5| > 1.4826 * 2, i.e. x = 1 and x = 40
    assert raw["spike_rate"] == 2 / 8
    assert s.loc[("b", "ct_dynamical", "raw"), "level"] == 450.0


def test_variance_decomposition_recovers_prescribed_shares():
    rng = np.random.default_rng(7)
    models, cats, reps = 6, 4, 250
    a = rng.standard_normal(models)
    a = (a - a.mean()) / a.std() * np.sqrt(0.07)  # population variances 0.07, 0.17, noise 0.76
    b = rng.standard_normal(cats)
    b = (b - b.mean()) / b.std() * np.sqrt(0.17)
    rows = [dict(run=f"m{m}", category=f"c{c}", level=a[m] + b[c] + rng.normal(0, np.sqrt(0.76)))
            for m in range(models) for c in range(cats) for _ in range(reps)]
    out = decompose(pd.DataFrame(rows), "level").set_index("factor")
    np.testing.assert_allclose(out.loc[["model", "category", "residual"], "share"], [0.07, 0.17, 0.76], atol=0.02)
    assert out.loc["model", "df"] == models - 1 and out.loc["category", "df"] == cats - 1
    np.testing.assert_allclose(out["share"].sum(), 1.0, atol=1e-9)  # balanced: type II shares add up
    one_model = decompose(pd.DataFrame(rows).query("run == 'm0'"), "level").set_index("factor")
    assert one_model.loc["model", "sum_sq"] == 0 and one_model.loc["model", "df"] == 0


def _thresholds(lo, hi, v_hi):
    one = {"level_low": lo, "level_high": hi, "variability_high": v_hi}
    return {m: {n: dict(one) for n in ("raw", "clipped_mad")} for m in ("ct_dynamical", "ct_kinematic")}


def test_regimes_follow_the_stated_rule():
    got = classify(level=[0.1, 0.5, 0.9, 0.5, 0.1], variability=[0.1, 0.1, 0.1, 0.9, 0.9],
                   level_low=0.3, level_high=0.7, variability_high=0.8)
    assert list(got) == ["underactive", "adaptive", "transition", "chaotic", "chaotic"]
    summary = pd.DataFrame(dict(run="a", prompt=range(12), category="c", decoding="greedy", metric="ct_dynamical",
                                normalisation="raw", level=np.arange(12.0), variability=np.arange(12.0)[::-1],
                                spike_rate=0.0))
    reg = regime_table(summary, _thresholds(3.0, 7.5, 8.5))
    np.testing.assert_allclose(reg[["level_low", "level_high", "variability_high"]].iloc[0], [3.0, 7.5, 8.5])
    # levels 0-2 have variability 11-9 (> 8.5): chaotic; level 3 is at level_low: underactive
    assert list(reg["regime"]) == ["chaotic"] * 3 + ["underactive"] + ["adaptive"] * 4 + ["transition"] * 4
    with pytest.raises(KeyError, match=r"thresholds\.ct_dynamical\.raw must set level_low"):
        regime_table(summary, {"ct_dynamical": {"clipped_mad": {}}})


def _identical_panel(jitter: float) -> pd.DataFrame:
    """Two runs x three prompts x two decodings, every trajectory the same ct_t sequence
    (+ jitter times its index, so a quantile rule has distinct values to split)."""
    ct = np.array([0.02, 0.05, 0.01, 0.08, 0.03, 0.06, 0.04, 0.07])
    rows = []
    for k, (run, prompt, decoding) in enumerate(
            [(r, p, d) for r in ("a", "b") for p in range(3) for d in ("greedy", "sampled")]):
        for t, x in enumerate(ct, start=1):
            rows.append(dict(run=run, prompt=prompt, category=f"c{prompt}", decoding=decoding, t=t,
                             ct_dynamical=x + jitter * k, ct_kinematic=2 * x + jitter * k, entropy=1.0, repeat=False))
    return pd.DataFrame(rows)


@pytest.mark.parametrize("jitter", [0.0, 1e-9])
def test_a_panel_of_identical_trajectories_is_one_regime(jitter):
    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text())
    thresholds = config["token_trajectories"]["regimes"]["thresholds"]  # the embedded default's
    summary = summaries(add_scores(_identical_panel(jitter), 3.0), 2.0)
    reg = regime_table(summary, thresholds)
    assert len(reg) == 12 * 4
    assert (reg.groupby(["metric", "normalisation"])["regime"].nunique() == 1).all()
    # and any single level/variability point gives one regime at any thresholds
    one = regime_table(summary, _thresholds(0.04, 0.06, 0.02))
    assert (one.groupby(["metric", "normalisation"])["regime"].nunique() == 1).all()


def test_sensitivity_counts_every_threshold_combination():
    summary = pd.DataFrame(dict(run=["a", "a", "b", "b"], prompt=range(4), category="c", decoding="greedy",
                                metric="ct_dynamical", normalisation="raw", level=[0.0, 1.0, 2.0, 3.0],
                                variability=[0.0, 0.0, 0.0, 5.0], spike_rate=0.0))
    table = sensitivity_table(summary, _thresholds(1.0, 2.0, 4.0), [0.5, 1, 2])
    assert len(table) == 27 * 3  # 3 factors for each of 3 thresholds, runs a, b and pooled
    by = table.set_index(["run", "level_low_factor", "level_high_factor", "variability_high_factor"])
    counts = ["n_underactive", "n_adaptive", "n_transition", "n_chaotic"]
    # x1: levels 0, 1 at or below 1 (underactive), 2 adaptive, 3 has variability 5 > 4 (chaotic)
    assert list(by.loc[("all", 1.0, 1.0, 1.0), counts]) == [2, 1, 0, 1]
    assert by.loc[("all", 1.0, 1.0, 1.0), "n_regimes"] == 3
    # variability_high x2 = 8: level 3 becomes transition; level_low x0.5 = 0.5: level 1 adaptive
    assert list(by.loc[("all", 0.5, 1.0, 2.0), counts]) == [1, 2, 1, 0]
    assert list(by.loc[("b", 0.5, 1.0, 2.0), counts]) == [0, 1, 1, 0]
    np.testing.assert_allclose(by.loc[("a", 2.0, 0.5, 0.5), ["level_low", "level_high", "variability_high"]],
                               [2.0, 1.0, 2.0])
    # level_low above level_high: no trajectory can be adaptive
    assert by.loc[("all", 2.0, 0.5, 2.0), "n_adaptive"] == 0
    # the x1 row of each run is the regime table's count
    reg = regime_table(summary, _thresholds(1.0, 2.0, 4.0))
    assert list(by.loc[("b", 1.0, 1.0, 1.0), counts]) == [
        int((reg[reg.run == "b"]["regime"] == r).sum()) for r in ("underactive", "adaptive", "transition", "chaotic")]


def test_collapse_episodes_exit_share_and_bootstrap():
    h = [0.1, 0.1, 0.1, 1.0, 0.1, 0.1, 2.0, 0.1, 0.3, 0.1]
    assert episodes(h, 0.5, 2) == [(0, 3, True), (4, 2, True), (7, 3, False)]
    assert episodes(h, 0.5, 4) == []
    tok = pd.DataFrame([dict(run=r, prompt=p, decoding="greedy", t=i + 1, entropy=v)
                        for r in ("a", "b") for p in range(3) for i, v in enumerate(h if p else h[:6] + [0.1] * 4)])
    tab = collapse_table(tok, 0.5, 2, 500, 0, 0.05).set_index(["run", "decoding"])
    # per run: prompts 1, 2 give 2 exits of 3 each, prompt 0 one exit of 2 ([0.1]*3 then 1.0, then 0.1 to the end)
    assert tab.loc[("a", "greedy"), ["n_episodes", "n_exited"]].tolist() == [8, 5]
    assert tab.loc[("all", "all"), "exit_share"] == 10 / 16
    again = collapse_table(tok, 0.5, 2, 500, 0, 0.05)
    pd.testing.assert_frame_equal(tab.reset_index(), again)
    share, lo, hi = exit_share(np.array([0.0, 1, 2, 3]), np.array([1.0, 1, 3, 3]), 2000, 0, 0.05)
    assert share == 0.75 and 0.2 < lo < share < hi <= 1.0


def test_repeat_flag_finds_ngrams_in_the_window_only():
    seq = [1, 2, 3, 9, 9, 1, 2, 3]
    assert repeats_ngram(seq, 7, 3, 7) and not repeats_ngram(seq, 7, 3, 4)
    assert not repeats_ngram(seq, 6, 3, 7) and repeats_ngram(seq, 6, 2, 7)
    assert not repeats_ngram(seq, 1, 3, 7)


def test_greedy_decoding_matches_full_passes_and_sampling_is_seeded(one_torch_thread):
    from resdyn.trajectories.generation import decode, entropy_nats, sampling_rng
    from tiny_models import tiny_model

    model = tiny_model("llama")
    prompts = [torch.tensor([1, 40, 41, 42]), torch.tensor([1, 7, 8, 250])]
    rngs = lambda seed: [sampling_rng(seed, i) for i in range(2)]  # noqa: E731
    out = decode(model, prompts, 5, ("sampled", "greedy"), 1.5, rngs(3))
    for prompt, decoded in zip(prompts, out):
        for decoding, (tokens, ent) in decoded.items():
            seq = prompt.tolist()
            for tok, h in zip(tokens, ent):
                with torch.no_grad():
                    logits = model(torch.tensor([seq])).logits[0, -1]
                if decoding == "greedy":
                    assert tok == int(torch.argmax(logits))
                np.testing.assert_allclose(h, entropy_nats(logits), rtol=1e-5)  # each row decodes its own sequence
                seq.append(tok)
    # prompt 1's sampled row: the inverse CDF of the tempered distribution at its own generator's uniforms
    rng, seq = sampling_rng(3, 1), prompts[1].tolist()
    for tok in out[1]["sampled"][0]:
        with torch.no_grad():
            p = torch.softmax(model(torch.tensor([seq])).logits[0, -1].double() / 1.5, -1).numpy()
        assert tok == np.searchsorted(np.cumsum(p), rng.random() * np.cumsum(p)[-1], side="right")
        seq.append(tok)
    assert out == decode(model, prompts, 5, ("sampled", "greedy"), 1.5, rngs(3))
    assert out[0]["sampled"][0] != decode(model, prompts, 5, ("sampled",), 1.5, rngs(4))[0]["sampled"][0]
    with pytest.raises(ValueError, match="one length"):
        decode(model, [prompts[0], prompts[1][:3]], 2)

def test_saturated_design_gets_type_ii_sums_of_squares_from_nested_fits():
    """One model, one trajectory per category (the tiny workflow per decoding): no residual df,
    no F test; the category carries all of SS_total."""
    frame = pd.DataFrame(dict(run="m0", category=["c0", "c1", "c2"], level=[1.0, 2.5, 6.0]))
    sat = decompose(frame, "level").set_index("factor")
    ss_total = ((frame["level"] - 3.1666666666666665) ** 2).sum()
    np.testing.assert_allclose(sat.loc[["model", "category", "residual"], "sum_sq"], [0, ss_total, 0], atol=1e-9)
    np.testing.assert_allclose(sat.loc["category", "share"], 1.0)
    assert sat.loc["category", "df"] == 2 and sat.loc["residual", "df"] == 0
    assert np.isnan(sat.loc["category", "p_value"])
    with_reps = decompose(pd.concat([frame, frame.assign(level=frame["level"] + 0.5)]), "level").set_index("factor")
    np.testing.assert_allclose(with_reps.loc["category", "sum_sq"], 2 * ss_total, rtol=1e-9)  # same SS via anova_lm


def test_trajectory_config_errors_name_the_key():
    from resdyn.core.config_checks import ConfigError, check_trajectory_keys

    runs = {"a": {"source": "init"}}  # unknown runs in token_trajectories.runs: tests/test_config.py
    with pytest.raises(ConfigError, match="token_trajectories.spike = 3.0 must be below token_trajectories.clip = 3.0"):
        check_trajectory_keys({"runs": runs, "token_trajectories": {"spike": 3.0, "clip": 3.0}})
    bad = {"ct_kinematic": {"raw": {"level_low": 0.3, "level_high": 0.1, "variability_high": 0.2}}}
    with pytest.raises(ConfigError, match=r"thresholds\.ct_kinematic\.raw: level_low = 0\.3 exceeds level_high = 0\.1"):
        check_trajectory_keys({"runs": runs, "token_trajectories": {"regimes": {"thresholds": bad}}})
    check_trajectory_keys({"runs": runs, "token_trajectories": {"runs": ["a"], "spike": 2.0, "clip": 3.0}})
