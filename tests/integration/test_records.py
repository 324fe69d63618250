"""Every record the data layer returns is its query's columns, name for name, in order, of matching types:
the contract between a RETURNING list and the code that reads it, checked against the statement Postgres
prepares (not run: prepare describes the columns), for every function of julia/data that returns one."""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import pkgutil
import types
import typing
from collections.abc import Iterator
from dataclasses import fields, is_dataclass
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

import julia.data
from julia.queries import sql

# Records a function builds from several statements, not from one query of its name.
COMPOSED = {"contar_operacao"}
# What asyncpg decodes each column type to (jsonb: julia/db.py's codec).
PYTHON_TYPE: dict[str, type] = {
    "bool": bool,
    "int2": int,
    "int4": int,
    "int8": int,
    "float8": float,
    "numeric": Decimal,
    "text": str,
    "bpchar": str,
    "date": dt.date,
    "time": dt.time,
    "timestamptz": dt.datetime,
    "text[]": list,
    "jsonb": dict,
}


def _records(hint: Any) -> Iterator[type]:
    """The julia.data dataclasses inside a return annotation (X | None, list[X], dict[str, X]...)."""
    if isinstance(hint, type) and is_dataclass(hint) and hint.__module__.startswith("julia.data."):
        yield hint
    for arg in typing.get_args(hint):
        yield from _records(arg)


def _data_functions() -> list[tuple[str, type]]:
    found = []
    for module_info in pkgutil.iter_modules(julia.data.__path__):
        module = importlib.import_module(f"julia.data.{module_info.name}")
        for name, function in inspect.getmembers(module, inspect.iscoroutinefunction):
            if function.__module__ != module.__name__ or name in COMPOSED:
                continue
            # The return annotation alone (julia's own source text): get_type_hints would also evaluate the
            # parameters' Executor alias, whose asyncpg.Pool[...] is not subscriptable at run time.
            returned = eval(function.__annotations__.get("return", "None"), vars(module))  # noqa: S307
            for record in _records(returned):
                found.append((name, record))
    return sorted(found, key=lambda pair: pair[0])


def _python_type(annotation: Any) -> type:
    """A field's type without None, Literal and generics: what a column's value is an instance of."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        [annotation] = args
        return _python_type(annotation)
    if typing.get_origin(annotation) is typing.Literal:
        return type(args[0])
    bare: type = typing.get_origin(annotation) or annotation
    return bare


FUNCTIONS = _data_functions()


def test_every_record_returning_function_is_found() -> None:
    """The introspection sees the records (a refactor that hid them would make the check below vacuous)."""
    names = {name for name, _ in FUNCTIONS}
    assert {"reivindicar_entradas", "buscar_medico_por_telefone", "reservar_vaga", "ler_conversa"} <= names
    assert len(FUNCTIONS) >= 30


@pytest.mark.parametrize(("function", "record"), FUNCTIONS, ids=[name for name, _ in FUNCTIONS])
async def test_record_is_its_query_columns(pool: asyncpg.Pool, function: str, record: type) -> None:
    async with pool.acquire() as conn:
        statement = await conn.prepare(sql(function))
        columns = [(a.name, a.type.name) for a in statement.get_attributes()]
    hints = typing.get_type_hints(record)
    assert [f.name for f in fields(record)] == [name for name, _ in columns]
    assert {f.name: _python_type(hints[f.name]) for f in fields(record)} == {
        name: PYTHON_TYPE[type_name] for name, type_name in columns
    }
