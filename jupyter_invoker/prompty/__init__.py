"""``.prompty`` assets: load, render, resolve configuration.

    from jupyter_invoker.prompty import load, prepare, resolve_configuration

    prompt = load("prompts/weather.prompty")     # relative to the current directory
    prompt.invoker                               # "azure", "openai", ..., or "local"
    prompt.render({"city": "Paris"})             # [{"role": "user", "content": "..."}]
    prepare(prompt, {"city": "Paris"})           # the same
    config = resolve_configuration(prompt)       # ${env:} resolved, keys as Secret
    fast = prompt.with_overrides(invoker="openai", parameters={"temperature": 0})

Both forms load: Prompty's front matter (YAML between ``---`` lines, the template
below) and the all-YAML form of the invokers page (``template: |``). Rendering is
Jinja2 in a sandbox with Prompty 0.1.50's whitespace; an input value can never
create a new chat role (see ``_render``). No key ever shows in a repr or an error.
"""

from __future__ import annotations

from ._loader import load
from ._model import Prompty, PromptyInput, PromptyModel
from ._references import resolve_configuration
from ._render import prepare

__all__ = [
    "Prompty",
    "PromptyInput",
    "PromptyModel",
    "load",
    "prepare",
    "resolve_configuration",
]
