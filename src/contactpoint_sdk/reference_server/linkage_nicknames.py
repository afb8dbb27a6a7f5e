"""Given names that stand for one another: nicknames, short forms, spellings.

A small table written for this project from general knowledge of names used
in England (it is not copied from, or checked against, any published list).
Each group is a formal name first, then the forms commonly used for it. A
name may sit in several groups (``alex`` is short for Alexander and for
Alexandra; ``harry`` for Henry and for Harold), so two names are *nickname
variants* when they share a group.

What the matcher makes of a shared group: the given-name comparison's
"nickname" level (:func:`~contactpoint_sdk.reference_server.linkage_compare.given_level`),
whose weight the model estimates like any other level. It is evidence, not
a decision: the child-protection rules
(:mod:`~contactpoint_sdk.reference_server.linkage_policy`) still apply, and
the gender comparison still counts against ``Sam`` (Samantha) and ``Sam``
(Samuel).

Names are folded as :func:`~contactpoint_sdk.reference_server.matching.name_key`
folds them (lower case, letters only), so ``Mohammed`` and ``MOHAMMED`` are
one name here.
"""

from __future__ import annotations

from typing import Final

__all__ = ["NICKNAME_GROUPS", "nickname_groups"]

#: The groups: the formal name first, then its common short and pet forms
#: and spelling variants (folded: lower case, letters only).
NICKNAME_GROUPS: Final[tuple[tuple[str, ...], ...]] = (
    ("abigail", "abi", "abby", "abbie", "abbey"),
    ("albert", "al", "bert", "bertie", "alby"),
    ("alexander", "alex", "alec", "alexandre", "sandy", "xander", "zander", "lex"),
    ("alexandra", "alex", "alexa", "lexi", "lexie", "sandra", "sasha", "zandra"),
    ("alfred", "alf", "alfie", "fred", "freddie", "freddy"),
    ("alistair", "alasdair", "alastair", "ali"),
    ("amanda", "mandy"),
    ("andrew", "andy", "drew"),
    ("ann", "anne", "anna", "annie", "nan", "nancy"),
    ("anthony", "antony", "tony", "ant"),
    ("archibald", "archie", "archy"),
    ("barbara", "babs", "barbie"),
    ("benjamin", "ben", "benny", "benji", "benjy"),
    ("bernard", "bernie"),
    ("callum", "calum", "cal"),
    ("cameron", "cam"),
    ("caroline", "carolyn", "carol", "carrie", "caz"),
    (
        "catherine",
        "katherine",
        "kathryn",
        "katharine",
        "cathy",
        "kathy",
        "kate",
        "katie",
        "katy",
        "kat",
        "cat",
        "kitty",
        "kay",
    ),
    ("charles", "charlie", "chas", "chaz", "chuck"),
    ("charlotte", "charlie", "lottie", "lotty", "lotte"),
    (
        "christina",
        "christine",
        "kristina",
        "kristine",
        "chris",
        "tina",
        "kirsty",
        "kirstie",
        "chrissie",
    ),
    ("christopher", "chris", "kris", "kit", "topher"),
    ("daniel", "dan", "danny"),
    ("danielle", "dani", "danni"),
    ("david", "dave", "davey", "davie"),
    ("deborah", "debra", "deb", "debbie", "debby"),
    ("dominic", "dominick", "dom"),
    ("dorothy", "dot", "dottie", "dolly"),
    ("edward", "ed", "eddie", "eddy", "ted", "teddy", "ned"),
    ("eleanor", "elinor", "ellie", "elly", "nell", "nellie", "nora"),
    (
        "elizabeth",
        "elisabeth",
        "beth",
        "betty",
        "bess",
        "bessie",
        "eliza",
        "liz",
        "lizzie",
        "lizzy",
        "libby",
        "lisa",
        "elsie",
        "ellie",
    ),
    ("emily", "emilie", "em", "emmy", "millie"),
    ("amelia", "amelie", "millie", "milly", "mia"),
    ("evelyn", "evie", "eve"),
    ("florence", "flo", "florrie", "flossie"),
    ("frances", "francesca", "fran", "frankie", "franky"),
    ("francis", "frank", "frankie", "franky"),
    ("frederick", "frederic", "fred", "freddie", "freddy"),
    ("gabriel", "gabe"),
    ("gabriella", "gabrielle", "gabby", "gabi"),
    ("george", "georgie"),
    ("georgina", "georgia", "georgie"),
    ("gregory", "greg"),
    ("harold", "harry", "hal"),
    ("harriet", "hattie", "hatty"),
    ("henry", "harry", "hal", "hank"),
    ("imogen", "immy"),
    ("isabel", "isabella", "isabelle", "isobel", "izzy", "izzie", "issy", "bella", "belle"),
    ("jacob", "jakob", "jake"),
    ("jacqueline", "jackie", "jacqui"),
    ("james", "jim", "jimmy", "jimmie", "jamie", "jem"),
    ("jasmine", "jasmin", "jazmin", "yasmin", "yasmine", "jas", "jaz"),
    ("jennifer", "jen", "jenny", "jennie"),
    ("jeremy", "jerry", "jez"),
    ("jessica", "jess", "jessie"),
    ("joanna", "joanne", "jo"),
    ("john", "jon", "jack", "johnny", "johnnie", "jonny"),
    ("jonathan", "johnathan", "jon", "jonny"),
    ("joseph", "joe", "joey"),
    ("josephine", "jo", "josie"),
    ("joshua", "josh"),
    ("kenneth", "ken", "kenny"),
    ("kimberley", "kimberly", "kim"),
    ("lawrence", "laurence", "larry", "laurie"),
    ("leonard", "len", "lenny", "leo"),
    ("louis", "lewis", "lou", "louie"),
    ("louise", "louisa", "lou", "lulu"),
    ("lucinda", "lucy", "cindy"),
    ("madeleine", "madeline", "madelyn", "maddie", "maddy"),
    ("margaret", "maggie", "meg", "megan", "peggy", "madge", "marge", "margie", "greta", "maisie"),
    ("mary", "molly", "polly", "mae", "may"),
    ("matilda", "tilly", "tillie"),
    ("matthew", "mathew", "matt", "matty"),
    ("maximilian", "maxwell", "maximus", "max", "maxie"),
    ("michael", "mike", "mikey", "mick", "mickey", "micky"),
    ("mohammed", "mohammad", "mohamed", "muhammad", "muhammed", "mohamad"),
    ("natalie", "nathalie", "nat"),
    ("natasha", "tasha"),
    ("nathaniel", "nathan", "nate", "nat"),
    ("nicholas", "nicolas", "nick", "nicky", "nico", "nik"),
    ("oliver", "ollie", "olly"),
    ("olivia", "liv", "livvy", "livvie", "ollie"),
    ("patricia", "pat", "patty", "patsy", "tricia", "trish"),
    ("patrick", "pat", "paddy"),
    ("penelope", "penny"),
    ("peter", "pete"),
    ("philip", "phillip", "phil", "pip"),
    ("raymond", "ray"),
    ("rebecca", "rebekah", "becky", "becca", "bex"),
    ("reginald", "reg", "reggie"),
    ("richard", "rich", "richie", "rick", "ricky", "dick"),
    ("robert", "rob", "robbie", "robby", "bob", "bobby", "bert"),
    ("ronald", "ron", "ronnie"),
    ("samantha", "sam", "sammy", "sammie"),
    ("samuel", "sam", "sammy", "sammie"),
    ("sarah", "sara", "sally", "sadie"),
    ("sophia", "sophie", "sofia"),
    ("stanley", "stan"),
    ("stephen", "steven", "steve", "stevie"),
    ("susan", "susanna", "susannah", "suzanne", "sue", "susie", "suzie", "suzy"),
    ("theodore", "theo", "ted", "teddy"),
    ("thomas", "tom", "tommy"),
    ("timothy", "tim", "timmy"),
    ("victoria", "vicky", "vicki", "vikki", "tori"),
    ("vincent", "vince", "vinnie"),
    ("walter", "walt", "wally"),
    ("william", "will", "willie", "willy", "bill", "billy", "liam", "wills"),
    ("zachary", "zach", "zack", "zak"),
)


def _index() -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = {}
    for group in NICKNAME_GROUPS:
        root = group[0]
        for name in group:
            found.setdefault(name, set()).add(root)
    return {name: frozenset(roots) for name, roots in found.items()}


_GROUPS: Final[dict[str, frozenset[str]]] = _index()
_NONE: Final[frozenset[str]] = frozenset()


def nickname_groups(folded: str) -> frozenset[str]:
    """The groups (named by their formal name) a folded given name belongs to;
    empty for a name the table does not know."""
    return _GROUPS.get(folded, _NONE)
