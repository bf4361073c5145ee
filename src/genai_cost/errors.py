"""Errors a user sees about their own setup, at the bottom of the layering so that every layer
(budgets, pricing, the gateway) can raise them without importing the config reader."""


class ConfigError(ValueError):
    """Configuration that cannot be used; the message names where and what."""
