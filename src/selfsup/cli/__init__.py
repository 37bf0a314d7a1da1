"""The command line: the only layer that imports everything."""

import os

# OpenMP threads that wait by spinning (GNU OpenMP's default) lose badly when the CPU is shared:
# a descheduled thread leaves the others burning their time slice at every barrier. Sleeping
# waiters measured 1.5x faster for the small-cnn step on a loaded 2-core machine (BENCHMARKS.md).
# Set before torch loads its OpenMP runtime; a value the user exported wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
