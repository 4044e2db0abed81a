"""The loaded prompt: :class:`Prompty`, its :class:`PromptyModel` and :class:`PromptyInput`.

    prompt = load("weather.prompty")
    prompt.invoker                      # "azure" -- the backend the file asks for
    prompt.model.configuration          # {"azure_endpoint": ..., "api_key": Secret('***')}
    prompt.render({"city": "Paris"})    # [{"role": "user", "content": "..."}]
    other = prompt.with_overrides(invoker="openai", parameters={"temperature": 0})

A loaded prompt is never changed by this package: overrides return a copy.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._secrets import Secret
from ._config import canonical_invoker, invoker_name, normalize_configuration
from ._render import render

__all__ = ["Prompty", "PromptyInput", "PromptyModel", "copy_data"]


def copy_data(value: Any) -> Any:
    """A deep copy of plain YAML/JSON data that keeps :class:`Secret` objects as they are.

    ``copy.deepcopy`` cannot be used directly: a ``Secret`` refuses to be pickled, and
    it is immutable, so sharing it between copies is safe.
    """
    if isinstance(value, Secret):
        return value
    if isinstance(value, dict):
        return {key: copy_data(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_data(item) for item in value]
    if isinstance(value, tuple):
        return tuple(copy_data(item) for item in value)
    return copy.deepcopy(value)


@dataclass
class PromptyInput:
    """One entry of the ``inputs:`` section (``type``, ``default``, ``description``, ``required``)."""

    type: str | None = None
    default: Any = None
    has_default: bool = False  # `default: null` is a default; an absent key is not
    description: str = ""
    required: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class PromptyModel:
    """The ``model:`` section.

    ``api`` is kept as written: ``chat``/``completion`` in Prompty's front-matter form,
    an invoker name (``azure``, ``openai``, ...) in the all-YAML form. ``configuration``
    uses the snake_case field names of its invoker; values under key-like names are
    :class:`Secret`; ``${env:...}`` references are kept (see ``resolve_configuration``).
    """

    api: str = ""
    configuration: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(repr=False)
class Prompty:
    """A loaded ``.prompty`` asset (build one with :func:`load`)."""

    path: Path
    template: str
    name: str = ""
    description: str = ""
    authors: list[str] = field(default_factory=list)
    version: str = ""
    base: str = ""
    model: PromptyModel = field(default_factory=PromptyModel)
    sample: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, PromptyInput] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    template_format: str = "jinja2"
    template_parser: str = "prompty"
    api: str = "chat"  # "chat" or "completion": what render() returns
    extra: dict[str, Any] = field(default_factory=dict)
    template_line: int = 1  # line of the file holding the template's first line
    #: Where a ``model.configuration`` field came from when not from the file itself
    #: ("connection 'work-openai' in the invoker store /.../selections.json"): an unset
    #: ``${env:}`` in it is blamed on that place, not on the file.
    configuration_sources: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def invoker(self) -> str:
        """The invoker this prompt asks for: ``configuration.type``, a non-chat ``model.api``, or ``local``."""
        return invoker_name(self.model.configuration, self.model.api)

    def render(self, inputs: Mapping[str, Any] | None = None) -> list[dict[str, str]] | str:
        """The chat messages (``[{"role", "content"}, ...]``) or, for completion prompts, the text.

        Inputs are merged as: ``inputs`` given here > ``inputs.<name>.default`` > ``sample``.
        """
        return render(self, inputs)

    def with_overrides(
        self,
        *,
        invoker: str | None = None,
        configuration: Mapping[str, Any] | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> Prompty:
        """A deep copy using another invoker and/or configuration/parameters merged over these.

        This prompt itself never changes.
        """
        new = self.copy()
        target = new.invoker
        config = dict(new.model.configuration)
        if invoker is not None:
            if not isinstance(invoker, str) or not invoker.strip():
                raise TypeError(
                    f"invoker must be a non-empty string such as 'openai', got {invoker!r}"
                )
            target = canonical_invoker(invoker)
            config["type"] = target
        if configuration is not None:
            if not isinstance(configuration, Mapping):
                raise TypeError("configuration must be a mapping of configuration fields")
            extra = normalize_configuration(
                copy_data(dict(configuration)), target, where="the configuration override"
            )
            config.update(extra)
            for key in extra:
                new.configuration_sources[key] = "the configuration override"
        new.model.configuration = normalize_configuration(
            config, target, where="the configuration override"
        )
        if parameters is not None:
            if not isinstance(parameters, Mapping):
                raise TypeError("parameters must be a mapping of model parameters")
            new.model.parameters.update(copy_data(dict(parameters)))
        return new

    def copy(self) -> Prompty:
        """A deep copy (secrets shared, they are immutable)."""
        return dataclasses.replace(
            self,
            authors=list(self.authors),
            model=PromptyModel(
                api=self.model.api,
                configuration=copy_data(self.model.configuration),
                parameters=copy_data(self.model.parameters),
                extra=copy_data(self.model.extra),
            ),
            sample=copy_data(self.sample),
            inputs={
                name: dataclasses.replace(
                    spec, default=copy_data(spec.default), extra=copy_data(spec.extra)
                )
                for name, spec in self.inputs.items()
            },
            outputs=copy_data(self.outputs),
            extra=copy_data(self.extra),
            configuration_sources=dict(self.configuration_sources),
        )

    def __repr__(self) -> str:
        # Deliberately short: no configuration values (and so no key) in here.
        return (
            f"Prompty(name={self.name!r}, invoker={self.invoker!r}, api={self.api!r}, "
            f"path={str(self.path)!r})"
        )
