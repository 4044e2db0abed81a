"""The ``openai`` and ``serverless`` invokers: the OpenAI API and compatible servers.

    model:
      configuration:
        type: openai                    # base_url (optional), api_key, name, organization
        name: gpt-4o-mini
        api_key: ${env:OPENAI_API_KEY}  # absent: the OPENAI_API_KEY environment variable

    model:
      configuration:
        type: serverless                # any OpenAI-compatible endpoint: GitHub Models,
        endpoint: http://127.0.0.1:8000/v1   # vLLM, TGI, `transformers serve`
        model: my-model
        key: ${env:GITHUB_TOKEN}        # optional for local servers

Both use the SDK's async client (``AsyncOpenAI``) with the SDK's own retries off
and ours on (see ``_errors``). Chat prompts go to ``chat.completions``, completion
prompts to ``completions``; ``model.parameters`` are sent as given. Timeouts come
from configuration ``timeout`` / ``connect_timeout`` (seconds), else the
``JUPYTER_INVOKER_TIMEOUT`` / ``JUPYTER_INVOKER_CONNECT_TIMEOUT`` environment
variables, else 60 s / 5 s; ``max_retries`` (default 2) bounds the retries. A key is
revealed only when the client is built.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import functools
import os
import ssl
import urllib.parse
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx2
import openai
from openai.types import Completion
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from .._secrets import Secret, reveal
from ..exceptions import InvokerConfigError, InvokerResponseError
from ..prompty import resolve_configuration
from ._base import Invoker
from ._errors import CallContext, map_error, with_retries
from ._result import ExecutionResult

__all__ = ["OpenAICompatibleInvoker", "OpenAIInvoker", "ServerlessInvoker"]

DEFAULT_TIMEOUT = 60.0
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_MAX_RETRIES = 2
# A local server without auth still needs *a* key: the SDK refuses none at all.
_NO_KEY = "EMPTY"


@dataclass(frozen=True)
class Settings:
    """A resolved connection: ``client_kwargs`` may hold a Secret, never a plain key."""

    model: str
    ctx: CallContext
    client_kwargs: dict[str, Any] = field(repr=False)


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One TLS context per process: building one reads the CA bundle (~40 ms), which
    would otherwise be paid by every ``execute()``. Environment settings such as
    ``SSL_CERT_FILE`` are read the first time only."""
    return httpx2.create_ssl_context()


def display_url(url: str) -> str:
    """``url`` without credentials or query string, for messages."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", "")) or url


def _number(config: Mapping[str, Any], key: str, env: str, default: float) -> float:
    value: Any = config.get(key)
    source = f"configuration `{key}`"
    if value is None and os.environ.get(env):
        value, source = os.environ[env], f"environment variable {env}"
    if value is None:
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if number <= 0:
        raise InvokerConfigError(f"{source} must be a positive number of seconds, not {value!r}.")
    return number


def _text(value: Any) -> str | None:
    """A plain configuration string (dates from unquoted YAML back to ISO text); a value
    held as a Secret (a URL with a password in it) is revealed for the client only."""
    value = reveal(value)
    if value is None or value == "":
        return None
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


class OpenAICompatibleInvoker(Invoker):
    """Shared machinery of the openai, serverless and azure invokers."""

    invoker_name: ClassVar[str] = "openai"

    def __init__(self, prompty: Any) -> None:
        super().__init__(prompty)
        self._settings: Settings | None = None
        self._client: openai.AsyncOpenAI | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self.last_result: ExecutionResult | None = None

    # -- configuration -----------------------------------------------------------
    def configuration(self) -> dict[str, Any]:
        """The prompt's configuration with ``${env:}`` resolved (secrets stay wrapped)."""
        return dict(resolve_configuration(self.prompty))

    def call_context(self, config: Mapping[str, Any], endpoint: str, **kw: Any) -> CallContext:
        timeout = _number(config, "timeout", "JUPYTER_INVOKER_TIMEOUT", DEFAULT_TIMEOUT)
        retries = config.get("max_retries", DEFAULT_MAX_RETRIES)
        if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 10:
            raise InvokerConfigError(
                f"configuration `max_retries` must be a whole number from 0 to 10, not {retries!r}."
            )
        secrets = tuple(v for v in config.values() if isinstance(v, Secret))
        return CallContext(
            invoker=self.invoker_name,
            endpoint=endpoint,
            timeout=timeout,
            max_retries=retries,
            secrets=secrets + tuple(kw.pop("secrets", ())),
            **kw,
        )

    def build_settings(
        self,
        config: Mapping[str, Any],
        endpoint: str,
        *,
        model: str,
        key: Any,
        key_hint: str,
        **client: Any,
    ) -> Settings:
        """The one place a key becomes a Secret and the client gets timeouts, no SDK retries."""
        secret = Secret(key) if key else Secret(_NO_KEY)
        ctx = self.call_context(config, endpoint, key_hint=key_hint, secrets=(secret,))
        timeout = self.timeouts(config, ctx)
        ctx = dataclasses.replace(ctx, connect_timeout=timeout.connect)
        kwargs: dict[str, Any] = {**client, "api_key": secret, "max_retries": 0, "timeout": timeout}
        return Settings(model=model, ctx=ctx, client_kwargs=kwargs)

    def timeouts(self, config: Mapping[str, Any], ctx: CallContext) -> openai.Timeout:
        connect = _number(
            config, "connect_timeout", "JUPYTER_INVOKER_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT
        )
        return openai.Timeout(ctx.timeout, connect=min(connect, ctx.timeout))

    def resolve(self) -> Settings:
        """Turn the configuration into a :class:`Settings` (subclasses)."""
        raise NotImplementedError

    def client_kwargs(self, settings: Settings) -> dict[str, Any]:
        """The client's keyword arguments, key revealed: only for the constructor call."""
        kwargs = {key: reveal(value) for key, value in settings.client_kwargs.items()}
        kwargs["http_client"] = openai.DefaultAsyncHttpxClient(verify=shared_ssl_context())
        return kwargs

    def make_client(self, settings: Settings) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(**self.client_kwargs(settings))

    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = self.resolve()
        return self._settings

    def client(self) -> openai.AsyncOpenAI:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            settings = self.settings()
            try:
                self._client = self.make_client(settings)
            except openai.OpenAIError as exc:
                raise map_error(exc, settings.ctx) from exc
            self._client_loop = loop
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None and self._client_loop is asyncio.get_running_loop():
            await client.close()

    # -- requests ------------------------------------------------------------------
    def _request(self, data: Any, settings: Settings) -> tuple[str, dict[str, Any]]:
        """(``"chat"`` | ``"completion"``, the JSON body: parameters, model, content)."""
        body = dict(getattr(self.prompty.model, "parameters", None) or {})
        body.pop("stream", None)
        body["model"] = settings.model
        if isinstance(data, str) and getattr(self.prompty, "api", "chat") == "completion":
            return "completion", {**body, "prompt": data}
        if isinstance(data, str):
            data = [{"role": "user", "content": data}]
        if not isinstance(data, list):
            raise InvokerConfigError(
                f"The {self.invoker_name} invoker needs chat messages (a list of "
                f"{{'role', 'content'}} dicts) or a string, not {type(data).__name__}."
            )
        return "chat", {**body, "messages": data}

    def _create(self, kind: str, body: dict[str, Any], *, stream: bool = False) -> Any:
        # The client's documented low-level `post` with a ready JSON body: the typed
        # `create()` re-walks every message through its TypedDict transforms, which
        # costs ~1 ms a call and shows in execute_many. Same URL, headers and auth
        # (Azure included: its client maps /chat/completions to the deployment URL).
        client = self.client()
        path = "/chat/completions" if kind == "chat" else "/completions"
        if stream:
            chunk: type[Any] = ChatCompletionChunk if kind == "chat" else Completion
            # The OpenAI API (and servers that follow it, transformers serve >= 5.25)
            # sends a stream's token usage only when asked, in a last chunk.
            return client.post(
                path,
                body={**body, "stream": True, "stream_options": {"include_usage": True}},
                cast_to=ChatCompletion if kind == "chat" else Completion,
                stream=True,
                stream_cls=openai.AsyncStream[chunk],  # type: ignore[valid-type]
            )
        # A plain dict: building the SDK's pydantic models costs ~0.4 ms a response.
        return client.post(path, body=body, cast_to=dict)

    async def invoke(self, data: Any) -> ExecutionResult:
        settings = self.settings()
        kind, kwargs = self._request(data, settings)
        response = await with_retries(lambda: self._create(kind, kwargs), settings.ctx)
        try:
            choice = response["choices"][0]
            text = choice["message"]["content"] if kind == "chat" else choice["text"]
            usage = response.get("usage") or None
            if usage is not None:
                usage = {key: value for key, value in usage.items() if value is not None}
            model = response.get("model")
            finish = choice.get("finish_reason")
        except (AttributeError, IndexError, KeyError, TypeError) as exc:
            raise map_error(
                InvokerResponseError(
                    f"The {self.invoker_name} invoker got a response from "
                    f"{settings.ctx.endpoint} without a completion in it ({type(exc).__name__}: "
                    f"{exc}). Check that the endpoint speaks the OpenAI API."
                ),
                settings.ctx,
            ) from exc
        return ExecutionResult(
            text=text or "",
            model=model or settings.model,
            usage=usage,
            prepared=data,
            raw=response,
            finish_reason=finish,
        )

    async def stream(self, data: Any) -> AsyncIterator[str]:
        settings = self.settings()
        ctx = settings.ctx
        kind, kwargs = self._request(data, settings)
        response = await with_retries(lambda: self._create(kind, kwargs, stream=True), ctx)
        meta: dict[str, Any] = {"model": settings.model, "usage": None, "finish_reason": None}
        pieces: list[str] = []
        try:
            async for chunk in response:
                meta["model"] = getattr(chunk, "model", None) or meta["model"]
                usage = getattr(chunk, "usage", None)
                if usage:
                    meta["usage"] = usage.model_dump(exclude_none=True)
                for choice in getattr(chunk, "choices", None) or []:
                    if choice.finish_reason:
                        meta["finish_reason"] = choice.finish_reason
                    piece = choice.delta.content if kind == "chat" else choice.text
                    if piece:
                        pieces.append(piece)
                        yield piece
        except (openai.OpenAIError, httpx2.HTTPError) as exc:
            raise map_error(exc, ctx, midway=True) from exc
        finally:
            await response.close()
        if meta["finish_reason"] is None:
            raise map_error(
                InvokerResponseError(
                    f"The {self.invoker_name} invoker's stream from {ctx.endpoint} ended "
                    "before the model finished (no finish_reason). Retry; if it keeps "
                    "happening, check the server or a proxy in between."
                ),
                ctx,
            )
        self.last_result = ExecutionResult(text="".join(pieces), prepared=data, **meta)


class OpenAIInvoker(OpenAICompatibleInvoker):
    """``openai``: ``base_url`` (optional), ``api_key``, ``name``, ``organization``."""

    invoker_name = "openai"

    def resolve(self) -> Settings:
        config = self.configuration()
        base_url = _text(config.get("base_url"))
        endpoint = display_url(base_url) if base_url else "https://api.openai.com/v1"
        key: Any = config.get("api_key") or os.environ.get("OPENAI_API_KEY")
        if not key and base_url is None:
            raise InvokerConfigError(
                f"The openai invoker has no API key for {endpoint}: set the OPENAI_API_KEY "
                "environment variable, or `api_key: ${env:YOUR_VARIABLE}` in the prompt's "
                "model.configuration."
            )
        model = _text(config.get("name") or config.get("model"))
        if not model:
            raise InvokerConfigError(
                f"The openai invoker needs a model name for {endpoint}: set `name` (for "
                "example gpt-4o-mini) in the prompt's model.configuration."
            )
        return self.build_settings(
            config,
            endpoint,
            model=model,
            key=key,
            key_hint="the API key (configuration `api_key` or the OPENAI_API_KEY variable)",
            base_url=base_url,
            organization=_text(config.get("organization")),
        )


class ServerlessInvoker(OpenAICompatibleInvoker):
    """``serverless``: an OpenAI-compatible ``endpoint``, ``model``, optional ``key``."""

    invoker_name = "serverless"

    def resolve(self) -> Settings:
        config = self.configuration()
        base_url = _text(config.get("endpoint") or config.get("base_url"))
        if not base_url:
            raise InvokerConfigError(
                "The serverless invoker needs an endpoint: set `endpoint` (the base URL of "
                "an OpenAI-compatible API, e.g. http://127.0.0.1:8000/v1) in the prompt's "
                "model.configuration."
            )
        endpoint = display_url(base_url)
        model = _text(config.get("model") or config.get("name"))
        if not model:
            raise InvokerConfigError(
                f"The serverless invoker needs a model name for {endpoint}: set `model` in "
                "the prompt's model.configuration."
            )
        key = config.get("key") or config.get("api_key")
        return self.build_settings(
            config,
            endpoint,
            model=model,
            key=key,
            key_hint="the key (configuration `key`, e.g. `key: ${env:GITHUB_TOKEN}`)",
            base_url=base_url,
        )
