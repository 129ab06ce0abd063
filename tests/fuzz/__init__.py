"""The bounded API fuzz run of CI (`python -m tests.fuzz.run`): schemathesis against a real
`gamify serve`, once per kind of credential. Scripts, not pytest modules (no `test_` names),
so `pytest` never collects them; they live beside the tests they complement."""
