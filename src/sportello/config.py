"""Settings, read from SPORTELLO_* environment variables and an optional .env file."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SPORTELLO_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///data/sportello.db"
    redis_url: str | None = None
    redis_channel: str = "sportello:events"
    data_dir: Path = Path("data")
    secret_key: str = Field(default="")
    base_url: str = "http://127.0.0.1:8000"
    default_language: str = "it"
    default_timezone: str = "Europe/Rome"
    # A cookie marked Secure is only sent over HTTPS; on plain-HTTP local installs turn it off.
    secure_cookies: bool = False
    session_days: int = 14
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (IPs or CIDRs,
    # comma-separated; "*" trusts any): the client's address then comes from the header, for
    # login throttling, rate limits and sessions. Anything else connecting is the client itself.
    trusted_proxies: str = "127.0.0.1"
    max_upload_bytes: int = 25 * 1024 * 1024
    max_body_bytes: int = 1 * 1024 * 1024
    webform_rate_limit: str = "5/10minute"
    dispatcher_poll_seconds: float = 1.0
    # After a wake-up the dispatcher waits this long to gather a round: a round has a fixed cost
    # (claim, mark done, one transaction per handler) that a busy chat amortises over many
    # events; 50 ms more before a console sees a message is not something a person notices.
    dispatcher_gather_ms: float = 50.0
    # GIL switch interval of `serve` and `worker`, in ms (Python's default is 5; see cli.py).
    switch_interval_ms: float = 0.5
    run_workers: bool = True
    log_level: str = "info"
    # Knowledge bot: an optional OpenAI-compatible chat endpoint (e.g. a local model server) that
    # composes answers grounded in the retrieved articles; empty = the bot quotes passages.
    kb_llm_url: str = ""
    kb_llm_model: str = ""
    kb_llm_api_key: str = ""
    # Voice: the WebSocket address of Kamailio the console softphone registers to
    # (ws://host:8088 or wss://...); empty: no softphone.
    voice_ws_url: str = ""
    kb_llm_timeout_seconds: float = 15.0
    # argon2id cost; 0 keeps argon2-cffi's defaults. Lower only for tests.
    argon2_time_cost: int = 0
    argon2_memory_kib: int = 0

    @property
    def attachments_dir(self) -> Path:
        return self.data_dir / "attachments"

    def effective_secret_key(self) -> str:
        """The signing/encryption key; generated once and kept in data/ when not configured."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret.key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
