"""The local backend: each node's rendered Job run as a local process.

``backend`` runs a manifest's container command (forked by a warm fork server:
``forkpool``, ``forkstart``, ``forkclient``, ``forkserver``; or exec'd), ``confine``
lists what node processes may reach, ``log_files`` keeps each Job's output in the
private run folder, ``runs`` inspects runs for the CLI.
"""
