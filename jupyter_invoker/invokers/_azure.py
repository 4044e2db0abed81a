"""The ``azure`` invoker (alias ``azure_openai``): Azure OpenAI deployments.

    model:
      configuration:
        type: azure
        azure_endpoint: ${env:AZURE_OPENAI_ENDPOINT}   # https://<resource>.openai.azure.com
        azure_deployment: gpt-4o-mini
        api_version: "2024-10-21"
        api_key: ${env:AZURE_OPENAI_API_KEY}

Fallbacks when a field is absent: ``AZURE_OPENAI_ENDPOINT``, ``AZURE_OPENAI_API_KEY``
and ``OPENAI_API_VERSION`` from the environment, then API version
``DEFAULT_API_VERSION``. On the wire (``AsyncAzureOpenAI``): ``POST
{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...`` with
an ``api-key`` header. Timeouts, retries and errors as for ``openai``.
"""

from __future__ import annotations

import os
from typing import Any

import openai

from ..exceptions import InvokerConfigError
from ._openai import OpenAICompatibleInvoker, Settings, _text, display_url

__all__ = ["DEFAULT_API_VERSION", "AzureInvoker"]

DEFAULT_API_VERSION = "2024-10-21"


class AzureInvoker(OpenAICompatibleInvoker):
    """``azure``: ``azure_endpoint``, ``azure_deployment``, ``api_version``, ``api_key``."""

    invoker_name = "azure"

    def resolve(self) -> Settings:
        config = self.configuration()
        base = _text(config.get("azure_endpoint")) or os.environ.get("AZURE_OPENAI_ENDPOINT")
        if not base:
            raise InvokerConfigError(
                "The azure invoker needs an endpoint: set `azure_endpoint` (e.g. "
                "https://<resource>.openai.azure.com) in the prompt's model.configuration "
                "or the AZURE_OPENAI_ENDPOINT environment variable."
            )
        deployment = _text(
            config.get("azure_deployment") or config.get("name") or config.get("model")
        )
        if not deployment:
            raise InvokerConfigError(
                f"The azure invoker needs a deployment for {display_url(base)}: set "
                "`azure_deployment` in the prompt's model.configuration."
            )
        endpoint = f"{display_url(base).rstrip('/')}/openai/deployments/{deployment}"
        key: Any = config.get("api_key") or os.environ.get("AZURE_OPENAI_API_KEY")
        if not key:
            raise InvokerConfigError(
                f"The azure invoker has no API key for {endpoint}: set the "
                "AZURE_OPENAI_API_KEY environment variable, or `api_key: "
                "${env:YOUR_VARIABLE}` in the prompt's model.configuration."
            )
        version = (
            _text(config.get("api_version"))
            or os.environ.get("OPENAI_API_VERSION")
            or DEFAULT_API_VERSION
        )
        return self.build_settings(
            config,
            endpoint,
            model=deployment,
            key=key,
            key_hint="the API key (configuration `api_key` or the AZURE_OPENAI_API_KEY variable)",
            azure_endpoint=base,
            azure_deployment=deployment,
            api_version=version,
        )

    def make_client(self, settings: Settings) -> openai.AsyncOpenAI:
        return openai.AsyncAzureOpenAI(**self.client_kwargs(settings))
