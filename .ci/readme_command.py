"""Print one of the README's two set-up commands, so CI runs exactly what the README says.

The README opens with two fenced ``bash`` blocks: the first installs and runs the main job, the second
runs the test suite. ``python3 .ci/readme_command.py main|test`` prints the one asked for.
"""

import re
import sys
from pathlib import Path

blocks = re.findall(
    r"```bash\n(.*?)```", Path(__file__).resolve().parent.parent.joinpath("README.md").read_text(), re.S
)
which = {"main": 0, "test": 1}[sys.argv[1]]
print(blocks[which].strip())
