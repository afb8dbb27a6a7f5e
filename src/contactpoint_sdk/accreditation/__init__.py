"""The accreditation suite: test plans, runner, reports and signed results (SUP-3)."""
