"""Baselines served next to CloudTaskHub in the same run, with the same uvicorn settings.

- `bare_litestar`: the floor — Litestar returning a JSON page held in memory,
  no auth, no database, no middleware;
- `fastapi_toy`: the kind of service the original project shipped — FastAPI +
  pydantic models, a list endpoint returning the same 20-task page from memory.

Both read the page from `BENCH_PAGE_FILE` (written by the bench from a real
response of our list endpoint), so all three answer the same bytes' worth of JSON.
"""
