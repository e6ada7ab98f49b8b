"""Saved layouts: a column mapping staff make once for a file layout the product does not
know, reused for later files of that shape.

A mapping names, for each of our fields, the header of the column that contains it. Our
fields are those of our template for the import kind (docs/imports.md lists them).
"""

from dataclasses import replace

from django.core.exceptions import ValidationError
from django.db import transaction

from customers.imports.layouts import BASE_LAYOUTS, DATE_ORDERS, Column, Layout, normalise_header
from customers.models import SavedLayout

SAVED_LAYOUT_PREFIX = "saved:"


def layout_fields(kind: str) -> list[dict]:
    """List our fields for an import kind: [{"field", "header", "required", "kind"}], in template order."""
    base = base_layout(kind)
    return [
        {"field": column.field, "header": column.header, "required": column.required, "kind": column.kind}
        for column in base.columns
    ]


def base_layout(kind: str) -> Layout:
    try:
        return BASE_LAYOUTS[kind]
    except KeyError:
        raise ValidationError(f'unknown import kind "{kind}"; use one of: {", ".join(BASE_LAYOUTS)}') from None


def clean_mapping(kind: str, mapping: dict) -> dict[str, str]:
    """Return the mapping with stripped headers and no blank entries, or raise ValidationError."""
    base = base_layout(kind)
    known = {column.field: column for column in base.columns}
    cleaned = {}
    errors = []
    for field, header in (mapping or {}).items():
        header = (header or "").strip()
        if not header:
            continue
        if field not in known:
            errors.append(f'"{field}" is not one of our {kind} fields; use one of: {", ".join(known)}')
            continue
        cleaned[field] = header
    missing = [column.field for column in base.columns if column.required and column.field not in cleaned]
    if missing:
        errors.append(f"map the required fields {', '.join(missing)} to a column of the file")
    seen: dict[str, str] = {}
    for field, header in cleaned.items():
        key = normalise_header(header)
        if key in seen:
            errors.append(f'the column "{header}" is mapped to both {seen[key]} and {field}; map each column once')
        seen[key] = field
    if errors:
        raise ValidationError(errors)
    return cleaned


@transaction.atomic
def saved_layout_save(*, name: str, kind: str, mapping: dict, date_order: str, user) -> SavedLayout:
    """Create the saved layout `name`, or update it; raise ValidationError for an invalid mapping."""
    name = (name or "").strip()
    if not name:
        raise ValidationError("name the layout, for example the program that exports the file")
    if date_order not in DATE_ORDERS:
        raise ValidationError(f'unknown date order "{date_order}"; use "", "day_first" or "month_first"')
    cleaned = clean_mapping(kind, mapping)
    saved, created = SavedLayout.objects.select_for_update().get_or_create(
        name=name, defaults={"kind": kind, "mapping": cleaned, "date_order": date_order, "created_by": user}
    )
    if not created:
        saved.kind = kind
        saved.mapping = cleaned
        saved.date_order = date_order
        saved.save(update_fields=["kind", "mapping", "date_order", "updated_at"])
    return saved


def layout_from_saved(saved: SavedLayout) -> Layout:
    """Build the layout that reads files with a saved mapping: our template's columns under their headers."""
    base = base_layout(saved.kind)
    columns = []
    for column in base.columns:
        header = saved.mapping.get(column.field)
        if header:
            columns.append(Column(header, column.field, column.kind, column.required, (), column.max_length))
    return replace(
        base,
        name=f"{SAVED_LAYOUT_PREFIX}{saved.name}"[:50],  # ImportRecord.layout max_length
        title=f'Saved layout "{saved.name}"',
        columns=tuple(columns),
        date_order=saved.date_order,
    )
