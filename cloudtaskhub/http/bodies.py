"""Request bodies: a bound on how deeply JSON may nest.

msgspec decodes nested arrays and objects recursively: a body nested ~1,000 levels
deep raised RecursionError, answered as a 500. No API body here nests past a few
levels, so anything deeper than MAX_JSON_DEPTH answers 400 before it is decoded.
"""

from __future__ import annotations

import re
from itertools import accumulate
from typing import Any

from litestar import Request
from litestar.exceptions import ClientException

__all__ = ["MAX_JSON_DEPTH", "BoundedRequest", "json_depth_exceeds"]

MAX_JSON_DEPTH = 32

#: A JSON string (escapes included); brackets inside one do not nest anything.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [0] * 256
for _open in b"[{":
    _STEP[_open] = 1
for _close in b"]}":
    _STEP[_close] = -1


def json_depth_exceeds(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether `body`, read as JSON, opens more than `limit` arrays/objects at once."""
    if body.count(b"[") + body.count(b"{") <= limit:  # the common case, at C speed
        return False
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > limit


class BoundedRequest(Request[Any, Any, Any]):
    """The app's request class: refuses JSON bodies nested deeper than MAX_JSON_DEPTH."""

    async def body(self) -> bytes:
        body = await super().body()
        if body and "json" in self.headers.get("content-type", "json") and json_depth_exceeds(body):
            raise ClientException(f"request body nested deeper than {MAX_JSON_DEPTH} levels")
        return body
