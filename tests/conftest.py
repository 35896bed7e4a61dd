import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
# every session byte count checked against a recount (service/accounting.py); before any
# import of service, which reads it once
os.environ.setdefault("AUTOGRAD_CHECK_BYTES", "1")
