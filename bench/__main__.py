"""``python -m bench`` (from the repository root): every benchmark, then bench/report.md.

See bench/run.py and bench/README.md.
"""

import sys

from bench.run import main

sys.exit(main())
