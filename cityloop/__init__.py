"""The composition: settings, the ``cityloop`` command, the launcher. Wires the packages together."""
