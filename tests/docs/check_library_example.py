#!/usr/bin/env python3
"""docs/library.md shows examples/library/main.cc, which CI builds and runs:
the page's C++ block must be that file, byte for byte."""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1])
page = (root / "docs/library.md").read_text(encoding="utf-8")
example = (root / "examples/library/main.cc").read_text(encoding="utf-8")
blocks = re.findall(r"```cpp\n(.*?)```", page, flags=re.S)
if example not in blocks:
    print("docs/library.md: no ```cpp block equal to examples/library/main.cc; copy the file into the page")
    sys.exit(1)
print("docs/library.md shows examples/library/main.cc as it is")
