"""Description providers behind one interface, chosen by ``description_providers``."""

from __future__ import annotations

from ..settings import Settings
from .base import DescribeInput, Description, DescriptionProvider
from .basic import BasicProvider

__all__ = [
    "BasicProvider",
    "DescribeInput",
    "Description",
    "DescriptionProvider",
    "build_providers",
]


def build_providers(settings: Settings) -> list[DescriptionProvider]:
    """The configured providers, in the order the setting lists them."""
    factories = {"basic": BasicProvider}
    return [factories[name]() for name in settings.description_providers.split(",")]
