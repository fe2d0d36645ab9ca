"""Configuration from FORMFLOW_* environment variables, with safe embedded defaults."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from . import defaults
from .errors import ConfigError

PREFIX = "FORMFLOW_"


@dataclass
class Config:
    """Settings of one formflow instance."""

    data_dir: Path = field(default_factory=lambda: Path(defaults.DATA_DIR))
    database_url: str | None = None
    redis_url: str = defaults.REDIS_URL
    secret_key: str = defaults.DEV_SECRET_KEY
    env: str = "development"
    timezone: str = defaults.TIMEZONE
    job_runner: str = defaults.JOB_RUNNER

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> "Config":
        """Read FORMFLOW_* variables (DATA_DIR, DATABASE_URL, REDIS_URL, SECRET_KEY, ENV, TIMEZONE, JOB_RUNNER)."""
        env = os.environ if environ is None else environ
        cfg = cls()
        if env.get(PREFIX + "DATA_DIR"):
            cfg.data_dir = Path(env[PREFIX + "DATA_DIR"])
        cfg.database_url = env.get(PREFIX + "DATABASE_URL") or None
        cfg.redis_url = env.get(PREFIX + "REDIS_URL") or cfg.redis_url
        cfg.secret_key = env.get(PREFIX + "SECRET_KEY") or cfg.secret_key
        cfg.env = env.get(PREFIX + "ENV") or cfg.env
        cfg.timezone = env.get(PREFIX + "TIMEZONE") or cfg.timezone
        cfg.job_runner = env.get(PREFIX + "JOB_RUNNER") or cfg.job_runner
        for key, value in overrides.items():
            setattr(cfg, key, value)
        cfg.check()
        return cfg

    @property
    def resolved_database_url(self) -> str:
        """The database URL; the embedded default is a SQLite file in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / defaults.DATABASE_FILE).resolve()}"

    def check(self) -> None:
        """Refuse unsafe settings (production with the development secret, unknown runner)."""
        if self.env not in ("development", "production", "test"):
            raise ConfigError(f"FORMFLOW_ENV={self.env!r}: use development, production or test")
        if self.env == "production" and self.secret_key == defaults.DEV_SECRET_KEY:
            raise ConfigError("FORMFLOW_SECRET_KEY is the development default: set a long random "
                              "secret before running with FORMFLOW_ENV=production")
        if self.env == "production" and len(self.secret_key) < 32:
            raise ConfigError("FORMFLOW_SECRET_KEY must be at least 32 characters in production")
        if self.job_runner not in ("inline", "rq"):
            raise ConfigError(f"FORMFLOW_JOB_RUNNER={self.job_runner!r}: use inline or rq")
