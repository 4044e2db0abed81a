"""Reading a magic's line: words, options, usage errors.

    opts = parse_invoke('"The Eiffel Tower is in" --max-new-tokens 5 --save-all')
    opts.target            # Word(text='The Eiffel Tower is in', quoted=True)
    parse_generate("--trace --out run")
    parse_patch('clean corrupt --sites resid,heads --answer " Paris" --wrong " Rome"')

A bad option raises IPython's ``UsageError``: the usage line and what was wrong, in the
user's own words, with no traceback. Nothing here imports more than the standard library
and IPython, so ``%load_ext`` stays light.
"""

from __future__ import annotations

import argparse
import io
import re
import shlex
from dataclasses import dataclass, field
from typing import Any, NamedTuple, NoReturn

from IPython.core.error import UsageError

__all__ = [
    "BOUND_NAMES",
    "GenerateOptions",
    "InvokeOptions",
    "PatchOptions",
    "Word",
    "parse_generate",
    "parse_invoke",
    "parse_patch",
    "split_words",
]


class Word(NamedTuple):
    """One word of a magic's line; ``quoted`` tells a literal from a variable name."""

    text: str
    quoted: bool = False


@dataclass(kw_only=True)
class GenerateOptions:
    """The options ``%%generate`` and ``%%invoke`` share."""

    model: str | None = None
    max_new_tokens: int | None = None
    trace: bool = False
    save_all: bool = False
    save: list[str] = field(default_factory=list)
    display: bool = True
    out: str | None = None
    line: str = ""


@dataclass(kw_only=True)
class InvokeOptions(GenerateOptions):
    """``%invoke``/``%%invoke``: a TARGET, the invokers to run it on and ``-i`` inputs."""

    target: Word
    invokers: list[str] = field(default_factory=list)
    inputs: list[tuple[str, Word]] = field(default_factory=list)


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

        message = _TAG.sub(user_word, message) + self._quote_hint(message)
        raise UsageError(f"{self.format_usage().strip()}\n{self.prog}: {message}")

    def _quote_hint(self, message: str) -> str:
        """An unquoted prompt of several words reads as TARGET plus stray arguments."""
        if self.prog != "%invoke" or not message.startswith("unrecognized arguments"):
            return ""
        leading: list[str] = []
        for word in self.words:
            if word.quoted or word.text.startswith("-"):
                break
            leading.append(word.text)
        if len(leading) < 2:
            return ""
        prompt = " ".join(leading)
        quoted = f'"{prompt}"' if '"' not in prompt else shlex.quote(prompt)
        return (
            f". A prompt of several words needs quotes, or it reads as TARGET {leading[0]!r} "
            f"and stray words: %invoke {quoted}"
        )


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


@dataclass(kw_only=True)
class PatchOptions:
    """``%patch``: the two prompts (literals or variables) and what to sweep."""

    clean: Word
    corrupt: Word
    sites: list[str]
    layers: list[int] | None = None
    positions: list[int] | None = None
    answer: str | None = None
    wrong: str | None = None
    attribution: bool = False
    model: str | None = None
    out: str | None = None


# The sites of jupyter_invoker.patching, repeated here so a bad --sites is a usage error
# before anything heavy loads (tests/magics/test_patch.py checks the two agree).
PATCH_SITES = ("resid", "attn", "mlp", "heads")

_PATCH = _Parser(
    prog="%patch",
    add_help=False,
    usage="%%patch CLEAN CORRUPT [--sites resid,attn,mlp,heads] [--layers N,N...] "
    "[--positions N,N...] [--answer TOKEN --wrong TOKEN] [--attribution] [--model VAR] "
    "[--out VAR]",
)
_PATCH.add_argument("prompts", nargs="*", metavar="CLEAN CORRUPT")
_PATCH.add_argument("--sites", default="resid", metavar="SITE[,SITE...]")
_PATCH.add_argument("--layers", metavar="N[,N...]")
_PATCH.add_argument("--positions", metavar="N[,N...]")
_PATCH.add_argument("--answer", metavar="TOKEN")
_PATCH.add_argument("--wrong", metavar="TOKEN")
_PATCH.add_argument("--attribution", action="store_true", help="the fast first-order estimate")
_PATCH.add_argument("--model", metavar="VAR", help="the notebook variable holding the model")
_PATCH.add_argument("--out", metavar="VAR", help="also bind the result to VAR")


def _numbers(option: str, value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        numbers = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        numbers = []
    if not numbers:
        _PATCH.error(
            f"{option} takes whole numbers separated by commas (e.g. 0,5,-1), not {value!r}"
        )
    return numbers


def parse_patch(line: str) -> PatchOptions:
    """``%patch`` arguments as :class:`PatchOptions` (UsageError if bad)."""
    args, words = _parse(_PATCH, line)
    prompts = [_word(p, words) for p in args.prompts]
    if len(prompts) != 2:
        got = "none" if not prompts else " ".join(_shown(w) for w in prompts if w)
        _PATCH.error(
            f"CLEAN and CORRUPT are two prompts of the same token length (quoted text or "
            f"variables); got {got}"
        )
    sites = [s.strip() for s in (_word(args.sites, words) or Word("")).text.split(",") if s.strip()]
    unknown = [s for s in sites if s not in PATCH_SITES]
    if unknown or not sites:
        _PATCH.error(f"--sites takes some of {','.join(PATCH_SITES)}, not {args.sites!r}")
    texts = {}
    for name in ("answer", "wrong", "layers", "positions"):
        word = _word(getattr(args, name), words)
        texts[name] = None if word is None else word.text
    clean, corrupt = prompts
    assert clean is not None and corrupt is not None
    return PatchOptions(
        clean=clean,
        corrupt=corrupt,
        sites=sites,
        layers=_numbers("--layers", texts["layers"]),
        positions=_numbers("--positions", texts["positions"]),
        answer=texts["answer"],
        wrong=texts["wrong"],
        attribution=args.attribution,
        model=args.model,
        out=_out(_PATCH, args.out, args.model),
    )
