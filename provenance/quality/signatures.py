"""Signatures for near-duplicate detection: MinHash with LSH bands for text, pHash for images.

MinHash (Broder 1997) over word 3-gram shingles: each word is hashed once (CRC-32), a
shingle's hash combines its words' hashes, then `NUM_PERM` multiply-shift hash functions
`(a * x + b) >> 32` (64-bit, odd `a`) keep their minimum per record. Everything after the
per-word CRC runs in numpy over a whole batch of records, so the cost per record stays small. The
permutations come from a fixed seed: the same text always has the same signature, on every
machine, which is what lets signatures of different versions be compared (novelty).

LSH: the signature is cut into `BANDS` bands of `ROWS` values; two records whose bands agree
in at least one band are candidates, confirmed when their signatures agree in at least
`NEAR_DUPLICATE_THRESHOLD` of the positions (the estimated Jaccard similarity).

pHash (DCT hash): the image in grey at 32x32, its 2-D DCT, the 8x8 lowest frequencies compared
with their median: 64 bits that survive re-encoding and resizing. Two images are near
duplicates at a Hamming distance of at most `PHASH_MAX_DISTANCE`.
"""

import re
import zlib

import numpy as np

NUM_PERM = 64
BANDS = 16
ROWS = NUM_PERM // BANDS
SHINGLE_WORDS = 3
PERMUTATION_SEED = 1
NEAR_DUPLICATE_THRESHOLD = 0.6
PHASH_MAX_DISTANCE = 10

_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT = np.uint64(32)
_rng = np.random.RandomState(PERMUTATION_SEED)
_A = _rng.randint(0, 2**63, size=NUM_PERM, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
_B = _rng.randint(0, 2**63, size=NUM_PERM, dtype=np.uint64)
_WORD = re.compile(r"\w+")
# Multipliers that combine a shingle's word hashes (odd 64-bit constants).
_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F), np.uint64(0x165667B19E3779F9))
_EMPTY = np.full(NUM_PERM, 0xFFFFFFFF, dtype=np.uint32)

PARAMETERS = {
    "algorithm": "MinHash + LSH",
    "shingles": f"word {SHINGLE_WORDS}-grams of lower-cased \\w+ tokens (shorter records: all words)",
    "shingle_hash": "CRC-32 per word, combined per shingle",
    "permutations": "multiply-shift (a * x + b) >> 32 over 64 bits, odd a",
    "num_perm": NUM_PERM,
    "bands": BANDS,
    "rows_per_band": ROWS,
    "permutation_seed": PERMUTATION_SEED,
    "threshold_jaccard": NEAR_DUPLICATE_THRESHOLD,
}
PHASH_PARAMETERS = {
    "algorithm": "pHash (DCT of 32x32 grey, 8x8 low frequencies vs median)",
    "bits": 64,
    "max_hamming_distance": PHASH_MAX_DISTANCE,
}


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


_WORD_CACHE: dict[str, int] = {}
_WORD_CACHE_LIMIT = 500_000


def word_hashes(tokens: list[str]) -> np.ndarray:
    """CRC-32 of each word (remembered for the most recent half million distinct words)."""
    cache = _WORD_CACHE
    values = []
    for token in tokens:
        value = cache.get(token)
        if value is None:
            if len(cache) >= _WORD_CACHE_LIMIT:
                cache.clear()
            value = cache[token] = zlib.crc32(token.encode())
        values.append(value)
    return np.array(values, dtype=np.uint64)


def minhash_batch(records: list[np.ndarray]) -> np.ndarray:
    """The MinHash signatures (uint32, records x NUM_PERM) of a batch of records, each given
    as its word hashes. Shingles are word 3-grams; a record with fewer words uses its words."""
    count = len(records)
    signatures = np.full((count, NUM_PERM), 0xFFFFFFFF, dtype=np.uint32)
    lengths = np.fromiter((len(item) for item in records), dtype=np.int64, count=count)
    if not lengths.any():
        return signatures
    hashed = np.concatenate(records)
    owner = np.repeat(np.arange(count), lengths)
    span = SHINGLE_WORDS - 1
    with np.errstate(over="ignore"):
        mixed = hashed[: len(hashed) - span] * _MIX[0]
        for offset in range(1, SHINGLE_WORDS):
            mixed ^= hashed[offset : len(hashed) - span + offset] * _MIX[offset]
        mixed ^= mixed >> np.uint64(29)
    # A shingle is valid when its words belong to one record; short records keep their words.
    valid = owner[: len(mixed)] == owner[span:]
    short = lengths[owner] < SHINGLE_WORDS
    values = np.concatenate([mixed[valid], hashed[short]]) & _MASK32
    owners = np.concatenate([owner[: len(mixed)][valid], owner[short]])
    order = np.argsort(owners, kind="stable")
    values, owners = values[order], owners[order]
    with np.errstate(over="ignore"):
        permuted = ((values[:, None] * _A[None, :] + _B[None, :]) >> _SHIFT).astype(np.uint32)
    present, starts = np.unique(owners, return_index=True)
    signatures[present] = np.minimum.reduceat(permuted, starts, axis=0)
    return signatures


def band_keys(signatures: np.ndarray) -> np.ndarray:
    """One signed 64-bit key per band per record (records x BANDS), the band number mixed in."""
    shaped = signatures.reshape(len(signatures), BANDS, ROWS).astype(np.uint64)
    with np.errstate(over="ignore"):
        keys = np.arange(1, BANDS + 1, dtype=np.uint64)[None, :] * _MIX[2]
        for row in range(ROWS):
            keys = (keys ^ shaped[:, :, row]) * _MIX[row % 2]
            keys ^= keys >> np.uint64(31)
    return keys.view(np.int64)


def near_duplicate_pairs(signatures: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Confirmed near-duplicate pairs (first index, later index) from LSH band collisions.

    Within a band, records with the same key are paired with the first of them (a star, not
    every pair: a thousand copies cost a thousand pairs, not half a million).
    """
    found = []
    for band in range(keys.shape[1]):
        column = keys[:, band]
        order = np.argsort(column, kind="stable")
        ordered = column[order]
        same = np.concatenate(([False], ordered[1:] == ordered[:-1]))
        if not same.any():
            continue
        group_start = np.where(~same, np.arange(len(order)), 0)
        group_start = np.maximum.accumulate(group_start)
        members = order[same]
        firsts = order[group_start[same]]
        found.append(np.stack([np.minimum(firsts, members), np.maximum(firsts, members)], 1))
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    pairs = np.unique(np.concatenate(found), axis=0)
    similarity = (signatures[pairs[:, 0]] == signatures[pairs[:, 1]]).mean(axis=1)
    return pairs[similarity >= NEAR_DUPLICATE_THRESHOLD]


def estimated_jaccard(first: np.ndarray, second: np.ndarray) -> float:
    return float((first == second).mean())


_DCT = None


def _dct_matrix(size: int = 32) -> np.ndarray:
    global _DCT
    if _DCT is None:
        index = np.arange(size)
        matrix = np.cos(np.pi * (2 * index[None, :] + 1) * index[:, None] / (2 * size))
        matrix[0] *= 1 / np.sqrt(2)
        _DCT = matrix * np.sqrt(2 / size)
    return _DCT


def phash(image) -> int:
    """The 64-bit DCT perceptual hash of a Pillow image."""
    from PIL import Image

    grey = image.convert("L").resize((32, 32), Image.Resampling.LANCZOS)
    pixels = np.asarray(grey, dtype=np.float64)
    matrix = _dct_matrix()
    low = (matrix @ pixels @ matrix.T)[:8, :8].flatten()
    bits = low > np.median(low[1:])
    return int(sum(1 << index for index, bit in enumerate(bits) if bit))


def phash_pairs(hashes: list[int]) -> list[tuple[int, int, int]]:
    """(i, j, distance) for every pair of images within `PHASH_MAX_DISTANCE`, i < j."""
    if len(hashes) < 2:
        return []
    values = np.array(hashes, dtype=np.uint64)
    pairs = []
    for index in range(len(values) - 1):
        rest = values[index + 1 :] ^ values[index]
        distance = np.unpackbits(rest.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)
        for offset in np.nonzero(distance <= PHASH_MAX_DISTANCE)[0]:
            pairs.append((index, index + 1 + int(offset), int(distance[offset])))
    return pairs
