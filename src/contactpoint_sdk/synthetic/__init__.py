"""Seeded synthetic children's records, for tests, demos and benchmarks.

Synthetic data only: every phone number is in Ofcom's drama ranges (01632
960xxx, 07700 900xxx), every email address is at example.org, example.com or
example.net (RFC 2606), every NHS number is in the 999 test range that is
never issued, and names and places are drawn from Faker's ``en_GB`` lists.
No real child's data is ever needed to exercise the SDK.

::

    from datetime import date
    from contactpoint_sdk.synthetic import Population

    population = Population(seed=7, today=date(2026, 3, 1))
    for record in population.children(1000):   # streamed, never held as a list
        ...

Every record constructs without a ValidationError and round-trips exactly
through :class:`~contactpoint_sdk.models.codec.WireCodec`. The same seed,
``today``, LA codes and sequence of calls give identical records.

What a population holds, roughly in England's proportions: 1–2 parents or
carers per child (mother, father, step-parent, grandparent, guardian,
adoptive parent; some living elsewhere, some without parental
responsibility), a local authority as carer for looked-after children
(REC-2); an education setting for most school-age children and a GP for most
children, with some left without either (REC-7); health visitors, midwives,
school nurses and additional services with the lead-professional and CAF
indicators (REC-3..REC-5); rarely a sensitive service, with valid consent
unless ``sensitive_without_consent`` says otherwise (SENS-1, SENS-2); shields
with reviews, some overdue (SHLD-2..SHLD-4); deaths within the last year
(RET-3); 18–24 year olds kept with a RET-2 extension.

Identifiers are never issued twice within a population (REC-1, SUP-7: a
reissued number would make two children look like one). Each range stops
with :class:`SyntheticRangeExhausted` (a ``ConfigurationError``) rather than
start again. The NHS number test range holds 909,091 numbers: a population
that would otherwise use them up (beyond about 925,000 children) keeps, once
it must, what is left for the children still to come who will have no other
identifier (mostly those below Reception), and from then on gives children
who have a UPN, ULN or school reference only the few numbers its estimate of
that need leaves over; every child before that point is exactly as in a
smaller population. It plans from ``Population(size=...)`` and from
``children(n)``; it can plan for 3.0 to 3.7 million children at most (by
``today``'s month: five years of births are below Reception in August, four in
September), and refuses more at once. A larger population (England's twelve
million) needs more NHS numbers than the test range has: a decision for the
specification (FORMATS.md), not the generator. A school past 1,000 UPNs in a
year moves on to a further establishment number of its LA; a school reference
already issued at its school moves on to the next free one, and a directory
identifier already issued is drawn again (see ``_ids.py``).

Brothers and sisters (one household: :meth:`Population.child`,
:meth:`Population.twins`, :meth:`Population.siblings`) never share a given
name, nor carry two the reference directory's matcher could take for one
another (a nickname, a one-letter variant: ``Ben`` and ``Benjamin``, ``Barry``
and ``Harry``), as families rarely name them so; such siblings were held for
review as possible duplicates.

Hard cases for record matching (SUP-7, SHLD-7) come from
:meth:`Population.twins`, :meth:`Population.siblings`,
:meth:`Population.with_typo`, :meth:`Population.with_name_change`,
:meth:`Population.with_move` and :meth:`Population.with_transposed_dob`.

School rolls as DfE Common Transfer Files, with broken and malicious
variants, come from :class:`SyntheticSchool` and :func:`ctf_bytes`
(:mod:`contactpoint_sdk.synthetic.ctf`).

Needs the ``synthetic`` extra (Faker), for its name and place lists only.
"""

from contactpoint_sdk.synthetic._ids import SyntheticRangeExhausted
from contactpoint_sdk.synthetic._population import DEFAULT_LA_CODES, Population
from contactpoint_sdk.synthetic.ctf import SyntheticSchool, broken_variants, ctf_bytes

__all__ = [
    "DEFAULT_LA_CODES",
    "Population",
    "SyntheticRangeExhausted",
    "SyntheticSchool",
    "broken_variants",
    "ctf_bytes",
]
