"""The network configuration: the admins' YAML file as checked, typed objects."""

from config.loader import ConfigError, Problem, load_config
from config.model import (
    Advisers,
    BotSettings,
    Category,
    Cohort,
    Config,
    Criterion,
    Evaluation,
    Phase,
    Role,
    Stage,
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
    "Criterion",
    "Evaluation",
    "Phase",
    "Problem",
    "Role",
    "Stage",
    "Theme",
    "ThemeEntry",
    "UserID",
    "load_config",
]
