"""Populate a development instance with demo organizations, users and a catalog of real files.

Idempotent: what exists (users by email, organizations and datasets by slug) is left alone,
so running it twice changes nothing. Refuses to run in production mode.
"""

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import F, Sum
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, Notification, Organization, User
from licensing.models import LicenseTemplate
from licensing.services import add_license_option
from marketplace import demo
from marketplace.services import publish_listing
from provenance import selectors as provenance_selectors
from provenance import services as provenance
from provenance.models import Dataset, DatasetVersion, QualityReport
from provenance.quality.service import measure_quality

DEMO_PASSWORD = "wellspring-demo"  # noqa: S105 - documented demo credential, development only


@dataclass
class DemoDataset:
    slug: str
    title: str
    modality: str
    summary: str
    description: str
    files: dict  # path -> callable(rng) -> bytes
    languages: list[str] = field(default_factory=lambda: ["en"])
    tags: list[str] = field(default_factory=list)
    organization: str = "demo-creators"
    options: list[tuple[str, int | None]] = field(
        default_factory=lambda: [
            ("evaluation-only", None),
            ("research-training", None),
            ("commercial-training", None),
        ]
    )
    declaration: dict = field(default_factory=dict)
    days_ago: int = 30
    approve: bool = True


def _declaration(**overrides) -> dict:
    values = {
        "source_description": "Created by the rights holder's own contributors for this dataset.",
        "collection_method": "Written or recorded by contributors under a signed contributor agreement.",
        "collection_started_on": date(2022, 1, 1),
        "collection_ended_on": date(2024, 6, 30),
        "consent_basis": "explicit_consent",
        "rights_holder": "Demo Creators Cooperative",
        "authorship": "human",
        "synthetic_share_bps": 0,
        "opt_out_status": "not_applicable",
    }
    values.update(overrides)
    return values


def _files(count: int, path: str, make) -> dict:
    return {path.format(i=i): (lambda rng, i=i: make(rng, i)) for i in range(count)}


CATALOG = [
    DemoDataset(
        slug="coastal-folk-tales",
        title="Coastal Folk Tales, Transcribed",
        modality="text",
        languages=["en", "cy"],
        tags=["folklore", "oral history", "narrative"],
        summary="Folk tales from Welsh coastal villages, transcribed from storytellers' own tellings.",
        description="Tales told by storytellers in eight coastal villages, transcribed verbatim and lightly "
        "normalised for spelling.\n\n- One tale per record, with village and teller\n- Collected with "
        "written consent of every teller\n- No synthetic text: every record was typed from a recording",
        files={
            f"tales/part-{n}.jsonl": (
                lambda rng: demo.jsonl(
                    {"id": i, "village": rng.choice(demo._PLACES), "text": demo.folk_tale(rng)}
                    for i in range(400)
                )
            )
            for n in range(1, 4)
        },
        days_ago=120,
    ),
    DemoDataset(
        slug="astronomy-observing-logs",
        title="Amateur Astronomers' Observing Logs",
        modality="text",
        tags=["astronomy", "field notes", "structured"],
        summary="Three years of hand-written observing logs from a local astronomy society, typed up.",
        description="Every entry names the date, observer initials, instrument, target, sky conditions and a "
        "free-text note. Useful for grounded, domain-specific language and for evaluating extraction.",
        files={
            "logs/observations.jsonl": lambda rng: demo.jsonl(
                demo.observing_log(rng, night) for night in range(360)
            )
        },
        days_ago=110,
    ),
    DemoDataset(
        slug="bilingual-recipe-steps",
        title="Bilingual Recipe Instructions (EN/ES)",
        modality="text",
        languages=["en", "es"],
        tags=["parallel corpus", "translation", "cooking"],
        summary="Home cooks' recipe steps written in English and Spanish by bilingual contributors.",
        description="Parallel instructions written by bilingual home cooks, not machine-translated. Each "
        "record pairs a dish and its steps in both languages.",
        files={
            "recipes/pairs.jsonl": lambda rng: demo.jsonl(
                demo.recipe_pair(rng, i) for i in range(600)
            )
        },
        options=[
            ("evaluation-only", 15_000),
            ("research-training", 90_000),
            ("commercial-training", 600_000),
        ],
        days_ago=100,
    ),
    DemoDataset(
        slug="human-code-review-comments",
        title="Code Review Comments from a Human-Only Team",
        modality="text",
        tags=["code", "software engineering", "review"],
        summary="Review comments written by a software team that used no AI assistants, 2019–2022.",
        description="Comments exported from a private code review system with the consent of every author, "
        "stripped of names and repository paths.",
        files={
            "reviews/comments.jsonl": lambda rng: demo.jsonl(
                demo.review_comment(rng, i) for i in range(800)
            )
        },
        options=[
            ("evaluation-only", None),
            ("commercial-training", 1_200_000),
            ("exclusive-commercial", None),
        ],
        days_ago=90,
    ),
    DemoDataset(
        slug="poetry-workshop-drafts",
        title="Poetry Workshop Drafts and Revisions",
        modality="text",
        tags=["poetry", "revision", "creative writing"],
        summary="First drafts and revised versions of poems from a community writing workshop.",
        description="Pairs of a first draft and its revision after workshop feedback: a rare look at how "
        "human writers edit.",
        files={
            "drafts/workshop.jsonl": lambda rng: demo.jsonl(
                demo.poem_draft(rng, i) for i in range(250)
            )
        },
        options=[("research-training", 80_000), ("commercial-training", 450_000)],
        days_ago=80,
    ),
    DemoDataset(
        slug="city-bike-counters",
        title="City Bike Counter Readings 2019–2024",
        modality="tabular",
        tags=["mobility", "time series", "open street"],
        summary="Daily counts from four induction-loop bicycle counters, with the weather noted by staff.",
        description="Daily totals per counter. The weather column was recorded by hand by the council's "
        "cycling officer.",
        files={
            f"counts/{name}.csv": (lambda rng, name=name: demo.bike_counts(rng, name, 730))
            for name in ("north-bridge", "harbour-road", "station-approach", "park-lane")
        },
        options=[("evaluation-only", 10_000), ("commercial-training", 300_000)],
        declaration=_declaration(
            consent_basis="contract", rights_holder="Demo Creators Cooperative (commissioned)"
        ),
        days_ago=70,
    ),
    DemoDataset(
        slug="allotment-harvest-yields",
        title="Allotment Harvest Yields",
        modality="tabular",
        tags=["agriculture", "gardening", "yields"],
        summary="Weighed harvests from 120 allotment plots over two seasons, recorded by plot holders.",
        description="Plot holders weighed and logged every harvest. Soil type comes from the society's own survey.",
        files={"yields/harvests.csv": lambda rng: demo.harvest_yields(rng, 120)},
        days_ago=60,
    ),
    DemoDataset(
        slug="bookshop-weekly-sales",
        title="Independent Bookshop Sales by Genre",
        modality="tabular",
        tags=["retail", "books", "sales"],
        summary="Weekly copies sold and revenue by genre from an independent bookshop, 2022–2024.",
        description="Aggregated to genre and week: no customer data is included.",
        files={"sales/weekly.csv": lambda rng: demo.bookshop_sales(rng, 150)},
        options=[("evaluation-only", 5_000), ("research-training", 40_000)],
        days_ago=55,
    ),
    DemoDataset(
        slug="hand-drawn-botanical-sketches",
        title="Hand-Drawn Botanical Sketches",
        modality="image",
        tags=["illustration", "botany", "drawings"],
        summary="Pen-and-wash botanical sketches by three illustrators, scanned at studio resolution.",
        description="Each image is a single plant study. The illustrators hold the copyright and licensed it "
        "to the cooperative for machine learning.",
        files=_files(12, "sketches/sketch-{i:03d}.png", lambda rng, i: demo.botanical_sketch(rng)),
        options=[
            ("evaluation-only", None),
            ("commercial-training", 1_500_000),
            ("exclusive-commercial", 6_000_000),
        ],
        declaration=_declaration(
            consent_basis="licensed_in",
            rights_holder="Three named illustrators, licensed to Demo Creators Cooperative",
        ),
        days_ago=50,
    ),
    DemoDataset(
        slug="schoolchildren-handwritten-digits",
        title="Handwritten Digits by Schoolchildren",
        modality="image",
        tags=["handwriting", "digits", "ocr"],
        summary="Digits 0–9 written by pupils aged 8–11, with parental consent, scanned in greyscale.",
        description="Collected through a school outreach programme. Parents gave written consent; no names "
        "or faces appear.",
        files={
            f"digits/{d}/sample-{k}.png": (lambda rng, d=d: demo.handwritten_digit(rng, d))
            for d in range(10)
            for k in range(3)
        },
        options=[("evaluation-only", 20_000), ("research-training", 70_000)],
        days_ago=45,
    ),
    DemoDataset(
        slug="textile-pattern-swatches",
        title="Textile Pattern Swatches",
        modality="image",
        tags=["textiles", "patterns", "design"],
        summary="Woven and printed fabric swatches from a weaving studio's archive.",
        description="Photographed flat under even light. Every pattern was designed by the studio.",
        files=_files(10, "swatches/swatch-{i:02d}.png", lambda rng, i: demo.textile_swatch(rng)),
        organization="harbour-sound-collective",
        declaration=_declaration(
            rights_holder="Harbour Sound Collective", consent_basis="own_work"
        ),
        days_ago=40,
    ),
    DemoDataset(
        slug="market-street-ambience",
        title="Market Street Ambience Recordings",
        modality="audio",
        tags=["ambience", "field recording", "urban"],
        summary="Ambient recordings of a weekly street market, recorded on a handheld recorder.",
        description="Mono, 8 kHz clips. Stall holders were told about the recording and signs were posted.",
        files=_files(6, "clips/market-{i:02d}.wav", lambda rng, i: demo.street_ambience(rng)),
        organization="harbour-sound-collective",
        declaration=_declaration(
            rights_holder="Harbour Sound Collective", consent_basis="own_work"
        ),
        days_ago=35,
    ),
    DemoDataset(
        slug="spoken-number-sequences",
        title="Spoken Number Sequences, Many Accents",
        modality="audio",
        languages=["en"],
        tags=["speech", "accents", "asr"],
        summary="Volunteers reading number sequences aloud, each with a self-described accent.",
        description="Short clips for speech recognition evaluation. Every speaker signed a release.",
        files=_files(8, "speech/speaker-{i:02d}.wav", lambda rng, i: demo.spoken_digits(rng)),
        organization="harbour-sound-collective",
        declaration=_declaration(rights_holder="Harbour Sound Collective"),
        options=[("evaluation-only", 30_000), ("commercial-training", 800_000)],
        days_ago=25,
    ),
    DemoDataset(
        slug="garden-birdsong",
        title="Field Recordings of Garden Birdsong",
        modality="audio",
        tags=["birds", "nature", "bioacoustics"],
        summary="Dawn chorus recordings from suburban gardens, labelled by a local birding group.",
        description="16 kHz mono clips. Species labels were added by two experienced birders.",
        files=_files(6, "dawn/clip-{i:02d}.wav", lambda rng, i: demo.birdsong(rng)),
        organization="harbour-sound-collective",
        declaration=_declaration(
            rights_holder="Harbour Sound Collective", consent_basis="own_work"
        ),
        days_ago=15,
    ),
    DemoDataset(
        slug="tide-gauge-readings",
        title="Harbour Tide Gauge Readings",
        modality="tabular",
        tags=["ocean", "time series", "sensors"],
        summary="Hourly harbour water heights read from the harbourmaster's gauge.",
        description="Read and logged by the harbourmaster's office every hour for a month.",
        files={"gauge/may-2024.csv": lambda rng: demo.tide_gauge(rng, 24 * 31)},
        options=[("evaluation-only", 5_000), ("research-training", 25_000)],
        days_ago=10,
    ),
    DemoDataset(
        slug="hill-farm-weather-diaries",
        title="Hill-Farm Weather Diaries",
        modality="text",
        languages=["en"],
        tags=["weather", "farming", "diaries"],
        summary="Daily weather diaries kept by two hill farms, transcribed by the families.",
        description="A year of daily entries with rainfall from the farm gauge.",
        files={
            "diaries/2021.jsonl": lambda rng: demo.jsonl(
                demo.weather_diary(rng, day) for day in range(365)
            )
        },
        days_ago=3,
        approve=False,
    ),
    # The quality card's demos: its duplicate figures and its synthetic-evidence flag.
    DemoDataset(
        slug="recipe-forum-posts",
        title="Recipe Forum Posts",
        modality="text",
        tags=["cooking", "forum", "community"],
        summary="Posts from a community recipe forum, shared by their authors.",
        description="Members opted in to licensing. Some members reposted their own posts: the "
        "quality card measures how many.",
        files={"posts/2023.jsonl": lambda rng: demo.jsonl(demo.forum_posts(rng))},
        options=[("evaluation-only", 10_000), ("research-training", 40_000)],
        days_ago=25,
    ),
    DemoDataset(
        slug="concept-art-colour-studies",
        title="Concept Art Colour Studies",
        modality="image",
        tags=["concept art", "colour", "illustration"],
        summary="Colour studies from a games studio's art department.",
        description="Painted by the studio's artists; one study was made with an image generator "
        "and carries its content credentials.",
        files={
            **_files(5, "studies/study-{i:02d}.jpg", lambda rng, i: demo.concept_study(rng)),
            "studies/study-generated.jpg": lambda rng: demo.c2pa_signed_jpeg(
                demo.concept_study(rng)
            ),
        },
        organization="harbour-sound-collective",
        declaration=_declaration(
            rights_holder="Harbour Sound Collective",
            consent_basis="own_work",
            authorship="hybrid",
            synthetic_share_bps=1000,
        ),
        options=[("evaluation-only", 15_000), ("commercial-training", 90_000)],
        days_ago=20,
    ),
]

USERS = [
    ("creator@wellspring.test", "Carys Creator", False),
    ("buyer@wellspring.test", "Bea Buyer", False),
    ("reviewer@wellspring.test", "Rhys Reviewer", True),
    ("studio@wellspring.test", "Sol Studio", False),
]
ORGANIZATIONS = [
    ("demo-creators", "Demo Creators Cooperative", True, False, "creator@wellspring.test"),
    ("demo-lab", "Demo Lab", False, True, "buyer@wellspring.test"),
    ("harbour-sound-collective", "Harbour Sound Collective", True, False, "studio@wellspring.test"),
]


class Command(BaseCommand):
    help = (
        "Create demo organizations, users and a catalog of datasets with real files (idempotent)."
    )

    def handle(self, *args, **options):
        if settings.IS_PRODUCTION:
            raise CommandError(
                "seed_demo creates users with a published password; it never runs in production."
            )
        users = self._users()
        organizations = self._organizations(users)
        reviewer = users["reviewer@wellspring.test"]
        templates = {
            template.key: template
            for template in LicenseTemplate.objects.filter(organization__isnull=True)
        }
        base = timezone.now()
        created = 0
        for spec in sorted(CATALOG, key=lambda item: -item.days_ago):
            if Dataset.objects.filter(slug=spec.slug).exists():
                continue
            organization = organizations[spec.organization]
            owner = (
                Membership.objects.filter(organization=organization, role="owner")
                .select_related("user")
                .first()
                .user
            )
            self._dataset(
                spec, organization, owner, reviewer, templates, base - timedelta(days=spec.days_ago)
            )
            created += 1
        self.stdout.write(
            f"Demo catalog: {created} dataset(s) created, {len(CATALOG) - created} already present."
        )
        self._quality_reports()
        self._demo_license(organizations, users)
        self._demo_usage_report(organizations, users)
        self._demo_notifications(users)
        self._demo_offer(organizations, users)
        self.stdout.write("Demo logins (password: wellspring-demo):")
        for email, _, is_staff in USERS:
            self.stdout.write(f"  {email}{'  (staff reviewer)' if is_staff else ''}")

    def _users(self) -> dict[str, User]:
        users = {}
        for email, name, is_staff in USERS:
            user = User.objects.filter(email=email).first()
            if user is None:
                user = User.objects.create_user(
                    email=email, password=DEMO_PASSWORD, full_name=name, is_staff=is_staff
                )
            users[email] = user
        return users

    def _organizations(self, users) -> dict[str, Organization]:
        organizations = {}
        for slug, name, is_creator, is_buyer, owner_email in ORGANIZATIONS:
            organization, _ = Organization.objects.get_or_create(
                slug=slug, defaults={"name": name, "is_creator": is_creator, "is_buyer": is_buyer}
            )
            Membership.objects.get_or_create(
                user=users[owner_email],
                organization=organization,
                defaults={"role": Membership.Role.OWNER},
            )
            organizations[slug] = organization
        return organizations

    @transaction.atomic
    def _dataset(self, spec: DemoDataset, organization, owner, reviewer, templates, when) -> None:
        rng = random.Random(spec.slug)
        dataset = provenance.create_dataset(
            actor=owner,
            organization=organization,
            title=spec.title,
            modality=spec.modality,
            summary=spec.summary,
            description=spec.description,
            languages=spec.languages,
            tags=spec.tags,
            slug=spec.slug,
            now=when,
        )
        version = dataset.versions.get(number=1)
        for path, make in sorted(spec.files.items()):
            provenance.add_file(
                actor=owner, version=version, path=path, content=ContentFile(make(rng)), now=when
            )
        provenance.update_declaration(
            actor=owner, version=version, changes=spec.declaration or _declaration(), now=when
        )
        provenance.ingest_version(version_id=version.pk, now=when)
        provenance.submit_version(actor=owner, version=version, now=when)
        for key, price in spec.options:
            template = templates[key]
            terms = template.terms_dict()
            if price is not None:
                terms["price_minor"] = price
            add_license_option(
                actor=owner,
                organization=organization,
                dataset=dataset,
                name=template.name,
                terms=terms,
                template=template,
                now=when,
            )
        if spec.approve:
            approved_at = when + timedelta(hours=20)
            version = provenance.approve_version(
                actor=reviewer,
                version=version,
                reason="Evidence matches the declared rights holder.",
                now=approved_at,
            )
            publish_listing(actor=reviewer, version=version, now=approved_at)

    def _quality_reports(self) -> None:
        """Measure every demo version that has no quality card yet (approved ones first, so
        the others are checked against them), here rather than on a worker: the cards show
        on the first run."""
        versions = (
            DatasetVersion.objects.exclude(merkle_root="")
            .exclude(quality_report__state=QualityReport.State.DONE)
            .order_by(F("approved_at").asc(nulls_last=True), "created_at", "id")
        )
        for version in versions:
            measure_quality(version_id=version.pk)

    # --- Checkout (issue 7): one paid, active license of demo-lab ---------------------------

    def _demo_notifications(self, users) -> None:
        """The version waiting in the queue, announced to the reviewer (issue 4)."""
        waiting = provenance_selectors.review_queue(viewer=users["reviewer@wellspring.test"])
        version = waiting.first()
        if version is None:
            return
        Notification.objects.get_or_create(
            recipient=users["reviewer@wellspring.test"],
            verb="version.submitted",
            link=reverse("review:version", args=[version.pk]),
            defaults={"text": f"{version.dataset.title} v{version.number} waits for review."},
        )

    def _demo_offer(self, organizations, users) -> None:
        """demo-lab proposed terms for astronomy-observing-logs; demo-creators has to answer.
        Skipped while demo-lab has any offer on that dataset."""
        from licensing.models import Offer
        from licensing.services import open_offer

        dataset = Dataset.objects.filter(slug="astronomy-observing-logs").first()
        buyer_org = organizations["demo-lab"]
        if dataset is None or Offer.objects.filter(dataset=dataset, buyer_org=buyer_org).exists():
            return
        open_offer(
            actor=users["buyer@wellspring.test"],
            organization=buyer_org,
            dataset=dataset,
            terms={
                "permitted_uses": ["training", "evaluation"],
                "commercial_use": True,
                "term_days": 730,
                "territories": ["GB", "IE"],
                "price_minor": 180_000,
                "currency": "USD",
            },
            message="We would like two years of training rights for a UK and Irish model.",
        )
        self.stdout.write("Demo offer: demo-lab on astronomy-observing-logs, awaiting creators.")

    def _demo_license(self, organizations, users) -> None:
        """demo-lab bought coastal-folk-tales by invoice (PO), and staff marked it paid; the
        license has its certificate and fingerprinted deliveries. Skipped when it exists."""
        from licensing.models import LicenseOption
        from marketplace import services as checkout
        from marketplace.models import Order

        buyer_org = organizations["demo-lab"]
        if Order.objects.filter(
            organization=buyer_org, idempotency_key="seed-demo-license"
        ).exists():
            return
        option = (
            LicenseOption.objects.filter(dataset__slug="coastal-folk-tales", is_active=True)
            .order_by("price_minor", "id")
            .first()
        )
        if option is None:
            return
        order = checkout.create_order(
            actor=users["buyer@wellspring.test"],
            organization=buyer_org,
            option=option,
            payment_method=Order.PaymentMethod.INVOICE,
            po_number="PO-DEMO-0001",
            billing_company="Demo Lab Ltd.",
            billing_address="2 Research Park, Cambridge, UK",
            billing_vat_id="GB123456789",
            idempotency_key="seed-demo-license",
        )
        checkout.mark_invoice_paid(actor=users["reviewer@wellspring.test"], order=order)
        order = checkout.fulfil_order(order_id=order.pk)
        self.stdout.write(f"Demo license {order.license_id} of demo-lab ({order.status}).")

    def _demo_usage_report(self, organizations, users) -> None:
        """demo-lab reports its first use of the demo license, within the terms. Skipped when
        the license has a report (or does not exist)."""
        from licensing import usage
        from licensing.models import License

        license = (
            License.objects.filter(organization=organizations["demo-lab"], status="active")
            .order_by("created_at", "id")
            .first()
        )
        if license is None or license.usage_reports.exists():
            return
        now = timezone.now()
        report = usage.file_usage_report(
            actor=users["buyer@wellspring.test"],
            organization=organizations["demo-lab"],
            license=license,
            period_start_on=license.starts_at.date(),
            period_end_on=now.date(),
            purpose=sorted(license.agreed_terms["permitted_uses"])[0],
            models_trained=["demo-lab/tide-tales-1b"],
            records_used=license.version.files.aggregate(total=Sum("record_count"))["total"] or 0,
            tokens_used=48_000,
            seats=1,
            note="First evaluation run on the full set.",
            now=now,
        )
        self.stdout.write(f"Demo usage report {report.pk} on {license.pk} ({report.status}).")
