#!/usr/bin/env python3
"""Makes docs/dataflow.md from docs/dataflow.src.md: each {{function}} becomes a
link to the line that defines it in src/, so the doc follows the code."""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent


def definitions():
    found = {}
    for path in sorted(ROOT.glob("src/**/*.c")):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            m = re.match(r"^[a-z].*?[ *]([a-z_][a-z0-9_]*)\(", line)
            if not m or line.rstrip().endswith(";"):
                continue
            # a definition ends its signature with "{" on this or a later line
            for j in range(i, min(i + 4, len(lines))):
                if lines[j].rstrip().endswith(";"):
                    break
                if lines[j].rstrip().endswith("{"):
                    found.setdefault(m.group(1), (path.relative_to(ROOT), i + 1))
                    break
    return found


def main():
    defs = definitions()
    src = (ROOT / "docs/dataflow.src.md").read_text()

    def link(m):
        name = m.group(1)
        if name not in defs:
            raise SystemExit(f"dataflow.src.md names {name}, which src/ does not define")
        path, line = defs[name]
        return f"([{path.name}:{line}](../{path}#L{line}))"

    (ROOT / "docs/dataflow.md").write_text(re.sub(r"\{\{(\w+)\}\}", link, src))


if __name__ == "__main__":
    main()
