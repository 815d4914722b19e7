"""``emitcheck scan``: a linter that reads Python source (its AST, never importing
it) and reports the ways of emitting from background work that our matrix
measured as not delivered.

Each rule (rules.py) is backed by a cell of the matrix: a finding names the
cell its code matches, on the app's own row (its async mode, whether it
patches, how its work starts and waits), and our measured verdict for it
(matrix/expectations.py); a match whose cell we measured delivered is no
finding. The rooms beneath give the cells, the verdicts and the remedies; this
room only reads source: ``source.py`` and ``work.py`` the facts of one module,
``project.py`` what the project declares, ``program.py`` the facts of every
module together, ``rules.py`` the rules, ``findings.py`` what a match becomes,
``text.py`` and ``sarif.py`` the outputs.
"""
