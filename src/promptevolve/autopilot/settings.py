"""The autopilot's process settings (``PROMPTEVOLVE_*``), read when a surface starts, never at import.

What is per prompt lives in its policy; what belongs to the process running the passes (where the
webhook goes by default and its secret, how long leases last, how long deliveries may take) lives here.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["AutopilotSettings", "load_autopilot_settings"]


class AutopilotSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROMPTEVOLVE_", extra="ignore")

    webhook_url: str | None = Field(default=None, description="Default webhook for every prompt")
    webhook_secret: SecretStr | None = Field(default=None, description="HMAC secret of the webhook")
    lease_ttl_s: float = Field(default=600.0, gt=0, description="A crashed holder's lease expires after")
    notify_timeout_s: float = Field(default=5.0, gt=0, description="Per HTTP attempt")
    notify_attempts: int = Field(default=4, ge=1)
    notify_deadline_s: float = Field(default=30.0, gt=0, description="Per delivery, retries included")
    drain_s: float = Field(default=15.0, ge=0, description="A pass waits this long for its deliveries")


def load_autopilot_settings(**overrides: object) -> AutopilotSettings:
    given = {k: v for k, v in overrides.items() if v is not None}
    return AutopilotSettings(**given)  # type: ignore[arg-type]
