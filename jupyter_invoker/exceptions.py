"""The one exception tree of jupyter_invoker.

Every error the package raises on purpose derives from :class:`JupyterInvokerError`;
backend SDK errors are mapped onto it at the boundary and chained with ``from exc``::

    JupyterInvokerError
    ├── ModelLoadError            the default model could not be fetched, converted or loaded
    ├── TracingError              misuse of Generator / Invoker / module handles
    │   ├── OutOfOrderError       a module read after the model already passed it this step
    │   ├── ModuleNotReachedError a module the run never reached
    │   ├── ModuleAttributeError  no such child module or attribute (also an AttributeError)
    │   ├── ModuleIndexError      a child index out of range (also an IndexError)
    │   └── InvalidInputError     an invoke input that cannot be tokenized
    ├── ViewError                 the activation browser cannot build a view from what the run kept
    ├── PatchingError             patch()/attribute() inputs that cannot work (also a ValueError)
    ├── PromptyError              .prompty assets
    │   ├── PromptyLoadError      unreadable file, malformed YAML / front matter, bad field
    │   ├── PromptyReferenceError ${env:} unset, ${file:} missing or escaping its folder
    │   └── PromptyRenderError    missing input, sandbox violation, role injection
    └── InvokerError              running a prompt on a backend (names invoker + endpoint, never a key)
        ├── UnknownInvokerError   no invoker registered under that name
        ├── InvokerConfigError    missing/invalid configuration (no endpoint, no key, ...)
        ├── InvokerConnectionError endpoint unreachable or timed out
        ├── InvokerAuthError      401 / 403
        ├── InvokerRateLimitError 429 after the bounded retries
        ├── InvokerServerError    5xx after the bounded retries
        └── InvokerResponseError  malformed response, stream cut midway, other 4xx

    ├── BodySyntaxError           a magic's cell body does not compile (shown as a cell's own)
    RunInterrupted (a KeyboardInterrupt) a run stopped by Ctrl-C / the kernel's stop button

Messages are sentences: what happened, the offending value, what to do. In IPython each
one shows as its message and the user's line, not a page of frames (``%tb`` shows them).
"""

from __future__ import annotations

from . import _traceback

__all__ = [
    "BodySyntaxError",
    "InvalidInputError",
    "InvokerAuthError",
    "InvokerConfigError",
    "InvokerConnectionError",
    "InvokerError",
    "InvokerRateLimitError",
    "InvokerResponseError",
    "InvokerServerError",
    "JupyterInvokerError",
    "ModelLoadError",
    "ModuleAttributeError",
    "ModuleIndexError",
    "ModuleNotReachedError",
    "OutOfOrderError",
    "PatchingError",
    "PromptyError",
    "PromptyLoadError",
    "PromptyReferenceError",
    "PromptyRenderError",
    "RunInterrupted",
    "TracingError",
    "UnknownInvokerError",
    "ViewError",
]


class _ShortInIPython:
    """IPython renders these as the message and the user's line (``%tb``: everything)."""

    def _render_traceback_(self) -> list[str]:
        assert isinstance(self, BaseException)
        return _traceback.render(self)


class JupyterInvokerError(_ShortInIPython, Exception):
    """Base class of every error raised by jupyter_invoker."""


class RunInterrupted(_ShortInIPython, KeyboardInterrupt):
    """A run was interrupted; the model, its hooks and the kernel are as before it.

    A ``KeyboardInterrupt``, so code that catches one catches this too."""


class ModelLoadError(JupyterInvokerError):
    """The default model could not be fetched, converted or loaded."""


class TracingError(JupyterInvokerError):
    """A Generator / Invoker / module handle was used in a way that cannot work."""


class OutOfOrderError(TracingError):
    """A module output was requested after the model had already passed that module."""


class ModuleNotReachedError(TracingError):
    """A module output was requested that the run never produced."""


class ModuleAttributeError(TracingError, AttributeError):
    """A module handle has no child module or attribute of that name."""


class ModuleIndexError(TracingError, IndexError):
    """A module handle's child index is out of range (``model.model.layers[999]``)."""


class InvalidInputError(TracingError):
    """An invoke input has a type or shape that cannot be turned into token ids."""


class ViewError(JupyterInvokerError, ValueError):
    """The activation browser cannot build a view: nothing saved, a module path that was
    not saved, a view needing data the run did not keep, an unknown architecture."""


class PatchingError(JupyterInvokerError, ValueError):
    """A patching sweep or attribution cannot run as asked: prompts of different token
    lengths, an unknown site, layers or positions out of range, a metric that does not
    return one number per row."""


class PromptyError(JupyterInvokerError):
    """A .prompty asset could not be loaded or rendered."""


class PromptyLoadError(PromptyError):
    """The file is unreadable, malformed, or has an invalid field."""


class PromptyReferenceError(PromptyError):
    """A ``${env:...}`` or ``${file:...}`` reference cannot be resolved."""


class PromptyRenderError(PromptyError):
    """Rendering failed: a missing input, a sandbox violation, a role injection."""


class InvokerError(JupyterInvokerError):
    """Running a prompt on a backend failed."""


class UnknownInvokerError(InvokerError, LookupError):
    """No invoker is registered under the requested name."""


class InvokerConfigError(InvokerError):
    """The invoker's configuration is missing or invalid."""


class InvokerConnectionError(InvokerError):
    """The endpoint could not be reached or did not answer in time."""


class InvokerAuthError(InvokerError):
    """The endpoint refused the credentials (401/403)."""


class InvokerRateLimitError(InvokerError):
    """The endpoint kept answering 429 after the bounded retries."""


class InvokerServerError(InvokerError):
    """The endpoint kept failing with 5xx after the bounded retries."""


class InvokerResponseError(InvokerError):
    """The endpoint answered something unusable (bad body, cut stream, other 4xx)."""


class BodySyntaxError(JupyterInvokerError):
    """A magic's cell body does not compile. IPython shows it as it shows a syntax error
    typed in a cell (the line and a caret), not as an error raised inside the magic; the
    ``SyntaxError`` itself is the ``__cause__``."""

    def __init__(self, error: SyntaxError, shell: object = None) -> None:
        super().__init__(f"{type(error).__name__} in the cell body: {error}")
        self.error = error
        self._shell = shell

    def _render_traceback_(self) -> list[str]:
        syntax_tb = getattr(self._shell, "SyntaxTB", None)
        if syntax_tb is None or _traceback.asked_by_tb_magic():
            return _traceback.render(self)
        error = self.error
        return [*syntax_tb.structured_traceback(type(error), error, []),
                "(%tb shows the full traceback)"]  # fmt: skip
