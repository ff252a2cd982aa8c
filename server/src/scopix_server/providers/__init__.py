"""Description providers behind one interface, chosen by ``description_providers``."""

from __future__ import annotations

from ..settings import Settings
from .anthropic import AnthropicProvider
from .base import DescribeInput, Description, DescriptionProvider
from .basic import BasicProvider
from .local import LocalProvider
from .openai import OpenAIProvider

__all__ = [
    "AnthropicProvider",
    "BasicProvider",
    "DescribeInput",
    "Description",
    "DescriptionProvider",
    "LocalProvider",
    "OpenAIProvider",
    "build_providers",
]


def build_provider(name: str, settings: Settings) -> DescriptionProvider:
    if name == "openai":
        return OpenAIProvider(
            base_url=settings.openai_base_url,
            model=settings.openai_model,
            api_key=settings.openai_api_key,
            timeout=settings.provider_timeout_seconds,
            max_tokens=settings.provider_max_tokens,
            image_side=settings.provider_image_side,
        )
    if name == "anthropic":
        assert settings.anthropic_api_key  # the settings refuse anthropic without a key
        return AnthropicProvider(
            base_url=settings.anthropic_base_url,
            model=settings.anthropic_model,
            api_key=settings.anthropic_api_key,
            timeout=settings.provider_timeout_seconds,
            max_tokens=settings.provider_max_tokens,
            image_side=settings.provider_image_side,
        )
    if name == "local":
        return LocalProvider()
    return BasicProvider()


def build_providers(settings: Settings) -> list[DescriptionProvider]:
    """The configured providers, in the order the setting lists them."""
    return [build_provider(name, settings) for name in settings.description_providers.split(",")]
