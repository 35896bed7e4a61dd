import importlib.abc
import importlib.util
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
# every session byte count checked against a recount (service/accounting.py); before any
# import of service, which reads it once
os.environ.setdefault("AUTOGRAD_CHECK_BYTES", "1")
# In-process apps (TestClient) must not gc.freeze() the test process: what is frozen is
# never collected, and hundreds of apps come and go here. The servers tests start
# (service_server.running_server) freeze as in production.
os.environ.setdefault("AUTOGRAD_GC_FREEZE", "0")


class _MovedHelpers(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """The shared helpers moved to tests/support/. Until every branch imports them from
    there, the old names still import (``from service_server import api``): each is a module
    of its own holding the same objects (its own module, so that ``pytest_plugins`` may name
    either). Remove once no test imports the old names."""

    NAMES = {"harness", "semantics_harness", "service_server", "seed_examples", "fuzz_graphs"}

    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self) if name in self.NAMES else None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        moved = importlib.import_module("support." + module.__name__)
        module.__dict__.update({k: v for k, v in vars(moved).items() if not k.startswith("__")})


sys.meta_path.append(_MovedHelpers())
