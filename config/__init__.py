"""The network configuration: the admins' YAML file as checked, typed objects."""

from config.loader import ConfigError, Problem, load_config
from config.model import (
    Advisers,
    BotSettings,
    Category,
    Cohort,
    Config,
    Role,
    Theme,
    ThemeEntry,
    UserID,
)

__all__ = [
    "Advisers",
    "BotSettings",
    "Category",
    "Cohort",
    "Config",
    "ConfigError",
    "Problem",
    "Role",
    "Theme",
    "ThemeEntry",
    "UserID",
    "load_config",
]
