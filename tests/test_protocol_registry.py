"""The protocol registry (selfsup.eval.protocols): every fixed-feature protocol runs wherever there are
per-sample features with labels (images, series, text, graph nodes), unknown / inapplicable protocols
fail with the list of those that apply, and no selected setting depends on the test labels."""

import pytest
import torch

from selfsup.data import load_dataset
from selfsup.errors import UserError
from selfsup.eval.protocols import FEATURE_PROTOCOLS, PROTOCOLS, FeatureSettings, check_protocols, feature_protocols


@pytest.fixture(scope="module")
def digits():
    """sklearn's handwritten digits (1,797 real 8x8 images) as flat features in [0, 1]."""
    d = load_dataset("digits")
    f = lambda x: x.reshape(len(x), -1).float() / 16.0  # noqa: E731
    return f(d.x_train), d.y_train.long(), f(d.x_test), d.y_test.long()


def test_every_protocol_is_declared_once_with_what_it_needs():
    assert set(PROTOCOLS) == {"knn", "linear", "svm", "1nn", "fewshot", "cluster", "finetune"}
    assert PROTOCOLS["finetune"].needs == "encoder"
    assert set(FEATURE_PROTOCOLS) == {"knn", "linear", "svm", "1nn", "fewshot", "cluster"}


def test_svm_and_1nn_run_on_image_features_through_the_harness(digits):
    """Before the registry the harness had no svm (only series had it): evaluate refused it."""
    from selfsup.data.base import ArrayDataset
    from selfsup.eval.harness import EvalConfig, evaluate

    xtr, ytr, xte, yte = digits
    data = ArrayDataset("digits", xtr, ytr, xte, yte, classes=[str(i) for i in range(10)])
    cfg = EvalConfig(protocols=("svm", "1nn", "knn"), labels=("10%",), seeds=(0, 1), baselines=())
    res = evaluate(None, data, cfg, features=(xtr, xte), log=lambda s: None)["protocols"]
    assert set(res) == {"svm", "1nn", "knn"}
    assert res["svm"]["10%"]["mean"] > 0.8 and res["1nn"]["10%"]["mean"] > 0.8  # digits: far above chance 0.1
    assert all("C" in r for r in res["svm"]["10%"]["selected"])


def test_knn_fewshot_and_cluster_run_on_series_features(digits):
    """The series switch knew svm, linear and 1nn only ("unknown series protocol 'knn'")."""
    from selfsup.eval.series import series_protocols

    xtr, ytr, xte, yte = digits
    out = series_protocols(xtr, ytr, xte, yte, ("knn", "cluster", "fewshot"), ("10%", "100%"), (0, 1), 10)
    assert out["knn"]["100%"]["mean"] > 0.9 and len(out["knn"]["10%"]["values"]) == 2
    assert out["knn"]["10%"]["selected_on"].startswith("the labeled subset")
    assert 0 < out["cluster"]["nmi"]["mean"] <= 1 and "5way5shot" in out["fewshot"]


def test_inapplicable_protocol_names_the_ones_that_apply():
    with pytest.raises(UserError) as e:
        check_protocols(("knn", "finetune"), ("svm", "linear", "knn", "1nn", "fewshot", "cluster"), "series runs")
    assert "finetune" in e.value.message and "1nn" in str(e.value.hint)
    from selfsup.pipelines.graph import eval_settings
    from selfsup.pipelines.requests import EvalRequest

    cfg, _ = eval_settings(EvalRequest(run_dir="x", protocols=("svm", "1nn")))  # refused before the registry
    assert cfg.protocols == ("svm", "1nn")
    with pytest.raises(UserError, match="svm"):
        eval_settings(EvalRequest(run_dir="x", protocols=("finetune",)))


def _selected(tree):
    """Every "selected" record of a results tree, by path (accuracies dropped)."""
    out = {}

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "selected":
                    out[path] = [{a: b for a, b in r.items() if a != "val_accuracy" or b == b} for r in v]
                else:
                    walk(v, f"{path}/{k}")

    walk(tree, "")
    return out


@pytest.mark.parametrize("where", ["validation split (images, text, video)", "inside the labeled subset (series)"])
def test_permuted_test_labels_leave_every_selection_unchanged(digits, where):
    """Every choice (k, L2, C) is made before the test labels are read: permuting them moves the
    accuracies, never a selected setting."""
    xtr, ytr, xte, yte = digits
    val = (xtr[-300:], ytr[-300:]) if where.startswith("validation") else None
    ftr, ftr_y = (xtr[:-300], ytr[:-300]) if val is not None else (xtr, ytr)
    perm = yte[torch.randperm(len(yte), generator=torch.Generator().manual_seed(0))]
    run = lambda y: feature_protocols(ftr, ftr_y, xte, y, ("knn", "linear", "svm"), ("5%", "100%"), (0, 1), 10,  # noqa: E731
                                      FeatureSettings(), val=val)
    a, b = run(yte), run(perm)
    sel = _selected(a)
    assert {"/knn/5%", "/linear/100%", "/svm/5%"} <= set(sel)
    assert sel == _selected(b)
    assert a["knn"]["100%"]["mean"] != b["knn"]["100%"]["mean"]  # the permutation did reach the scores


def test_permuted_test_labels_leave_node_selections_unchanged(digits):
    """Graph nodes: the public-split protocols choose on the validation nodes, the low-label ones on a
    split of the non-test nodes."""
    from selfsup.eval.graph import NodeSplit, node_eval_config, node_protocols

    xtr, ytr, xte, yte = digits
    feats, y = torch.cat([xtr, xte]), torch.cat([ytr, yte])
    n = len(xtr)
    split = NodeSplit("public", torch.arange(200), torch.arange(n, len(y)), torch.arange(200, 500))
    cfg = node_eval_config(protocols=("linear", "knn", "svm"), labels=("10%",), seeds=(0, 1), knn_k=None)
    a = node_protocols(feats, y, split, cfg)
    y2 = y.clone()
    y2[n:] = y[n:][torch.randperm(len(y) - n, generator=torch.Generator().manual_seed(1))]
    b = node_protocols(feats, y2, split, cfg)
    sel = _selected(a)
    assert {"/linear/public", "/knn/public", "/svm/public", "/knn/10%"} <= set(sel)
    assert sel == _selected(b)


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("reinit", [False, True], ids=["finetune", "supervised"])
def test_permuted_test_labels_leave_the_finetune_choice_unchanged(reinit):
    """Image fine-tuning (and the supervised baseline, the same recipe) choose the lr and the checkpoint on
    a validation part of the labeled subset: permuting the test labels moves the accuracy, never a choice."""
    from selfsup.encoders import build_encoder
    from selfsup.eval.features import Featurizer
    from selfsup.eval.finetune import FinetuneConfig
    from selfsup.eval.harness import EvalConfig, finetune_protocol

    d = load_dataset("digits")
    torch.manual_seed(0)
    ftz = Featurizer(build_encoder("mlp", (1, 8, 8), 32), (0.5,), (0.25,), channels_last=False)
    cfg = EvalConfig(labels=("20%",), seeds=(0, 1),
                     finetune=FinetuneConfig(steps=24, batch_size=32, lr_grid=(1e-4, 3e-3), evals=3))
    perm = d.y_test[torch.randperm(len(d.y_test), generator=torch.Generator().manual_seed(0))]
    run = lambda y: finetune_protocol(ftz, d.x_train, d.y_train, d.x_test, y, cfg, 10, reinit)["20%"]  # noqa: E731
    a, b = run(d.y_test), run(perm)
    assert a["selected_on"] == "validation split of the labeled subset" and len(a["selected"]) == 2
    assert all({"lr", "steps", "step", "val"} <= set(r) and r["val"] is not None for r in a["selected"])
    assert a["selected"] == b["selected"]
    assert {r["step"] for r in a["selected"]} <= {8, 16, 24}  # a checkpoint chosen among cfg.evals of them
    if not reinit:
        assert {r["lr"] for r in a["selected"]} <= {1e-4, 3e-3}
    else:  # from scratch: the encoder learns at the head's rate, nothing else is tried
        assert {r["lr"] for r in a["selected"]} == {1e-3}
    assert a["values"] != b["values"]  # the permutation did reach the scores
    assert a["mean"] > 0.15  # 10 classes: above chance (0.1) even after 24 steps
