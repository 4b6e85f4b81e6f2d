"""pagi.backoff: the one formula every retry uses, and each site's numbers kept as they were."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pagi.backoff import Backoff
from pagi.bus._client import PUBLISH_BACKOFF
from pagi.bus._consume import NAK_BACKOFF
from pagi.bus._tail import RECREATE_BACKOFF
from pagi_cli.supervisor import RESTART_BACKOFF
from planner.llm.config import ProviderConfig
from planner.llm.retry import backoff_s


def test_doubles_from_the_base_up_to_the_cap() -> None:
    backoff = Backoff(base_s=0.25, cap_s=2.0)
    assert [backoff.delay(n) for n in range(1, 7)] == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]


def test_a_very_late_attempt_stays_at_the_cap() -> None:
    assert Backoff(base_s=0.1, cap_s=5.0).delay(10_000) == 5.0


def test_jitter_stays_between_half_and_all_of_the_delay() -> None:
    backoff = Backoff(base_s=1.0, cap_s=8.0, jitter=True)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        delays = {backoff.delay(attempt) for _ in range(200)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # it does vary


@pytest.mark.parametrize(
    ("backoff", "old_formula"),
    [
        # publish retry: 0.05 s doubling, at most 1 s apart
        (PUBLISH_BACKOFF, lambda n: min(0.05 * 2 ** (n - 1), 1.0)),
        # tail re-creation: 0.1 s doubling, at most 5 s
        (RECREATE_BACKOFF, lambda n: min(0.1 * 2 ** (n - 1), 5.0)),
        # consume loop's nak delay by delivery count: 0.25 s doubling, at most 30 s
        (NAK_BACKOFF, lambda n: min(0.25 * 2 ** (n - 1), 30.0)),
        # pagi up restarting a crashed child: 0.5 s doubling, at most 30 s (restarted for as long as it crashes)
        (RESTART_BACKOFF, lambda n: min(0.5 * 2 ** (n - 1), 30.0)),
    ],
)
def test_each_site_keeps_its_numbers(backoff: Backoff, old_formula: Callable[[int], float]) -> None:
    assert [backoff.delay(n) for n in range(1, 12)] == [old_formula(n) for n in range(1, 12)]


def test_the_llm_client_jitters_its_configured_backoff() -> None:
    endpoint = {"provider": "openai", "family": "openai", "model": "m", "base_url": "http://127.0.0.1:1"}
    config = ProviderConfig(**endpoint, backoff_base_s=0.5, backoff_max_s=8.0)
    for attempt in range(1, 8):
        ceiling = min(8.0, 0.5 * 2 ** (attempt - 1))
        assert ceiling / 2 <= backoff_s(config, attempt) <= ceiling
