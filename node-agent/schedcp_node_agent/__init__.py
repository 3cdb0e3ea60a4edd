"""schedcp node agent: the operator's eyes and hands in one node's kernel."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("schedcp")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
