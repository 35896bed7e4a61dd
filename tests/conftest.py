import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
# every session byte count checked against a recount (service/run/byte_accounting.py); before any
# import of service, which reads it once
os.environ.setdefault("AUTOGRAD_CHECK_BYTES", "1")
# In-process apps (TestClient) must not gc.freeze() the test process: what is frozen is
# never collected, and hundreds of apps come and go here. The servers tests start
# (service_server.running_server) freeze as in production.
os.environ.setdefault("AUTOGRAD_GC_FREEZE", "0")
