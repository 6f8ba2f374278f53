"""One facade over store + current bundle that the CLI and the HTTP API both call.

:class:`RecommendationService` answers with typed values (:class:`ServedRecommendations`: the
recommender's :class:`~recsys.types.Recommendations` plus the catalog facts a storefront shows);
the applications turn them into JSON or text (``api/answers.py``, ``recsys/cli.py``). It owns
the serving-time state:

* **Hot swap.** :meth:`RecommendationService.refresh` (called by a background watcher every few
  seconds, see :meth:`~RecommendationService.start_watcher`) notices a new ``CURRENT``, loads the
  new bundle *completely* off the request path, and then replaces one reference to an immutable
  :class:`Snapshot`. A request reads that reference once and uses the same snapshot to the end,
  so it never sees a half-loaded model or a mix of two versions.
* **Catalog overlay.** Catalog upserts after training are overlaid on the bundle
  (:mod:`recsys.catalog_overlay`), in this process at once and in other processes on their next
  poll.
* **Live history.** Each user request reads the user's recent events from the store, so a purchase
  is excluded and new interactions shift the user's profile without retraining. Taste is computed
  from the newest ``HISTORY_LIMIT`` events; the items excluded (``exclude_seen``,
  ``exclude_purchased``) are those of the whole history, however long (``Store.user_history``).
* **Erasure.** :meth:`RecommendationService.erase_users` deletes the users' events and leaves a
  tombstone in the store; while the served bundle was trained before the erasure, such a user is
  served as unknown (their trained vector is never used again), in every process at once.
* **Precomputed lists.** A user request without reasons is answered from the bundle's
  precomputed ranked list (:mod:`recsys.precomputed`) when one indexed store query shows the user
  has no event newer than the list and was not erased since; otherwise it is computed live. Answers
  say which (``ranking``: ``precomputed`` or ``live``).

The package is split by concern, so that no part holds all of it: :mod:`~recsys.service.facade`
(the service: the answers, and the door to the rest), :mod:`~recsys.service.snapshots` (store,
overlay and the served snapshot's loading, watching and hot swap), :mod:`~recsys.service.writes`
(events, catalog upserts, erasure) and :mod:`~recsys.service.served` (the answer type). Import
the names below from ``recsys.service``; the modules are how it is built, not its interface.
"""

from recsys.service.facade import RecommendationService
from recsys.service.served import ServedRecommendations
from recsys.service.snapshots import ServingState, Snapshot, lists_still_valid
from recsys.service.writes import ServiceWrites

__all__ = [
    "RecommendationService",
    "ServedRecommendations",
    "ServiceWrites",
    "ServingState",
    "Snapshot",
    "lists_still_valid",
]
