"""Reading a contact list file: CSV (any common delimiter and encoding) or XLSX, into a header
and rows of text. The mapping of columns and the checks of each row are the action's."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

from charset_normalizer import from_bytes

from sportello.core.errors import InvalidInput

MAX_FILE_BYTES = 50 * 1024 * 1024


@dataclass
class Table:
    header: list[str]
    rows: Iterator[tuple[int, list[str]]]  # (row number in the file, cells)


def _text(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        best = from_bytes(data[:200_000]).best()
        return data.decode(best.encoding if best else "latin-1", errors="replace")


def read_csv(data: bytes) -> Table:
    text = _text(data)
    first_line = text.split("\n", 1)[0]
    # The header's most frequent separator (the sniffer trips over one ragged row).
    delimiter = max(",;\t|", key=first_line.count)
    dialect: type[csv.Dialect] | csv.Dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect, delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise InvalidInput("the file is empty", field="file") from None
    except csv.Error:
        raise InvalidInput("this is not a CSV file", field="file") from None
    if not any(header):
        raise InvalidInput("the first row must name the columns", field="file")

    def rows() -> Iterator[tuple[int, list[str]]]:
        number = 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error:
                number += 1
                yield number, ["\x00malformed"]
                continue
            number += 1
            if cells and any(cell.strip() for cell in cells):
                yield number, cells

    return Table(header, rows())


def read_xlsx(data: bytes) -> Table:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:
        raise InvalidInput("this is not an Excel (.xlsx) file", field="file") from None
    sheet = book.worksheets[0]
    values = sheet.iter_rows(values_only=True)
    try:
        first = next(values)
    except StopIteration:
        raise InvalidInput("the file is empty", field="file") from None
    header = ["" if v is None else str(v).strip() for v in first]

    def cell(v: object) -> str:
        if v is None:
            return ""
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)

    def rows() -> Iterator[tuple[int, list[str]]]:
        for number, row in enumerate(values, start=2):
            cells = [cell(v) for v in row]
            if any(c.strip() for c in cells):
                yield number, cells

    return Table(header, rows())


def read_table(filename: str, data: bytes) -> Table:
    if len(data) > MAX_FILE_BYTES:
        raise InvalidInput("the file is too large", field="file")
    if not data:
        raise InvalidInput("the file is empty", field="file")
    if filename.lower().endswith(".xlsx") or data[:2] == b"PK":
        return read_xlsx(data)
    return read_csv(data)
