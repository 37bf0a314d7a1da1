"""Text pretext tasks: tokenizer, BERT masking, NSP pairs, utterance order, methods."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from selfsup.augment.text import (
    CLS_ID,
    IGNORE,
    MASK_ID,
    NUM_SPECIAL,
    PAD_ID,
    SEP_ID,
    mask_tokens,
    nsp_pairs,
    pack_segments,
    permutations,
    shuffle_order,
)
from selfsup.encoders.transformer import TextTransformer, TransformerConfig
from selfsup.functional.masked_ce import masked_ce


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: one thread (two threads on a busy 2-core machine spin for nothing)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "A journey of a thousand miles begins with a single step.",
    "To be, or not to be: that is the question.",
    "All that glitters is not gold; all who wander are not lost.",
] * 20


@pytest.mark.parametrize("kind", ["wordpiece", "bpe"])
def test_tokenizer_round_trip_and_specials(kind, tmp_path):
    from selfsup.data.tokenize import TextTokenizer

    tok = TextTokenizer.train(CORPUS, vocab_size=300, kind=kind, min_frequency=1)
    for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]):
        assert tok.tok.token_to_id(t) == i
    tok.save(tmp_path / "tok.json")
    tok2 = TextTokenizer.load(tmp_path / "tok.json")
    for text in CORPUS[:4]:
        ids = tok2.encode([text], 64)[0]
        assert (ids[ids != PAD_ID] >= NUM_SPECIAL).all()
        if kind == "bpe":  # Metaspace keeps the spaces: exact round trip
            assert tok2.decode(ids) == tok.normalize(text)
        else:  # WordPiece splits punctuation off: the same characters, spacing may differ
            assert tok2.decode(ids).split() != [] and "".join(tok2.decode(ids).split()) == "".join(
                tok.normalize(text).split())
    cls = tok2.encode_for_classification(["the quick brown fox", "to be"], 12)
    assert (cls[:, 0] == CLS_ID).all() and (cls == SEP_ID).sum(1).tolist() == [1, 1]
    n = (cls[1] != PAD_ID).sum()
    assert cls[1, n - 1] == SEP_ID and (cls[1, n:] == PAD_ID).all()


def test_mask_tokens_proportions_and_labels():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(NUM_SPECIAL, 5000, (500, 128), generator=g)
    ids[:, 0], ids[:, 100] = CLS_ID, SEP_ID
    ids[:, 101:] = PAD_ID
    inputs, labels = mask_tokens(ids, 5000, generator=g)
    sel = labels != IGNORE
    real = ids >= NUM_SPECIAL
    assert not (sel & ~real).any(), "special tokens and padding are never selected"
    assert abs(sel[real].float().mean().item() - 0.15) < 0.005
    assert (labels[sel] == ids[sel]).all(), "labels hold the original ids at selected positions"
    assert (inputs[~sel] == ids[~sel]).all(), "unselected positions are untouched"
    masked = (inputs[sel] == MASK_ID).float().mean().item()
    unchanged = (inputs[sel] == ids[sel]).float().mean().item()
    random_ = 1 - masked - unchanged
    assert abs(masked - 0.8) < 0.01 and abs(unchanged - 0.1) < 0.01 and abs(random_ - 0.1) < 0.01
    rnd = inputs[sel & (inputs != MASK_ID) & (inputs != ids)]
    assert (rnd >= NUM_SPECIAL).all() and (rnd < 5000).all()
    again, _ = mask_tokens(ids, 5000, generator=torch.Generator().manual_seed(0).manual_seed(1))
    assert not torch.equal(again, inputs)


def test_pack_segments():
    segs = torch.tensor([[[5, 6, 0], [7, 0, 0]], [[8, 9, 10], [11, 12, 0]]])
    ids, seg = pack_segments(segs, trim=False)
    assert ids.tolist() == [[2, 5, 6, 3, 7, 3, 0, 0, 0], [2, 8, 9, 10, 3, 11, 12, 3, 0]]
    assert seg.tolist() == [[0, 0, 0, 0, 1, 1, 0, 0, 0], [0, 0, 0, 0, 0, 1, 1, 1, 0]]
    assert pack_segments(segs)[0].shape[1] == 8  # trimmed to the longest row
    cut, _ = pack_segments(segs, max_len=6)
    assert cut[1].tolist() == [2, 8, 9, 10, 3, 3]


def test_nsp_pairs_half_random_never_self():
    g = torch.Generator().manual_seed(0)
    a = torch.arange(64).view(64, 1).repeat(1, 4) + NUM_SPECIAL  # distinct sentence per row
    pairs = torch.stack([a, a + 1000], 1)  # (B, 2, S): B of row i = "sentence i + 1000"
    for _ in range(20):
        views, is_next, donor = nsp_pairs(pairs, g)
        assert int(is_next.sum()) == 32, "exactly half true next"
        rows = torch.arange(64)
        assert (donor[is_next == 0] != rows[is_next == 0]).all()
        assert torch.equal(views[is_next == 1], pairs[is_next == 1])
        rnd = views[is_next == 0]
        assert not (rnd[:, 1] == rnd[:, 0]).all(-1).any(), "never paired with itself"
        assert not (rnd[:, 1] == pairs[is_next == 0][:, 1]).all(-1).any(), "random B is never the true B"
    # duplicated content: a donor whose B equals the row's own B is refused
    dup = torch.full((4, 2, 3), 9)
    views, is_next, _ = nsp_pairs(dup, g)
    assert (is_next == 1).all()


def test_shuffle_order_labels_for_every_permutation():
    k = 3
    perms = permutations(k)
    assert perms.shape == (math.factorial(k), k) and perms[0].tolist() == [0, 1, 2]
    assert {tuple(p) for p in perms.tolist()} == set(itertools.permutations(range(k)))
    windows = (torch.arange(600 * k).view(600, k, 1) + NUM_SPECIAL).repeat(1, 1, 2)
    views, ordered, idx = shuffle_order(windows, 0.5, torch.Generator().manual_seed(0))
    assert set(idx.tolist()) == set(range(len(perms)))
    assert torch.equal(ordered, (idx == 0).long())
    for i in range(600):
        assert torch.equal(views[i], windows[i][perms[idx[i]]])
    assert abs(ordered.float().mean().item() - 0.5) < 0.08


def test_masked_ce_matches_manual():
    logits = torch.randn(2, 5, 11)
    labels = torch.full((2, 5), IGNORE)
    labels[0, 1], labels[1, 3] = 4, 7
    want = (F.cross_entropy(logits[0, 1:2], labels[0, 1:2]) + F.cross_entropy(logits[1, 3:4], labels[1, 3:4])) / 2
    assert torch.allclose(masked_ce(logits, labels), want)
    none = masked_ce(logits.requires_grad_(), torch.full((2, 5), IGNORE))
    assert none.item() == 0.0
    none.backward()


def test_transformer_padding_invariance():
    torch.manual_seed(0)
    enc = TextTransformer(TransformerConfig(vocab_size=50, dim=32, depth=2, heads=4, max_len=16, dropout=0.0)).eval()
    ids = torch.tensor([[CLS_ID, 7, 8, 9, SEP_ID]])
    padded = torch.cat([ids, torch.zeros(1, 6, dtype=torch.long)], 1)
    assert torch.allclose(enc(ids), enc(padded), atol=1e-5)
    assert torch.allclose(enc(padded.float()), enc(padded))  # the harness hands float ids


def _tiny(method, **kw):
    from selfsup.methods import get_method

    spec = get_method(method)
    cfg = spec.config_cls(**kw)
    torch.manual_seed(0)
    enc = TextTransformer(TransformerConfig(vocab_size=40, dim=32, depth=1, heads=2, max_len=40, dropout=0.0))
    return spec.build(cfg, enc, None, seed=0)


@pytest.mark.parametrize("method", ["mlm", "nsp", "bert", "utterance-order"])
def test_methods_learn(method):
    torch.manual_seed(0)
    k = 3 if method == "utterance-order" else 2
    # a corpus with structure: segment j of a document is tokens 5+j*3 .. (deterministic "grammar")
    base = torch.arange(k).view(1, k, 1) * 6 + torch.arange(5).view(1, 1, 5) % 3 + NUM_SPECIAL  # (1, K, 5)
    x = base + torch.randint(0, 2, (64, 1, 1)) * 18
    model = _tiny(method)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    losses = []
    for _ in range(60):
        out = model.training_step((x, None))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(out.loss.item())
    assert math.isfinite(losses[0])
    assert sum(losses[-10:]) / 10 < 0.7 * sum(losses[:5]) / 5, (losses[:5], losses[-10:])
    scores = model.heldout_sums(x, torch.Generator().manual_seed(1))
    assert all(math.isfinite(v) for v in scores.values())
    assert model.embed(torch.tensor([[CLS_ID, 6, 7, SEP_ID]])).shape == (1, 32)


def test_nsp_gradients_reach_encoder_and_head_only():
    model = _tiny("nsp")
    x = torch.randint(NUM_SPECIAL, 40, (8, 2, 4))
    model.training_step((x,)).loss.backward()
    assert model.encoder.tok.weight.grad is not None and model.encoder.tok.weight.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.nsp_head.parameters())


def test_mlm_head_is_tied_and_state_dict_has_one_copy():
    model = _tiny("mlm")
    keys = [k for k in model.state_dict() if k.endswith("tok.weight")]
    assert keys == ["encoder.tok.weight"]
