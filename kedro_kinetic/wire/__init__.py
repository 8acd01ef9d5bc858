"""The wire: what the driver and the pod exchange, as formats and rules both sides apply.

Digests and seals (``digest``, ``seal``), the result a pod writes and the task
spec it reads (``result``, ``task_spec``), the payload of a node's code
(``payload``), the allowlist of dataset classes and of the arguments that
choose code or reach hosts (``allowlist``, ``dataset_arguments``,
``dataset_hosts``), the data roots local paths must lie under (``data_paths``), pinned
catalog files (``pinned_files``), names (``naming``) and escaped text
(``text``). Pure functions and small classes, importable from either side;
nothing here does I/O of its own but reading what it is handed.
"""
