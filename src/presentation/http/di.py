"""dishka injection for route handlers that need only app-scoped objects: each is resolved once per app."""

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar, cast

from dishka import DEFAULT_COMPONENT, AsyncContainer
from dishka.integrations.base import wrap_injection

P = ParamSpec("P")
T = TypeVar("T")


class AppScoped:
    """The app container's objects, each resolved from it on first use and then read from a dict.

    Every provider is app-scoped, so a handler needs no request-scoped container: dishka's Litestar `inject`
    would add a `request` parameter to every handler (Litestar then validates it per request) and ask the
    container on every call, about 6 µs per request on this service's hottest routes (docs/benchmarks.md).
    """

    def __init__(self, container: AsyncContainer) -> None:
        self._container = container
        self._resolved: dict[tuple[Any, str | None], Any] = {}

    async def get(self, dependency_type: Any, component: str | None = DEFAULT_COMPONENT) -> Any:
        """The one instance of `dependency_type` in this app."""
        key = (dependency_type, component)
        try:
            return self._resolved[key]
        except KeyError:
            found = self._resolved[key] = await self._container.get(dependency_type, component)
            return found


# Set by the app's outermost ASGI layer for each request it serves, so a handler reaches its own app's objects.
current_app_scoped: ContextVar[AppScoped] = ContextVar("current_app_scoped")


def inject(func: Callable[P, T]) -> Callable[P, T]:
    """Fill the handler's `FromDishka[...]` parameters from the app serving the request."""
    # The injected code only awaits `get(type, component)` on what the getter returns: AppScoped answers it.
    return wrap_injection(
        func=func, is_async=True, container_getter=lambda _args, _kwargs: cast(AsyncContainer, current_app_scoped.get())
    )
