"""Use case behind the health check."""

from msgspec import Struct

from domain.ports import HealthProbe


class Health(Struct, frozen=True):
    """The service's own status and its database's reachability."""

    status: str
    database: str


class CheckHealth:
    """Report whether the service can reach its database."""

    def __init__(self, probe: HealthProbe) -> None:
        self._probe = probe

    async def __call__(self) -> Health:
        if await self._probe.database_reachable():
            return Health(status="ok", database="reachable")
        return Health(status="degraded", database="unreachable")
