"""What a node process may reach on the machine it runs on.

Paths opened beneath a folder without following links (``beneath``), the fsspec
filesystem every local catalog file goes through (``filesystem``, ``datasets``),
and the kernel's Landlock sandbox of a local node process (``landlock``); the
rules for which paths a catalog may name are data (:mod:`kedro_kinetic.wire.data_paths`).
Shared by the pod (which enforces all of it) and the driver (which checks paths
before anything is submitted and confines the free outputs it hands back).
"""
