"""Given names of the generator that the matcher could take for one another.

Pairs of names from :data:`~._data.MALE_NAMES` and :data:`~._data.FEMALE_NAMES`
whose given-name comparison in the reference directory's matcher
(:func:`~contactpoint_sdk.reference_server.linkage_compare.given_level`, with
its nickname table :mod:`~contactpoint_sdk.reference_server.linkage_nicknames`)
is at the "typo" level or above: one letter apart or Jaro-Winkler 0.92 or more,
a shared nickname group, or one the start of the other. Brothers and sisters of
one generated household never share a given name or carry two names of a pair
(see :mod:`contactpoint_sdk.synthetic`).

Written out here so that the generator needs neither the matcher nor its
string libraries (and gives the same names wherever it runs);
``tests/test_synthetic.py`` computes the pairs again with the matcher and
fails if they differ.
"""

from __future__ import annotations

from typing import Final

from contactpoint_sdk.synthetic._data import FEMALE_NAMES, MALE_NAMES

__all__ = ["BLOCKED_BY", "CONFUSABLE_GIVEN_NAMES", "confusable_names"]

#: Each pair once, alphabetically within the pair and in order of the pairs.
CONFUSABLE_GIVEN_NAMES: Final[tuple[tuple[str, str], ...]] = (
    ("Abbie", "Abigail"),
    ("Alan", "Allan"),
    ("Alex", "Alexander"),
    ("Alex", "Alexandra"),
    ("Alex", "Sandra"),
    ("Alexander", "Alexandra"),
    ("Alexandra", "Sandra"),
    ("Amanda", "Mandy"),
    ("Andrea", "Andrew"),
    ("Ann", "Anna"),
    ("Ann", "Anne"),
    ("Ann", "Annette"),
    ("Anna", "Anne"),
    ("Anne", "Annette"),
    ("Anthony", "Antony"),
    ("Anthony", "Tony"),
    ("Antony", "Tony"),
    ("Barry", "Garry"),
    ("Barry", "Harry"),
    ("Ben", "Benjamin"),
    ("Beth", "Bethan"),
    ("Beth", "Bethany"),
    ("Beth", "Elizabeth"),
    ("Beth", "Ellie"),
    ("Beth", "Lisa"),
    ("Bethan", "Bethany"),
    ("Billy", "Liam"),
    ("Billy", "William"),
    ("Brian", "Bryan"),
    ("Bryan", "Ryan"),
    ("Carl", "Carly"),
    ("Carl", "Carol"),
    ("Carl", "Carole"),
    ("Carl", "Karl"),
    ("Carly", "Carolyn"),
    ("Carol", "Carole"),
    ("Carol", "Caroline"),
    ("Carol", "Carolyn"),
    ("Carole", "Caroline"),
    ("Caroline", "Carolyn"),
    ("Catherine", "Kate"),
    ("Catherine", "Katherine"),
    ("Catherine", "Kathryn"),
    ("Catherine", "Katie"),
    ("Catherine", "Katy"),
    ("Charlene", "Charles"),
    ("Charlene", "Charlie"),
    ("Charles", "Charlie"),
    ("Charlie", "Charlotte"),
    ("Christian", "Christine"),
    ("Christine", "Kirsty"),
    ("Christine", "Tina"),
    ("Claire", "Clare"),
    ("Connor", "Conor"),
    ("Damian", "Damien"),
    ("Daniel", "Danielle"),
    ("Daniel", "Danny"),
    ("Dean", "Jean"),
    ("Dean", "Sean"),
    ("Deborah", "Debra"),
    ("Denis", "Denise"),
    ("Denis", "Dennis"),
    ("Denise", "Dennis"),
    ("Diana", "Diane"),
    ("Donald", "Ronald"),
    ("Eleanor", "Ellie"),
    ("Elizabeth", "Ellie"),
    ("Elizabeth", "Lisa"),
    ("Ellie", "Lisa"),
    ("Elliot", "Elliott"),
    ("Emma", "Gemma"),
    ("Emma", "Jemma"),
    ("Frances", "Francesca"),
    ("Frances", "Francis"),
    ("Francis", "Frank"),
    ("Garry", "Gary"),
    ("Garry", "Harry"),
    ("Gary", "Mary"),
    ("Gemma", "Jemma"),
    ("Georgia", "Georgina"),
    ("Gerald", "Geraldine"),
    ("Gerald", "Gerard"),
    ("Glen", "Glenn"),
    ("Harry", "Henry"),
    ("Holly", "Molly"),
    ("Iain", "Ian"),
    ("Ian", "Sian"),
    ("Jack", "John"),
    ("Jacob", "Jake"),
    ("Jade", "Jake"),
    ("Jade", "Jane"),
    ("Jake", "Jane"),
    ("James", "Jamie"),
    ("Jamie", "Jasmine"),
    ("Jane", "Janet"),
    ("Jane", "Janice"),
    ("Jane", "Jayne"),
    ("Jane", "June"),
    ("Jay", "Jayne"),
    ("Jayne", "Wayne"),
    ("Jean", "Joan"),
    ("Jean", "Sean"),
    ("Joan", "Joanna"),
    ("Joan", "Joanne"),
    ("Joan", "John"),
    ("Joanna", "Joanne"),
    ("Joe", "Joel"),
    ("Joe", "Joseph"),
    ("Joe", "Zoe"),
    ("Joseph", "Josephine"),
    ("Joseph", "Josh"),
    ("Josh", "Joshua"),
    ("Julia", "Julian"),
    ("Julia", "Julie"),
    ("Kate", "Katherine"),
    ("Kate", "Kathryn"),
    ("Kate", "Katie"),
    ("Kate", "Katy"),
    ("Katherine", "Kathryn"),
    ("Katherine", "Katie"),
    ("Katherine", "Katy"),
    ("Kathryn", "Katie"),
    ("Kathryn", "Katy"),
    ("Katie", "Katy"),
    ("Kerry", "Terry"),
    ("Kim", "Kimberley"),
    ("Kirsty", "Tina"),
    ("Leon", "Leonard"),
    ("Lesley", "Leslie"),
    ("Lewis", "Louis"),
    ("Liam", "William"),
    ("Linda", "Lynda"),
    ("Louis", "Louise"),
    ("Lynn", "Lynne"),
    ("Marc", "Marcus"),
    ("Marc", "Mark"),
    ("Marc", "Mary"),
    ("Margaret", "Megan"),
    ("Maria", "Marian"),
    ("Maria", "Marie"),
    ("Marian", "Marion"),
    ("Marian", "Martin"),
    ("Marie", "Maurice"),
    ("Marion", "Martin"),
    ("Mark", "Mary"),
    ("Martin", "Martyn"),
    ("Martyn", "Mary"),
    ("Mary", "Molly"),
    ("Mathew", "Matthew"),
    ("Michael", "Michelle"),
    ("Michelle", "Mitchell"),
    ("Mohamed", "Mohammad"),
    ("Mohamed", "Mohammed"),
    ("Mohammad", "Mohammed"),
    ("Nicholas", "Nicola"),
    ("Nicola", "Nicole"),
    ("Patricia", "Patrick"),
    ("Paul", "Paula"),
    ("Paul", "Pauline"),
    ("Philip", "Phillip"),
    ("Rachael", "Rachel"),
    ("Richard", "Ricky"),
    ("Sally", "Sara"),
    ("Sally", "Sarah"),
    ("Sam", "Samantha"),
    ("Sam", "Samuel"),
    ("Sara", "Sarah"),
    ("Sean", "Sian"),
    ("Stephanie", "Stephen"),
    ("Stephen", "Steven"),
    ("Susan", "Suzanne"),
    ("Thomas", "Tom"),
    ("Toby", "Tony"),
    ("Tracey", "Tracy"),
    ("Victor", "Victoria"),
)


def _index() -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = {}
    for a, b in CONFUSABLE_GIVEN_NAMES:
        found.setdefault(a, set()).add(b)
        found.setdefault(b, set()).add(a)
    return {name: frozenset(others) for name, others in found.items()}


_CONFUSABLE: Final = _index()
_NONE: Final[frozenset[str]] = frozenset()


def confusable_names(name: str) -> frozenset[str]:
    """The names the matcher could take ``name`` for (not ``name`` itself)."""
    return _CONFUSABLE.get(name, _NONE)


#: For every name of the generator's lists: itself and its confusable names.
#: A name is free for a child if this set shares nothing with the names its
#: brothers and sisters already have.
BLOCKED_BY: Final[dict[str, frozenset[str]]] = {
    name: frozenset({name, *confusable_names(name)}) for name in (*MALE_NAMES, *FEMALE_NAMES)
}
