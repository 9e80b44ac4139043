"""Environment access for settings (django-environ), read once at import."""
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"  # local state for the embedded default (SQLite file, generated dev keys)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
