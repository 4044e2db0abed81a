"""``%%invoke``, ``%invoke``, ``%%generate``, ``%invoker`` and ``%patch``: the magics.

    %load_ext jupyter_invoker

    %%invoke "The Eiffel Tower is in the city of" --max-new-tokens 5 --save-all
    print(model.model.layers[10].output.shape)     # the body runs inside the Invoker
    model.model.layers[10].output[:, -1] *= 0      # an intervention on this prompt only

    %invoke prompts/weather.prompty -i city=Seattle --invoker local,serverless

    %%generate --max-new-tokens 3
    with invoke("Madison square garden is located in the city of New"):
        one = model.lm_head.output.save()

    %invoker use serverless for prompts/weather.prompty

    %patch "The Eiffel Tower is in the city of" "The Colosseum is in the city of" --sites resid,heads

A magic goes parse -> plan -> run -> display, one module each, each importing only
the ones before it:

- ``_parse``: the line as options (``UsageError`` with the usage line when bad);
- ``_names``: what the line's words name (TARGET, ``-i`` values, ``--model``);
- ``_plan``: the jobs (which invoker runs what), generation options, the header,
  the kernel's default invoker;
- ``_display``: one display updated in place while text streams;
- ``_body``: the cell body inside the tracing contexts (through the local invoker's
  one run function);
- ``_many``: several invokers side by side;
- ``_run``: ``run_invoke`` / ``run_generate``, the magics' entry points;
- ``_invoker_command``: ``%invoker``;
- ``_patch``: ``%patch`` (a sweep of ``jupyter_invoker.patching``, shown as a heatmap).

This module holds the IPython ``Magics`` class only; the run modules (and torch,
transformers, openai) load when a magic first runs, so ``%load_ext`` stays light.
"""

from __future__ import annotations

from typing import Any

from IPython.core.magic import (
    Magics,
    cell_magic,
    line_cell_magic,
    line_magic,
    magics_class,
    no_var_expand,
)

from . import _display
from ._parse import parse_generate, parse_invoke, parse_patch, split_words

__all__ = ["InvokerMagics", "register", "unregister"]


@magics_class
class InvokerMagics(Magics):
    """The jupyter_invoker magics (registered by ``%load_ext jupyter_invoker``)."""

    # no_var_expand: IPython would otherwise expand $var and {expr} in the line before
    # the magic reads it (splitting "United States" into two words, running a prompt
    # whose {x} was evaluated). The magic reads `-i key=$var` itself.
    @no_var_expand
    @line_cell_magic
    def invoke(self, line: str, cell: str | None = None) -> Any:
        """Run a prompt: ``%%invoke TARGET [options]`` (local, the body runs inside the
        Invoker) or ``%invoke TARGET [options]`` (any invoker).

        TARGET: a quoted prompt, a ``.prompty`` path, or a variable (string, list of
        strings, chat messages, Prompty). Options: ``--model VAR``, ``--invoker
        NAME[,NAME...]``, ``-i/--input KEY=VALUE`` (``$var`` reads a variable),
        ``--max-new-tokens N``, ``--trace``, ``--save-all``, ``--save PATTERN``,
        ``--no-display``, ``--out VAR``.
        """
        __tracebackhide__ = True
        from ._run import run_invoke

        return run_invoke(self.shell, parse_invoke(line), cell or "")

    @no_var_expand
    @cell_magic
    def generate(self, line: str, cell: str) -> Any:
        """``%%generate [options]``: the body runs inside one ``model.generate(...)`` with
        ``model``, ``generator`` and ``invoke`` (= ``generator.invoke``) bound.

        Options: ``--model VAR``, ``--max-new-tokens N``, ``--trace``, ``--save-all``,
        ``--save PATTERN``, ``--no-display``, ``--out VAR`` (not one of the names the
        magic binds: model, generator, invoker, invoke).
        """
        __tracebackhide__ = True
        from ._run import run_generate

        return run_generate(self.shell, parse_generate(line), cell)

    @no_var_expand
    @line_magic
    def invoker(self, line: str) -> Any:
        """``%invoker list | use NAME [for PROMPT] | show [PROMPT] | clear PROMPT``."""
        from ._invoker_command import run_invoker_command

        return run_invoker_command(self.shell, [w.text for w in split_words(line)])

    @no_var_expand
    @line_magic
    def patch(self, line: str) -> Any:
        """``%patch CLEAN CORRUPT [--sites resid,attn,mlp,heads] [--layers N,...]
        [--positions N,...] [--answer TOKEN --wrong TOKEN] [--attribution] [--model VAR]
        [--out VAR]``: the activation-patching heatmap of two prompts of the same token
        length (quoted text or variables); ``--attribution``: its fast estimate."""
        __tracebackhide__ = True
        from ._patch import run_patch

        return run_patch(self.shell, parse_patch(line))


def register(shell: Any) -> None:
    """Register the magics on ``shell`` (loading twice replaces them, harmlessly)."""
    shell.register_magics(InvokerMagics)
    _display.install(shell)


def unregister(shell: Any) -> None:
    """Remove what :func:`register` added."""
    registered = shell.magics_manager.magics
    for kind, names in (("line", ("invoke", "invoker", "patch")), ("cell", ("invoke", "generate"))):
        for name in names:
            registered[kind].pop(name, None)
    shell.magics_manager.registry.pop("InvokerMagics", None)
    _display.uninstall(shell)
