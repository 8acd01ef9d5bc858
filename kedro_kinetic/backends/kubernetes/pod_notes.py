"""The cluster autoscaler's notes on pods, matched to the run's Jobs.

Events carry no labels: the backend watches the autoscaler's Events on every Pod
of the namespace and keeps those about the run's pods, which it knows by name from
its pod watch. The two watches are separate streams, so a note may arrive before its
pod was seen: it is held (a few per pod, for a bounded number of pods) and handed
back when the pod shows up. Notes on other workloads' pods are held until pushed out.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from kedro_kinetic.backends.kubernetes.events import AutoscalerNote, autoscaler_note

#: Notes held per pod not seen yet, and pods held at most.
_PER_POD = 4
_PODS = 256


class PodNotes:
    """Which Job each pod of the run belongs to, and the notes held for unseen pods."""

    def __init__(self) -> None:
        self._jobs: dict[str, str] = {}
        self._held: OrderedDict[str, list[AutoscalerNote]] = OrderedDict()

    def pod(self, pod: str, job: str) -> list[AutoscalerNote]:
        """Record that ``pod`` belongs to ``job``; return the notes held for it, oldest first."""
        if not pod:
            return []
        self._jobs[pod] = job
        return self._held.pop(pod, [])

    def note(self, event: dict[str, Any]) -> tuple[str, AutoscalerNote] | None:
        """The Job an Event's autoscaler note is about, with the note; ``None`` for any other
        Event, or for a pod not seen yet (its note is held until it is)."""
        note = autoscaler_note(event)
        if note is None:
            return None
        job = self._jobs.get(note.pod)
        if job is not None:
            return job, note
        held = self._held.setdefault(note.pod, [])
        held.append(note)
        del held[:-_PER_POD]
        self._held.move_to_end(note.pod)
        while len(self._held) > _PODS:
            self._held.popitem(last=False)
        return None
