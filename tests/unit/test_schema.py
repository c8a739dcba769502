"""The raw tables' columns follow from the typed records (ohlcv_core.schema.columns_of): the record is the
one definition of a field's name and type; a field without its comment, or of a type Glue has no name for,
is refused where the schema is written."""

from __future__ import annotations

from typing import Literal, TypedDict

import pytest

from ohlcv_core.schema import RAW_PRICE_COLUMNS, Column, columns_of


class _Tick(TypedDict):
    kind: Literal["tick"]
    price: float
    size: int | None
    venue: str | None
    odd: bool


def test_a_records_fields_become_its_columns_in_order_with_glue_types() -> None:
    comments = {"kind": "k", "price": "p", "size": "s", "venue": "v", "odd": "o"}
    assert columns_of(_Tick, comments) == (Column("kind", "string", "k"), Column("price", "double", "p"),
                                           Column("size", "bigint", "s"), Column("venue", "string", "v"),
                                           Column("odd", "boolean", "o"))
    assert [c.name for c in RAW_PRICE_COLUMNS][:3] == ["schema_version", "kind", "symbol"]


def test_a_field_without_a_comment_or_a_comment_without_a_field_is_refused() -> None:
    with pytest.raises(TypeError, match=r"comments missing for \['odd'\], not fields: \['volume'\]"):
        columns_of(_Tick, {"kind": "k", "price": "p", "size": "s", "venue": "v", "volume": "?"})


class _Odd(TypedDict):
    when: bytes


def test_a_type_glue_has_no_name_for_is_refused() -> None:
    with pytest.raises(TypeError, match="no Glue type for <class 'bytes'>"):
        columns_of(_Odd, {"when": "w"})
