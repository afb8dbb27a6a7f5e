"""Example suppliers for the accreditation suite's self-test (issue #8, item 6).

:class:`ExampleSupplier` is a correct integration built on the SDK: it must
pass every required test of the supplier plan. :data:`FAULTY_SUPPLIERS` are
variants of it with one deliberate fault each; each must fail exactly the one
test its ``expected_failure`` names.
"""

from contactpoint_sdk.accreditation.examples.faulty import FAULTY_SUPPLIERS, FaultySupplier
from contactpoint_sdk.accreditation.examples.reference_supplier import (
    EXAMPLE_RETRY,
    EXAMPLE_SCHOOL,
    ExampleSupplier,
    Rejection,
)

__all__ = [
    "EXAMPLE_RETRY",
    "EXAMPLE_SCHOOL",
    "FAULTY_SUPPLIERS",
    "ExampleSupplier",
    "FaultySupplier",
    "Rejection",
]
