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
