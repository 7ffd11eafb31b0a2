"""The whole-sequence FTLE (lyapunov.position: sequence) against forward-mode AD of the whole
transformers model: a tangent on every position's residual state entering the first layer,
pushed through the model's own forward pass (its causal mask, sliding windows and rotary
tables, eager attention, float64), renormalised at the same cadence by hooks on its decoder
layers. Built without the decoder maps (SamplePass): the reference sees only the model and its layer modules.
"""
import numpy as np
import pytest
import torch
import torch.autograd.forward_ad as fwAD
from tiny_models import tiny_model

from resdyn.lyapunov.model_runs import ftle_tables
from resdyn.lyapunov.qr_flow import random_unit_vector

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SEEDS, CADENCE = [0, 1], 2


def _ids(n=9, seed=1):
    return torch.randint(3, 300, (n,), generator=torch.Generator().manual_seed(seed))


def _float64_model(model_type):
    return tiny_model(model_type, seed=0).double().requires_grad_(False)


def _block_norms(t, norm):
    """(positions,) norms of a (1, n, d) tangent read per position, or (1,) over the whole state."""
    return t[0].norm(dim=-1) if norm == "token" else t.reshape(1, -1).norm(dim=-1)


def _renormalised(t, norm):
    return t / (t[0].norm(dim=-1)[None, :, None] if norm == "token" else t.norm())


def reference_profile(model, ids, v0, cadence, norm):
    """Per-layer log growth of one forward-mode JVP of ``model(ids)``.

    v0 (1, n, d) is the tangent of the residual stream entering layer 0; a forward pre-hook on
    every ``cadence``-th layer renormalises the tangent it receives (per position for norm
    ``token``, over the whole state for ``state``); forward hooks read each layer's output tangent.
    """
    layers = model.model.layers
    outs, ins = [], []

    def pre(module, args, kwargs):
        i = len(ins)
        h = args[0] if args else kwargs["hidden_states"]
        if i == 0:
            t = v0
        else:
            t = fwAD.unpack_dual(h).tangent
            if i % cadence == 0:
                t = _renormalised(t, norm)
        ins.append(t)
        h = fwAD.make_dual(fwAD.unpack_dual(h).primal, t)
        if args:
            return (h, *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": h}

    def post(module, args, output):
        out = output[0] if isinstance(output, tuple) else output
        outs.append(fwAD.unpack_dual(out).tangent.detach().clone())

    handles = [layer.register_forward_pre_hook(pre, with_kwargs=True) for layer in layers]
    handles += [layer.register_forward_hook(post) for layer in layers]
    try:
        with torch.no_grad(), fwAD.dual_level():
            hs = model(ids[None], output_hidden_states=True).hidden_states
    finally:
        for hnd in handles:
            hnd.remove()
    assert len(outs) == len(layers)
    growth = [torch.log(_block_norms(o, norm) / _block_norms(i, norm)).mean() for i, o in zip(ins, outs)]
    # every renormalised tangent (and v0) has unit norms, so this is the log-norm since the last QR
    log_norm = [torch.log(_block_norms(o, norm)).mean() for o in outs]
    return np.array([float(g) for g in growth]), np.array([float(x) for x in log_norm])


def _v0(n, d, seed, norm):
    """The tangent seed ``seed`` as resdyn draws it: one Gaussian direction in R^(n d)."""
    v = random_unit_vector(n * d, seed, torch.float64).reshape(1, n, d)
    return _renormalised(v, norm) if norm == "token" else v


def _slope(p):
    return np.polyfit(np.arange(len(p)), p, 1)[0]


@pytest.mark.parametrize("norm", ["token", "state"])
@pytest.mark.parametrize("model_type", ["llama", "gemma3_text"])
def test_sequence_ftle_is_the_full_model_jvp(model_type, norm):
    """lambda_1, both profiles, and the slope and layerwise variance of either equal the reference
    to 1e-8 (Gemma 3: sliding-window layers of 4 on 9 tokens, so the window must be the model's)."""
    model = _float64_model(model_type)
    ids = _ids()
    tables = {p: ftle_tables(model, [ids], [0], "tiny", seeds=SEEDS, cadence=CADENCE, position="sequence",
                             norm=norm, profile=p) for p in ("log_growth", "log_norm")}
    n, d = len(ids), model.config.hidden_size
    for s in SEEDS:
        growth, log_norm = reference_profile(model, ids, _v0(n, d, s, norm), CADENCE, norm)
        assert not np.allclose(growth, log_norm)  # cadence 2 on 3 layers: the profiles differ
        for p, ref in (("log_growth", growth), ("log_norm", log_norm)):
            table, profile = tables[p]
            got = profile[profile.seed == s].sort_values("layer")
            np.testing.assert_allclose(got.log_growth, growth, rtol=1e-8, atol=1e-12)
            np.testing.assert_allclose(got.log_norm, log_norm, rtol=1e-8, atol=1e-12)
            row = table[table.seed == s].iloc[0]
            assert row.lambda1 == pytest.approx(growth.mean(), rel=1e-8)
            assert row.slope == pytest.approx(_slope(ref), rel=1e-8, abs=1e-12)
            assert row.layer_var == pytest.approx(ref.var(), rel=1e-8)
            assert (row.position, row.norm, row.profile, row.n_positions, row.n_tokens) == ("sequence", norm, p, n, n)


def test_state_norm_is_one_jvp_whatever_the_cadence():
    """A renormalisation by one scalar commutes with the linear tangent map: with norm `state` the
    exponent is (1/L) log ||J v0|| of one torch.func.jvp of the whole model, no renormalisation."""
    model = _float64_model("llama")
    ids = _ids()
    n, d, n_layers = len(ids), model.config.hidden_size, model.config.num_hidden_layers
    emb = model.model.embed_tokens(ids[None]).detach()

    def last_residual(e):  # the residual stream leaving the last layer, before the final norm
        out = {}
        hnd = model.model.layers[-1].register_forward_hook(lambda m, a, o: out.setdefault("h", o))
        try:
            model.model(inputs_embeds=e)
        finally:
            hnd.remove()
        return out["h"]

    for cadence in (1, 2, 100):
        table, _ = ftle_tables(model, [ids], [0], "tiny", seeds=[0], cadence=cadence, position="sequence",
                               norm="state")
        _, jv = torch.func.jvp(last_residual, (emb,), (_v0(n, d, 0, "state"),))
        assert table.lambda1.iloc[0] == pytest.approx(float(torch.log(jv.norm())) / n_layers, rel=1e-8)


def test_positions_feed_into_each_other():
    """Known answers of the coupling: a one-token sequence is its last token (every option gives
    the same exponent); on nine tokens later positions read the perturbed earlier ones, so the
    coupled sequence differs from every position moving alone (span over all of them)."""
    model = _float64_model("llama")
    ids = _ids()

    def lam(sample, **kw):
        return ftle_tables(model, [sample], [0], "tiny", seeds=[0], cadence=CADENCE, **kw)[0].lambda1.iloc[0]

    one = lam(ids[:1])
    for kw in ({"position": "sequence"}, {"position": "sequence", "norm": "state"}, {"position": "span"}):
        assert lam(ids[:1], **kw) == pytest.approx(one, rel=1e-10)
    assert abs(lam(ids, position="sequence") - lam(ids, position="span", span_tokens=len(ids))) > 1e-3


@pytest.mark.parametrize(("position", "norm", "match"), [
    ("sequence", "rows", r"lyapunov\.ftle\.norm must be one of token, state; got 'rows'"),
    ("span", "state", r"norm: state needs lyapunov\.position: sequence"),
    ("all", "token", r"lyapunov\.position must be one of last, span, sequence; got 'all'"),
])
def test_bad_options_are_refused_by_key(position, norm, match):
    with pytest.raises(ValueError, match=match):
        ftle_tables(tiny_model("llama"), [_ids()], [0], "tiny", seeds=[0], cadence=2, position=position, norm=norm)
    with pytest.raises(ValueError, match=r"lyapunov\.ftle\.profile must be one of log_growth, log_norm; got 'x'"):
        ftle_tables(tiny_model("llama"), [_ids()], [0], "tiny", seeds=[0], cadence=2, profile="x")


def test_the_workflow_config_refuses_a_state_norm_on_span_at_start_up():
    from pathlib import Path

    import yaml
    from snakemake.utils import validate

    from resdyn.core.config_checks import ConfigError, check_config

    root = Path(__file__).resolve().parents[1]
    config = yaml.safe_load((root / "config.yaml").read_text())
    config["lyapunov"].update(position="sequence", ftle={**config["lyapunov"]["ftle"], "norm": "state"})
    validate(config, str(root / "schemas" / "config.schema.yaml"))
    check_config(config, models_dir="/nonexistent")  # sequence with either norm is fine
    config["lyapunov"]["position"] = "span"
    with pytest.raises(ConfigError, match=r"lyapunov\.ftle\.norm: state needs lyapunov\.position: sequence"):
        check_config(config, models_dir="/nonexistent")
