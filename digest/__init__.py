"""digest: trending research papers in your inbox.

The library API the CLI is built on; see README.md for runnable examples.
"""

__version__ = "0.1.0"
