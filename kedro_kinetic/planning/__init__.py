"""Planning: from a pipeline and its catalog to pinned payloads, specs and Job manifests.

``plan`` plans each node (payload stored content-addressed, datasets resolved
as plain data by ``catalog_spec``, in-code datasets refused by
``catalog_objects``), ``grouping`` and ``group_plan`` bind nodes that share a
Job, ``manifest`` renders the ``batch/v1`` Job as a pure function, and
``quiet_writer`` keeps audit copies of what was submitted. Nothing is submitted
here.
"""
