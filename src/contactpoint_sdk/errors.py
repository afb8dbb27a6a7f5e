"""One exception tree for the whole SDK.

Every error has a stable, machine-readable ``code`` and, where a rule of
``shared/spec/RULES.md`` applies, its ``rule`` ID (``"SENS-2"``). Catch
:class:`ContactPointError` to catch everything the SDK raises on purpose.

Validation gathers problems instead of stopping at the first: a
:class:`ValidationError` carries every :class:`Problem` found in one record,
each naming the field's path (``parents[1].notes``), what is wrong, and the rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

__all__ = [
    "AgreementViolation",
    "AlgorithmNotAllowed",
    "CompressionNotAllowed",
    "ConfigurationError",
    "ContactPointError",
    "EnvelopeDecryptionFailed",
    "EnvelopeError",
    "EnvelopeFromFuture",
    "EnvelopeHeaderInvalid",
    "EnvelopeMalformed",
    "KeyMaterialError",
    "NotPermitted",
    "PolicyRefusal",
    "Problem",
    "RecordNotFound",
    "SequenceOutOfOrder",
    "SignatureInvalid",
    "SupplierNotAccredited",
    "UnknownKey",
    "ValidationError",
    "WrongPassphrase",
]


class ContactPointError(Exception):
    """Root of every error the SDK raises on purpose.

    ``code`` is stable and machine readable; ``rule`` is the rule ID from
    RULES.md where one applies, else ``None``.
    """

    code: str = "contactpoint_error"
    rule: str | None = None

    def __init__(self, message: str, *, code: str | None = None, rule: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if rule is not None:
            self.rule = rule

    def __str__(self) -> str:
        if self.rule and f"({self.rule})" not in self.message:
            return f"{self.message} ({self.rule})"
        return self.message


@attrs.frozen(kw_only=True)
class Problem:
    """One thing wrong with one field.

    ``path`` is where it is, in wire terms: ``""`` for the value itself,
    ``child.address.postcode`` or ``parents[1].notes`` inside a record.
    """

    path: str
    message: str
    code: str
    rule: str | None = None

    def at(self, prefix: str) -> Problem:
        """The same problem seen from one level further out."""
        if not prefix:
            return self
        if not self.path:
            path = prefix
        elif self.path.startswith("["):
            path = prefix + self.path
        else:
            path = f"{prefix}.{self.path}"
        return attrs.evolve(self, path=path)

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        rule = f" ({self.rule})" if self.rule and f"({self.rule})" not in self.message else ""
        return f"{where}{self.message}{rule}"


class ValidationError(ContactPointError, ValueError):
    """Input that breaks the model's rules; carries every problem found.

    ``str(error)`` lists them one per line, each with its path and rule.
    """

    code = "validation_failed"

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        if not self.problems:
            raise ValueError("a ValidationError needs at least one problem")
        first = self.problems[0]
        super().__init__(
            "\n".join(str(p) for p in self.problems),
            code=first.code if len(self.problems) == 1 else None,
            rule=first.rule if len({p.rule for p in self.problems}) == 1 else None,
        )

    def __str__(self) -> str:
        return self.message

    @classmethod
    def single(
        cls, message: str, *, code: str, rule: str | None = None, path: str = ""
    ) -> ValidationError:
        """A validation error with one problem."""
        return cls([Problem(path=path, message=message, code=code, rule=rule)])

    def at(self, prefix: str) -> ValidationError:
        """The same problems seen from one level further out."""
        return ValidationError(p.at(prefix) for p in self.problems)

    @property
    def paths(self) -> Sequence[str]:
        """The paths of the problems, in order."""
        return [p.path for p in self.problems]


class PolicyRefusal(ContactPointError):
    """A directory rule says no (consent missing, not eligible, ...).

    Always carries the rule ID that refused.
    """

    code = "policy_refusal"

    def __init__(self, message: str, *, code: str, rule: str) -> None:
        super().__init__(message, code=code, rule=rule)


class ConfigurationError(ContactPointError):
    """The SDK was set up wrongly (a missing key, an impossible setting)."""

    code = "configuration_error"


# --- Supply envelope (SUP-5): each refusal has its own type and code. ---------


class EnvelopeError(ContactPointError):
    """A supply envelope that cannot be trusted or opened (SUP-5)."""

    code = "envelope_invalid"
    rule = "SUP-5"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message, code=code, rule="SUP-5")


class EnvelopeMalformed(EnvelopeError):
    """Not a compact JWE/JWS at all, or its payload is not what it claims."""

    code = "envelope_malformed"


class EnvelopeHeaderInvalid(EnvelopeError):
    """A required header (``kid``, ``typ``, ``cty``) is missing or wrong."""

    code = "envelope_header_invalid"


class AlgorithmNotAllowed(EnvelopeError):
    """An ``alg`` or ``enc`` off the allow-list, ``none`` included."""

    code = "envelope_algorithm_not_allowed"


class CompressionNotAllowed(EnvelopeError):
    """A ``zip`` header: compression before encryption is refused."""

    code = "envelope_compression_not_allowed"


class EnvelopeDecryptionFailed(EnvelopeError):
    """The ciphertext, tag or key does not decrypt (tampered, or not for us)."""

    code = "envelope_decryption_failed"


class SignatureInvalid(EnvelopeError):
    """The inner signature does not verify against the named key."""

    code = "envelope_signature_invalid"


class UnknownKey(EnvelopeError):
    """The ``kid`` names no key registered for this supplier or directory."""

    code = "envelope_unknown_key"


class EnvelopeFromFuture(EnvelopeError):
    """The envelope says it was created too far in the future."""

    code = "envelope_from_future"


class KeyMaterialError(ContactPointError):
    """A key that cannot be loaded, exported or used as asked."""

    code = "key_invalid"


class WrongPassphrase(KeyMaterialError):
    """An encrypted private key whose passphrase does not open it."""

    code = "key_wrong_passphrase"


# --- The directory's refusals (reference server and real directories) ----------


class SupplierNotAccredited(PolicyRefusal):
    """The sender is not an accredited supplier, or is suspended (SUP-3)."""

    def __init__(self, message: str = "the supplier is not accredited") -> None:
        super().__init__(message, code="supplier_not_accredited", rule="SUP-3")


class AgreementViolation(PolicyRefusal):
    """The supply is outside the supplier's operational agreement (SUP-4)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="outside_agreement", rule="SUP-4")


class SequenceOutOfOrder(ContactPointError):
    """A new batch whose sequence number is not above the last one seen (SUP-5).

    A resend of a batch already seen is not this: it is answered with its
    first receipt.
    """

    code = "sequence_out_of_order"
    rule = "SUP-5"

    def __init__(self, message: str, *, last_sequence: int) -> None:
        super().__init__(message)
        self.last_sequence = last_sequence


class RecordNotFound(ContactPointError):
    """No live record (or no archived one, for archive reads) with that identifier."""

    code = "record_not_found"


class NotPermitted(PolicyRefusal):
    """The user may not do this (wrong role, wrong authority, wrong purpose)."""
