"""Streamlit custom components written in plain HTML/JS (no build step, no remote assets)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TypeVar

Component = TypeVar("Component")
_DECLARING = threading.Lock()


def declared_once(declare: Callable[[], Component]) -> Callable[[], Component]:
    """`declare` (a function calling Streamlit's declare_component) run once per process, at its first
    call, under one lock. Call it inside a script run: declaring there registers the component with the
    server. Declarations must not overlap: declare_component finds its caller's module with
    inspect.getmodule, whose caches are not thread-safe, so two sessions declaring at once can fail
    with "module is None"."""
    declared: list[Component] = []

    @functools.wraps(declare)
    def component() -> Component:
        with _DECLARING:
            if not declared:
                declared.append(declare())
        return declared[0]

    return component
