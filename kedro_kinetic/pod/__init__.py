"""The pod side: one node's (or one group's) journey inside its container or process.

``entrypoint`` (run as ``python -m kedro_kinetic.entrypoint``, the contract with
every image built) fetches, verifies, safe-loads, checks, loads, runs, saves and
seals; ``node`` is one node's phases, ``node_call`` calls the function as Kedro
does, ``chunks`` saves a generator's chunks, ``credentials`` resolves credential
names, ``errors`` keeps a node's own frames. It imports nothing from the driver
side (planning, backends, CLI, rich, click, kubernetes).
"""
