"""Contacts from a CSV file: checking the file, parsing its rows, reporting the bad ones."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from .contacts import ContactRecord

# Header names we understand, and the spellings people use for them.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("name", "full name", "full_name", "contact"),
    "first_name": ("first name", "first_name", "firstname", "first"),
    "last_name": ("last name", "last_name", "lastname", "last"),
    "email": ("email", "e-mail", "email address", "email_address"),
    "phone": ("phone", "phone number", "phone_number", "mobile", "cell"),
    "stage": ("stage", "status"),
    "tags": ("tags", "tag", "labels"),
}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE_CHARS = re.compile(r"^[0-9+()\-.\s]{7,25}$")
FIELD_LIMITS = {"name": 300, "email": 320, "phone": 64, "stage": 100}
# What a spreadsheet reads as the start of a formula (OWASP's list for CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class NotACsv(ValueError):
    """The file cannot be read as a CSV of contacts; the message says why."""


@dataclass
class ParsedFile:
    contacts: list[ContactRecord] = field(default_factory=list)
    rejected: list[dict[str, object]] = field(default_factory=list)  # {"line", "error"}


def neutralise_formula(value: str) -> str:
    """`value` as a spreadsheet will show it as text, never run it: a leading quote if it
    starts like a formula."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def read_text(data: bytes) -> str:
    if not data.strip():
        raise NotACsv("the file is empty")
    if b"\x00" in data[:4096]:
        raise NotACsv("the file is binary, not CSV text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise NotACsv("the file is not UTF-8 text") from None


def header_columns(text: str) -> dict[str, str]:
    """Our column name for each header the file has; NotACsv if none is recognisable."""
    try:
        header = next(csv.reader(io.StringIO(text)))
    except (csv.Error, StopIteration) as exc:
        raise NotACsv(f"the header row cannot be read: {exc}") from None
    columns = {}
    for heading in header:
        key = heading.strip().lower()
        for column, aliases in COLUMN_ALIASES.items():
            if key in aliases:
                columns[heading] = column
    if not {"name", "first_name", "last_name", "email"} & set(columns.values()):
        raise NotACsv(
            "no recognisable columns; the header needs at least one of "
            "name, first name, last name or email"
        )
    return columns


def count_rows(text: str) -> int:
    return sum(1 for _ in _rows(text))


def _rows(text: str) -> Iterator[tuple[int, int, list[str] | str]]:
    """(first line, last line, values or why it cannot be read) for every data row; a row
    that cannot be read is reported and the next one read."""
    reader = csv.reader(io.StringIO(text), strict=True)
    try:
        next(reader)  # the header
    except csv.Error:
        return  # header_columns reports it
    line = reader.line_num
    while True:
        first = line + 1  # a row starts on the line after the last one read
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line = reader.line_num
            yield first, line, (f"a quote (\") opened on line {first} is never closed: the "
                                "rest of the file is inside it" if "end of data" in str(exc)
                                else f"unreadable CSV: {exc}")
            continue
        line = reader.line_num
        if values:  # not a blank line
            yield first, line, values


def parse(text: str) -> Iterator[tuple[int, ContactRecord | str]]:
    """(line number, contact or the reason the row was rejected) for every data row."""
    columns = header_columns(text)
    header = next(csv.reader(io.StringIO(text)))
    for first, line, values in _rows(text):
        if isinstance(values, str):
            yield first, values
        elif line > first:
            yield first, (f"a quoted value runs over lines {first} to {line}; values must "
                          "fit on one line (is a quote (\") left open?)")
        elif len(values) > len(header):
            yield line, "the row has more values than the header has columns"
        else:
            yield line, _contact(dict(zip(header, values, strict=False)), columns)


def _contact(row: dict[str, str | None], columns: dict[str, str]) -> ContactRecord | str:
    values: dict[str, str] = {}
    for heading, column in columns.items():
        value = (row.get(heading) or "").strip()
        # A phone's own check covers it: "+1 555 0100" is a number, not a formula.
        if value.startswith(FORMULA_STARTS) and column != "phone":
            return (f"{heading.strip()} starts with {value[0]!r}, which a spreadsheet runs "
                    "as a formula; remove it or start the value with a letter or digit")
        if value:
            values[column] = value
    name = values.get("name") or " ".join(
        part for part in (values.get("first_name"), values.get("last_name")) if part
    ) or None
    email = values.get("email", "").lower() or None
    phone = values.get("phone")
    if not name and not email:
        return "the row has neither a name nor an email"
    if email and not EMAIL.match(email):
        return f"{email!r} is not an email address"
    if phone and not PHONE_CHARS.match(phone):
        return f"{phone!r} is not a phone number"
    for column, limit in FIELD_LIMITS.items():
        value = name if column == "name" else values.get(column)
        if value and len(value) > limit:
            return f"{column} is longer than {limit} characters"
    tags = [tag.strip() for tag in re.split(r"[;|]", values.get("tags", "")) if tag.strip()]
    # A contact is the same contact next time if it has the same email; without one, the
    # same name and phone.
    identity = email or hashlib.sha256(f"{name}|{phone}".lower().encode()).hexdigest()[:32]
    return ContactRecord(external_id=identity, name=name, email=email, phone=phone,
                      stage=values.get("stage"), tags=tags,
                      raw={k: v for k, v in row.items() if k and v})


def parse_file(text: str) -> ParsedFile:
    parsed = ParsedFile()
    seen: dict[str, int] = {}
    for line, outcome in parse(text):
        if isinstance(outcome, str):
            parsed.rejected.append({"line": line, "error": outcome})
        elif outcome.external_id in seen:
            parsed.rejected.append(
                {"line": line, "error": f"duplicate of line {seen[outcome.external_id]}"}
            )
        else:
            seen[outcome.external_id] = line
            parsed.contacts.append(outcome)
    return parsed
