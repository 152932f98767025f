"""Every conformance scenario, through the public API (fast path) and through
the generated UniFFI module alone: both must give the same results and errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import pytest

from conformance import GeneratedApi, PublicApi, Runner, load

SCENARIOS = load()


def test_the_scenarios_cover_what_the_issue_asks() -> None:
    ops = {step["op"] for s in SCENARIOS for step in s["steps"]}
    assert {"tx_scan", "commit", "rollback", "reopen", "write", "scan_prefix", "next"} <= ops
    errors = {step.get("expect_error") for s in SCENARIOS for step in s["steps"]}
    assert {"InvalidArgument", "TransactionConflict", "DatabaseLocked", "IoError"} <= errors


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["name"] for s in SCENARIOS])
@pytest.mark.parametrize("api", [PublicApi, GeneratedApi], ids=["public", "generated"])
def test_scenario(api: Any, scenario: Dict[str, Any], tmp_path: Path) -> None:
    Runner(api(), tmp_path).run(scenario)
