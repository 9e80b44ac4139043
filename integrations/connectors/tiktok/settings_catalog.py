"""TikTok settings (labels verbatim from the seed, "Switchyard" for "Pipe17")."""
from integrations import registry  # noqa: F401

SETTINGS: tuple = ()
