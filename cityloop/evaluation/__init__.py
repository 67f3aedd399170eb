"""Offline evaluations of CityLoop against public data (``cityloop eval ...``)."""
