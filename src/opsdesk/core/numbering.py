"""Human numbers per record type (SVC-7, INC-1042): unique, gap-tolerant, never reused.

The sequence row is locked for the rest of the transaction, so two writers never draw the same
number; a rolled-back transaction rolls its draw back too, and deleted records keep theirs.
"""

from django.db import transaction

from .models import NumberSequence


def next_number(prefix: str) -> str:
    with transaction.atomic():
        NumberSequence.objects.get_or_create(prefix=prefix)
        sequence = NumberSequence.objects.select_for_update().get(prefix=prefix)
        sequence.last_value += 1
        sequence.save(update_fields=["last_value"])
        return f"{prefix}-{sequence.last_value}"


def assign_number(record) -> None:
    if not record.number:
        record.number = next_number(record.NUMBER_PREFIX)


def reserve_numbers(prefix: str, count: int) -> list[str]:
    """Draw `count` consecutive numbers with one locked update of the sequence row (bulk creates).
    The same rules hold as for `next_number`: unique, never reused, rolled back with the transaction."""
    if count <= 0:
        return []
    with transaction.atomic():
        NumberSequence.objects.get_or_create(prefix=prefix)
        sequence = NumberSequence.objects.select_for_update().get(prefix=prefix)
        first = sequence.last_value + 1
        sequence.last_value += count
        sequence.save(update_fields=["last_value"])
    return [f"{prefix}-{value}" for value in range(first, first + count)]


def assign_numbers(records) -> None:
    """Give every record of one type that has no number yet one from a single reserved block."""
    missing = [record for record in records if not record.number]
    if missing:
        for record, number in zip(missing, reserve_numbers(missing[0].NUMBER_PREFIX, len(missing)), strict=True):
            record.number = number
