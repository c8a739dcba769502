"""The template's delivery stream with a test's changes: where it writes (`destination`) changes apart."""

from __future__ import annotations

import dataclasses
from typing import Any

from stack_tools.template import DeliveryStreamSettings, StackTemplate


def template_stream(*, destination: dict[str, Any] | None = None, **changes: Any) -> DeliveryStreamSettings:
    settings = StackTemplate().delivery_stream()
    return dataclasses.replace(settings, destination=dataclasses.replace(settings.destination, **(destination or {})),
                               **changes)
