"""Demo data: each app contributes its part through ``DEMO_LOADERS``.

A loader is ``f(*, organization) -> str`` (a short summary) and must be idempotent.
Apps register theirs in ``AppConfig.ready()`` with ``demo_loader_register``.
"""

from __future__ import annotations

from collections.abc import Callable

from apps.core.models import Organization

DemoLoader = Callable[..., str]
DEMO_LOADERS: list[tuple[str, DemoLoader]] = []


def demo_loader_register(name: str, loader: DemoLoader) -> None:
    if all(existing != name for existing, _ in DEMO_LOADERS):
        DEMO_LOADERS.append((name, loader))


def demo_data_load(*, organization: Organization) -> str:
    parts = [f"{name}: {loader(organization=organization)}" for name, loader in DEMO_LOADERS]
    return "; ".join(parts) or "no demo data loaders"
