"""The real app except that its order stream fails after five batches, for a live server to serve."""

from litestar import Litestar

from domain.ports import OrderStreamPort
from presentation.app import create_app
from tests.fakes import FakeOrderStream, Override


def create_failing_app() -> Litestar:
    """The app with a stream of 100,000 orders that breaks after five batches."""
    return create_app(Override(OrderStreamPort, FakeOrderStream(100_000, fail_after=5)))
