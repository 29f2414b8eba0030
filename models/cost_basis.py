"""The cost basis of a number: amortised (EffectiveCost) or billed (BilledCost).

Amortised cost spreads commitment fees (reservations, savings plans, CUDs) over the usage
they cover: the basis for showback. Billed cost is what the invoice shows. Every figure
names its basis; this module is the one definition of which column a basis reads and the
words that label it.
"""

from __future__ import annotations

from enum import StrEnum

from models.errors import InputError


class CostBasis(StrEnum):
    AMORTISED = "amortised"
    BILLED = "billed"

    @property
    def column(self) -> str:
        """The FOCUS column holding this basis' cost."""
        return _COLUMNS[self]

    @property
    def words(self) -> str:
        """'Amortised cost' / 'Billed cost'."""
        return f"{self.value.capitalize()} cost"

    @property
    def meaning(self) -> str:
        """What the basis is, for a note under a table."""
        return _MEANINGS[self]

    def label(self, currency: str) -> str:
        """'Amortised cost (USD)': how a table, chart or sheet says what it shows."""
        return f"{self.words} ({currency})"


_COLUMNS = {CostBasis.AMORTISED: "EffectiveCost", CostBasis.BILLED: "BilledCost"}
_MEANINGS = {
    CostBasis.AMORTISED: "commitment fees spread over the usage they cover",
    CostBasis.BILLED: "as invoiced",
}
DEFAULT = CostBasis.AMORTISED
CHOICES = tuple(b.value for b in CostBasis)
# the US spelling, as Azure and AWS write it ("AmortizedCost", "amortized cost")
_SPELLINGS = {"amortized": CostBasis.AMORTISED}


def parse_basis(text: str | CostBasis | None, location: str = "--basis") -> CostBasis:
    """A basis from what a user typed (any case); None is the default (amortised)."""
    if text is None:
        return DEFAULT
    if isinstance(text, CostBasis):
        return text
    word = text.strip().lower()
    try:
        return _SPELLINGS.get(word) or CostBasis(word)
    except ValueError:
        raise InputError(
            "unknown cost basis",
            location=location,
            expected=" or ".join(CHOICES),
            found=text,
            hint="amortised spreads commitment fees over usage; billed is what the invoice shows",
        ) from None


def lenient_basis(text: str | None) -> CostBasis:
    """A basis from a link: anything unknown falls back to the default (links never raise)."""
    try:
        return parse_basis(text)
    except InputError:
        return DEFAULT
