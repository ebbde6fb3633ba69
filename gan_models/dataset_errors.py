"""The error a dataset that cannot be had raises. Plain Python, no torch: the Digits tab catches it, and the app
imports its tabs before it listens (gan_models/data.py, which raises it, imports torch)."""

from __future__ import annotations


class DatasetUnavailable(OSError):
    """The dataset cannot be had: the Hub is out of reach (offline mode, no network) and nothing is cached, or the
    local folder named is not there. ``name`` is the dataset as it was asked for."""

    def __init__(self, message: str, name: str):
        super().__init__(message)
        self.name = name
