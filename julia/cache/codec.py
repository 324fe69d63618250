"""What a cached value looks like: JSON keeping the types asyncpg returned, stored as `<generation>|<json>`.

Cached reads return the data layer's record as a dict of its fields, which are its query's columns in
order (with `date`, `time`, `datetime` and `Decimal` values), the same dict on a hit and on a miss, so the
service formats a shift the same way whether it came from Redis or Postgres. The JSON a record makes is
the one the asyncpg.Record it replaced made (tests/integration/cache/test_writes.py): entries written
before the records existed still read. Those four types are written as a tagged object
`{"\\u0000": "date", "v": "2026-11-25"}`: a key made of a NUL character cannot come from the database
(Postgres text and jsonb refuse NUL), so the tag never collides with a doctor's `preferencias`. Every
caller, on a hit and on a miss alike, decodes its own copy from the same bytes: the two paths return
equal values and never share a mutable object.

Serializer: stdlib json. On the realistic payloads (a doctor; a list of 10 shifts) encode+decode cost
microseconds, a small fraction of the Redis round trip a hit pays anyway (numbers in the cache issue's
report). orjson would save part of those microseconds for a new compiled dependency; msgpack would make
entries unreadable in redis-cli and needs the same tagging for dates and decimals.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import fields, is_dataclass
from decimal import Decimal
from functools import cache
from typing import Any, Final

from julia.cache.keys import SEPARATOR

TAG: Final = "\u0000"
_READ: Final[dict[str, Callable[[str], Any]]] = {
    "datetime": dt.datetime.fromisoformat,
    "date": dt.date.fromisoformat,
    "time": dt.time.fromisoformat,
    "decimal": Decimal,
}


# What a column's value already is in JSON's terms (or _write_type's): returned as it is, first, since
# nearly every value is one. A miss's profile against the asyncpg.Record this replaced showed 14 to 32
# more calls per read (is_dataclass and getattr on every field's value, 2026-12-07 perf run against
# 6556f6f): scalars now stop at one isinstance, and a record's field names are read once per class.
_SCALARS: Final = (str, int, float, bool, type(None), dt.date, dt.time, Decimal)


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def plain(value: Any) -> Any:
    """The data layer's records and mappings as dicts, field for field in their order, sequences as lists;
    scalars unchanged. A record's fields are its query's columns in order (tests/integration/
    test_records.py), so its JSON is the one the asyncpg.Record it replaced made."""
    if isinstance(value, _SCALARS):
        return value
    if is_dataclass(value) and not isinstance(value, type):
        return {name: plain(getattr(value, name)) for name in _field_names(type(value))}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _write_type(value: Any) -> dict[str, str]:
    if isinstance(value, dt.datetime):  # before date: a datetime is a date
        return {TAG: "datetime", "v": value.isoformat()}
    if isinstance(value, dt.date):
        return {TAG: "date", "v": value.isoformat()}
    if isinstance(value, dt.time):
        return {TAG: "time", "v": value.isoformat()}
    if isinstance(value, Decimal):
        return {TAG: "decimal", "v": str(value)}
    raise TypeError(f"cannot cache a {type(value).__name__}")


def _read_type(obj: dict[str, Any]) -> Any:
    kind = obj.get(TAG)
    return obj if kind is None else _READ[kind](obj["v"])


def encode(value: Any) -> bytes:
    return json.dumps(value, default=_write_type, separators=(",", ":"), ensure_ascii=False).encode()


def decode(payload: bytes | str) -> Any:
    return json.loads(payload, object_hook=_read_type)


def split(raw: bytes) -> tuple[bytes, bytes]:
    """(generation the value was loaded under, its JSON); the JSON is parsed only if that generation lives."""
    generation, _, payload = raw.partition(SEPARATOR)
    return generation, payload


def como_bytes(raw: bytes | str | None) -> bytes | None:
    """Redis clients built with decode_responses=True answer str: accept both."""
    return raw.encode() if isinstance(raw, str) else raw
