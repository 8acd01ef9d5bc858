from __future__ import annotations

import re

from kedro_kinetic.wire import naming

DNS = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def test_job_names_are_valid_short_and_distinct():
    names = ["train([X_train,y_train]) -> [model]", "train([X_train,y_train]) -> [model2]",
             "A" * 300, "ünïcode node"]
    jobs = [naming.job_name(n, "2026-11-23T02.36.42.251Z") for n in names]
    assert len(set(jobs)) == len(jobs)
    for job in jobs:
        assert DNS.match(job) and len(job) <= 63


def test_run_label_is_a_valid_label_and_unique():
    a = naming.run_label("2026-11-23T02.36.42.251Z")
    b = naming.run_label("2026-11-23t02-36-42-251z")
    assert a != b
    assert DNS.match(a) and len(a) <= 63
