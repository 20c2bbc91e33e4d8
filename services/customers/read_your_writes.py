"""Read your writes across services: a projection that meets an id it does not know yet asks
the service that owns the data, fills itself from the answer, and only then refuses.

Events keep projections current, but a `tag.created` may still be on its way when the front end
that created the tag uses it in its next call; that call must not fail (architecture.md, "Read
your writes"). Every projection customers keeps of another service's data goes through
`Projection.ensure_known` before it refuses an id: one call to the owner for what is missing, no
transaction open meanwhile, then the answers projected in a transaction of their own (as the
event would have; an older state never overwrites a newer one). The owner unreachable is its
client's `ServiceUnavailable` (503), raised before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from shared.db import UnitOfWork

K = TypeVar("K")
K_contra = TypeVar("K_contra", contravariant=True)


class Owner(Protocol[K_contra]):
    """The service that owns a projection's records, as the projection asks it."""

    def fetch(self, ids: Collection[K_contra]) -> Mapping[Any, Mapping[str, Any]]:
        """The owner's current state of these ids, by id; an id it does not know is absent.

        Raises ServiceUnavailable when the owner cannot say.
        """
        ...


@dataclass(frozen=True)
class Projection(Generic[K]):
    """A local copy of another service's records: which ids it knows, and how one is filled."""

    name: str
    known: Callable[[Session, list[K]], Collection[K]]
    """Which of these ids the projection holds now."""
    fill: Callable[[Session, Mapping[str, Any]], None]
    """Upsert one record's state as the owner answers it (never older over newer)."""

    def ensure_known(
        self,
        uow: UnitOfWork,
        ids: Collection[K],
        owner: Owner[K],
        reads: sessionmaker[Session] | None = None,
    ) -> list[K]:
        """Fill the projection with what the owner knows of the ids it lacks; the ids that
        neither knows (the caller refuses them). ServiceUnavailable from the owner, in which
        case nothing was written. `reads` (autocommit sessions) spares a read-only request the
        transaction of the check when every id is known.
        """
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        if reads is not None:
            with reads() as session:
                known = set(self.known(session, wanted))
        else:
            with uow:
                known = set(self.known(uow.session, wanted))
        missing = [key for key in wanted if key not in known]
        if not missing:
            return []
        answers = owner.fetch(missing)  # no transaction is open while the owner is asked
        found = [key for key in missing if key in answers]
        if found:
            with uow:
                for key in found:
                    self.fill(uow.session, answers[key])
                uow.commit()
        return [key for key in missing if key not in answers]
