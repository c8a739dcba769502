"""A CloudFormation custom resource for one Athena view, without I/O: what a request asks for, the
statement that does it, and the response CloudFormation expects at the pre-signed URL.

Create and Update run the view's `CREATE OR REPLACE VIEW`; Delete drops the view the resource made (its
physical id, `<database>.<view>`), and nothing when the create never succeeded. When an update renames
the view, the new physical id makes CloudFormation delete the old one afterwards."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

RequestType = Literal["Create", "Update", "Delete"]
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,127}")


class ViewError(Exception):
    """The request cannot be carried out; the message goes to CloudFormation as the reason."""


class Response(TypedDict, total=False):
    Status: Literal["SUCCESS", "FAILED"]
    Reason: str
    PhysicalResourceId: str
    StackId: str
    RequestId: str
    LogicalResourceId: str
    NoEcho: bool
    Data: dict[str, str]


@dataclass(frozen=True)
class ViewRequest:
    kind: RequestType
    response_url: str
    stack_id: str
    request_id: str
    logical_id: str
    physical_id: str | None
    work_group: str
    database: str
    view: str
    sql: str

    @property
    def view_id(self) -> str:
        return f"{self.database}.{self.view}"

    def statement(self) -> str | None:
        """What to run for this request (None: nothing to do)."""
        if self.kind == "Delete":
            if self.physical_id is None or not re.fullmatch(rf"{_NAME.pattern}\.{_NAME.pattern}", self.physical_id):
                return None  # the create failed before a view existed
            database, view = self.physical_id.split(".")
            return f'DROP VIEW IF EXISTS "{database}"."{view}"'
        return self.sql

    def response(self, status: Literal["SUCCESS", "FAILED"], reason: str = "") -> Response:
        physical = self.view_id if status == "SUCCESS" and self.kind != "Delete" else \
            (self.physical_id or f"{self.logical_id}-not-created")
        body: Response = {"Status": status, "PhysicalResourceId": physical, "StackId": self.stack_id,
                          "RequestId": self.request_id, "LogicalResourceId": self.logical_id}
        if reason:
            body["Reason"] = reason[:1000]  # CloudFormation keeps a short reason; the log has the rest
        if status == "SUCCESS" and self.kind != "Delete":
            body["Data"] = {"View": self.view_id}
        return body


def _text(properties: dict[str, Any], key: str) -> str:
    value = properties.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ViewError(f"the resource's property {key} is missing or empty")
    return value


def parse_request(event: dict[str, Any]) -> ViewRequest:
    """The event CloudFormation sends; a view whose SQL does not create exactly it is refused."""
    kind = event.get("RequestType")
    if kind not in ("Create", "Update", "Delete"):
        raise ViewError(f"unknown RequestType {kind!r}")
    properties = event.get("ResourceProperties") or {}
    request = ViewRequest(kind=kind, response_url=_text(event, "ResponseURL"), stack_id=_text(event, "StackId"),
                          request_id=_text(event, "RequestId"), logical_id=_text(event, "LogicalResourceId"),
                          physical_id=event.get("PhysicalResourceId"), work_group=_text(properties, "WorkGroup"),
                          database=_text(properties, "Database"), view=_text(properties, "ViewName"),
                          sql=_text(properties, "ViewSql"))
    if not _NAME.fullmatch(request.database) or not _NAME.fullmatch(request.view):
        raise ViewError(f"{request.view_id}: database and view names are lower-case letters, digits and _")
    # Unqualified, the view is made in the query's database (the execution context the handler sets).
    creates = re.search(r"CREATE\s+OR\s+REPLACE\s+VIEW\s+(?:\"?(\w+)\"?\.)?\"?(\w+)\"?\s", request.sql, re.I)
    if creates is None or ((creates.group(1) or request.database).lower(),
                           creates.group(2).lower()) != (request.database, request.view):
        raise ViewError(f"ViewSql must be one CREATE OR REPLACE VIEW {request.view_id} AS ...")
    return request
