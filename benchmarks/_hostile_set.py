"""The 20 hostile files and four hostile requests of ``bench_server.py --only hostile``.

    paths = add_hostile(root)      # writes them under root/project0/hostile/
    for method, route, body in HOSTILE_REQUESTS: ...   # each must answer 400

One of each kind a cloned workspace was seen to hold (issue 14): YAML that nests,
expands or refers to itself without end, values JSON cannot carry, files that are no
regular files or are far too large, templates that loop or build without end, an
environment reference where none belongs, a deep ``${file:}`` JSON. The server and
prompty tests prove the same strings refused with their limit error.
"""

from __future__ import annotations

import os
from pathlib import Path

LOOPS = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
LAUGHS = (
    "---\nname: laughs\nsample:\n  a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + "".join(
        f"  {n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "---\nuser:\nhi\n"
)
HOSTILE = {
    "api-space": "---\nname: a\nmodel:\n  api: gpt 4\n---\nhi\n",
    "type-space": "---\nname: t\nmodel:\n  configuration:\n    type: my invoker\n---\nhi\n",
    "deep-block": "---\nname: d\nx:\n"
    + "".join("  " * i + f"  k{i}:\n" for i in range(500))
    + "---\nhi\n",
    "deep-flow": "---\nname: f\nx: " + "[" * 20000 + "\n---\nhi\n",
    "binary": "---\nname: b\ninputs:\n  x:\n    default: !!binary aGk=\n---\n{{x}}\n",
    "set": "---\nname: s\ninputs:\n  x:\n    default: !!set {a, b}\n---\n{{x}}\n",
    "nan": "---\nname: n\ninputs:\n  x:\n    default: .nan\n---\n{{x}}\n",
    "inf": "---\nname: i\nsample:\n  x: .inf\n---\n{{x}}\n",
    "laughs": LAUGHS,
    "self-alias": "---\nname: r\nsample: &s\n  me: *s\n---\nhi\n",
    "loops": f"---\nname: l\n---\nuser:\n{LOOPS}\n",
    "mul": "---\nname: m\n---\nuser:\n{{ 'a' * 200000000 }}\n",
    "doubling": "---\nname: d\n---\nuser:\n{% set ns = namespace(s='a') %}"
    "{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}\n",
    "center": "---\nname: c\n---\nuser:\n{{ 'a'|center(1000000000) }}\n",
    "power": "---\nname: p\n---\nuser:\n{{ 2 ** 10000000000 }}\n",
    "replace": "---\nname: r\n---\nuser:\n{% set s = 'a' * 100000 %}{{ s.replace('a', s) }}\n",
    "deep-json": "---\nname: j\nsample: ${file:deep.json}\n---\nhi\n",
    "env-sample": "---\nname: e\nsample:\n  t: ${env:HOME}\n---\n{{ t }}\n",
}
HOSTILE_REQUESTS = [
    (
        "POST",
        "connections",
        '{"name": "c", "invoker": "serverless", "configuration": {"timeout": 1e999}}',
    ),
    (
        "PUT",
        "selections/project0/prompts/prompt0.prompty",
        '{"invoker": "local", "configuration": {"t": NaN}}',
    ),
    (
        "POST",
        "connections",
        '{"name": "c", "invoker": "openai", "configuration": {"base_url": "http://u:PASSWORD@h/v1"}}',
    ),
    (
        "POST",
        "connections",
        '{"name": "c", "invoker": "openai", "key_env": "ghp_LEAKLEAKLEAKLEAKLEAK0123456789"}',
    ),
]


def add_hostile(root: Path) -> list[str]:
    """Write the 20 hostile files of the module docstring; returns their paths."""
    folder = root / "project0" / "hostile"
    folder.mkdir(parents=True)
    for name, text in HOSTILE.items():
        (folder / f"{name}.prompty").write_text(text)
    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    os.mkfifo(folder / "fifo.prompty")
    with (folder / "huge.prompty").open("wb") as handle:
        handle.write(b"---\nname: huge\n---\n")
        handle.truncate(50 * 1024 * 1024)  # sparse: costs no disk
    names = [*HOSTILE, "fifo", "huge"]
    return [f"project0/hostile/{name}.prompty" for name in names]
