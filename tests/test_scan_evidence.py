"""A rule of ``emitcheck scan`` cannot outlive its evidence: each rule's cells
(rules.py, ``evidence``) run here on real servers and real clients, on the
installed stack, and a cell that comes out delivered fails its rule: the scan
would then report, as a fault, what the stack delivers.

Each cell's verdict must also be the one our expectations give it
(matrix/expectations.py), so that a finding's ``[cell ...: VERDICT]`` says what
a run shows."""

import pytest

from emitcheck.matrix.expectations import expected
from emitcheck.running import runner
from emitcheck.scan.project import installed, resolve_auto
from emitcheck.scan.rules import RULES

from .helpers import runnable

EVIDENCE = [(rule, cell_id) for rule in RULES for cell_id in rule.evidence]


@pytest.mark.parametrize(("rule", "cell_id"), EVIDENCE,
                         ids=[f"{r.code}-{c}" for r, c in EVIDENCE])
def test_each_rules_cell_is_not_delivered_on_the_installed_stack(rule, cell_id, tmp_path):
    cell = runnable(cell_id)
    if rule.needs and resolve_auto("flask_socketio", installed) != rule.needs:
        pytest.skip(f"{rule.code}'s evidence is auto resolving to {rule.needs}: "
                    f"install {rule.needs}")
    result = runner.run_cell(cell, workdir=tmp_path)
    assert result.skipped is None and result.failure is None, result.skipped or result.failure
    assert result.verdict != "delivered", (
        f"{cell_id} is delivered on this stack, so {rule.code} ({rule.name}) reports what "
        f"works: measure again and change the rule or its cell. Evidence: {result.evidence}")
    assert result.verdict == expected(cell).verdict, (
        f"{cell_id}: {result.verdict}, our expectations say {expected(cell).verdict}: "
        f"{result.evidence}")
