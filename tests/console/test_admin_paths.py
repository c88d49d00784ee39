"""The system view calls each module's operations API at the path the kernel mounts it."""

from __future__ import annotations

import re

from cloudtaskhub.http.module_admin import admin_path
from entrypoints.registry import ALL_MODULES
from modules.gateway.console.router import STATIC_DIR


def test_the_system_view_knows_every_modules_operations_path() -> None:
    source = (STATIC_DIR / "js" / "system.js").read_text()
    block = re.search(r"ADMIN_PATHS = \{(.*?)\};", source, re.DOTALL)
    assert block is not None

    known = dict(re.findall(r'(\w+): "([^"]+)"', block.group(1)))

    assert known == {module.name: admin_path(module) for module in ALL_MODULES}


def test_every_operations_path_lies_inside_a_prefix_its_module_serves() -> None:
    for module in ALL_MODULES:
        path = admin_path(module)

        assert path is not None
        assert any(
            path.startswith(f"{prefix.rstrip('/')}/") for prefix in module.path_prefixes if prefix != "/"
        )


def test_the_console_loads_nothing_from_elsewhere() -> None:
    for file in STATIC_DIR.rglob("*"):
        if file.is_file() and file.suffix in {".html", ".js", ".css"}:
            text = file.read_text()

            assert not re.search(r"(src|href)=\"https?://", text), file
            assert "<script>" not in text, file  # the CSP allows no inline script
            assert "style=" not in text, file  # nor inline styles
