#!/usr/bin/env python3
"""Writes one corpus test per shipped pipeline: test/corpus/pipelines.txt and
test/corpus/stdlib.txt.

Each `.advp` file in the repository's pipelines/ and stdlib/ folders is parsed
with the tree-sitter CLI (`tree-sitter parse --no-ranges`, run in this grammar's
folder so it builds and uses this grammar); the file's text becomes the test's
input and the tree becomes its expected output. A file whose tree has an ERROR
or MISSING node stops the script: the grammar must be fixed first.

Usage (from anywhere):

    editors/tree-sitter-advp/scripts/corpus-from-pipelines.py

The CLI is `$TREE_SITTER` if set, otherwise `tree-sitter` on PATH. Run
`tree-sitter generate --abi 14` first if grammar.js changed, and commit the two corpus
files with the regenerated parser.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

GRAMMAR_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = GRAMMAR_DIR.parent.parent
CORPUS_DIR = GRAMMAR_DIR / "test" / "corpus"
FOLDERS = ["pipelines", "stdlib"]
RULE = 80
# A line that tree-sitter's corpus format would read as a header or divider.
DELIMITER = re.compile(r"^(===|---)")


def parse(cli: str, path: Path) -> str:
    result = subprocess.run(
        [cli, "parse", "--no-ranges", str(path)],
        cwd=GRAMMAR_DIR,
        capture_output=True,
        text=True,
    )
    tree = result.stdout.strip()
    if result.returncode != 0 or "ERROR" in tree or "MISSING" in tree:
        sys.exit(
            f"{path.relative_to(REPO_ROOT)} does not parse cleanly "
            f"(exit {result.returncode}):\n{tree}\n{result.stderr}"
        )
    if not tree.startswith("(source_file"):
        sys.exit(f"unexpected output for {path}:\n{tree}\n{result.stderr}")
    return tree


def main() -> None:
    cli = os.environ.get("TREE_SITTER", "tree-sitter")
    CORPUS_DIR.mkdir(parents=True, exist_ok=True)
    for folder in FOLDERS:
        files = sorted((REPO_ROOT / folder).glob("*.advp"))
        if not files:
            sys.exit(f"no .advp files in {REPO_ROOT / folder}")
        cases = []
        for path in files:
            text = path.read_text(encoding="utf-8")
            for n, line in enumerate(text.splitlines(), 1):
                if DELIMITER.match(line):
                    sys.exit(
                        f"{path}:{n}: a line starting with === or --- would end "
                        "the corpus test early"
                    )
            if not text.endswith("\n"):
                text += "\n"
            name = f"{folder}/{path.name}"
            cases.append(
                "=" * RULE + "\n"
                + name + "\n"
                + "=" * RULE + "\n\n"
                # The CLI strips the one newline before the divider, so the
                # input is the file's text exactly.
                + text + "\n"
                + "-" * RULE + "\n\n"
                + parse(cli, path) + "\n"
            )
        out = CORPUS_DIR / f"{folder}.txt"
        out.write_text("\n".join(cases), encoding="utf-8")
        print(f"wrote {out.relative_to(REPO_ROOT)} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
