"""``kedro kinetic …``: inspect, clean, render, check and scaffold, from trusted sources.

``commands`` holds the click group Kedro loads; ``runs`` picks runs and their
inspector, ``tables`` prints them, ``doctor``/``doctor_checks`` check a
machine's set-up, ``render``/``render_cli`` preview the Jobs, ``scaffold``
writes the Dockerfile and the kinetic block.
"""
