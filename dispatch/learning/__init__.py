"""Learning from a city's history: reading its records for import and training."""
