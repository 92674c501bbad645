"""Who did it: a user, an API token (on behalf of its user) or a named system job.

Every service takes `actor=` so that the change log is complete for work done outside a request
(CLI, Celery tasks, config apply), not only for web requests.
"""

from __future__ import annotations

import contextvars
import uuid
from dataclasses import dataclass
from typing import Any

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("opsdesk_request_id", default=None)


def current_request_id() -> str:
    return _request_id.get() or ""


def set_request_id(value: str | None):
    return _request_id.set(value)


def reset_request_id(token) -> None:
    _request_id.reset(token)


def new_request_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Actor:
    kind: str  # "user" | "token" | "system"
    user: Any = None
    token: Any = None
    name: str = ""

    @classmethod
    def for_user(cls, user) -> Actor:
        return cls(kind="user", user=user)

    @classmethod
    def for_token(cls, token) -> Actor:
        return cls(kind="token", user=token.user, token=token)

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls(kind="system", name=name)

    @classmethod
    def from_request(cls, request) -> Actor:
        token = getattr(request, "auth", None)
        if token is not None and hasattr(token, "key_id"):
            return cls.for_token(token)
        return cls.for_user(request.user)

    @property
    def label(self) -> str:
        if self.kind == "system":
            return f"system:{self.name}"
        if self.kind == "token":
            return f"{self.user.username} (token {self.token.key_id})"
        return self.user.username

    @property
    def user_id(self):
        return getattr(self.user, "pk", None)

    def __str__(self) -> str:
        return self.label
