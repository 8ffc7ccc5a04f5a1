"""Maps an event's userId/anonymousId to identity's profile, with a short-lived cache.

Most events come from users identity already knows, so a batch asks identity only for the
ids it has not seen lately, in one Resolve call. A cached answer can be at most `ttl`
seconds behind a merge; that is harmless because a merged profile stays a pointer to the
profile it joined, so its events remain reachable under the user.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from herald.identity.v1 import identity_pb2
from herald_common.clients import IdentityClient

Key = tuple[str, str, str]  # workspace, user id, anonymous id


class ProfileResolver:
    def __init__(self, identity: IdentityClient, *, ttl: float = 60.0, capacity: int = 200_000) -> None:
        self.identity = identity
        self.ttl = ttl
        self.capacity = capacity
        self._cache: OrderedDict[Key, tuple[str, str, float]] = OrderedDict()

    async def resolve(self, workspace_id: str, refs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """[(user_id, anonymous_id)] -> [(profile_id, user_id)], creating unknown users."""
        now = time.monotonic()
        cache = self._cache
        answers: dict[tuple[str, str], tuple[str, str]] = {}
        missing: list[tuple[str, str]] = []
        for ref in refs:
            if ref in answers:
                continue
            hit = cache.get((workspace_id, *ref))
            if hit is not None and hit[2] > now:
                answers[ref] = (hit[0], hit[1])
            elif ref not in missing:
                missing.append(ref)
                answers[ref] = ("", "")
        if missing:
            response = await self.identity.resolve(
                identity_pb2.ResolveRequest(
                    workspace_id=workspace_id,
                    refs=[identity_pb2.UserRef(user_id=u, anonymous_id=a) for u, a in missing],
                    create_missing=True,
                )
            )
            expires = now + self.ttl
            for ref, user in zip(missing, response.users):
                answers[ref] = (user.profile_id, user.user_id)
                cache[(workspace_id, *ref)] = (user.profile_id, user.user_id, expires)
            while len(cache) > self.capacity:
                cache.popitem(last=False)
        return [answers[ref] for ref in refs]

    def forget(self, profile_ids: set[str]) -> None:
        """Drops cached answers naming these profiles (they were deleted)."""
        for key in [k for k, v in self._cache.items() if v[0] in profile_ids]:
            del self._cache[key]
