"""SDK errors -> the InvokerError tree, and the bounded retry loop.

    ctx = CallContext(invoker="openai", endpoint="https://api.openai.com/v1",
                      key_hint="configuration `api_key` or OPENAI_API_KEY")
    response = await with_retries(lambda: client.chat.completions.create(...), ctx)

Mapping (``map_error``): connection failures and timeouts -> InvokerConnectionError;
401/403 -> InvokerAuthError; 429 -> InvokerRateLimitError; 5xx ->
InvokerServerError; any other 4xx, an unusable body or a stream cut midway ->
InvokerResponseError. Every message names the invoker, the endpoint and what to do,
and is passed through ``redact`` with the call's secrets, so a key echoed back by a
server never reaches the user.

Retries: only 429 and 5xx, at most ``max_retries`` times (default 2), backing off
0.5 s, 1 s, ... or by the server's ``Retry-After`` capped at ``RETRY_AFTER_CAP``;
never longer than ``retry_budget`` seconds in all. The SDK's own retries are off
(``max_retries=0`` on the client) so they cannot multiply the time to fail.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx2
import openai

from .._secrets import redact, redact_json
from ..exceptions import (
    InvokerAuthError,
    InvokerConfigError,
    InvokerConnectionError,
    InvokerError,
    InvokerRateLimitError,
    InvokerResponseError,
    InvokerServerError,
)

__all__ = ["RETRY_AFTER_CAP", "CallContext", "map_error", "with_retries"]

log = logging.getLogger("jupyter_invoker.invokers")

T = TypeVar("T")

RETRY_AFTER_CAP = 5.0
_BACKOFF_BASE = 0.5
_DETAIL_MAX = 300


@dataclass(frozen=True)
class CallContext:
    """What an error message needs to know about one call (never the key itself)."""

    invoker: str
    endpoint: str
    key_hint: str = "the API key in the configuration"
    timeout: float = 60.0
    connect_timeout: float | None = None  # when the client has its own, shorter one
    max_retries: int = 2
    retry_budget: float = 10.0
    secrets: tuple[Any, ...] = field(default=(), repr=False)

    def clean(self, text: str) -> str:
        return redact(text, *self.secrets)


def _server_detail(exc: openai.APIError) -> str:
    body = exc.body
    detail: Any = None
    if isinstance(body, dict):
        error = body.get("error")
        detail = error.get("message") if isinstance(error, dict) else error
        detail = detail or body.get("detail") or body.get("message")
    elif isinstance(body, str) and body.strip():
        detail = body
    text = str(detail or exc.message or type(exc).__name__).strip()
    return text if len(text) <= _DETAIL_MAX else text[: _DETAIL_MAX - 3] + "..."


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    """``exc`` and what it was raised from or during, outermost first (each once)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _connect_timed_out(exc: BaseException) -> bool:
    """Whether the timeout was the connection's (nothing accepted it), not the answer's."""
    return any(isinstance(link, httpx2.ConnectTimeout) for link in _chain(exc))


def map_error(
    exc: BaseException, ctx: CallContext, *, retries: int = 0, midway: bool = False
) -> InvokerError:
    """The InvokerError for ``exc`` (raise it ``from exc``).

    ``midway``: the response had started (a stream): a dropped connection then means
    a cut response, not an unreachable endpoint.
    """
    who = f"The {ctx.invoker} invoker"
    after = f" after {retries} retr{'y' if retries == 1 else 'ies'}" if retries else ""
    error: InvokerError
    if isinstance(exc, InvokerError):
        exc.args = tuple(ctx.clean(a) if isinstance(a, str) else a for a in exc.args)
        return exc
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException) and _connect_timed_out(
        exc
    ):
        limit = ctx.connect_timeout if ctx.connect_timeout is not None else ctx.timeout
        error = InvokerConnectionError(
            f"{who} could not connect to {ctx.endpoint} within {limit:g} s. Check the "
            "address and that the host is reachable (a firewall drops a connection "
            "silently), or raise configuration `connect_timeout` (or the "
            "JUPYTER_INVOKER_CONNECT_TIMEOUT environment variable)."
        )
    elif isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
        error = InvokerConnectionError(
            f"{who} got no answer from {ctx.endpoint} within {ctx.timeout:g} s. Check that "
            "the server is up and not overloaded, or raise configuration `timeout` "
            "(or the JUPYTER_INVOKER_TIMEOUT environment variable)."
        )
    elif midway and isinstance(exc, openai.APIConnectionError | httpx2.TransportError):
        cut = exc.__cause__ or exc.__context__ or exc
        error = InvokerResponseError(
            f"{who} lost the response from {ctx.endpoint} midway ({type(cut).__name__}: "
            f"{cut}). Retry; if it keeps happening, check the server or a proxy in between."
        )
    elif isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        reason = f"{type(cause).__name__}: {cause}" if cause is not None else exc.message
        error = InvokerConnectionError(
            f"{who} could not connect to {ctx.endpoint} ({reason}). Check that the "
            "server is running and that the endpoint in the configuration is right."
        )
    elif isinstance(exc, openai.APIStatusError):
        status, detail = exc.status_code, _server_detail(exc)
        if status in (401, 403):
            error = InvokerAuthError(
                f"{who} was refused by {ctx.endpoint} (HTTP {status}: {detail}). Check "
                f"{ctx.key_hint}, and that the key may use this model."
            )
        elif status == 429:
            error = InvokerRateLimitError(
                f"{who} was rate limited by {ctx.endpoint} (HTTP 429{after}: {detail}). "
                "Wait a little and retry, lower the concurrency, or raise your quota."
            )
        elif status >= 500:
            error = InvokerServerError(
                f"{who} got a server error from {ctx.endpoint} (HTTP {status}{after}: "
                f"{detail}). The service is failing; retry later or check the server's log."
            )
        else:
            hint = (
                "Check the endpoint and the model / deployment name."
                if status == 404
                else "Check the model name and the parameters in the prompt's `model` section."
            )
            error = InvokerResponseError(
                f"{who} had its request rejected by {ctx.endpoint} (HTTP {status}: "
                f"{detail}). {hint}"
            )
    elif isinstance(exc, openai.OpenAIError) and not isinstance(exc, openai.APIError):
        error = InvokerConfigError(
            f"{who} could not set up a client for {ctx.endpoint} ({exc}). Check the "
            "prompt's `model.configuration`."
        )
    elif isinstance(exc, openai.APIError):
        error = InvokerResponseError(
            f"{who} got a response from {ctx.endpoint} it cannot use ({_server_detail(exc)}). "
            "Check that the endpoint speaks the OpenAI API."
        )
    elif isinstance(exc, httpx2.HTTPError):
        error = InvokerResponseError(
            f"{who} lost the response from {ctx.endpoint} midway ({type(exc).__name__}: "
            f"{exc}). Retry; if it keeps happening, check the server or a proxy in between."
        )
    else:
        error = InvokerResponseError(
            f"{who} got an unusable response from {ctx.endpoint} ({type(exc).__name__}: "
            f"{exc}). Check that the endpoint speaks the OpenAI API."
        )
    error.args = (ctx.clean(str(error.args[0])),)
    _scrub(exc, ctx)
    return error


def _scrub(exc: BaseException | None, ctx: CallContext) -> None:
    """Redact the secrets from ``exc`` and its chain: they show in our traceback."""
    if not ctx.secrets:
        return
    for link in _chain(exc):
        link.args = tuple(ctx.clean(a) if isinstance(a, str) else a for a in link.args)
        if isinstance(getattr(link, "message", None), str):
            link.message = ctx.clean(link.message)  # type: ignore[attr-defined]
        if isinstance(link, openai.APIError):
            link.body = redact_json(link.body, *ctx.secrets)


def _retry_after(exc: openai.APIStatusError) -> float | None:
    headers = exc.response.headers
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return float(millis) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        try:
            return email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None


def _delay(exc: openai.APIStatusError, attempt: int) -> float:
    hinted = _retry_after(exc)
    if hinted is not None:
        return min(max(hinted, 0.0), RETRY_AFTER_CAP)
    return _BACKOFF_BASE * float(2**attempt) + random.uniform(0, 0.1)


async def with_retries(call: Callable[[], Awaitable[T]], ctx: CallContext) -> T:
    """Await ``call()``, retrying 429/5xx within the bounds of ``ctx``; map every error."""
    started = time.monotonic()
    attempt = 0
    while True:
        try:
            return await call()
        except (openai.RateLimitError, openai.InternalServerError) as exc:
            delay = _delay(exc, attempt)
            spent = time.monotonic() - started
            if attempt >= ctx.max_retries or spent + delay > ctx.retry_budget:
                raise map_error(exc, ctx, retries=attempt) from exc
            attempt += 1
            log.info(
                "%s invoker: HTTP %s from %s, retry %d/%d in %.2f s",
                ctx.invoker,
                exc.status_code,
                ctx.endpoint,
                attempt,
                ctx.max_retries,
                delay,
            )
            await asyncio.sleep(delay)
        except (openai.OpenAIError, httpx2.HTTPError) as exc:
            raise map_error(exc, ctx, retries=attempt) from exc
