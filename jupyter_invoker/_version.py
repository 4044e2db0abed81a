"""The package's version: the installed distribution's, whose one source is the
sidebar's ``labextension/package.json`` (read by hatch-nodejs-version at build time)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("jupyter_invoker")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
