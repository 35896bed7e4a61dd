"""Running a request: the workspace that turns node lists into engine calls (workspace.py),
backward and grad over it (compute.py), the ``source`` compiler, hook expressions, and what a
workspace is asked about (graph metadata, pictures, retained bytes, content addresses)."""
