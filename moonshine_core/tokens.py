"""Exact o200k_base token counts, offline.

The encoding file ships inside ``moonshine_core`` (``data/o200k_base.tiktoken``)
so no command needs the network. ``$MOONSHINE_TIKTOKEN_FILE`` (or the
``tiktoken_file`` setting of ``moonshine.toml``) points at another copy. The
file's sha256 is checked before use; a missing or altered file is a
:class:`~moonshine_core.errors.TokenizerError`, never a silent estimate.

The encoding itself (split pattern, special tokens) is tiktoken's own
``o200k_base`` definition, fed with the verified local file, so counts equal
``tiktoken.get_encoding("o200k_base")`` exactly. Special-token text is counted
as ordinary text (``encode_ordinary``): a chat that quotes ``<|endoftext|>``
is text, not a control token.

:class:`TokenCounter` counts batches on every core (tiktoken releases the GIL)
and never tokenises the same text twice: counts are cached by the text's
sha256 for the counter's lifetime.

What is counted is defined here too: :func:`counted_texts` says which text of a
message is counted as each kind (visible text, reasoning, tool traffic), and
:class:`TokenCounts` carries a message's counts by kind from the counter to the
``tokens_*`` columns the ledgers sum.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path

import attrs

from .errors import TokenizerError
from .ids import canonical_json
from .records import Message
from .tokencache import CacheMismatch, TokenCache, should_verify

ENCODING_NAME = "o200k_base"
#: tiktoken's published ``expected_hash`` for o200k_base.
ENCODING_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
ENV_FILE = "MOONSHINE_TIKTOKEN_FILE"
#: The kinds a message's tokens are counted in: the fields of :class:`TokenCounts` and the ledger's ``by_kind``.
KINDS = ("text", "reasoning", "tool")

_lock = threading.Lock()
_encodings: dict[str, object] = {}


def default_encoding_file() -> Path:
    """The encoding file to use: ``$MOONSHINE_TIKTOKEN_FILE`` or the packaged copy."""
    env = os.environ.get(ENV_FILE)
    if env:
        return Path(env)
    return Path(str(resources.files("moonshine_core") / "data" / "o200k_base.tiktoken"))


def verify_encoding_file(path: str | os.PathLike[str]) -> str:
    """sha256 of the file, or ``TokenizerError`` when it is missing or not the published file."""
    path = Path(path)
    if not path.is_file():
        raise TokenizerError(f"o200k_base encoding file not found at {path} "
                             f"(reinstall moonshine-core or set {ENV_FILE})")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != ENCODING_SHA256:
        raise TokenizerError(f"o200k_base encoding file {path} is altered: sha256 {digest}, "
                             f"expected {ENCODING_SHA256}")
    return digest


def load_encoding(path: str | os.PathLike[str] | None = None):
    """The verified ``tiktoken.Encoding`` for o200k_base (built once per file per process)."""
    # Imported when an encoding is first built, not with this module: commands that never count
    # tokens (status, gates, --help) load neither tiktoken nor unittest.mock (about 10 ms alone).
    from unittest import mock

    import tiktoken
    import tiktoken.load
    import tiktoken_ext.openai_public as openai_public

    file = Path(path) if path is not None else default_encoding_file()
    key = str(file.resolve()) if file.exists() else str(file)
    with _lock:
        if key in _encodings:
            return _encodings[key]
        verify_encoding_file(file)
        ranks = tiktoken.load.load_tiktoken_bpe(str(file), expected_hash=ENCODING_SHA256)
        # Take pattern and special tokens from tiktoken's own constructor so they can
        # never drift from upstream; only the download is replaced by the local file.
        with mock.patch.object(openai_public, "load_tiktoken_bpe", lambda *a, **k: ranks):
            spec = openai_public.o200k_base()
        encoding = tiktoken.Encoding(
            name=spec["name"], pat_str=spec["pat_str"],
            mergeable_ranks=spec["mergeable_ranks"], special_tokens=spec["special_tokens"],
        )
        _encodings[key] = encoding
        return encoding


@attrs.frozen
class TokenCounts:
    """One message's o200k_base tokens by kind (stored as ``tokens_text``, ``tokens_reasoning``, ``tokens_tool``)."""

    text: int = 0
    reasoning: int = 0
    tool: int = 0


def tool_text(message: Message) -> str:
    """The text of a message's tool traffic, counted as the ``tool`` kind.

    Each call contributes its name and its arguments (text as is, structures
    as canonical JSON); each result its content; joined by newlines.
    """
    parts: list[str] = []
    for call in message.tool_calls:
        args = call.arguments
        parts.append(call.name)
        if args is not None:
            parts.append(args if isinstance(args, str) else canonical_json(args))
    for result in message.tool_results:
        if result.content:
            parts.append(result.content)
    return "\n".join(parts)


def counted_texts(message: Message) -> dict[str, str]:
    """The text of ``message`` counted as each kind of :data:`KINDS`.

    ``text`` is the visible text (``Message.text``; a hidden message's text
    counts too, the ledger splits by visibility), ``reasoning`` the reasoning
    text (raw or summary), ``tool`` the tool traffic (:func:`tool_text`).
    """
    return {"text": message.text or "", "reasoning": message.reasoning or "", "tool": tool_text(message)}


#: Distinct texts whose counts a counter keeps in memory; past it the memory cache starts over
#: (a persistent :class:`~moonshine_core.tokencache.TokenCache` keeps the rest), so memory stays flat.
MEMORY_CACHE_ENTRIES = 100_000


class TokenCounter:
    """Counts o200k_base tokens with a content-hash cache.

    ``count_many`` is the fast path: it hashes every text, tokenises only the
    ones never seen, and does so with ``encode_ordinary_batch`` on all cores
    (``threads=1`` counts in the calling thread: what a worker process wants).
    Counts are cached by the text's sha256 in memory (bounded by
    :data:`MEMORY_CACHE_ENTRIES`) and, given a ``cache``, on disk across runs;
    with a cache, :attr:`fresh` holds the counts made since :meth:`take_fresh` was
    last called, for the process that writes the disk cache. ``tokenised`` says how many texts
    were actually tokenised (the rest came from a cache), which the manifest reports.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, threads: int | None = None, *,
                 cache: TokenCache | None = None, memory_entries: int = MEMORY_CACHE_ENTRIES):
        self.path = Path(path) if path is not None else default_encoding_file()
        self.encoding = load_encoding(self.path)
        self.encoding_sha256 = ENCODING_SHA256
        self.threads = threads or max(2, os.cpu_count() or 2)
        self.cache = cache
        self.memory_entries = memory_entries
        self._memory: dict[bytes, int] = {}
        self.fresh: list[tuple[bytes, int]] = []
        self.tokenised = 0
        self.cache_hits = 0
        #: Disk-cache hits re-counted to check the cache (see :mod:`moonshine_core.tokencache`).
        self.verified = 0

    def count(self, text: str) -> int:
        """Tokens in one text."""
        return self.count_many([text])[0]

    def count_many(self, texts: Sequence[str]) -> list[int]:
        """Tokens in each text, in order.

        Raises :class:`~moonshine_core.tokencache.CacheMismatch` when a sampled disk-cache
        hit disagrees with a fresh count.
        """
        keys = [hashlib.sha256(t.encode("utf-8", "surrogatepass")).digest() if t else b"" for t in texts]
        unknown: dict[bytes, str] = {}
        for key, text in zip(keys, texts):
            if text and key not in self._memory and key not in unknown:
                unknown[key] = text
        if len(self._memory) + len(unknown) > self.memory_entries:
            self._memory = {}
            unknown = {key: text for key, text in zip(keys, texts) if text}
        known: dict[bytes, int] = {}
        if unknown and self.cache is not None:
            known = self.cache.lookup(list(unknown))
            self._check(known, unknown)
        todo = [(key, text) for key, text in unknown.items() if key not in known]
        counts = self._encode([text for _, text in todo])
        self._memory.update(known)
        for (key, _), n in zip(todo, counts):
            self._memory[key] = n
        if self.cache is not None:
            self.fresh.extend((key, n) for (key, _), n in zip(todo, counts))
        self.tokenised += len(todo)
        self.cache_hits += sum(1 for t in texts if t) - len(todo)
        return [self._memory[k] if t else 0 for k, t in zip(keys, texts)]

    def _encode(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        if self.threads == 1 or len(texts) == 1:
            encode = self.encoding.encode_ordinary
            return [len(encode(_encodable(t))) for t in texts]
        encoded = self.encoding.encode_ordinary_batch([_encodable(t) for t in texts], num_threads=self.threads)
        return [len(e) for e in encoded]

    def _check(self, known: dict[bytes, int], texts: dict[bytes, str]) -> None:
        sample = [key for key in known if should_verify(key)]
        if not sample:
            return
        for key, n in zip(sample, self._encode([texts[k] for k in sample])):
            if known[key] != n:
                raise CacheMismatch(f"the token cache {self.cache.path if self.cache else ''} holds a wrong count "
                                    f"({known[key]} for a text of {n} tokens)")
        self.verified += len(sample)

    def take_fresh(self) -> list[tuple[bytes, int]]:
        """The counts made since the last call (for the disk cache's writer), and forget them."""
        fresh, self.fresh = self.fresh, []
        return fresh

    def total(self, texts: Iterable[str]) -> int:
        return sum(self.count_many(list(texts)))

    def count_messages(self, messages: Sequence[Message]) -> list[TokenCounts]:
        """The :class:`TokenCounts` of each message, in order, tokenised in one batch."""
        texts = [counted_texts(m) for m in messages]
        counts = iter(self.count_many([t[kind] for t in texts for kind in KINDS]))
        return [TokenCounts(**{kind: next(counts) for kind in KINDS}) for _ in texts]


def _encodable(text: str) -> str:
    # Lone surrogates (seen in real exports' escaped JSON) cannot be encoded to UTF-8;
    # tiktoken would fail, so they are replaced the way tiktoken's own encode() does.
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
