"""The `DRIVER` every venue module exposes (`deadman.core.venue.VenueDriver`), built from the module's
own parts: its spec, its `Account` type, its `Client` type and its doctor plan."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, Protocol, TypeVar

from deadman.core.venue import DoctorPlan, NonceSource, VenueAccount, VenueClient, VenueSpec


class _Parses(Protocol):
    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, secret_name: str, sandbox: bool = False) -> Any: ...


A = TypeVar("A")


class Driver(Generic[A]):
    def __init__(
        self,
        spec: VenueSpec,
        account: type[A],
        client: Callable[..., VenueClient],
        plan: Callable[[A], DoctorPlan],
    ) -> None:
        self._spec = spec
        self._account = account
        self._client = client
        self._plan = plan

    @property
    def spec(self) -> VenueSpec:
        return self._spec

    def parse_account(self, data: Mapping[str, Any], *, secret_name: str, sandbox: bool = False) -> A:
        parser: _Parses = self._account  # type: ignore[assignment]
        account: A = parser.from_mapping(data, secret_name=secret_name, sandbox=sandbox)
        return account

    def client(
        self,
        account: VenueAccount,
        *,
        nonces: NonceSource,
        clock: Callable[[], int],
        timeout: Any = None,
        session: Any = None,
        parallel: Any = None,
    ) -> VenueClient:
        extra = {"timeout": timeout} if timeout is not None else {}
        return self._client(
            self.own(account), nonces=nonces, clock=clock, session=session, parallel=parallel, **extra
        )

    def doctor_plan(self, account: VenueAccount) -> DoctorPlan:
        return self._plan(self.own(account))

    def own(self, account: object) -> A:
        """`account` as this venue's own type: another venue's account is a bug, said at once."""
        if not isinstance(account, self._account):
            raise TypeError(f"a {type(account).__module__} account given to the {self._spec.name} driver")
        return account
