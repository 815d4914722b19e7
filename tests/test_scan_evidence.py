"""A rule of ``emitcheck scan`` cannot outlive its evidence: each rule's cells
(rules.py, ``evidence``) run here on real servers and real clients, on the
installed stack, and a cell that comes out delivered fails its rule: the scan
would then report, as a fault, what the stack delivers.

Each cell's verdict must also be the one our expectations give it
(matrix/expectations.py), so that a finding's ``[cell ...: VERDICT]`` says what
a run shows. The cells run side by side, as ``emitcheck matrix`` runs them."""

from emitcheck.matrix import cells
from emitcheck.matrix.expectations import expected
from emitcheck.running import runner
from emitcheck.scan.project import installed, resolve_auto
from emitcheck.scan.rules import RULES


def test_each_rules_cells_are_not_delivered_on_the_installed_stack(tmp_path):
    evidence = {cell_id: rule for rule in RULES for cell_id in rule.evidence
                if not rule.needs or resolve_auto("flask_socketio", installed) == rule.needs}
    assert len({rule.code for rule in evidence.values()}) >= len(RULES) - 1, \
        "the evidence of more than one rule cannot run here"
    results = runner.run_many([cells.parse(c) for c in evidence])
    wrong = []
    for result in results:
        rule, expect = evidence[result.cell], expected(result.cell).verdict
        if result.skipped or result.failure:
            wrong.append(f"{result.cell} ({rule.code}) did not run: "
                         f"{result.skipped or result.failure}")
        elif result.verdict == "delivered":
            wrong.append(f"{result.cell} is delivered on this stack, so {rule.code} "
                         f"({rule.name}) reports what works: measure again and change the "
                         f"rule or its cell. Evidence: {result.evidence}")
        elif result.verdict != expect:
            wrong.append(f"{result.cell}: {result.verdict}, our expectations say {expect}: "
                         f"{result.evidence}")
    assert not wrong, "\n".join(wrong)
