"""``%%invoke``, ``%invoke``, ``%%generate`` and ``%invoker``: parse, then hand off.

    %load_ext jupyter_invoker

    %%invoke "The Eiffel Tower is in the city of" --max-new-tokens 5 --save-all
    print(model.model.layers[10].output.shape)     # the body runs inside the Invoker
    model.model.layers[10].output[:, -1] *= 0      # an intervention on this prompt only

    %invoke prompts/weather.prompty -i city=Seattle --invoker local,serverless

    %%generate --max-new-tokens 3
    with invoke("Madison square garden is located in the city of New"):
        one = model.lm_head.output.save()

    %invoker use serverless for prompts/weather.prompty

This module only reads the command line; ``_run_magic`` builds the contexts and runs
them, ``_invoker_command`` reads and writes the selection store, ``_display`` shows
the result. A bad option raises IPython's ``UsageError``: the usage line and what was
wrong, no traceback.
"""

from __future__ import annotations

import argparse
import io
import re
import shlex
from typing import Any, NoReturn

from IPython.core.error import UsageError
from IPython.core.magic import (
    Magics,
    cell_magic,
    line_cell_magic,
    line_magic,
    magics_class,
    no_var_expand,
)

from ._magic_names import Word
from ._run_magic import GenerateOptions, InvokeOptions, run_generate, run_invoke

__all__ = ["InvokerMagics", "parse_generate", "parse_invoke", "split_words"]


def split_words(line: str) -> list[Word]:
    """Shell-like words of ``line``, each marked with whether it was quoted."""
    stream = io.StringIO(line)
    lexer = shlex.shlex(stream, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    words: list[Word] = []
    start = 0
    try:
        while (token := lexer.get_token()) is not None:
            end = stream.tell()
            raw = line[start:end].lstrip()
            words.append(Word(token, quoted=raw[:1] in {"'", '"'}))
            start = end
    except ValueError as exc:  # "No closing quotation", "No escaped character"
        raise UsageError(
            f"Could not read the magic's arguments ({exc}): {line.strip()!r}."
        ) from None
    return words


# Names the magics bind in the notebook themselves: ``--out`` may not take them.
BOUND_NAMES = ("model", "generator", "invoker", "invoke")
_TAG = re.compile(r"'\\x00(\d+)'|\x00(\d+)")  # a placeholder, bare or as repr() shows it


def _shown(word: Word) -> str:
    """A word as the user wrote it: quoted words in quotes."""
    if not word.quoted:
        return word.text
    return f'"{word.text}"' if '"' not in word.text else shlex.quote(word.text)


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError (usage line + what was wrong) instead of exiting.

    No abbreviations: ``--save`` is ``--save``, never a prefix of ``--save-all``."""

    words: list[Word] = []

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_abbrev=False, **kwargs)

    def error(self, message: str) -> NoReturn:
        words = self.words

        def user_word(match: re.Match[str]) -> str:
            index = int(match.group(1) or match.group(2))
            return _shown(words[index]) if index < len(words) else match.group(0)

        message = _TAG.sub(user_word, message)
        raise UsageError(f"{self.format_usage().strip()}\n{self.prog}: {message}")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, not {text!r}")
    return value


def _local_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", metavar="VAR", help="the notebook variable holding the model")
    parser.add_argument("--max-new-tokens", type=_positive, metavar="N")
    parser.add_argument("--trace", action="store_true", help="one forward pass, no generation")
    parser.add_argument("--save-all", action="store_true", help="save every module, every step")
    parser.add_argument("--save", action="append", default=[], metavar="PATTERN")
    parser.add_argument("--no-display", action="store_true", help="show nothing while running")
    parser.add_argument("--out", metavar="VAR", help="also bind the result to VAR")


_INVOKE = _Parser(
    prog="%invoke",
    add_help=False,
    usage="%%invoke TARGET [--model VAR] [--invoker NAME[,NAME...]] [-i KEY=VALUE]... "
    "[--max-new-tokens N] [--trace] [--save-all] [--save PATTERN]... [--no-display] [--out VAR]",
)
_INVOKE.add_argument("target", nargs="?", metavar="TARGET")
_local_options(_INVOKE)
_INVOKE.add_argument("--invoker", metavar="NAME[,NAME...]")
_INVOKE.add_argument("-i", "--input", action="append", default=[], metavar="KEY=VALUE")

_GENERATE = _Parser(
    prog="%%generate",
    add_help=False,
    usage="%%%%generate [--model VAR] [--max-new-tokens N] [--trace] [--save-all] "
    "[--save PATTERN]... [--no-display] [--out VAR]",
)
_local_options(_GENERATE)


def _parse(parser: _Parser, line: str) -> tuple[argparse.Namespace, list[Word]]:
    words = split_words(line)
    # Each word goes to argparse as a placeholder, so a quoted word is never taken for an
    # option ("-1 degrees") and its quoting survives to tell a literal from a variable.
    # Error messages show the user's own words again (_Parser.error).
    tags = [f"\x00{i}" if word.quoted else word.text for i, word in enumerate(words)]
    parser.words = words
    args = parser.parse_args(tags)
    for name in ("model", "out", "invoker"):
        word = _word(getattr(args, name, None), words)
        if word is not None:
            setattr(args, name, word.text)
    return args, words


def _word(value: str | None, words: list[Word]) -> Word | None:
    if value is None:
        return None
    if value.startswith("\x00"):
        return words[int(value[1:])]
    return Word(value, quoted=False)


def _out(parser: argparse.ArgumentParser, name: str | None, model: str | None) -> str | None:
    if name is None:
        return None
    if not name.isidentifier():
        parser.error(f"--out needs a variable name, not {name!r}")
    if name in BOUND_NAMES or name == model:
        why = "holds the --model" if name == model else "is a name the magic binds itself"
        parser.error(
            f"--out {name}: `{name}` {why} ({', '.join(BOUND_NAMES)}); binding the result "
            "there would break the next magic. Choose another name (e.g. --out result)"
        )
    return name


def parse_invoke(line: str) -> InvokeOptions:
    """``%invoke`` / ``%%invoke`` arguments as :class:`InvokeOptions` (UsageError if bad)."""
    args, words = _parse(_INVOKE, line)
    target = _word(args.target, words)
    if target is None:
        _INVOKE.error("TARGET is missing: give a quoted prompt, a .prompty path or a variable")
    inputs: list[tuple[str, Word]] = []
    for raw in args.input:
        item = _word(raw, words)
        assert item is not None
        key, sep, value = item.text.partition("=")
        if not sep or not key.strip().isidentifier():
            _INVOKE.error(f"-i/--input takes KEY=VALUE (e.g. -i city=Seattle), not {item.text!r}")
        inputs.append((key.strip(), Word(value, quoted=item.quoted)))
    invokers = [n.strip() for n in (args.invoker or "").split(",") if n.strip()]
    if args.invoker is not None and not invokers:
        _INVOKE.error("--invoker needs a name such as local, openai or serverless")
    return InvokeOptions(
        target=target,
        invokers=invokers,
        inputs=inputs,
        **_shared_options(_INVOKE, args, words, line),
    )


def parse_generate(line: str) -> GenerateOptions:
    """``%%generate`` arguments as :class:`GenerateOptions` (UsageError if bad)."""
    args, words = _parse(_GENERATE, line)
    return GenerateOptions(**_shared_options(_GENERATE, args, words, line))


def _shared_options(
    parser: argparse.ArgumentParser, args: argparse.Namespace, words: list[Word], line: str
) -> dict[str, Any]:
    """The fields of :class:`GenerateOptions`, which both magics take."""
    return {
        "model": args.model,
        "max_new_tokens": args.max_new_tokens,
        "trace": args.trace,
        "save_all": args.save_all,
        "save": [w.text for w in (_word(p, words) for p in args.save) if w is not None],
        "display": not args.no_display,
        "out": _out(parser, args.out, args.model),
        "line": line,
    }


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
        return run_generate(self.shell, parse_generate(line), cell)

    @no_var_expand
    @line_magic
    def invoker(self, line: str) -> Any:
        """``%invoker list | use NAME [for PROMPT] | show [PROMPT] | clear PROMPT``."""
        from ._invoker_command import run_invoker_command

        return run_invoker_command(self.shell, [w.text for w in split_words(line)])


def register(shell: Any) -> None:
    """Register the magics on ``shell`` (loading twice replaces them, harmlessly)."""
    from . import _display

    shell.register_magics(InvokerMagics)
    _display.install(shell)


def unregister(shell: Any) -> None:
    """Remove what :func:`register` added."""
    from . import _display

    registered = shell.magics_manager.magics
    for kind, names in (("line", ("invoke", "invoker")), ("cell", ("invoke", "generate"))):
        for name in names:
            registered[kind].pop(name, None)
    shell.magics_manager.registry.pop("InvokerMagics", None)
    _display.uninstall(shell)
