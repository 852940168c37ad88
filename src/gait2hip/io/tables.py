"""Tables from CSV and Parquet files, refused in one line when they cannot be read."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gait2hip.io.storage import StorageFormatError

#: File suffixes read as tables.
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def read_table(path: str | Path, what: str = "a header row and one row per frame") -> pd.DataFrame:
    """A .csv or .parquet file as a table. Empty, binary or otherwise unreadable files raise a
    :class:`StorageFormatError` of one line that names the file and says what it should hold
    (``what``), never the parser's own message."""
    path = Path(path)
    kind = "CSV" if path.suffix.lower() == ".csv" else "Parquet"
    try:
        df = pd.read_csv(path) if kind == "CSV" else pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise StorageFormatError(f"{path}: the file is empty; give {what}") from None
    except UnicodeDecodeError:
        raise StorageFormatError(
            f"{path}: not a text {kind} file (binary, or not UTF-8); save it as {kind} with {what}"
        ) from None
    except (ValueError, OSError, pd.errors.ParserError) as err:
        # pandas/pyarrow messages carry their own internals (C error, Arrow codes): keep only
        # where the problem is, when they say it
        where = _where(str(err))
        raise StorageFormatError(
            f"{path}: not a readable {kind} table{where}; save it as {kind} with {what}"
        ) from None
    if df.empty:
        raise StorageFormatError(f"{path}: a header but no rows; give {what}")
    return df


def _where(message: str) -> str:
    import re

    line = re.search(r"line (\d+)", message)
    return f" (at line {line.group(1)})" if line else ""
