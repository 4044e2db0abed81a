"""``%patch``: an activation-patching sweep (or its attribution estimate) in one line.

    %patch "The Eiffel Tower is in the city of" "The Colosseum is in the city of" --sites resid,heads
    %patch clean corrupt --attribution --answer " Paris" --wrong " Rome" --out estimate

CLEAN and CORRUPT are quoted text or notebook variables (a string, token ids or chat
messages). The heatmap is displayed; the result (a ``PatchResult``) is the cell's value
(not shown a second time) and, with ``--out VAR``, bound to VAR. Everything the magic
cannot run is a ``UsageError``: one line, no traceback.
"""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError

from ..exceptions import PatchingError
from ..patching import attribute, patch
from ._display import suppress_value
from ._names import choose_model, user_names
from ._parse import PatchOptions, Word

__all__ = ["run_patch"]

_MISSING: Any = object()


def _prompt(shell: Any, word: Word, role: str) -> Any:
    """A quoted word is the prompt itself; a bare word names a notebook variable."""
    if word.quoted:
        return word.text
    value = shell.user_ns.get(word.text, _MISSING)
    if value is _MISSING:
        raise UsageError(
            f"%patch {role}: `{word.text}` is not a notebook variable; quote the prompt "
            f'("...") or name a variable holding it. Variables: {user_names(shell, word.text)}.'
        )
    return value


def run_patch(shell: Any, opts: PatchOptions) -> Any:
    """Run the sweep (``--attribution``: the estimate), show it, bind it."""
    __tracebackhide__ = True
    clean = _prompt(shell, opts.clean, "CLEAN")
    corrupt = _prompt(shell, opts.corrupt, "CORRUPT")
    lm = choose_model(shell, opts.model)
    run = attribute if opts.attribution else patch
    try:
        result = run(
            lm, clean, corrupt, sites=opts.sites, layers=opts.layers, positions=opts.positions,
            answer=opts.answer, wrong=opts.wrong,
        )  # fmt: skip
    except PatchingError as exc:
        raise UsageError(f"%patch: {exc}") from None
    try:
        result.show()
    except ModuleNotFoundError as exc:  # plotly comes with the [lab] extra
        print(f"The heatmap needs {exc.name}: pip install 'jupyter_invoker[lab]'.")
    if opts.out:
        shell.user_ns[opts.out] = result
    suppress_value(shell, result)
    return result
