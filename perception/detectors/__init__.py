"""Open-vocabulary detector backends behind one protocol (``base.Detector``), one file each."""
