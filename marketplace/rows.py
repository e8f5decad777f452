"""Shared pieces of all-or-nothing file uploads (cohort CSVs, task files): every
problem is reported by line and field, and a file with any problem creates nothing."""

import csv
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

MAX_REPORTED_ERRORS = 100


@dataclass
class RowError:
    line: int  # 1-based line in the file; 0 for the file as a whole
    field: str
    message: str


@dataclass
class RowErrors(Exception):
    errors: list[RowError]
    total: int = field(default=0)

    def __post_init__(self) -> None:
        self.total = self.total or len(self.errors)
        self.errors = sorted(self.errors, key=lambda error: error.line)[:MAX_REPORTED_ERRORS]

    def as_dicts(self) -> list[dict]:
        return [{"line": e.line, "field": e.field, "message": e.message} for e in self.errors]


def require_size(data: bytes, *, max_bytes: int) -> None:
    if len(data) > max_bytes:
        raise RowErrors(
            [RowError(0, "file", _("The file is larger than %(n)d bytes.") % {"n": max_bytes})]
        )


def decode_text(data: bytes, *, max_bytes: int) -> str:
    """UTF-8 text of an upload (a BOM is allowed), or RowErrors naming the bad line."""
    require_size(data, max_bytes=max_bytes)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RowErrors([RowError(line, "file", _("The file is not UTF-8 text."))]) from None
    # A NUL is never text (PostgreSQL refuses it in a string): usually a spreadsheet
    # saved in another format, e.g. UTF-16.
    nul = text.find("\x00")
    if nul != -1:
        raise RowErrors([RowError(text.count("\n", 0, nul) + 1, "file", nul_message())])
    return text


def nul_message() -> str:
    return _("This line contains a NUL character; save the file as plain UTF-8 text.")


def csv_error(line: int, exc: Exception) -> RowError:
    """A line the csv module cannot read (e.g. a field over its size limit)."""
    return RowError(line, "file", _("This line cannot be read as CSV: %(error)s") % {"error": exc})


def csv_records(reader, errors: list[RowError]):
    """The records of a csv.DictReader. A line the csv module cannot parse ends them,
    with a RowError in `errors`: the reader cannot go on past it."""
    records = iter(reader)
    while True:
        # The line the next record starts on: where a quote left open was opened.
        start = reader.reader.line_num + 1
        try:
            yield next(records)
        except StopIteration:
            return
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                # A strict reader (strict=True) reaches the end of the file inside a
                # quoted field: report the line that opened it, not the file's last.
                errors.append(RowError(start, "file", unclosed_quote_message()))
            else:
                errors.append(csv_error(reader.reader.line_num, exc))
            return


def unclosed_quote_message() -> str:
    return _(
        'A quote (") opens a field on this line and is never closed, so the rest of the '
        "file would be read as that one field. Close the quote, or remove it."
    )
