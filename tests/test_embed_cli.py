"""`selfsup embed` on a finished run of every modality in `selfsup list` (one tiny run each), and
`selfsup.load_encoder` giving the module the embeddings come from."""

import json

import numpy as np
import pytest
import torch
from conftest import NEED_FMNIST

from selfsup.cli.main import main

pytestmark = pytest.mark.usefixtures("one_thread")  # corpus: tests/conftest.py

# the modality of every method -> the test below that embeds a run of it
COVERED = {"image": "test_embed_image_and_fitted_runs", "fitted": "test_embed_image_and_fitted_runs",
           "image,series": "test_embed_image_and_fitted_runs", "series": "test_embed_series_run",
           "text": "test_embed_text_run", "graph": "test_embed_graph_and_deepwalk_runs",
           "graph-walks": "test_embed_graph_and_deepwalk_runs", "words": "test_embed_word2vec_run",
           "video": "test_embed_video_run"}


def test_every_modality_of_selfsup_list_has_an_embed_test():
    from selfsup.methods import METHODS

    missing = {s.pipeline for s in METHODS.values()} - set(COVERED)
    assert not missing, f"no embed test for the modalities {missing}"
    assert all(name in globals() for name in COVERED.values())


def _embed(run, inputs, out) -> np.ndarray:
    assert main(["embed", str(run), str(inputs), "-o", str(out)]) == 0
    return np.load(out)


def test_embed_image_and_fitted_runs(tmp_path):
    import selfsup

    x = np.random.default_rng(0).integers(0, 256, size=(5, 1, 8, 8), dtype=np.uint8)
    np.save(tmp_path / "x.npy", x)
    for method, extra in (("simclr", ["--epochs", "1", "--batch-size", "64", "--encoder", "mlp"]),
                          ("split-brain", ["--epochs", "1", "--batch-size", "64", "--encoder", "mlp"]),
                          ("pca", ["--set", "n_components=6"])):
        run = tmp_path / method
        assert main(["pretrain", method, "--data", "digits", "--out", str(run), "--no-progress", *extra]) == 0
        z = _embed(run, tmp_path / "x.npy", tmp_path / f"{method}.npy")
        assert z.shape[0] == 5 and z.dtype == np.float32 and np.isfinite(z).all()
        assert not np.allclose(z[0], z[1])  # different images, different features
        enc = selfsup.load_encoder(run)
        assert isinstance(enc, torch.nn.Module)
        assert z.shape[1] == enc.out_dim
    assert selfsup.embed(tmp_path / "pca", x).shape == (5, 6)


def test_embed_series_run(tmp_path):
    """cpc on ucr:GunPoint: the run writes encoder.safetensors and an encoder spec; embed gives the
    representation evaluate scores (the method's embed: encoder and context features)."""
    import selfsup
    from selfsup.pipelines.series import (
        build_series_encoder,
        embed_all,
        load_series_data,
        load_series_run,
    )
    from selfsup.train.checkpoint import load_safetensors

    run = tmp_path / "cpc"
    assert main(["pretrain", "cpc", "--data", "ucr:GunPoint", "--out", str(run), "--epochs", "1",
                 "--set", "width=16"]) == 0
    meta = json.loads((run / "run.json").read_text())
    for f in ("encoder.safetensors", "model.safetensors"):
        assert (run / f).is_file(), f
    spec = meta["encoder_spec"]
    assert spec["name"] == "strided-conv1d" and spec["in_channels"] == 1 and spec["width"] == 16
    enc = build_series_encoder("cpc", 1, meta["input_shape"][1], 16)
    enc.load_state_dict(load_safetensors(run / "encoder.safetensors"))  # the spec rebuilds the saved backbone
    z = _embed(run, "ucr:GunPoint", tmp_path / "z.npy")
    data = load_series_data("ucr:GunPoint")
    assert z.shape == (len(data.x_train) + len(data.x_test), 16 + load_series_run(run, meta).cfg.context_dim)
    want = embed_all(load_series_run(run, meta), data.x_train).numpy()
    assert np.allclose(z[: len(data.x_train)], want, atol=1e-5)
    x = data.x_test[:4].numpy()
    assert np.allclose(selfsup.embed(run, x), selfsup.load_encoder(run)(torch.from_numpy(x)).detach().numpy(),
                       atol=1e-5)
    # a run written before series runs saved safetensors (model.pt only) still embeds
    state = load_safetensors(run / "model.safetensors")
    torch.save(state, run / "model.pt")
    for f in ("model.safetensors", "encoder.safetensors"):
        (run / f).unlink()
    assert np.allclose(_embed(run, "ucr:GunPoint", tmp_path / "old.npy"), z, atol=1e-5)
    (run / "model.pt").unlink()
    assert main(["embed", str(run), "ucr:GunPoint", "-o", str(tmp_path / "x.npy")]) == 2


def test_embed_text_run(tmp_path, corpus, capsys):
    import selfsup
    from selfsup.data.tokenize import TextTokenizer
    from selfsup.encoders.transformer import TextTransformer, TransformerConfig
    from selfsup.train.checkpoint import load_safetensors

    run = tmp_path / "mlm"
    assert main(["pretrain", "mlm", "--data", f"text:{corpus}", "--out", str(run), "--epochs", "1", "--no-progress",
                 "--batch-size", "32", "--set", "vocab_size=200", "--set", "dim=32", "--set", "depth=1",
                 "--set", "heads=2", "--set", "seg_tokens=10", "--set", "threads=1"]) == 0
    texts = tmp_path / "texts.txt"
    texts.write_text("the cat sat on the mat .\nit rained all day long .\n")
    z = _embed(run, texts, tmp_path / "z.npy")
    assert z.shape == (2, 32) and np.isfinite(z).all() and not np.allclose(z[0], z[1])
    # one reader: the encoder spec in run.json rebuilds encoder.safetensors without the text pipeline
    meta = json.loads((run / "run.json").read_text())
    assert meta["encoder_spec"]["name"] == "transformer"
    enc = TextTransformer(TransformerConfig(**meta["encoder_spec"]["config"])).eval()
    enc.load_state_dict(load_safetensors(run / "encoder.safetensors"))
    tok = TextTokenizer.load(run / "tokenizer.json")
    ids = tok.encode_for_classification(["the cat sat on the mat ."], enc.cfg.max_len)
    with torch.no_grad():
        assert np.allclose(enc(ids).numpy()[0], z[0], atol=1e-5)
    assert np.allclose(selfsup.embed(run, ["it rained all day long ."])[0], z[1], atol=1e-5)
    assert isinstance(selfsup.load_encoder(run), TextTransformer)


def test_embed_graph_and_deepwalk_runs(tmp_path):
    rng = np.random.default_rng(0)
    n = 15
    edges = [(b + i, b + j) for b in (0, n) for i in range(n) for j in range(i + 1, n) if rng.random() < 0.5]
    (tmp_path / "e.txt").write_text("\n".join(f"{a} {b}" for a, b in edges + [(0, n)]))
    np.savetxt(tmp_path / "y.txt", np.repeat([0, 1], n), fmt="%d")
    np.savetxt(tmp_path / "x.txt", rng.normal(size=(2 * n, 4)))
    data = f"edgelist:{tmp_path / 'e.txt'},{tmp_path / 'x.txt'},{tmp_path / 'y.txt'}"
    for method, extra in (("dgi", ["--epochs", "5", "--set", "hidden_dim=8"]),
                          ("deepwalk", ["--set", "vector_size=8", "--set", "num_walks=2", "--set", "workers=1",
                                        "--set", "epochs=1"])):
        run = tmp_path / method
        assert main(["pretrain", method, "--data", data, "--out", str(run), "--no-progress", *extra]) == 0
        z = _embed(run, "-", tmp_path / f"{method}.npy")
        assert z.shape == (2 * n, 8) and np.isfinite(z).all()


def test_embed_word2vec_run(tmp_path, corpus):
    import selfsup

    run = tmp_path / "w2v"
    assert main(["pretrain", "word2vec", "--data", f"text:{corpus}", "--out", str(run), "--set", "vector_size=8",
                 "--set", "min_count=1", "--set", "workers=1", "--epochs", "1", "--no-progress"]) == 0
    z = _embed(run, "cat,dog,notaword", tmp_path / "z.npy")
    assert z.shape == (3, 8) and z[0].any() and not z[2].any()
    assert np.allclose(selfsup.embed(run, ["cat", "dog"]), z[:2])


@pytest.mark.slow
def test_embed_video_run(tmp_path):
    from selfsup.data.fashion_mnist import candidate_dirs

    if not any((d / "t10k-images-idx3-ubyte.gz").exists() or (d / "t10k-images-idx3-ubyte").exists()
               for d in candidate_dirs(None)):
        pytest.skip(NEED_FMNIST)
    import selfsup

    run = tmp_path / "tc"
    assert main(["pretrain", "time-contrastive", "--data", "moving-fashion-mnist", "--out", str(run), "--epochs", "1",
                 "--batch-size", "8", "--no-progress", "--set", "train_clips=16", "--set", "test_clips=8",
                 "--set", "frames=10", "--set", "encoder_width=4"]) == 0
    z = _embed(run, "moving-fashion-mnist", tmp_path / "z.npy")
    assert z.shape[:2] == (24, 10) and np.isfinite(z).all()  # (clips, frames, D)
    frames = np.random.default_rng(0).integers(0, 256, size=(3, 1, 64, 64), dtype=np.uint8)
    assert selfsup.embed(run, frames).shape == (3, z.shape[2])


def test_selfsup_list_names_every_modality_and_what_embed_takes(capsys):
    from selfsup.pipelines.modality import MODALITIES

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    section = out.split("modalities", 1)[1].split("protocols:", 1)[0]
    for name in COVERED:
        assert f"  {name} " in section and MODALITIES[name].inputs in section, name
