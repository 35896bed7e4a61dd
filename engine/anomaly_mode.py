"""Anomaly mode's two switches (torch.autograd.set_detect_anomaly / detect_anomaly): set by
engine/autograd.py, read by the walk (NaN checks) and by saved tensors (the hint of the
in-place error)."""

enabled = False  # anomaly mode on at all (check_nan=False included)
check_nan = False  # and a backward function that returns NaN raises, naming its node
