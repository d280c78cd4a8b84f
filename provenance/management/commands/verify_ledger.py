from django.core.management.base import BaseCommand

from provenance.services import verify_ledger


class Command(BaseCommand):
    help = (
        "Recompute the ledger's hash chain. Exits 0 when it holds, 1 naming the first broken entry."
    )

    def handle(self, *args, **options):
        result = verify_ledger()
        if result.is_intact:
            self.stdout.write(f"Ledger intact: {result.entries_checked} entries verified.")
            return
        self.stderr.write(f"Ledger broken at entry #{result.first_broken_seq}: {result.reason}.")
        raise SystemExit(1)
