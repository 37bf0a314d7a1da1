"""Video data: clips decoded once into uint8 tensors of shape (N, T, C, H, W).

* ``moving-fashion-mnist``: a deterministic generator of clips in which 1-2 real
  Fashion-MNIST items (train items for the training clips, test items for the test
  clips) move with constant velocity, bounce off the borders of the canvas and may
  occlude each other. Its per-clip metadata (item classes, motion direction,
  positions) lives in :attr:`VideoDataset.clip_meta` and is meant for the evaluation
  only; the training methods see the pixels alone.
* ``video:PATH``: the user's own videos, a folder of video files (read through
  imageio's PyAV plugin) or a folder of frame folders (one image sequence per
  sub-folder), cut into clips of ``frames`` frames, resized to ``size`` x ``size``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from selfsup.config import Checked, bounded
from selfsup.data.base import ArrayDataset
from selfsup.data.registry import register_dataset
from selfsup.errors import UserError, warn_skipped

DIRECTIONS = ["right", "down", "left", "up"]  # image coordinates: +x is right, +y is down
VIDEO_EXTS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".gif", ".m4v", ".mpg", ".mpeg", ".ogv"}
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


@dataclass
class MovingFashionConfig(Checked):
    """Settings of the moving-fashion-mnist generator.

    Attributes:
        train_clips: clips built from Fashion-MNIST training items.
        test_clips: clips built from Fashion-MNIST test items.
        frames: frames per clip.
        canvas: side length of the square canvas.
        min_items: fewest items per clip.
        max_items: most items per clip (each clip draws uniformly in [min_items, max_items]).
        min_speed: slowest speed, pixels per frame.
        max_speed: fastest speed, pixels per frame.
        seed: generator seed (the test clips use a derived, different stream).
    """

    train_clips: int = bounded(3000, ge=1)
    test_clips: int = bounded(1500, ge=0)
    frames: int = bounded(20, ge=2)
    canvas: int = 64
    min_items: int = bounded(1, ge=1)
    max_items: int = 2
    min_speed: float = bounded(1.5, ge=0)
    max_speed: float = 3.5
    seed: int = 0

    def validate(self, item_size: int = 28) -> None:
        super().validate()
        if self.canvas < item_size:
            raise UserError(f"canvas must be >= the item size {item_size}, got {self.canvas}")
        if self.min_items > self.max_items:
            raise UserError(f"need min_items <= max_items, got {self.min_items}, {self.max_items}")
        if self.min_speed > self.max_speed:
            raise UserError(f"need min_speed <= max_speed, got {self.min_speed}, {self.max_speed}")


@dataclass
class VideoDataset(ArrayDataset):
    """Clips ``x_train``/``x_test`` of shape (N, T, C, H, W) uint8.

    ``input_shape`` is the shape of one frame (C, H, W): the encoders of the video
    methods are frame encoders. ``clip_meta`` holds, per split, evaluation-only tensors
    (``classes`` (N, K) with -1 for absent items, ``num_items`` (N,), ``direction`` (N,)
    index into :data:`DIRECTIONS` of item 0's initial velocity, ``velocity`` (N, K, 2),
    ``positions`` (N, T, K, 2) top-left corners).
    """

    frame_shape: tuple[int, ...] = ()
    clip_meta: dict[str, dict[str, Tensor]] = field(default_factory=dict)
    pixel_stats: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.frame_shape) if self.frame_shape else tuple(self.x_train.shape[2:])

    @property
    def labeled(self) -> bool:
        return "classes" in self.clip_meta.get("train", {}) and "classes" in self.clip_meta.get("test", {})

    def channel_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel mean and std of the training frames, in [0, 1] units."""
        if self.pixel_stats is not None:
            return self.pixel_stats
        x = self.x_train
        frames = x.reshape(-1, *x.shape[-3:])[: 20_000].float() / 255.0  # (F, C, H, W)
        mean = frames.mean(dim=(0, 2, 3))
        std = frames.std(dim=(0, 2, 3)).clamp_min(1e-3)
        self.pixel_stats = (tuple(mean.tolist()), tuple(std.tolist()))
        return self.pixel_stats

    def summary(self) -> str:
        n_test = 0 if self.x_test is None else len(self.x_test)
        t = self.x_train.shape[1]
        return (f"{self.name}: {len(self.x_train)} train / {n_test} test clips of {t} frames, "
                f"frame shape {self.input_shape}")


# --------------------------------------------------------------------------- generator
def direction_of(velocity: np.ndarray) -> np.ndarray:
    """4-way direction index of (..., 2) velocities (x, y): right, down, left, up."""
    ang = np.arctan2(velocity[..., 1], velocity[..., 0])  # (-pi, pi], y down
    return (np.round(ang / (np.pi / 2)).astype(np.int64)) % 4


def bounce_positions(start: np.ndarray, velocity: np.ndarray, frames: int, limit: float) -> np.ndarray:
    """Positions (T, K, 2) of points moving with constant velocity, reflected at 0 and ``limit``.

    Args:
        start: (K, 2) start positions in [0, limit].
        velocity: (K, 2) pixels per frame.
        frames: T.
        limit: the largest position (canvas - item size).
    """
    t = np.arange(frames, dtype=np.float64)[:, None, None]  # (T, 1, 1)
    p = start[None] + t * velocity[None]  # (T, K, 2) unfolded straight-line motion
    if limit <= 0:
        return np.zeros_like(p)
    period = 2 * limit
    p = np.mod(p, period)
    return np.where(p > limit, period - p, p)  # reflection = triangle wave


def render_clip(items: np.ndarray, positions: np.ndarray, canvas: int) -> np.ndarray:
    """Draw items (K, h, w) at rounded positions (T, K, 2) onto (T, canvas, canvas) uint8.

    Later items occlude earlier ones wherever their pixels are non-zero.
    """
    t_len, k_len = positions.shape[:2]
    h, w = items.shape[1:]
    out = np.zeros((t_len, canvas, canvas), dtype=np.uint8)
    pos = np.rint(positions).astype(np.int64)
    for t in range(t_len):
        frame = out[t]
        for k in range(k_len):
            x, y = pos[t, k]
            region = frame[y : y + h, x : x + w]
            np.copyto(region, items[k], where=items[k] > 0)
    return out


def generate_clips(items: np.ndarray, labels: np.ndarray, n: int, cfg: MovingFashionConfig,
                   rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``n`` clips (N, T, 1, canvas, canvas) from the item pool ``items`` (M, h, w) and metadata."""
    h = items.shape[1]
    limit = float(cfg.canvas - h)
    k_max = cfg.max_items
    clips = np.zeros((n, cfg.frames, 1, cfg.canvas, cfg.canvas), dtype=np.uint8)
    classes = np.full((n, k_max), -1, dtype=np.int64)
    velocity = np.zeros((n, k_max, 2), dtype=np.float32)
    positions = np.zeros((n, cfg.frames, k_max, 2), dtype=np.float32)
    num_items = rng.integers(cfg.min_items, cfg.max_items + 1, size=n)
    for i in range(n):
        k = int(num_items[i])
        idx = rng.choice(len(items), size=k, replace=False)
        start = rng.uniform(0, limit, size=(k, 2))
        angle = rng.uniform(0, 2 * np.pi, size=k)
        speed = rng.uniform(cfg.min_speed, cfg.max_speed, size=k)
        v = np.stack([np.cos(angle), np.sin(angle)], 1) * speed[:, None]  # (k, 2)
        pos = bounce_positions(start, v, cfg.frames, limit)  # (T, k, 2)
        clips[i, :, 0] = render_clip(items[idx], pos, cfg.canvas)
        classes[i, :k] = labels[idx]
        velocity[i, :k] = v
        positions[i, :, :k] = pos
    meta = {"classes": classes, "num_items": num_items.astype(np.int64), "velocity": velocity,
            "positions": positions, "direction": direction_of(velocity[:, 0])}
    return clips, meta


def moving_fashion(cfg: MovingFashionConfig, fashion: ArrayDataset) -> VideoDataset:
    """Build the train and test clips from Fashion-MNIST's train and test items."""
    cfg.validate(int(fashion.x_train.shape[-1]))
    parts: dict[str, tuple[np.ndarray, dict[str, np.ndarray]]] = {}
    for split, n, x, y, stream in (("train", cfg.train_clips, fashion.x_train, fashion.y_train, 0),
                                   ("test", cfg.test_clips, fashion.x_test, fashion.y_test, 1)):
        rng = np.random.default_rng([cfg.seed, stream])
        items = x[:, 0].numpy()  # (M, 28, 28)
        parts[split] = generate_clips(items, y.numpy(), n, cfg, rng)
    meta = {s: {k: torch.from_numpy(v) for k, v in m.items()} for s, (_, m) in parts.items()}
    return VideoDataset(
        name="moving-fashion-mnist",
        x_train=torch.from_numpy(parts["train"][0]),
        y_train=None,
        x_test=torch.from_numpy(parts["test"][0]),
        y_test=None,
        classes=list(fashion.classes or []),
        modality="video",
        meta={"generator": cfg.__dict__.copy(), "source": fashion.meta.get("source")},
        frame_shape=(1, cfg.canvas, cfg.canvas),
        clip_meta=meta,
    )


GENERATOR_KEYS = set(MovingFashionConfig.__dataclass_fields__)


@register_dataset("moving-fashion-mnist",
                  "video: 1-2 Fashion-MNIST items bouncing on a 64x64 canvas, 20 frames/clip (generated)",
                  modality="video")
def load_moving_fashion(data_dir: str | None = None, download_ok: bool = False, generator: dict | None = None,
                        **_: object) -> VideoDataset:
    """Generate moving-fashion-mnist clips (deterministic for ``generator['seed']``).

    Args:
        data_dir: where Fashion-MNIST is (see :mod:`selfsup.data.fashion_mnist`).
        download_ok: allow downloading Fashion-MNIST.
        generator: overrides of :class:`MovingFashionConfig` fields.
    """
    from selfsup.data.fashion_mnist import load_fashion_mnist

    cfg = MovingFashionConfig()
    for k, v in (generator or {}).items():
        if k not in GENERATOR_KEYS:
            from selfsup.errors import unknown_name

            raise unknown_name("moving-fashion-mnist setting", k, GENERATOR_KEYS)
        setattr(cfg, k, type(getattr(cfg, k))(v))
    return moving_fashion(cfg, load_fashion_mnist(data_dir=data_dir, download_ok=download_ok))


# --------------------------------------------------------------------------- evaluation sets
def single_item_frames(clips: Tensor, meta: dict[str, Tensor], per_clip: int = 2,
                       seed: int = 0) -> tuple[Tensor, Tensor]:
    """Frames labelled by item class, from the clips that hold exactly one item.

    ``per_clip`` frames at distinct random times are taken from each such clip.
    Returns frames (F, C, H, W) uint8 and labels (F,).
    """
    keep = torch.nonzero(meta["num_items"] == 1).flatten()
    t = clips.shape[1]
    per_clip = min(per_clip, t)
    gen = torch.Generator().manual_seed(seed)
    times = torch.argsort(torch.rand(len(keep), t, generator=gen), dim=1)[:, :per_clip]  # (n, per_clip)
    frames = clips[keep[:, None], times]  # (n, per_clip, C, H, W)
    labels = meta["classes"][keep, 0][:, None].expand(-1, per_clip)
    return frames.reshape(-1, *clips.shape[2:]), labels.reshape(-1).clone()


def frame_task(data: VideoDataset, per_clip: int = 2, seed: int = 0) -> ArrayDataset:
    """The single-frame item-class task as an image dataset for the evaluation harness."""
    if not data.labeled:
        raise UserError(f"{data.name} has no item labels to evaluate against",
                        hint="the item-class protocols need moving-fashion-mnist (video:PATH is unlabeled)")
    xtr, ytr = single_item_frames(data.x_train, data.clip_meta["train"], per_clip, seed)
    xte, yte = single_item_frames(data.x_test, data.clip_meta["test"], per_clip, seed + 1)
    return ArrayDataset(name=f"{data.name} frames", x_train=xtr, y_train=ytr, x_test=xte, y_test=yte,
                        classes=data.classes, modality="image")


# --------------------------------------------------------------------------- video:PATH
VIDEO_EXTRA_HINT = ("pip install 'selfsup[video]' (from a checkout: pip install -e \".[video]\"), "
                    "or pip install imageio av")


def require_video_decoders(files: list[Path]) -> None:
    """A ``UserError`` naming the ``video`` extra when a package needed to decode ``files`` is missing.

    imageio reads every file; PyAV (``av``) decodes all but GIFs. A missing package is not a bad
    file: this error stands whatever ``skip_bad_files`` says."""
    if not files:
        return
    needed = [("imageio", "imageio.v3")]
    if any(p.suffix.lower() != ".gif" for p in files):
        needed.append(("av (PyAV)", "av"))
    import importlib

    for name, module in needed:
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise UserError(f"reading video files ({files[0].name}, ...) needs imageio and PyAV, and {name} is not "
                            f"installed ({type(e).__name__}: {e})", hint=VIDEO_EXTRA_HINT) from None


def _read_video_file(path: Path) -> np.ndarray:
    """Decode a whole video file into (T, H, W, C) uint8, with a clear error."""
    require_video_decoders([path])
    if path.stat().st_size == 0:
        raise UserError(f"video file {path} is empty", hint="delete it or pass --skip-bad-files")
    import imageio.v3 as iio

    try:
        arr = iio.imread(path, plugin="pyav" if path.suffix.lower() != ".gif" else None, index=None)
    except Exception as e:  # imageio/PyAV raise many types for corrupt input
        raise UserError(f"cannot decode video file {path}: {type(e).__name__}: {e}",
                        hint="the file is corrupt or in an unsupported format; re-encode it (e.g. ffmpeg -i "
                        "in -c:v libx264 out.mp4), delete it, or pass --skip-bad-files") from None
    arr = np.asarray(arr)
    if arr.ndim == 3:  # (T, H, W) gray
        arr = arr[..., None]
    if arr.ndim != 4 or arr.shape[0] == 0:
        raise UserError(f"video file {path} holds no frames (decoded shape {arr.shape})",
                        hint="delete it or pass --skip-bad-files")
    return arr[..., :3] if arr.shape[-1] >= 3 else arr[..., :1]


def _read_frame_folder(d: Path) -> np.ndarray:
    from PIL import Image

    from selfsup.data.folder import image_errors

    files = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)
    if not files:
        raise UserError(f"frame folder {d} has no images", hint=f"expected files like {d}/0001.png")
    frames = []
    for p in files:
        try:
            with Image.open(p) as im:
                im.load()
                frames.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
        except image_errors() as e:
            raise UserError(f"cannot read frame {p}: {type(e).__name__}: {e}",
                            hint="delete or fix it, or pass --skip-bad-files to skip the whole sequence") from None
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        raise UserError(f"frames in {d} have different sizes: {sorted(shapes)}",
                        hint="resize them to one size, or pass --skip-bad-files to skip this sequence")
    return np.stack(frames)


def _to_clips(video: np.ndarray, frames: int, size: int, gray: bool) -> np.ndarray:
    """(T, H, W, C) uint8 -> (N, frames, C', size, size) uint8 non-overlapping clips."""
    import torch.nn.functional as F

    n = len(video) // frames
    if n == 0:
        return np.zeros((0, frames, 1 if gray else 3, size, size), dtype=np.uint8)
    v = torch.from_numpy(np.ascontiguousarray(video[: n * frames])).permute(0, 3, 1, 2).float()  # (T, C, H, W)
    if gray and v.shape[1] == 3:
        v = (v * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    elif not gray and v.shape[1] == 1:
        v = v.expand(-1, 3, -1, -1)
    if v.shape[-1] != size or v.shape[-2] != size:
        v = F.interpolate(v, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    v = v.round().clamp(0, 255).to(torch.uint8)
    return v.reshape(n, frames, *v.shape[1:]).numpy()


@register_dataset("video", "your videos: a folder of video files (mp4, avi, gif, ...) or of frame folders",
                  prefix=True, modality="video")
def load_video_folder(path: str, frames: int = 20, size: int = 64, gray: bool = False, test_fraction: float = 0.2,
                      skip_bad_files: bool = False, seed: int = 0, generator: dict | None = None,
                      **_: object) -> VideoDataset:
    """Read the user's videos once into uint8 clips (unlabeled).

    Args:
        path: a folder of video files, or a folder of frame folders (one sequence each).
        frames: frames per clip (each video is cut into non-overlapping clips).
        size: frames are resized to ``size`` x ``size``.
        gray: convert to one channel.
        test_fraction: share of the videos held out as the test split (whole videos, seeded).
        skip_bad_files: warn about and skip unreadable files instead of stopping.
        seed: seed of the train/test split.
        generator: accepted for a uniform interface with ``moving-fashion-mnist``
            (keys ``frames``, ``size``/``canvas``, ``gray`` override the arguments).
    """
    g = dict(generator or {})
    frames = int(g.pop("frames", frames))
    size = int(g.pop("canvas", g.pop("size", size)))
    gray = bool(g.pop("gray", gray))
    root = Path(path).expanduser()
    if not root.is_dir():
        raise UserError(f"video folder {root} does not exist", hint="pass video:PATH with PATH a folder of videos")
    videos = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTS)
    seqs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    sources: list[Path] = videos + seqs
    if not sources:
        raise UserError(f"no videos found in {root}",
                        hint=f"expected video files ({', '.join(sorted(VIDEO_EXTS))}) or sub-folders of frames")
    require_video_decoders(videos)  # before the loop: a missing package is not an unreadable file
    decoded: list[np.ndarray] = []
    bad: list[tuple[str, str]] = []
    for src in sources:
        try:
            v = _read_frame_folder(src) if src.is_dir() else _read_video_file(src)
        except UserError as e:
            if not skip_bad_files:
                raise
            bad.append((str(src), e.message))
            continue
        c = _to_clips(v, frames, size, gray)
        if len(c):
            decoded.append(c)
    warn_skipped("videos", bad)
    if not decoded and bad and len(bad) == len(sources):
        raise UserError(f"no clip could be cut from the videos in {root}: all {len(bad)} were skipped as unreadable",
                        hint="fix or re-encode the files (see the warning for the reasons)")
    if not decoded:
        raise UserError(f"no clip of {frames} frames could be cut from the videos in {root}",
                        hint="use shorter clips (--set frames=N) or longer videos")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(decoded))
    n_test = int(math.floor(len(decoded) * test_fraction)) if len(decoded) > 1 else 0
    test = [decoded[i] for i in order[:n_test]]
    train = [decoded[i] for i in order[n_test:]]
    x_train = torch.from_numpy(np.concatenate(train))
    x_test = torch.from_numpy(np.concatenate(test)) if test else None
    return VideoDataset(name=f"video:{root}", x_train=x_train, y_train=None, x_test=x_test, y_test=None,
                        modality="video", meta={"source": str(root), "videos": len(decoded), "skipped": len(bad)},
                        frame_shape=tuple(x_train.shape[2:]))


def clip_summary(meta: dict[str, Tensor]) -> dict[str, Any]:
    """Counts for reports: clips, items per clip, directions."""
    out: dict[str, Any] = {"clips": len(meta["num_items"])}
    for k in (1, 2, 3):
        out[f"{k}_item_clips"] = int((meta["num_items"] == k).sum())
    return out
