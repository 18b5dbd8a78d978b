"""``[[services.health]]``: the URLs whose answers say whether the service is up."""

from __future__ import annotations

from dataclasses import dataclass

from console.config.bounds import MIN_REQUEST_TIMEOUT_S
from console.config.reader import Reader
from console.config.urls import is_url, url_error
from console.redact import display_url


@dataclass(frozen=True)
class HealthCheck:
    url: str
    name: str = ""
    expect_status: int = 200
    timeout_s: float = 3.0

    @property
    def display_url(self) -> str:
        """The URL as screens, logs and results show it: credentials masked."""
        return display_url(self.url)

    @property
    def label(self) -> str:
        return self.name or self.display_url


def read_health(r: Reader) -> HealthCheck:
    url = r.require("url", str)
    if not is_url(url):
        raise url_error(r, "url", url)
    check = HealthCheck(
        url=url,
        name=r.get("name", str, ""),
        expect_status=r.integer("expect_status", 200, 100, 599),
        timeout_s=r.duration("timeout_s", 3.0, low=MIN_REQUEST_TIMEOUT_S),
    )
    r.done()
    return check
