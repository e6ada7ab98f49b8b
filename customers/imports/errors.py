"""Errors raised while reading and validating an import file.

Every rejected cell becomes one message of the form
`row N, column "C", value "V": reason; fix`, where N is the row number a spreadsheet
program shows (header = 1, blank lines counted, a multi-line quoted cell counted once).
"""

# Long cell values are shortened in messages so that one bad cell cannot flood a page.
MAX_VALUE_CHARS = 80


class ImportFileError(Exception):
    """A problem with the whole file (encoding, header row, layout): nothing is imported."""


class CellError(ValueError):
    """A cell value that a parser rejects; the pipeline adds the row and column."""

    def __init__(self, reason: str, fix: str):
        super().__init__(f"{reason}; {fix}")
        self.reason = reason
        self.fix = fix


def display_value(value) -> str:
    text = "" if value is None else str(value)
    text = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    if len(text) > MAX_VALUE_CHARS:
        text = text[: MAX_VALUE_CHARS - 3] + "..."
    return text


def row_message(row: int, column: str, value, reason: str, fix: str) -> str:
    """Format the message for one rejected cell."""
    return f'row {row}, column "{column}", value "{display_value(value)}": {reason}; {fix}'
