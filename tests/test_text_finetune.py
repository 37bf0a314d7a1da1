"""The text fine-tuning recipe: the pretrained encoder and the same Transformer from scratch get
the same steps, optimiser, lr grid and validation split; choices never look at the test set."""

import numpy as np
import pytest
import torch

from selfsup.encoders.transformer import TextTransformer, TransformerConfig
from selfsup.eval import finetune as T

pytestmark = pytest.mark.usefixtures("one_thread")


def _toy(n=60, vocab=30, length=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.randint(3, vocab, (n, length), generator=g)
    x[:, 0] = 1 + y  # the first token gives the class away
    return x, y


def _enc():
    torch.manual_seed(0)
    return TextTransformer(TransformerConfig(vocab_size=30, dim=16, depth=1, heads=2, max_len=8, segments=2))


def test_num_steps_from_epochs_and_floor():
    c = T.TextFinetuneConfig(epochs=4, min_steps=10, batch_size=32)
    assert c.num_steps(320) == 40 and c.num_steps(8) == 10
    assert T.TextFinetuneConfig(steps=7).num_steps(10_000) == 7


def test_split_fit_val_is_stratified_and_disjoint():
    y = np.array([0] * 10 + [1] * 5 + [2] * 2)
    fit, val = T.split_fit_val(y, 0.2, seed=3)
    assert not set(fit) & set(val) and len(fit) + len(val) == len(y)
    assert sorted(np.bincount(y[val]).tolist()) == [1, 1, 2]
    assert (np.bincount(y[fit]) >= 1).all()
    assert T.split_fit_val(np.array([0, 0, 1]), 0.2, 0) is None  # a class with one label: no validation
    assert T.split_fit_val(y, 0.0, 0) is None


def test_both_arms_get_the_same_recipe(monkeypatch):
    calls = {False: [], True: []}
    real = T.train_select

    def spy(encoder, fit, val, num_classes, lr, steps, cfg, seed, reinit, prepare):
        calls[reinit].append((lr, steps, len(fit[0]), None if val is None else len(val[0]), seed, cfg.batch_size))
        return real(encoder, fit, val, num_classes, lr, steps, cfg, seed, reinit, prepare)

    monkeypatch.setattr(T, "train_select", spy)
    x, y = _toy()
    cfg = T.TextFinetuneConfig(epochs=1, min_steps=3, batch_size=8, lr_grid=(3e-4, 1e-3), evals=2)
    enc = _enc()
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    out = {r: T.finetune_or_scratch(enc, x, y, x[:20], y[:20], 2, ["50%"], [0, 1], cfg, reinit=r) for r in (False, True)}
    assert calls[False] == calls[True] and len(calls[False]) == 4  # 2 seeds x 2 learning rates
    assert {c[0] for c in calls[False]} == {3e-4, 1e-3}
    for r in (False, True):
        e = out[r]["50%"]
        assert len(e["values"]) == 2 and set(e["lr"]) <= {3e-4, 1e-3} and e["steps"] == [c[1] for c in calls[r]][::2]
    assert all(torch.equal(before[k], v) for k, v in enc.state_dict().items())  # the encoder is never modified


def test_choices_ignore_the_test_labels():
    x, y = _toy()
    cfg = T.TextFinetuneConfig(steps=4, batch_size=8, evals=2)
    a = T.finetune_or_scratch(_enc(), x, y, x[:20], y[:20], 2, ["50%"], [0], cfg, reinit=False)["50%"]
    b = T.finetune_or_scratch(_enc(), x, y, x[:20], 1 - y[:20], 2, ["50%"], [0], cfg, reinit=False)["50%"]
    assert a["lr"] == b["lr"] and a["val"] == b["val"]
    assert a["values"][0] == pytest.approx(1 - b["values"][0])


def test_scratch_is_a_fresh_init_of_the_same_architecture():
    enc = _enc()
    with torch.no_grad():
        enc.tok.weight.add_(1.0)  # "pretrained" weights
    fresh = T.fresh_encoder(enc)
    assert type(fresh) is type(enc) and fresh.cfg == enc.cfg
    assert {k: v.shape for k, v in fresh.state_dict().items()} == {k: v.shape for k, v in enc.state_dict().items()}
    assert fresh.tok.weight.abs().mean() < 0.1 < enc.tok.weight.abs().mean()


def test_text_names_stay_importable_and_keep_their_defaults():
    from selfsup.eval import text

    assert text.TextFinetuneConfig is T.TextFinetuneConfig and text.finetune_or_scratch is T.finetune_or_scratch
    c = T.TextFinetuneConfig()
    assert (c.steps, c.epochs, c.min_steps, c.batch_size, c.lr_grid, c.lr_head, c.weight_decay, c.val_fraction,
            c.evals, c.augment) == (0, 4.0, 150, 32, (3e-4, 1e-3), 1e-3, 0.01, 0.2, 4, False)
    i = T.FinetuneConfig()  # the image defaults
    assert (i.steps, i.batch_size, i.lr_grid, i.lr_head, i.weight_decay, i.augment) == (300, 128, (1e-4,), 1e-3,
                                                                                       1e-4, True)


def test_split_fit_val_matches_the_harness_split():
    """One split rule: the labeled subset's fit / validation parts are selection.validation_split's."""
    from selfsup.eval.selection import validation_split

    y = np.random.default_rng(0).integers(0, 4, 50)
    fit, val = T.split_fit_val(y, 0.25, seed=5)
    p, v = validation_split(torch.as_tensor(y), 0.25, 5 + 7919)
    assert fit.tolist() == p.tolist() and val.tolist() == v.tolist()


def test_bad_recipe_settings_are_user_errors():
    from selfsup.errors import UserError

    x, y = _toy()
    for bad in (dict(lr_grid=()), dict(batch_size=0), dict(val_fraction=1.0), dict(steps=0, epochs=0, min_steps=0)):
        with pytest.raises(UserError):
            T.finetune_or_scratch(_enc(), x, y, x, y, 2, ["50%"], [0], T.TextFinetuneConfig(**bad), reinit=False)
