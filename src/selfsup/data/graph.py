"""Graph data for node-level self-supervision: Planetoid citation graphs, edge lists, PyG, networkx.

All sources become one :class:`GraphData`: node features ``x`` (N, F), ``edge_index`` (2, E)
(both directions), optional labels ``y`` (N,) and boolean split masks. Registered names:
``cora``, ``citeseer``, ``pubmed``, ``planetoid:NAME:ROOT``, ``edgelist:EDGES[,FEATURES[,LABELS]]``.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from selfsup.data.registry import register_dataset
from selfsup.errors import UserError

PLANETOID_NAMES = {"cora": "Cora", "citeseer": "CiteSeer", "pubmed": "PubMed"}


@dataclass
class GraphData:
    """One graph, full batch. ``edge_index`` holds both directions of every undirected edge."""

    x: Tensor  # (N, F) float
    edge_index: Tensor  # (2, E) long
    y: Tensor | None = None  # (N,) long
    train_mask: Tensor | None = None  # (N,) bool
    val_mask: Tensor | None = None
    test_mask: Tensor | None = None
    name: str = "graph"
    classes: list[str] | None = None

    def __post_init__(self) -> None:
        self.x = torch.as_tensor(self.x, dtype=torch.float32)
        self.edge_index = torch.as_tensor(self.edge_index, dtype=torch.long)
        n = self.x.shape[0]
        if self.x.dim() != 2:
            raise UserError(f"node features must be a 2-D matrix (nodes x features), got shape {tuple(self.x.shape)}")
        if self.edge_index.dim() != 2 or self.edge_index.shape[0] != 2:
            raise UserError(f"edge_index must have shape (2, E), got {tuple(self.edge_index.shape)}")
        if self.edge_index.numel():
            lo, hi = int(self.edge_index.min()), int(self.edge_index.max())
            if lo < 0 or hi >= n:
                bad = lo if lo < 0 else hi
                raise UserError(
                    f"graph '{self.name}': edge references node {bad}, but node ids must be in 0..{n - 1} "
                    f"({n} nodes in the feature matrix)",
                    hint="node ids are 0-based row numbers of the feature matrix",
                )
        if self.y is not None:
            self.y = torch.as_tensor(self.y, dtype=torch.long)
            if self.y.shape != (n,):
                raise UserError(f"graph '{self.name}': {self.y.numel()} labels for {n} nodes; they must match")
        for k in ("train_mask", "val_mask", "test_mask"):
            m = getattr(self, k)
            if m is not None:
                m = torch.as_tensor(m, dtype=torch.bool)
                if m.shape != (n,):
                    raise UserError(f"graph '{self.name}': {k} has {m.numel()} entries for {n} nodes")
                setattr(self, k, m)

    @property
    def num_nodes(self) -> int:
        return int(self.x.shape[0])

    @property
    def num_features(self) -> int:
        return int(self.x.shape[1])

    @property
    def num_classes(self) -> int:
        return int(self.y.max()) + 1 if self.y is not None and self.y.numel() else 0

    def to(self, device: Any) -> GraphData:
        out = GraphData.__new__(GraphData)
        out.__dict__.update({k: (v.to(device) if isinstance(v, Tensor) else v) for k, v in self.__dict__.items()})
        return out


def from_pyg(data: Any, name: str = "graph") -> GraphData:
    """Wrap a ``torch_geometric.data.Data`` (x, edge_index, optional y and masks)."""
    if getattr(data, "x", None) is None:
        raise UserError("the PyG Data object has no node features 'x'", hint="set data.x (N, F); use an identity matrix when there are none")
    return GraphData(
        x=data.x, edge_index=_symmetrize(data.edge_index, data.x.shape[0]),
        y=getattr(data, "y", None), train_mask=getattr(data, "train_mask", None),
        val_mask=getattr(data, "val_mask", None), test_mask=getattr(data, "test_mask", None), name=name,
    )


def from_networkx(g: Any, features: Any = None, label_attr: str | None = None, name: str = "graph") -> GraphData:
    """Build from a networkx graph; nodes are numbered in ``g.nodes`` order.

    Args:
        g: the graph.
        features: (N, F) array; default: the identity (one-hot node ids).
        label_attr: node attribute holding the class (strings are mapped to ids in sorted order).
    """
    nodes = list(g.nodes)
    index = {v: i for i, v in enumerate(nodes)}
    edges = [(index[a], index[b]) for a, b in g.edges]
    ei = torch.tensor(edges, dtype=torch.long).t() if edges else torch.zeros(2, 0, dtype=torch.long)
    x = torch.eye(len(nodes)) if features is None else torch.as_tensor(np.asarray(features), dtype=torch.float32)
    if x.shape[0] != len(nodes):
        raise UserError(f"{x.shape[0]} feature rows for {len(nodes)} nodes; they must match")
    y, classes = None, None
    if label_attr is not None:
        raw = [g.nodes[v].get(label_attr) for v in nodes]
        if any(r is None for r in raw):
            raise UserError(f"some nodes lack the label attribute '{label_attr}'")
        classes = sorted({str(r) for r in raw})
        y = torch.tensor([classes.index(str(r)) for r in raw])
    return GraphData(x=x, edge_index=_symmetrize(ei, len(nodes)), y=y, name=name, classes=classes)


def _symmetrize(edge_index: Tensor, n: int) -> Tensor:
    """Both directions of every edge, duplicates and self-loops removed."""
    ei = torch.as_tensor(edge_index, dtype=torch.long)
    if ei.numel() == 0:
        return ei.reshape(2, 0)
    ei = torch.cat([ei, ei.flip(0)], 1)
    ei = ei[:, ei[0] != ei[1]]
    key = torch.unique(ei[0] * max(n, int(ei.max()) + 1) + ei[1])
    m = max(n, int(ei.max()) + 1)
    return torch.stack([key // m, key % m])


# ---------------------------------------------------------------- Planetoid


def default_planetoid_dir(data_dir: str | os.PathLike | None = None) -> Path | None:
    """--data-dir, else ../shared/data/planetoid (when present), else $SELFSUP_DATA_DIR/planetoid."""
    cands: list[Path] = []
    if data_dir:
        d = Path(data_dir)
        cands += [d / "planetoid", d]
    cands.append(Path("..") / "shared" / "data" / "planetoid")
    env = os.environ.get("SELFSUP_DATA_DIR")
    if env:
        cands += [Path(env) / "planetoid", Path(env)]
    for c in cands:
        if c.is_dir() and any((c / n / "raw").is_dir() for n in PLANETOID_NAMES.values()):
            return c
    return Path(data_dir) if data_dir else None


def load_planetoid(name: str, root: str | os.PathLike | None = None) -> GraphData:
    """Load a Planetoid graph (public split) from ``root/<Name>/raw`` without writing into ``root``.

    The raw files are copied to ``~/.cache/selfsup/planetoid/<Name>/raw`` (or
    ``$SELFSUP_CACHE_DIR``) and processed there by ``torch_geometric.datasets.Planetoid``.
    """
    canon = PLANETOID_NAMES.get(name.lower())
    if canon is None:
        raise UserError(f"unknown Planetoid graph '{name}'", hint="choose Cora, CiteSeer or PubMed")
    if root is None:
        raise UserError(
            f"{canon} not found: no Planetoid data directory",
            hint="pass --data-dir DIR (holding planetoid/<Name>/raw) or set SELFSUP_DATA_DIR",
        )
    raw = Path(root) / canon / "raw"
    needed = [f"ind.{canon.lower()}.{s}" for s in ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")]
    missing = [f for f in needed if not (raw / f).is_file()]
    if missing:
        raise UserError(
            f"{canon} not found in {raw}: missing {', '.join(missing)}",
            hint="put the Planetoid raw files (ind.<name>.*) there, or pass --data-dir",
        )
    try:
        from torch_geometric.datasets import Planetoid
    except ImportError as e:  # pragma: no cover - depends on the install
        raise UserError("graph data needs PyTorch Geometric", hint="pip install 'selfsup[graph]'") from e
    cache = Path(os.environ.get("SELFSUP_CACHE_DIR", Path.home() / ".cache" / "selfsup")) / "planetoid"
    dst = cache / canon / "raw"
    dst.mkdir(parents=True, exist_ok=True)
    for f in needed:
        if not (dst / f).is_file() or (dst / f).stat().st_size != (raw / f).stat().st_size:
            shutil.copyfile(raw / f, dst / f)
    ds = Planetoid(str(cache), canon)
    g = from_pyg(ds[0], name=canon.lower())
    return g


def _planetoid_loader(name: str):
    def load(data_dir: str | None = None, **_: Any) -> GraphData:
        return load_planetoid(name, default_planetoid_dir(data_dir))

    return load


for _key, _canon in PLANETOID_NAMES.items():
    register_dataset(_key, f"{_canon} citation graph (Planetoid public split)", modality="graph")(_planetoid_loader(_key))


@register_dataset("planetoid", "Planetoid graph from a directory: planetoid:NAME:ROOT", prefix=True, modality="graph")
def _planetoid_prefixed(arg: str, **_: Any) -> GraphData:
    if ":" not in arg:
        raise UserError(f"bad graph name 'planetoid:{arg}'", hint="use planetoid:NAME:ROOT, e.g. planetoid:Cora:/data/planetoid")
    name, root = arg.split(":", 1)
    return load_planetoid(name, root)


# ---------------------------------------------------------------- edge list files


def _read_matrix(path: Path, what: str) -> np.ndarray:
    if not path.is_file():
        raise UserError(f"{what} file not found: {path}")
    if path.suffix == ".npy":
        return np.load(path)
    try:
        return np.loadtxt(path, ndmin=2, delimiter="," if path.suffix == ".csv" else None)
    except ValueError as e:
        raise UserError(f"cannot read {what} file {path}: {e}", hint="whitespace- or comma-separated numbers, or .npy") from e


def load_edgelist(edges: str, features: str | None = None, labels: str | None = None, name: str = "edgelist") -> GraphData:
    """Edge list (two integer columns, 0-based node ids) + optional feature matrix and label vector.

    Without features, nodes get one-hot identity features.
    """
    e = _read_matrix(Path(edges), "edge list")
    if e.size and e.shape[1] < 2:
        raise UserError(f"edge list {edges} needs two columns (source target), found {e.shape[1]}")
    e = e[:, :2]
    if e.size and not np.all(np.equal(np.mod(e, 1), 0)):
        raise UserError(f"edge list {edges} has non-integer node ids")
    ei = torch.as_tensor(e.astype(np.int64)).t()
    if features:
        x = torch.as_tensor(_read_matrix(Path(features), "feature"), dtype=torch.float32)
    else:
        n = int(ei.max()) + 1 if ei.numel() else 0
        x = torch.eye(n)
    y = None
    if labels:
        lab = _read_matrix(Path(labels), "label").reshape(-1)
        if len(lab) != x.shape[0]:
            raise UserError(f"{len(lab)} labels in {labels} for {x.shape[0]} nodes (rows of {features or 'the edge list'}); they must match")
        y = torch.as_tensor(lab.astype(np.int64))
    if ei.numel() and (int(ei.min()) < 0 or int(ei.max()) >= x.shape[0]):
        bad = int(ei.min()) if int(ei.min()) < 0 else int(ei.max())
        raise UserError(
            f"edge list {edges} references node {bad}, but the feature matrix has {x.shape[0]} rows (ids 0..{x.shape[0] - 1})",
            hint="node ids are 0-based row numbers of the feature matrix",
        )
    return GraphData(x=x, edge_index=_symmetrize(ei, x.shape[0]), y=y, name=name)


@register_dataset("edgelist", "graph from files: edgelist:EDGES[,FEATURES[,LABELS]]", prefix=True, modality="graph")
def _edgelist(arg: str, **_: Any) -> GraphData:
    parts = [p for p in arg.split(",")]
    if len(parts) > 3:
        raise UserError(f"bad graph name 'edgelist:{arg}'", hint="use edgelist:EDGES[,FEATURES[,LABELS]]")
    return load_edgelist(*[p or None for p in parts])  # type: ignore[arg-type]
