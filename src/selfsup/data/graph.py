"""Graph data for node-level self-supervision: Planetoid citation graphs, edge lists, PyG, networkx.

All sources become one :class:`GraphData`: node features ``x`` (N, F), ``edge_index`` (2, E)
(both directions), optional labels ``y`` (N,) and boolean split masks. Registered names:
``cora``, ``citeseer``, ``pubmed``, ``planetoid:NAME:ROOT``, ``edgelist:EDGES[,FEATURES[,LABELS]]``.

``cora``/``citeseer``/``pubmed`` read the Planetoid raw files (``ind.<name>.*``) from, in order,
``--data-dir`` (``DIR/planetoid`` or ``DIR``), ``$SELFSUP_DATA_DIR`` (``.../planetoid`` or itself) and the
download cache ``~/.cache/selfsup/planetoid``. Only with ``download_ok`` (``--download``) are missing
files fetched, from the Planetoid authors' repository, into that cache.
"""

from __future__ import annotations

import os
import pickle
import struct
import tempfile
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from selfsup.data.arrays import NUMPY_LOAD_ERRORS
from selfsup.data.registry import register_dataset
from selfsup.errors import UserError

PLANETOID_NAMES = {"cora": "Cora", "citeseer": "CiteSeer", "pubmed": "PubMed"}
PLANETOID_SUFFIXES = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
# the official files of Yang et al. (2016), as PyTorch Geometric's Planetoid dataset fetches them
PLANETOID_URL = "https://github.com/kimiyoung/planetoid/raw/master/data/"
PLANETOID_CACHE = Path.home() / ".cache" / "selfsup" / "planetoid"


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
        _check_ids(self.edge_index, n, self.name)
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
        x=data.x, edge_index=_symmetrize(data.edge_index, data.x.shape[0], name),
        y=getattr(data, "y", None), train_mask=getattr(data, "train_mask", None),
        val_mask=getattr(data, "val_mask", None), test_mask=getattr(data, "test_mask", None), name=name,
    )


def from_networkx(g: Any, features: Any = None, label_attr: str | None = None, name: str = "graph") -> GraphData:
    """Build from a networkx graph; nodes are numbered in ``g.nodes`` order.

    Args:
        g: the graph (directed graphs are made undirected).
        features: (N, F) array, or the name of a node attribute holding each node's feature
            vector; default: the identity (one-hot node ids).
        label_attr: node attribute holding the class (mapped to ids in sorted order of its values).
    """
    nodes = list(g.nodes)
    if not nodes:
        raise UserError("the networkx graph has no nodes")
    index = {v: i for i, v in enumerate(nodes)}
    edges = [(index[a], index[b]) for a, b in g.edges()]
    ei = torch.tensor(edges, dtype=torch.long).t() if edges else torch.zeros(2, 0, dtype=torch.long)
    if features is None:
        x = torch.eye(len(nodes))
    elif isinstance(features, str):
        missing = [v for v in nodes if features not in g.nodes[v]]
        if missing:
            raise UserError(f"{len(missing)} nodes (e.g. {missing[0]!r}) lack the feature attribute '{features}'")
        rows = [np.asarray(g.nodes[v][features], dtype=np.float32).reshape(-1) for v in nodes]
        if len({len(r) for r in rows}) != 1:
            raise UserError(f"node attribute '{features}' has vectors of different lengths")
        x = torch.from_numpy(np.stack(rows))
    else:
        x = torch.as_tensor(np.asarray(features), dtype=torch.float32)
    if x.dim() != 2 or x.shape[0] != len(nodes):
        raise UserError(f"feature matrix of shape {tuple(x.shape)} for {len(nodes)} nodes; it must be (nodes, features)")
    y, classes = None, None
    if label_attr is not None:
        raw = [g.nodes[v].get(label_attr) for v in nodes]
        if any(r is None for r in raw):
            raise UserError(f"some nodes lack the label attribute '{label_attr}'")
        classes = sorted({str(r) for r in raw})
        y = torch.tensor([classes.index(str(r)) for r in raw])
    return GraphData(x=x, edge_index=_symmetrize(ei, len(nodes), name), y=y, name=name, classes=classes)


def as_graph(obj: Any, **options: Any) -> GraphData:
    """Any supported graph input as :class:`GraphData`: a GraphData, a ``torch_geometric.data.Data``,
    a networkx graph (``options`` go to :func:`from_networkx`) or a registered dataset name."""
    if isinstance(obj, GraphData):
        return obj
    if isinstance(obj, str):
        from selfsup.data.registry import dataset_entry, load_dataset

        entry, _ = dataset_entry(obj)
        if entry.modality != "graph":
            raise UserError(f"dataset '{obj}' is not a graph", hint="graph names: cora, citeseer, pubmed, planetoid:NAME:ROOT, edgelist:EDGES[,FEATURES[,LABELS]]")
        return load_dataset(obj, **options)
    if hasattr(obj, "edge_index"):
        return from_pyg(obj, **options)
    if hasattr(obj, "nodes") and hasattr(obj, "edges"):
        return from_networkx(obj, **options)
    raise UserError(f"cannot use a {type(obj).__name__} as a graph",
                    hint="pass a torch_geometric.data.Data, a networkx graph, GraphData or a dataset name")


def _check_ids(edge_index: Tensor, n: int, name: str) -> None:
    if edge_index.numel():
        lo, hi = int(edge_index.min()), int(edge_index.max())
        if lo < 0 or hi >= n:
            raise UserError(
                f"graph '{name}': an edge references node {lo if lo < 0 else hi}, but node ids must be in "
                f"0..{n - 1} ({n} nodes in the feature matrix)",
                hint="node ids are 0-based row numbers of the feature matrix",
            )


def _symmetrize(edge_index: Tensor, n: int, name: str = "graph") -> Tensor:
    """Both directions of every edge, duplicates and self-loops removed; (2, E) -> (2, E')."""
    ei = torch.as_tensor(edge_index, dtype=torch.long)
    if ei.dim() != 2 or ei.shape[0] != 2:
        raise UserError(f"graph '{name}': edge_index must have shape (2, E), got {tuple(ei.shape)}")
    _check_ids(ei, n, name)
    if ei.numel() == 0:
        return ei.reshape(2, 0)
    ei = torch.cat([ei, ei.flip(0)], 1)
    ei = ei[:, ei[0] != ei[1]]
    key = torch.unique(ei[0] * n + ei[1])  # sorted: grouped by source node
    return torch.stack([key // n, key % n])


# ---------------------------------------------------------------- Planetoid


def planetoid_search_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Roots searched for Planetoid graphs, in order: ``data_dir`` (``/planetoid``, then itself),
    ``$SELFSUP_DATA_DIR`` (``/planetoid``, then itself), then the download cache."""
    cands: list[Path] = []
    for base in (data_dir, os.environ.get("SELFSUP_DATA_DIR")):
        if base:
            cands += [Path(base).expanduser() / "planetoid", Path(base).expanduser()]
    return cands + [PLANETOID_CACHE]


def _planetoid_files(canon: str) -> list[str]:
    return [f"ind.{canon.lower()}.{s}" for s in PLANETOID_SUFFIXES]


def _has_planetoid(canon: str, root: Path) -> bool:
    raw = _planetoid_raw_dir(canon, root)
    return all((raw / f).is_file() for f in _planetoid_files(canon))


def default_planetoid_dir(data_dir: str | os.PathLike | None = None) -> Path | None:
    """The first root of :func:`planetoid_search_dirs` holding any Planetoid graph, else ``data_dir``
    (or None)."""
    for c in planetoid_search_dirs(data_dir):
        if c.is_dir() and any(_has_planetoid(n, c) for n in PLANETOID_NAMES.values()):
            return c
    return Path(data_dir) if data_dir else None


def find_planetoid(name: str, data_dir: str | os.PathLike | None = None) -> Path | None:
    """The first root of :func:`planetoid_search_dirs` holding all raw files of graph ``name``."""
    canon = PLANETOID_NAMES[name.lower()]
    return next((c for c in planetoid_search_dirs(data_dir) if _has_planetoid(canon, c)), None)


def _fetch(url: str, dest: Path) -> None:
    """Write the bytes at ``url`` to ``dest`` (the one place that touches the network)."""
    with urllib.request.urlopen(url, timeout=60) as r, open(dest, "wb") as f:
        while chunk := r.read(1 << 20):
            f.write(chunk)


def download_planetoid(name: str, root: Path | None = None) -> Path:
    """Fetch the raw files of Planetoid graph ``name`` into ``root/<Name>/raw`` (default: the cache).

    Each file is written under a temporary name, checked (:func:`_check_planetoid_file`) and only
    then renamed; files already there and readable are kept. Returns ``root``.
    """
    canon = PLANETOID_NAMES[name.lower()]
    root = Path(root) if root is not None else PLANETOID_CACHE
    raw = root / canon / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for fname in _planetoid_files(canon):
        target = raw / fname
        if target.is_file():
            try:
                _check_planetoid_file(target)
                continue
            except UserError:
                pass  # damaged: fetch it again
        fd, tmp = tempfile.mkstemp(dir=raw, prefix=fname + ".", suffix=".part")
        os.close(fd)
        try:
            try:
                _fetch(PLANETOID_URL + fname, Path(tmp))
            except OSError as e:  # urllib's URLError/HTTPError are OSErrors
                raise UserError(f"downloading {PLANETOID_URL + fname} failed: {e}",
                                hint=f"check the network, or put the raw files in DIR/planetoid/{canon}/raw "
                                     "and pass --data-dir DIR") from None
            _check_planetoid_file(Path(tmp), kind=fname.split(".", 2)[2])
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return root


def locate_planetoid(name: str, data_dir: str | os.PathLike | None = None, download_ok: bool = False) -> Path:
    """The root to read graph ``name`` from: a local copy (:func:`find_planetoid`), else, with
    ``download_ok``, the cache after :func:`download_planetoid`; else a ``UserError`` saying where to
    put the files."""
    canon = PLANETOID_NAMES[name.lower()]
    found = find_planetoid(name, data_dir)
    if found is not None:
        return found
    if download_ok:
        return download_planetoid(name)
    files = _planetoid_files(canon)
    searched = planetoid_search_dirs(data_dir)
    partial = next((c for c in searched if any((_planetoid_raw_dir(canon, c) / f).is_file() for f in files)), None)
    where = ""
    if partial is not None:
        raw = _planetoid_raw_dir(canon, partial)
        where = f"; {raw} lacks {', '.join(f for f in files if not (raw / f).is_file())}"
    raise UserError(
        f"{canon} not found (searched {', '.join(str(c) for c in searched)}){where}",
        hint=f"put the Planetoid raw files ({files[0]}, ...) in DIR/planetoid/{canon}/raw and pass --data-dir DIR "
             f"or set SELFSUP_DATA_DIR=DIR, or pass --download to fetch them from {PLANETOID_URL} "
             f"into {PLANETOID_CACHE}",
    )


def _planetoid_raw_dir(canon: str, root: Path) -> Path:
    """The folder holding ``ind.<name>.*``: ROOT/<Name>/raw, ROOT/<Name>, ROOT/raw or ROOT itself."""
    for d in (root / canon / "raw", root / canon, root / "raw", root):
        if (d / f"ind.{canon.lower()}.graph").is_file():
            return d
    return root / canon / "raw"


# what the Planetoid pickles may hold: numpy arrays, scipy CSR matrices, a dict of adjacency lists
_PLANETOID_GLOBALS = {
    ("numpy", "dtype"), ("numpy", "ndarray"), ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"), ("scipy.sparse.csr", "csr_matrix"), ("scipy.sparse._csr", "csr_matrix"),
    ("collections", "defaultdict"), ("__builtin__", "list"), ("builtins", "list"), ("__builtin__", "dict"),
    ("builtins", "dict"),
}
_MAX_DENSE = 2**31  # entries of a feature matrix once made dense


class _PlanetoidUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _PLANETOID_GLOBALS:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name}")
        return super().find_class(module, name)


def _check_planetoid_file(path: Path, kind: str | None = None) -> None:
    """Refuse a damaged ``ind.<name>.*`` file before PyG's reader sees it.

    PyG unpickles the files and makes the sparse feature matrices dense; a damaged CSR matrix
    (indices out of bounds) can crash the process there, so each matrix is validated first.
    ``kind``: the file's suffix (``x``, ``graph``, ``test.index``, ...; default: from its name).
    """
    kind = (kind or path.name).rsplit(".", 1)[-1]
    fix = "the file is damaged; copy the Planetoid raw files (ind.<name>.*) again"
    if kind == "index":  # test.index: text, one node id a line (parsed by PyG)
        try:
            ids = path.read_bytes().split()
        except OSError as e:
            raise UserError(f"cannot read {path}: {e}", hint=fix) from None
        if not ids or not all(i.isdigit() for i in ids):
            raise UserError(f"{path} is damaged: expected one node id (a whole number) a line", hint=fix)
        return
    try:
        with open(path, "rb") as f:
            obj = _PlanetoidUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, OSError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, MemoryError, OverflowError, struct.error) as e:  # what unpickling damaged bytes raises
        raise UserError(f"cannot read {path}: {type(e).__name__}: {e}", hint=fix) from None
    try:
        if kind in ("x", "tx", "allx"):
            import scipy.sparse as sp

            if not sp.issparse(obj) or obj.format != "csr" or len(obj.shape) != 2:
                raise ValueError(f"expected a sparse CSR matrix, found {type(obj).__name__}")
            if obj.shape[0] * obj.shape[1] > _MAX_DENSE:
                raise ValueError(f"implausible shape {obj.shape}")
            obj.check_format(full_check=True)
        elif kind in ("y", "ty", "ally"):
            if not isinstance(obj, np.ndarray) or obj.ndim != 2 or obj.dtype.kind not in "biuf":
                raise ValueError("expected a 2-D numeric one-hot label array")
        elif kind == "graph":
            if not isinstance(obj, dict) or not all(
                    isinstance(k, int) and isinstance(v, list) and all(isinstance(i, int) for i in v)
                    for k, v in obj.items()):
                raise ValueError("expected a dict of adjacency lists {node: [neighbours]}")
    except (ValueError, TypeError, AttributeError, IndexError, OverflowError) as e:
        raise UserError(f"{path} is damaged: {e}", hint=fix) from None


def load_planetoid(name: str, root: str | os.PathLike | None = None) -> GraphData:
    """Load a Planetoid graph (Cora, CiteSeer, PubMed) with its public split, read-only.

    The raw files ``ind.<name>.{x,tx,allx,y,ty,ally,graph,test.index}`` are read from
    ``root/<Name>/raw`` (or ``root/<Name>``, ``root/raw``, ``root``) by PyTorch Geometric's
    Planetoid reader; nothing is written.
    """
    canon = PLANETOID_NAMES.get(name.lower())
    if canon is None:
        raise UserError(f"unknown Planetoid graph '{name}'", hint="choose Cora, CiteSeer or PubMed")
    if root is None:
        raise UserError(
            f"{canon} not found: no Planetoid data directory",
            hint="pass --data-dir DIR (holding planetoid/<Name>/raw), set SELFSUP_DATA_DIR, use planetoid:NAME:ROOT, "
                 "or pass --download",
        )
    raw = _planetoid_raw_dir(canon, Path(root))
    needed = _planetoid_files(canon)
    missing = [f for f in needed if not (raw / f).is_file()]
    if missing:
        raise UserError(
            f"{canon} not found in {raw}: missing {', '.join(missing)}",
            hint="put the Planetoid raw files (ind.<name>.*) in <root>/<Name>/raw, or pass --data-dir",
        )
    try:
        from torch_geometric.io import read_planetoid_data
    except ImportError as e:  # pragma: no cover - depends on the install
        raise UserError("graph data needs PyTorch Geometric", hint="pip install 'selfsup[graph]'") from e
    for f in needed:
        _check_planetoid_file(raw / f)
    try:
        data = read_planetoid_data(str(raw), canon.lower())
    except Exception as e:  # corrupt pickles, truncated files
        raise UserError(f"cannot read {canon} from {raw}: {type(e).__name__}: {e}",
                        hint="the ind.<name>.* files may be damaged; copy them again") from e
    try:
        return from_pyg(data, name=canon.lower())
    except UserError as e:  # readable files that do not fit together (edges to missing nodes, ...)
        raise UserError(f"the {canon} files in {raw} do not fit together: {e.message}",
                        hint="the ind.<name>.* files may be damaged; copy them again") from None


def _planetoid_loader(name: str):
    def load(data_dir: str | None = None, download_ok: bool = False, **_: Any) -> GraphData:
        return load_planetoid(name, locate_planetoid(name, data_dir, download_ok))

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


MAX_IDENTITY_NODES = 32_768  # one-hot features for more nodes would take over 4 GiB
MAX_CLASS_ID = 2**20


def _read_matrix(path: Path, what: str) -> np.ndarray:
    """A 2-D float64 matrix of finite numbers from text, .csv or .npy, or a ``UserError`` naming the file."""
    fix = "whitespace- or comma-separated numbers (one row a line), or a numeric .npy array"
    if not path.is_file():
        raise UserError(f"{what} file not found: {path}")
    try:
        if path.suffix == ".npy":
            m = np.load(path, allow_pickle=False)
            if not isinstance(m, np.ndarray):
                raise ValueError("not a single array (an .npz archive?)")
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "Empty input file": an empty edge list is checked below
                m = np.loadtxt(path, ndmin=2, delimiter="," if path.suffix == ".csv" else None)
    except NUMPY_LOAD_ERRORS as e:  # also UnicodeDecodeError (a ValueError) for binary text files
        raise UserError(f"cannot read {what} file {path}: {type(e).__name__}: {e}", hint=fix) from None
    if m.dtype.kind not in "biuf":
        raise UserError(f"{what} file {path} holds {m.dtype} values; expected numbers", hint=fix)
    if m.ndim == 1:
        m = m.reshape(-1, 1)
    if m.ndim != 2:
        raise UserError(f"{what} file {path} holds an array of shape {m.shape}; expected a 2-D matrix", hint=fix)
    m = m.astype(np.float64)
    if not np.isfinite(m).all():
        raise UserError(f"{what} file {path} contains NaN or inf values", hint="clean or impute them first")
    return m


def _integer_ids(m: np.ndarray, path: str, what: str) -> np.ndarray:
    if m.size and (not np.all(np.equal(np.mod(m, 1), 0)) or m.min() < 0 or m.max() >= 2**53):
        raise UserError(f"{what} in {path} must be integers >= 0", hint="node ids are 0-based integers; labels 0..K-1")
    return m.astype(np.int64)


def load_edgelist(edges: str, features: str | None = None, labels: str | None = None, name: str = "edgelist") -> GraphData:
    """Edge list (two integer columns, 0-based node ids) + optional feature matrix and label vector.

    Files are whitespace-separated text (``#`` comments), ``.csv`` or ``.npy``. The number of nodes
    is the number of feature rows, else of labels, else the largest node id + 1. Without
    features, nodes get one-hot identity features. Edges are made undirected.
    """
    e = _read_matrix(Path(edges), "edge list")
    if e.size and e.shape[1] < 2:
        raise UserError(f"edge list {edges} needs two columns (source target), found {e.shape[1]}")
    e = e[:, :2] if e.size else np.zeros((0, 2))
    if e.size and e.min() < 0:
        raise UserError(f"edge list {edges} references node {e.min():g}, but node ids are 0-based",
                        hint="node ids are 0-based row numbers of the feature matrix")
    ei = torch.as_tensor(_integer_ids(e, edges, "node ids")).t()  # (2, E)
    lab = _read_matrix(Path(labels), "label").reshape(-1) if labels else None
    where = f"the feature matrix {features}" if features else (f"the label file {labels}" if labels else
                                                                f"the edge list {edges}")
    if features:
        fm = _read_matrix(Path(features), "feature")
        if 0 in fm.shape:
            raise UserError(f"feature file {features} has shape {fm.shape}; expected one row of numbers per node")
        if np.abs(fm).max(initial=0.0) > np.finfo(np.float32).max:
            raise UserError(f"feature file {features} has values beyond the float32 range", hint="rescale them first")
        x = torch.as_tensor(fm, dtype=torch.float32)
    else:
        n = len(lab) if lab is not None else (int(ei.max()) + 1 if ei.numel() else 0)
        if n > MAX_IDENTITY_NODES:
            src = f"label file {labels}" if lab is not None else f"edge list {edges} (largest node id {n - 1})"
            raise UserError(f"the {src} implies {n} nodes; one-hot features for that many nodes do not fit in memory",
                            hint="pass a feature file (edgelist:EDGES,FEATURES[,LABELS]) or renumber the nodes 0..N-1")
        x = torch.eye(n)
    if x.shape[0] == 0:
        raise UserError(f"the graph from {edges} has no nodes ({where} is empty)")
    y = None
    if lab is not None:
        if len(lab) != x.shape[0]:
            raise UserError(f"{len(lab)} labels in {labels} for {x.shape[0]} nodes (rows of {features}); they must match")
        y_ids = _integer_ids(lab, labels, "labels")  # type: ignore[arg-type]
        if len(y_ids) and y_ids.max() >= MAX_CLASS_ID:
            raise UserError(f"labels in {labels} go up to {y_ids.max()}; class ids must be 0..K-1",
                            hint="map the labels to 0..K-1 first")
        y = torch.as_tensor(y_ids)
    if ei.numel() and int(ei.max()) >= x.shape[0]:
        raise UserError(
            f"edge list {edges} references node {int(ei.max())}, but {where} has {x.shape[0]} nodes (ids 0..{x.shape[0] - 1})",
            hint="node ids are 0-based row numbers of the feature matrix",
        )
    return GraphData(x=x, edge_index=_symmetrize(ei, x.shape[0], name), y=y, name=name)


@register_dataset("edgelist", "graph from files: edgelist:EDGES[,FEATURES[,LABELS]]", prefix=True, modality="graph")
def _edgelist(arg: str, **_: Any) -> GraphData:
    parts = [p for p in arg.split(",")]
    if len(parts) > 3:
        raise UserError(f"bad graph name 'edgelist:{arg}'", hint="use edgelist:EDGES[,FEATURES[,LABELS]]")
    return load_edgelist(*[p or None for p in parts])  # type: ignore[arg-type]
