"""The accreditation suite: test plans, runner, reports and signed results (SUP-3).

::

    from contactpoint_sdk.accreditation import run_plan

    report = run_plan("supplier", MySupplierHarness(), tester="A. Tester")
    report.passed            # every required test passed
    report.failed_ids()      # ("AC-SUP-6-01", ...)

See ``docs/accreditation.md``: the two modes, the test catalogue, reading and
verifying a report, and how a vendor implements the harness.
"""

from contactpoint_sdk.accreditation.blackbox import (
    BlackBoxDetails,
    ConsolePrompter,
    StepInstruction,
    StepPrompter,
    describe_event,
)
from contactpoint_sdk.accreditation.harness import (
    BecameLead,
    CafCompleted,
    Capability,
    ChildDied,
    DirectoryConnection,
    FixtureChild,
    FixtureEvent,
    InvolvementEnded,
    InvolvementStarted,
    LookupConnection,
    LookupHarness,
    PupilChanged,
    PupilJoined,
    PupilLeft,
    SupplierHarness,
    UnsupportedEvent,
)
from contactpoint_sdk.accreditation.lookup_plan import LOOKUP_PLAN
from contactpoint_sdk.accreditation.model import (
    SUITE_NAME,
    SUITE_VERSION,
    ReportFormatError,
    RunReport,
    Status,
    TestResult,
)
from contactpoint_sdk.accreditation.plan import Plan, PlanError, TestCase, Verdict
from contactpoint_sdk.accreditation.runner import PLANS, run_plan
from contactpoint_sdk.accreditation.supplier_plan import SUPPLIER_PLAN

__all__ = [
    "LOOKUP_PLAN",
    "PLANS",
    "SUITE_NAME",
    "SUITE_VERSION",
    "SUPPLIER_PLAN",
    "BecameLead",
    "BlackBoxDetails",
    "CafCompleted",
    "Capability",
    "ChildDied",
    "ConsolePrompter",
    "DirectoryConnection",
    "FixtureChild",
    "FixtureEvent",
    "InvolvementEnded",
    "InvolvementStarted",
    "LookupConnection",
    "LookupHarness",
    "Plan",
    "PlanError",
    "PupilChanged",
    "PupilJoined",
    "PupilLeft",
    "ReportFormatError",
    "RunReport",
    "Status",
    "StepInstruction",
    "StepPrompter",
    "SupplierHarness",
    "TestCase",
    "TestResult",
    "UnsupportedEvent",
    "Verdict",
    "describe_event",
    "run_plan",
]
