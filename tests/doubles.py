"""Stand-ins for external functions the code under test calls (never for the code under test)."""

from __future__ import annotations

import base64
from typing import Any


class CapturingLambda:
    """A transform Lambda that keeps what Firehose hands it and returns every record unchanged."""

    def __init__(self) -> None:
        self.records: list[bytes] = []

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        self.records += [base64.b64decode(r["data"]) for r in event["records"]]
        return {"records": [{"recordId": r["recordId"], "result": "Ok", "data": r["data"]} for r in event["records"]]}
