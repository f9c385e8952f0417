#!/usr/bin/env python3
"""Every relative link in README.md and docs/*.md names a file of the
repository: a clone must be readable on its own (no ../shared/...)."""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1]).resolve()
link = re.compile(r"\]\(([^)\s]+)\)")
problems = []
for doc in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
    for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
        for target in link.findall(line):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue  # http(s):, mailto:, file:, an anchor of the same page
            path = (doc.parent / target.split("#", 1)[0]).resolve()
            if root not in path.parents and path != root:
                problems.append(f"{doc.relative_to(root)}:{number}: {target} leaves the repository")
            elif not path.exists():
                problems.append(f"{doc.relative_to(root)}:{number}: {target} does not exist")
print("\n".join(problems) or "every link resolves")
sys.exit(1 if problems else 0)
