"""Request and response models of the console's token API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.console.tokens import MAX_EXPIRY_DAYS


class CreateToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="What the token is for, e.g. 'laptop CLI'.")
    role: Literal["viewer", "responder", "admin"] | None = Field(
        default=None, description="At most the person's role and the role of the credential asking; default: that ceiling.")
    expires_in_days: int | None = Field(default=None, ge=1, le=MAX_EXPIRY_DAYS, description="Null: never expires.")


class TokenOut(BaseModel):
    id: str
    person: str
    name: str
    role: str
    prefix: str = Field(description="The token's first characters, to recognise it by.")
    state: Literal["active", "expired", "revoked"]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(description="Last use at the console (other services do not report uses).")


class CreatedToken(TokenOut):
    token: str = Field(description="The token itself: shown this once, stored nowhere. Use as `Authorization: Bearer <token>`.")
