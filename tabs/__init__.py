"""One module per tab of the gallery; app.py puts them together."""
