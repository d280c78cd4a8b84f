import hashlib

from provenance.merkle import merkle_root


def reference_root(files):
    """The snippet from provenance/merkle.py's docstring, which buyers are told to use."""

    def tree(hashes):
        if len(hashes) == 1:
            return hashes[0]
        k = 1 << ((len(hashes) - 1).bit_length() - 1)
        return hashlib.sha256(b"\x01" + tree(hashes[:k]) + tree(hashes[k:])).digest()

    leaves = [hashlib.sha256(b"\x00" + f"{p}\0{h}".encode()).digest() for p, h in sorted(files)]
    return (tree(leaves) if leaves else hashlib.sha256(b"").digest()).hex()


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_empty_version_root_is_sha256_of_nothing():
    assert merkle_root([]) == hashlib.sha256(b"").hexdigest()


def test_single_file_root_is_its_leaf_hash():
    leaf = hashlib.sha256(b"\x00" + b"a.txt\x00" + digest("a").encode()).hexdigest()
    assert merkle_root([("a.txt", digest("a"))]) == leaf


def test_three_files_follow_rfc6962_split():
    files = [("c", digest("c")), ("a", digest("a")), ("b", digest("b"))]
    leaves = [hashlib.sha256(b"\x00" + f"{p}\0{h}".encode()).digest() for p, h in sorted(files)]
    left = hashlib.sha256(b"\x01" + leaves[0] + leaves[1]).digest()
    expected = hashlib.sha256(b"\x01" + left + leaves[2]).hexdigest()
    assert merkle_root(files) == expected


def test_documented_snippet_agrees_for_many_sizes():
    for count in (1, 2, 3, 4, 5, 7, 8, 9, 31, 100):
        files = [(f"dir/file-{n:03d}.bin", digest(str(n))) for n in range(count)]
        assert merkle_root(files) == reference_root(files)


def test_root_changes_when_a_file_changes_moves_or_goes():
    files = [(f"f{n}", digest(str(n))) for n in range(5)]
    root = merkle_root(files)
    assert merkle_root([*files[:4], ("f4", digest("other"))]) != root
    assert merkle_root([*files[:4], ("g4", files[4][1])]) != root
    assert merkle_root(files[:4]) != root
    assert merkle_root(list(reversed(files))) == root
