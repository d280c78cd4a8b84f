"""The Merkle root of a dataset version: an RFC 6962 Merkle tree hash over its files.

The exact encoding, so that anyone can recompute a root from a manifest:

1. Sort the files by `path` (Unicode code point order, which equals UTF-8 byte order).
2. Each file is one leaf whose data is the UTF-8 encoding of `path + "\\0" + sha256_hex`
   (`sha256_hex` is the file's SHA-256 as 64 lowercase hex digits).
3. Leaf hash:  SHA-256(0x00 || leaf data).
   Node hash:  SHA-256(0x01 || left child hash || right child hash).
4. For n > 1 leaves, the left subtree takes the first k leaves, where k is the largest power of
   two strictly less than n, and the right subtree the rest (RFC 6962, section 2.1).
5. The root of one leaf is its leaf hash; the root of no files is SHA-256 of the empty string.
6. The root is written as 64 lowercase hex digits.

Recomputing it needs nothing but the standard library::

    import hashlib

    def merkle_root(files):  # files: [(path, sha256_hex), ...]
        def tree(hashes):
            if len(hashes) == 1:
                return hashes[0]
            k = 1 << ((len(hashes) - 1).bit_length() - 1)
            return hashlib.sha256(b"\\x01" + tree(hashes[:k]) + tree(hashes[k:])).digest()
        leaves = [hashlib.sha256(b"\\x00" + f"{p}\\0{h}".encode()).digest() for p, h in sorted(files)]
        return (tree(leaves) if leaves else hashlib.sha256(b"").digest()).hex()
"""

import hashlib
from collections.abc import Iterable


def leaf_hash(path: str, sha256_hex: str) -> bytes:
    return hashlib.sha256(b"\x00" + f"{path}\0{sha256_hex}".encode()).digest()


def _node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _tree_hash(hashes: list[bytes], start: int, end: int) -> bytes:
    count = end - start
    if count == 1:
        return hashes[start]
    split = 1 << ((count - 1).bit_length() - 1)
    return _node_hash(
        _tree_hash(hashes, start, start + split), _tree_hash(hashes, start + split, end)
    )


def merkle_root(files: Iterable[tuple[str, str]]) -> str:
    """The root over `(path, sha256_hex)` pairs, in any order, as 64 hex digits."""
    leaves = [leaf_hash(path, digest) for path, digest in sorted(files)]
    if not leaves:
        return hashlib.sha256(b"").hexdigest()
    return _tree_hash(leaves, 0, len(leaves)).hex()
