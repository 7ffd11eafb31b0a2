"""Tokenization as trained: the tokenizer's default BOS reaches every stage that tokenizes."""
import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from resdyn.data.activations import extract_last_token
from resdyn.data.tokens import encode_all as tokenize
from resdyn.data.tokens import TokenizationError, encode
from resdyn.lyapunov.model_runs import prepare
from tiny_models import tiny_model

BOS, EOS = 1, 2
TEXTS = ["the cat sat on the mat", "a dog"]


def byte_tokenizer(template: str | None) -> PreTrainedTokenizerFast:
    """Byte-level fixture in the real format; `template` is its default post-processing ("<s> $A", ...)."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {"<pad>": 0, "<s>": BOS, "</s>": EOS, **{ch: i + 3 for i, ch in enumerate(alphabet)}}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    if template is not None:
        tok.post_processor = processors.TemplateProcessing(single=template, special_tokens=[("<s>", BOS), ("</s>", EOS)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")


ADDS_BOS = "<s> $A"           # Gemma 3, Llama 3.1
ADDS_NONE = None              # SmolLM2: a bos_token exists but is not added
ADDS_BOS_AND_EOS = "<s> $A </s>"


@pytest.mark.parametrize(
    "template, mode, starts_with_bos",
    [
        (ADDS_BOS, "auto", True), (ADDS_NONE, "auto", False),
        (ADDS_BOS, "always", True), (ADDS_NONE, "always", True),
        (ADDS_BOS, "never", False), (ADDS_NONE, "never", False),
    ],
)
def test_bos_modes(template, mode, starts_with_bos):
    tok = byte_tokenizer(template)
    plain = tok(TEXTS[0], add_special_tokens=False)["input_ids"]
    ids = encode(tok, TEXTS[0], mode)
    assert ids == ([BOS] if starts_with_bos else []) + plain


def test_a_trailing_eos_is_never_kept():
    tok = byte_tokenizer(ADDS_BOS_AND_EOS)
    assert tok(TEXTS[0])["input_ids"][-1] == EOS
    assert encode(tok, TEXTS[0], "auto") == [BOS] + tok(TEXTS[0], add_special_tokens=False)["input_ids"]


def test_always_without_a_bos_token_is_refused():
    tok = byte_tokenizer(ADDS_NONE)
    tok.bos_token = None
    with pytest.raises(TokenizationError, match="no bos_token"):
        encode(tok, TEXTS[0], "always")


@pytest.fixture()
def model_dirs(tmp_path):
    """A tiny Llama saved with each fixture tokenizer, as a prepared run folder is."""
    model = tiny_model("llama")
    dirs = {}
    for name, template in {"bos": ADDS_BOS, "none": ADDS_NONE}.items():
        folder = tmp_path / name
        model.save_pretrained(folder)
        byte_tokenizer(template).save_pretrained(folder)
        dirs[name] = folder
    return model, dirs


def test_bos_reaches_activations_in_context_prefixes_and_lyapunov_inputs(model_dirs, tmp_path):
    from transformers import AutoTokenizer

    from resdyn.data.corpus import write_jsonl

    model, dirs = model_dirs
    corpus = tmp_path / "samples.jsonl"
    write_jsonl(corpus, TEXTS)
    for name, expect_bos in {"bos": True, "none": False}.items():
        tok = AutoTokenizer.from_pretrained(dirs[name])
        # activations and the in-context Jacobians' prefixes (scripts/jacobian_layer.py) share this call
        ids = tokenize(tok, TEXTS, "auto")
        assert all((seq[0] == BOS) == expect_bos for seq in ids)
        _, lyap_inputs, _ = prepare(str(dirs[name]), str(corpus), n_samples=2, max_tokens=8, bos="auto")
        assert all((int(seq[0]) == BOS) == expect_bos for seq in lyap_inputs)
        for mode, forced in {"always": True, "never": False}.items():
            assert all((seq[0] == BOS) == forced for seq in tokenize(tok, TEXTS, mode))
            _, lyap_inputs, _ = prepare(str(dirs[name]), str(corpus), n_samples=2, max_tokens=8, bos=mode)
            assert all((int(seq[0]) == BOS) == forced for seq in lyap_inputs)
    # the BOS changes the states the analysis reads: the residual stream of a causal model carries it
    tok = AutoTokenizer.from_pretrained(dirs["bos"])
    with_bos = extract_last_token(model, tokenize(tok, TEXTS[:1], "auto"), batch_size=1)
    without = extract_last_token(model, tokenize(tok, TEXTS[:1], "never"), batch_size=1)
    assert np.abs(with_bos - without).max() > 1e-3
