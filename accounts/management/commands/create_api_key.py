from django.core.management.base import BaseCommand, CommandError

from accounts.errors import DomainError
from accounts.models import ApiKey, Membership, Organization
from accounts.services import create_api_key


class Command(BaseCommand):
    help = "Create an API key for an organization and print it on the last line (it is not shown again)."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="The organization's slug.")
        parser.add_argument("--name", required=True, help="What the key is for.")
        parser.add_argument(
            "--scopes",
            default="*",
            help=f"Comma-separated scopes (default: all). Known: {', '.join(ApiKey.Scope.values)}",
        )

    def handle(self, *args, **options):
        organization = Organization.objects.filter(slug=options["org"]).first()
        if organization is None:
            raise CommandError(f"No organization with the slug {options['org']!r}.")
        owner = (
            Membership.objects.filter(
                organization=organization, role=Membership.Role.OWNER, user__is_active=True
            )
            .select_related("user")
            .order_by("created_at", "pk")
            .first()
        )
        if owner is None:
            raise CommandError(
                f"{organization.slug} has no active owner to issue the key in the name of."
            )
        scopes = [scope.strip() for scope in options["scopes"].split(",") if scope.strip()]
        try:
            api_key, raw_key = create_api_key(
                actor=owner.user, organization=organization, name=options["name"], scopes=scopes
            )
        except DomainError as error:
            raise CommandError(error.message) from error
        self.stderr.write(
            f"Created {api_key.prefix} for {organization.slug} with scopes {', '.join(api_key.scopes)}."
        )
        self.stdout.write(raw_key)
