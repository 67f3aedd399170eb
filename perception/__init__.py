"""Perception: video sources, detectors, verification and tracking (a library; see issue 3)."""
