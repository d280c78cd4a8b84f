"""Paths of files inside a version: relative, POSIX, and unable to climb out."""

from accounts.errors import InvalidInput


def normalize_member_path(path: str) -> str:
    """A safe relative POSIX path, or InvalidInput saying what is wrong with it.

    Backslashes count as separators and empty or `.` parts are dropped; absolute paths, drive
    letters, `..` parts and control characters are refused.
    """
    raw = path.replace("\\", "/")
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise InvalidInput(f"{path!r} is an absolute path; only relative paths are allowed.")
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if not parts:
        raise InvalidInput("A file needs a name.")
    if any(part == ".." for part in parts):
        raise InvalidInput(f"{path!r} climbs out of the dataset with '..'.")
    if any(ord(char) < 32 for char in raw):
        raise InvalidInput(f"{path!r} contains control characters.")
    normalized = "/".join(parts)
    if len(normalized) > 1024:
        raise InvalidInput("The path is longer than 1024 characters.")
    return normalized
