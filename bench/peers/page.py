"""The 20-task page the peers answer with: a real page of our list endpoint."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def load_page() -> dict[str, Any]:
    page: dict[str, Any] = json.loads(Path(os.environ["BENCH_PAGE_FILE"]).read_text())
    return page
