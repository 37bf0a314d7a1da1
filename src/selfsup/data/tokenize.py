"""Subword tokenizers trained on the user's corpus with Hugging Face ``tokenizers``.

The special tokens always take the first ids, in this order, so that methods and
encoders can rely on them without reading the tokenizer::

    [PAD]=0  [UNK]=1  [CLS]=2  [SEP]=3  [MASK]=4

``TextTokenizer.save(path)`` writes the tokenizer's JSON (saved next to the model in a run
directory); ``TextTokenizer.load(path)`` reads it back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from torch import Tensor

from selfsup.errors import UserError

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(5)
NUM_SPECIAL = len(SPECIAL_TOKENS)
KINDS = ("wordpiece", "bpe")


def _tokenizers():
    try:
        import tokenizers
    except ImportError as e:
        raise UserError("text methods need Hugging Face `tokenizers`",
                        hint="pip install 'selfsup[text]' (or pip install tokenizers)") from e
    return tokenizers


class TextTokenizer:
    """A trained subword tokenizer: lowercasing, accent stripping, WordPiece or BPE.

    Args:
        tok: a ``tokenizers.Tokenizer`` whose first ids are :data:`SPECIAL_TOKENS`.
    """

    def __init__(self, tok) -> None:
        for i, t in enumerate(SPECIAL_TOKENS):
            if tok.token_to_id(t) != i:
                raise UserError(f"tokenizer has {t} at id {tok.token_to_id(t)}, expected {i}",
                                hint="train it with selfsup's TextTokenizer.train")
        self.tok = tok

    # -- training and I/O --------------------------------------------------------------
    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 8000, kind: str = "wordpiece",
              min_frequency: int = 2) -> TextTokenizer:
        """Train a tokenizer on ``texts`` (an iterable of strings).

        Args:
            texts: the corpus, one sentence or document per string.
            vocab_size: target vocabulary size, special tokens included.
            kind: "wordpiece" (BERT) or "bpe" (byte-pair encoding with a word-start marker).
            min_frequency: merges/pieces seen fewer times are not learned.
        """
        tk = _tokenizers()
        from tokenizers import decoders, models, normalizers, pre_tokenizers, trainers

        if kind not in KINDS:
            from selfsup.errors import unknown_name

            raise unknown_name("tokenizer kind", kind, KINDS)
        if vocab_size < NUM_SPECIAL + 30:
            raise UserError(f"vocab_size {vocab_size} is too small", hint="use at least a few hundred")
        if kind == "wordpiece":
            tok = tk.Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
            tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                        strip_accents=True, lowercase=True)
            tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
            tok.decoder = decoders.WordPiece(prefix="##")
            trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                                special_tokens=list(SPECIAL_TOKENS), show_progress=False)
        else:
            tok = tk.Tokenizer(models.BPE(unk_token="[UNK]"))
            tok.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents(),
                                                   normalizers.Lowercase()])
            tok.pre_tokenizer = pre_tokenizers.Metaspace()
            tok.decoder = decoders.Metaspace()
            trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                          special_tokens=list(SPECIAL_TOKENS), show_progress=False)
        tok.train_from_iterator(texts, trainer=trainer)
        if tok.get_vocab_size() <= NUM_SPECIAL:
            raise UserError("the tokenizer learned no vocabulary: the corpus is empty")
        return cls(tok)

    def save(self, path: str | Path) -> None:
        self.tok.save(str(path))

    def to_json(self) -> str:
        """The tokenizer as the JSON text :meth:`save` writes (for atomic writers)."""
        return self.tok.to_str()

    @classmethod
    def load(cls, path: str | Path) -> TextTokenizer:
        p = Path(path)
        if not p.is_file():
            raise UserError(f"tokenizer file {p} not found", hint="the run directory is incomplete; re-run pretraining")
        tokenizers = _tokenizers()
        try:
            tok = tokenizers.Tokenizer.from_file(str(p))
        except Exception as e:  # the Rust bindings raise plain Exception for unreadable or invalid JSON
            raise UserError(f"cannot read tokenizer file {p}: {e}",
                            hint="the file is corrupt or not a tokenizer; re-run pretraining to rebuild it") from None
        for i, t in enumerate(SPECIAL_TOKENS):
            if tok.token_to_id(t) != i:
                raise UserError(f"tokenizer file {p} has {t} at id {tok.token_to_id(t)}, expected {i}",
                                hint="it was not written by selfsup; re-run pretraining to rebuild it")
        return cls(tok)

    # -- use -----------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size()

    def encode(self, texts: Sequence[str], max_tokens: int) -> Tensor:
        """(N, max_tokens) int64 subword ids, truncated and right-padded with [PAD] (no special tokens)."""
        out = torch.full((len(texts), max_tokens), PAD_ID, dtype=torch.long)
        if not texts:
            return out
        for i, enc in enumerate(self.tok.encode_batch(list(texts), add_special_tokens=False)):
            ids = enc.ids[:max_tokens]
            if ids:
                out[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out

    def encode_for_classification(self, texts: Sequence[str], max_len: int) -> Tensor:
        """(N, max_len) ids ``[CLS] text [SEP] [PAD]...`` for a sentence classifier."""
        body = self.encode(texts, max_len - 2)
        lengths = (body != PAD_ID).sum(1)  # (N,)
        out = torch.full((len(texts), max_len), PAD_ID, dtype=torch.long)
        out[:, 0] = CLS_ID
        out[:, 1:-1] = body
        out[torch.arange(len(texts)), lengths + 1] = SEP_ID
        return out

    def decode(self, ids: Sequence[int] | Tensor) -> str:
        """Text of ``ids`` with special tokens and padding dropped."""
        if isinstance(ids, Tensor):
            ids = ids.tolist()
        return self.tok.decode([int(i) for i in ids if int(i) >= NUM_SPECIAL], skip_special_tokens=True)

    def normalize(self, text: str) -> str:
        """``text`` as the tokenizer sees it (lowercased, accents stripped)."""
        return self.tok.normalizer.normalize_str(text)
