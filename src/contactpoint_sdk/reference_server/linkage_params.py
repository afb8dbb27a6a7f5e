"""The child model's parameters and thresholds: the one place they live.

Everything the probabilistic matcher weighs with is here, with where it
came from. To re-estimate: ``python bench/bench_matching.py --fit`` prints
a new ``_FITTED`` literal (and the weights); paste it over the one below,
rerun ``python bench/bench_matching.py`` and update ``docs/matching.md``.

Where the numbers come from
---------------------------
- **u** (how often a level happens between two *different* children): the
  levels of 200,000 random pairs of a synthetic population of 101,000
  records (seed 11). Chance agreement in that population over-states the
  national one for fields whose values multiply with the population
  (postcode, parents' names): the weights of those agreements are
  conservative for a directory of England.
- **m** (how often a level happens for the *same* child): counted on the
  4,500 labelled duplicate supplies of the same scenario, equally many of
  each kind (:mod:`.linkage_scenarios`: resupplied unchanged, typo,
  nickname, family name changed with and without the old name, double-
  barrelled, moved, date transposed, moved with a typo), so ``m`` mirrors
  that mix of errors, which is far more error-laden than real supply.
  Every ``m`` is then raised to at least 0.005 and renormalised: the
  generator never mistypes a day of birth, mis-records a gender or changes
  a carer, and an error it never makes must cost a bounded weight.
- **prior**: 1 in 11,000,000, the chance that two records picked at random
  are one child in a directory of England's children (ContactPoint held
  about 11 million).

EM (:func:`~.linkage_model.estimate_em`) is not used for this model: at the
synthetic population's density a blocked pair that is not a match is
nearly always a brother, sister or twin, and EM then learns "same
household" instead of "same child". It is what the FEBRL runs use, and
what a directory holding real data should run (with ``u`` from random
pairs held fixed) to replace these numbers.

The weights these give, in bits (``log2(m/u)``), with the prior's
``log2(prior/(1 - prior))`` = -23.4:

=============  =========  =======  ====  ========  ==========  =====
comparison     different  similar  typo  nickname  other form  exact
=============  =========  =======  ====  ========  ==========  =====
given name     -7.6       -1.1     +6.0  +6.3                  +8.2
family name    -3.1       +2.3     +7.0            +9.7        +6.8
=============  =========  =======  ====  ========  ==========  =====

date of birth: different -7.6, one part -0.8, transposed +10.7, exact
+12.6; address: different -2.2, district +2.0, first line +5.2, postcode
+6.1, exact +15.9; gender: different -6.7, same +1.0; parents: different
-7.6, a given name -0.8, a full name +14.3. (A former family name scores
above an exact one because chance agreement on a former name is so rare.)

Thresholds
----------
See :data:`CHILD_THRESHOLDS` and ``docs/matching.md``.
"""

from __future__ import annotations

from typing import Final

import attrs

from contactpoint_sdk.reference_server.linkage_model import ModelParams

__all__ = ["CHILD_MODEL", "CHILD_THRESHOLDS", "Thresholds"]


@attrs.frozen(kw_only=True)
class Thresholds:
    """Decision thresholds, as match weights in bits.

    ``merge``: the best candidate at or above it (and allowed by the rules)
    is the child. ``review``: a candidate at or above it is shown to the
    local authority's review queue. ``shielded_review``: the same, for a
    shielded candidate (lower: where a match is uncertain the candidate is
    treated as shielded, SHLD-7). ``margin``: the best candidate must beat
    the second by at least this much to merge automatically.
    """

    merge: float
    review: float
    shielded_review: float
    margin: float

    def __attrs_post_init__(self) -> None:
        if not self.shielded_review <= self.review < self.merge or self.margin < 0:
            raise ValueError(
                "thresholds must satisfy shielded_review <= review < merge, margin >= 0"
            )


_FITTED: Final[dict[str, object]] = {
    "prior": 1 / 11_000_000,
    "source": (
        "u: 200,000 random pairs of the 101,000 records of synthetic scenario seed 11; m:"
        " its 4,500 labelled duplicate supplies (same, typo, nickname, name_change, "
        "name_change_silent, double_barrelled, move, transposed, move_typo, equally many "
        "of each), every m at least 0.005; prior: 1 in 11,000,000 (England's children)"
    ),
    "comparisons": [
        {
            "name": "given_name",
            "levels": ["different", "similar", "typo", "nickname", "exact"],
            "m": [0.00495594, 0.00495594, 0.0877265, 0.122289, 0.780073],
            "u": [0.98407, 0.0104274, 0.00136248, 0.00152248, 0.00261747],
        },
        {
            "name": "family_name",
            "levels": ["different", "similar", "typo", "other_form", "exact"],
            "m": [0.111605, 0.0265408, 0.087618, 0.224875, 0.549361],
            "u": [0.988885, 0.00525743, 0.000697491, 0.000262497, 0.00489744],
        },
        {
            "name": "date_of_birth",
            "levels": ["different", "one_part", "transposed", "exact"],
            "m": [0.00495158, 0.00495158, 0.110096, 0.880001],
            "u": [0.991073, 0.00871741, 6.74993e-05, 0.000142499],
        },
        {
            "name": "address",
            "levels": ["different", "district", "line", "postcode", "exact"],
            "m": [0.218998, 0.00492773, 0.00492773, 0.00492773, 0.766219],
            "u": [0.998565, 0.00121748, 0.000132498, 7.24991e-05, 1.24998e-05],
        },
        {
            "name": "gender",
            "levels": ["different", "same"],
            "m": [0.00497568, 0.995024],
            "u": [0.499717, 0.500283],
        },
        {
            "name": "parents",
            "levels": ["different", "given", "exact"],
            "m": [0.00495158, 0.00495158, 0.990097],
            "u": [0.991515, 0.00843744, 4.74996e-05],
        },
    ],
}


#: The child model (see the module notes for where every number came from).
CHILD_MODEL: Final[ModelParams] = ModelParams.from_dict(_FITTED)

#: The thresholds, in bits (match probability ``2**w / (1 + 2**w)``):
#:
#: - ``merge`` 10: 999 in 1,000 or better. On the fitting scenario (seed 11)
#:    the lowest true match the rules allow scored 7.4 (moved, with a typo in
#:    the family name) and 99 in 100 scored 12.9 or more; the highest pair of
#:    two different children the rules allow scored -3.6;
#: - ``review`` 0: more likely than not one child: a person looks;
#: - ``shielded_review`` -10: a shielded candidate is held for review from 1
#:   in 1,000 (SHLD-7: where a match is uncertain, treat it as shielded);
#: - ``margin`` 4: an automatic merge needs the best candidate 16 times as
#:   likely as the next one in doubt.
CHILD_THRESHOLDS: Final[Thresholds] = Thresholds(
    merge=10.0, review=0.0, shielded_review=-10.0, margin=4.0
)
