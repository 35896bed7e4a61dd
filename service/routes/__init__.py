"""One router per concern; main.py includes them all."""
