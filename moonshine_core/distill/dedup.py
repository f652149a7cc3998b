"""Cross-conversation duplicate marks: exact duplicate groups and near-duplicate clusters.

Both need the whole corpus, so the pipeline runs them after every conversation
was emitted (never per conversation). They mark, never drop:

- ``exact_dup_group``: rows of one lane with the same ``content_sha256``;
  the row with the lowest ``record_uid`` is the representative.
- ``near_dup_cluster``: conversations whose visible text is near-identical
  (MinHash over word 5-gram shingles, LSH at Jaccard :data:`NEAR_DUP_THRESHOLD`),
  across providers too (the same question pasted into ChatGPT and Claude).
  Clusters are connected components of LSH matches; the cluster id and its
  representative are the smallest conversation key, so they do not depend on
  insertion order. The split uses the cluster, so near-duplicates never
  straddle train and eval.

MinHash comes from ``datasketch`` (MIT, maintained; see docs/decisions.md):
fixed seed and sha1-based hashing make signatures identical on every run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datasketch import MinHash

NEAR_DUP_THRESHOLD = 0.8
NEAR_DUP_NUM_PERM = 128
#: datasketch's hashing scheme (its default since 2.0), named so stored hash values load back.
NEAR_DUP_SCHEME = "affine32"
NEAR_DUP_SHINGLE = "word-5gram (char-5gram below 5 words)"
_WORD = re.compile(r"\w+", re.UNICODE)


def shingles(text: str) -> set[bytes]:
    words = _WORD.findall(text.lower())
    if len(words) >= 5:
        return {" ".join(words[i:i + 5]).encode("utf-8") for i in range(len(words) - 4)}
    flat = " ".join(words)
    return {flat[i:i + 5].encode("utf-8") for i in range(max(1, len(flat) - 4))} if flat else set()


def signature(text: str) -> MinHash | None:
    """The MinHash of a conversation's visible text, or ``None`` when it has no words."""
    grams = shingles(text)
    if not grams:
        return None
    # datasketch pulls in scipy (about half a second): imported when a distillation needs it, so
    # that loading the built-in plugins (every command does) stays fast.
    from datasketch import MinHash

    mh = MinHash(num_perm=NEAR_DUP_NUM_PERM, seed=1, scheme=NEAR_DUP_SCHEME)
    mh.update_batch(sorted(grams))
    return mh


class NearDupIndex:
    """Collects one signature per conversation key, then clusters them."""

    def __init__(self, threshold: float = NEAR_DUP_THRESHOLD):
        from datasketch import MinHashLSH  # see signature(): scipy only when distilling

        self.lsh = MinHashLSH(threshold=threshold, num_perm=NEAR_DUP_NUM_PERM)
        self.parent: dict[str, str] = {}

    def _find(self, key: str) -> str:
        root = key
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[key] != root:
            self.parent[key], key = root, self.parent[key]
        return root

    def add(self, key: str, text: str) -> list[int] | None:
        """Index one conversation's visible text; returns its signature's hash values (``None``
        when it has no words), which :meth:`add_signature` takes back without re-hashing."""
        mh = signature(text)
        if mh is not None:
            self._insert(key, mh)
        return [int(v) for v in mh.hashvalues] if mh is not None else None

    def add_signature(self, key: str, hashvalues: list[int] | None) -> None:
        """Index a conversation by the hash values :meth:`add` returned for it earlier."""
        if hashvalues is not None:
            from datasketch import MinHash

            self._insert(key, MinHash(num_perm=NEAR_DUP_NUM_PERM, seed=1, hashvalues=hashvalues,
                                            scheme=NEAR_DUP_SCHEME))

    def _insert(self, key: str, mh: MinHash) -> None:
        if key in self.parent:
            return
        self.parent[key] = key
        for other in sorted(self.lsh.query(mh)):
            a, b = self._find(key), self._find(other)
            if a != b:
                self.parent[max(a, b)] = min(a, b)
        self.lsh.insert(key, mh)

    def clusters(self) -> dict[str, str]:
        """Key -> cluster id (its smallest member) for keys in clusters of two or more."""
        return _representatives((self._find(key), key) for key in self.parent)


def exact_groups(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """``(record_uid, content_sha256)`` pairs -> record_uid of the representative, for duplicated hashes only."""
    return _representatives((digest, uid) for uid, digest in items)


def _representatives(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """``(group, member)`` pairs -> member -> smallest member of its group, for groups of two or more."""
    groups: dict[str, list[str]] = {}
    for group, member in pairs:
        groups.setdefault(group, []).append(member)
    return {member: min(members) for members in groups.values() if len(members) > 1 for member in members}
