"""What the local AWS endpoint's services share: the error every JSON 1.1 API answers with."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Operation = Callable[[dict[str, Any]], dict[str, Any]]
Operations = Mapping[str, Operation]


class ApiError(Exception):
    """An AWS API error: `__type` and `message` in the JSON body, and its HTTP status."""

    def __init__(self, error_type: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.status = status
