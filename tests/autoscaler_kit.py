"""The cluster autoscaler's Events on a pending pod, as it writes them.

The autoscaler (kubernetes/autoscaler, ``processors/status/eventing_scale_up_processor.go``)
records them with client-go's event recorder under the source component
``cluster-autoscaler``: a core/v1 Event named ``<pod>.<hex nanoseconds>`` in the pod's
namespace, ``involvedObject`` the Pod's reference, type ``Normal``, count 1, first and
last timestamps alike, and ``reportingComponent`` set to the source component. Messages:

- ``TriggeredScaleUp``: ``pod triggered scale-up: %v`` over the scale-up plan, each group
  ``{<node group id> <current>-><new> (max: <max>)}`` (``nodegroupset.ScaleUpInfo``); on
  GKE the group id is the instance group's URL.
- ``NotTriggerScaleUp``: ``pod didn't trigger scale-up: `` then ``<count> <reason>`` per
  distinct reason, joined by ``, `` (``ReasonsMessage``): the scheduler's reasons for the
  node group's template node, or a skipped group's (``max node group size reached``,
  ``in backoff after failed scale-up``, ``not ready for scale-up``).

Used by the unit tests of the translation and, posted through the API, by the bench tests.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

GKE_GROUP = ("https://www.googleapis.com/compute/v1/projects/kinetic-demo/zones/"
             "europe-west4-a/instanceGroups/gke-kedro-gpu-pool-5b1c9e2a-grp")
SCALE_UP = f"pod triggered scale-up: [{{{GKE_GROUP} 0->1 (max: 3)}}]"
NO_FIT = "pod didn't trigger scale-up: 1 node(s) didn't match Pod's node affinity/selector"
NO_GPU_FIT = ("pod didn't trigger scale-up: 1 node(s) didn't match Pod's node "
              "affinity/selector, 1 Insufficient nvidia.com/gpu")
MAX_SIZE = "pod didn't trigger scale-up: 1 max node group size reached"
BACKOFF = "pod didn't trigger scale-up: 1 in backoff after failed scale-up"


def autoscaler_event(pod: str, reason: str, message: str, namespace: str = "kedro",
                     uid: str = "5d0b6f4e-9f61-4a55-8f0e-2b7c1c3f6a10",
                     resource_version: str = "4711") -> dict[str, Any]:
    """A core/v1 Event the cluster autoscaler posts on ``pod`` (its uid and the
    resourceVersion it had then)."""
    now = time.time_ns()
    stamp = datetime.fromtimestamp(now / 1e9, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"{pod}.{now:x}", "namespace": namespace},
        "involvedObject": {"kind": "Pod", "namespace": namespace, "name": pod, "uid": uid,
                           "apiVersion": "v1", "resourceVersion": resource_version},
        "reason": reason, "message": message,
        "source": {"component": "cluster-autoscaler"},
        "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1, "type": "Normal",
        "reportingComponent": "cluster-autoscaler", "reportingInstance": "",
    }
