"""Input paths: one check, and one message, for a file that is missing or is a folder."""

from __future__ import annotations

from pathlib import Path


def existing_file(path: str | Path, what: str) -> Path:
    """``path`` as a Path when it is a file; else a one-line ``FileNotFoundError`` naming it
    and what was expected (``what``: e.g. ``"motion"``, ``"c3d"``), and for a folder that it is
    one, with the fix."""
    path = Path(path)
    if path.is_dir():
        article = "an" if what[:1].lower() in "aeiou" else "a"
        raise FileNotFoundError(
            f"{path}: a folder, not {article} {what} file; give the file(s) in it "
            f"(e.g. {path}/<name>)"
        )
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} file not found")
    return path
