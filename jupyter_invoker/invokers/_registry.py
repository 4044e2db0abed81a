"""InvokerFactory: the class-level registry of invokers (Prompty's factory).

    @InvokerFactory.register("custom")             # decorator form, returns the class
    class CustomInvoker(Invoker): ...

    InvokerFactory.register("custom", CustomInvoker)
    InvokerFactory.call("custom", prompty, data)   # sync; data handed through unchanged
    await InvokerFactory.call_async("custom", prompty, data)

    InvokerFactory.canonical_name("HuggingFace")   # "local": aliases resolved
    InvokerFactory.is_local("huggingface")         # True: runs on the traced local model
    InvokerFactory.snapshot()                      # what is registered now (see InvokerSnapshot)

Built in: ``local`` (the traced local model; alias ``huggingface``), ``openai``,
``azure`` (alias ``azure_openai``) and ``serverless``. The aliases are
``prompty._config.INVOKER_ALIASES``, the one place they are written. Built-ins are
imported on first lookup, so importing this module loads neither openai nor torch.
Registering over a built-in name (or an alias) replaces it for the rest of the process.

Third-party packages register through the entry-point group
``jupyter_invoker.invokers`` (``name = "package.module:InvokerClass"``); an entry
point is loaded on the first lookup of a name not registered otherwise.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, overload

from ..exceptions import InvokerConfigError, UnknownInvokerError
from ..prompty._config import INVOKER_ALIASES, INVOKER_NAME
from ._base import Invoker
from ._kernels import forget_kernel_invoker, record_kernel_invoker

if TYPE_CHECKING:
    from ..prompty import Prompty

__all__ = ["BUILTINS", "ENTRY_POINT_GROUP", "InvokerFactory", "InvokerSnapshot"]

ENTRY_POINT_GROUP = "jupyter_invoker.invokers"

InvokerT = TypeVar("InvokerT", bound=type[Invoker])

#: The built-in invokers: name -> "module:Class", imported on first lookup.
BUILTINS: dict[str, str] = {
    "azure": "jupyter_invoker.invokers._azure:AzureInvoker",
    "local": "jupyter_invoker.invokers._local:LocalInvoker",
    "openai": "jupyter_invoker.invokers._openai:OpenAIInvoker",
    "serverless": "jupyter_invoker.invokers._openai:ServerlessInvoker",
}
LOCAL = "local"


@dataclass(frozen=True)
class InvokerSnapshot:
    """The registry at one moment (:meth:`InvokerFactory.snapshot`).

    ``invokers``: name -> ``"module:Class"`` of every registered name; ``aliases``:
    alias -> the name it stands for; ``builtin``: the names whose class is still the
    built-in one; ``entry_points``: name -> ``"module:attr"`` of the entry points not
    loaded yet under a name of their own.
    """

    invokers: dict[str, str]
    aliases: dict[str, str]
    builtin: frozenset[str]
    entry_points: dict[str, str]


def _target(entry: type[Invoker] | str) -> str:
    return entry if isinstance(entry, str) else f"{entry.__module__}:{entry.__qualname__}"


def _normalize(name: str) -> str:
    if not isinstance(name, str) or not INVOKER_NAME.match(name.strip().lower()):
        raise InvokerConfigError(
            f"Invoker name {name!r} is not valid; use letters, digits, '_', '-' or '.' "
            "(for example 'custom')."
        )
    return name.strip().lower()


class InvokerFactory:
    """Class-level registry: every method is a classmethod; there is nothing to instantiate."""

    # name -> class, or "module:attr" for a built-in not imported yet
    _registry: ClassVar[dict[str, type[Invoker] | str]] = dict(BUILTINS)
    _aliases: ClassVar[dict[str, str]] = dict(INVOKER_ALIASES)
    _lock: ClassVar[threading.RLock] = threading.RLock()

    @classmethod
    def get_instance(cls) -> type[InvokerFactory]:
        """The factory itself (Prompty's ``getInstance()``; the registry is class-level)."""
        return cls

    # -- registration ------------------------------------------------------------
    @overload
    @classmethod
    def register(cls, name: str) -> Callable[[InvokerT], InvokerT]: ...
    @overload
    @classmethod
    def register(cls, name: str, invoker_cls: InvokerT) -> InvokerT: ...
    @classmethod
    def register(
        cls, name: str, invoker_cls: InvokerT | None = None
    ) -> InvokerT | Callable[[InvokerT], InvokerT]:
        """Register ``invoker_cls`` under ``name`` (replacing any previous one).

        Without ``invoker_cls`` it returns a decorator that registers and returns the class.
        """
        key = _normalize(name)

        def add(klass: InvokerT) -> InvokerT:
            if not (isinstance(klass, type) and issubclass(klass, Invoker)):
                raise InvokerConfigError(
                    f"Cannot register {klass!r} as invoker {key!r}: it must be a class "
                    "deriving from jupyter_invoker.invokers.Invoker."
                )
            cls._add(key, klass)
            # Recorded (in a kernel) so the server's sidebar can offer it too.
            record_kernel_invoker(key, _target(klass))
            return klass

        return add if invoker_cls is None else add(invoker_cls)

    @classmethod
    def unregister(cls, name: str) -> None:
        """Forget ``name`` (a built-in comes back as the default only on restart)."""
        key = _normalize(name)
        with cls._lock:
            if cls._registry.pop(key, None) is None and cls._aliases.pop(key, None) is None:
                raise UnknownInvokerError(cls._unknown_message(key))
        forget_kernel_invoker(key)

    # -- lookup --------------------------------------------------------------------
    @classmethod
    def canonical_name(cls, name: str) -> str:
        """``name`` lower-cased with aliases resolved (``azure_openai`` -> ``azure``,
        ``huggingface`` -> ``local``)."""
        key = _normalize(name)
        return cls._aliases.get(key, key)

    @classmethod
    def is_local(cls, name: str) -> bool:
        """Whether ``name`` runs on the traced local model (``local``, ``huggingface``);
        False for a name that is not a valid invoker name at all."""
        try:
            return cls.canonical_name(name) == LOCAL
        except InvokerConfigError:
            return False

    @classmethod
    def snapshot(cls) -> InvokerSnapshot:
        """What is registered now, copied under the registry's lock (see InvokerSnapshot)."""
        with cls._lock:
            invokers = {name: _target(entry) for name, entry in cls._registry.items()}
            aliases = dict(cls._aliases)
        builtin = frozenset(n for n, target in invokers.items() if BUILTINS.get(n) == target)
        points = {
            ep.name.lower(): ep.value
            for ep in _entry_points()
            if ep.name.lower() not in invokers and ep.name.lower() not in aliases
        }
        return InvokerSnapshot(invokers, aliases, builtin, points)

    @classmethod
    def names(cls) -> list[str]:
        """Every name that can be looked up: registered, aliases, and entry points."""
        found = set(cls._registry) | set(cls._aliases)
        found |= {ep.name.lower() for ep in _entry_points()}
        return sorted(found)

    @classmethod
    def get(cls, name: str) -> type[Invoker]:
        """The invoker class registered under ``name`` (aliases and entry points included)."""
        key = cls.canonical_name(name)
        with cls._lock:
            entry = cls._registry.get(key)
            if entry is None:
                entry = cls._load_entry_point(key)
            if isinstance(entry, str):
                entry = _import_builtin(key, entry)
                cls._registry[key] = entry
            return entry

    @classmethod
    def create(cls, name: str, prompty: Prompty) -> Invoker:
        """A new invoker instance of class ``get(name)`` for ``prompty``."""
        return cls.get(name)(prompty)

    # -- calling ---------------------------------------------------------------------
    @classmethod
    def call(cls, name: str, prompty: Prompty, data: Any) -> Any:
        """Run ``data`` (handed through unchanged) on invoker ``name``, blocking."""
        return cls.create(name, prompty).invoke_sync(data)

    @classmethod
    async def call_async(cls, name: str, prompty: Prompty, data: Any) -> Any:
        """Run ``data`` (handed through unchanged) on invoker ``name``."""
        invoker = cls.create(name, prompty)
        try:
            return await invoker.invoke(data)
        finally:
            await invoker.aclose()

    # -- internals -------------------------------------------------------------------
    @classmethod
    def _add(cls, key: str, klass: type[Invoker]) -> None:
        klass.check_implementation()
        with cls._lock:
            cls._aliases.pop(key, None)
            cls._registry[key] = klass

    @classmethod
    def _unknown_message(cls, key: str) -> str:
        return (
            f"No invoker is registered under {key!r}. Known invokers: "
            f"{', '.join(cls.names())}. Register one with "
            f"InvokerFactory.register({key!r}, YourInvoker) or install a package that "
            f"provides it (entry-point group {ENTRY_POINT_GROUP!r})."
        )

    @classmethod
    def _load_entry_point(cls, key: str) -> type[Invoker]:
        matches = [ep for ep in _entry_points() if ep.name.lower() == key]
        if not matches:
            raise UnknownInvokerError(cls._unknown_message(key))
        ep = matches[0]
        where = f"entry point '{ep.name} = {ep.value}' (group {ENTRY_POINT_GROUP!r})"
        try:
            loaded = ep.load()
        except Exception as exc:
            raise InvokerConfigError(
                f"The invoker {where} failed to load: {type(exc).__name__}: {exc}. "
                "Reinstall or fix the package that declares it."
            ) from exc
        if not (isinstance(loaded, type) and issubclass(loaded, Invoker)):
            raise InvokerConfigError(
                f"The invoker {where} points to {loaded!r}, which is not a subclass of "
                "jupyter_invoker.invokers.Invoker; fix the package that declares it."
            )
        cls._add(key, loaded)  # not recorded as a kernel's: every process sees entry points
        return loaded


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


def _import_builtin(key: str, target: str) -> type[Invoker]:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvokerConfigError(
            f"The built-in invoker {key!r} needs a package that is not installed ({exc.name}): "
            "install it with `pip install jupyter_invoker[dev]` or `pip install openai`."
        ) from exc
    klass: type[Invoker] = getattr(module, attr)
    return klass
