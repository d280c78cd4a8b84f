"""A procurement system's whole purchase through the Wellspring API v1, checked end to end.

It plays both sides of one negotiation, so it needs two API keys: a buyer's (an owner of a buyer
organization, e.g. `demo-lab`) and a creator's (an owner of the creator organization whose
listing is bought, e.g. `demo-creators`; the creator's counter-offer is a step of the flow):

    search the catalog -> pick a listing of the creator with a license option -> open an offer
    -> the creator counters -> the buyer accepts -> order the agreement by card (test mode) or
    by invoice with a PO number -> wait for the license -> verify its certificate with the
    platform's key (/.well-known/jwks.json) -> verify the license's manifest and its Merkle
    root -> download every file by its signed link and check its SHA-256 against the manifest
    -> file a usage report -> check that each step's webhook event arrived at a receiver this
    script runs on 127.0.0.1, signed with the secret Wellspring returned once.

It prints one line per step and exits 0 when everything holds; otherwise it names the failing
step and exits 1 (2 for bad arguments). The webhook endpoints it registers are deleted at the
end.

Run it against `make run` with the demo data (keys from `manage.py create_api_key`):

    python examples/procurement_client.py --base-url http://127.0.0.1:8000 \\
        --buyer-key "$(python manage.py create_api_key --org demo-lab --name client | tail -1)" \\
        --creator-key "$(python manage.py create_api_key --org demo-creators --name client | tail -1)"

Arguments may come from the environment instead: WELLSPRING_URL, WELLSPRING_BUYER_KEY and
WELLSPRING_CREATOR_KEY. Other options: `--listing SLUG` buys that listing; `--payment invoice`
orders by invoice (`--po-number`, `--billing-company`) and then waits, up to `--timeout`
seconds, for Wellspring's staff to mark the invoice paid; `--listen HOST` is the address the
webhook receiver binds to and Wellspring posts to (the server must be allowed to reach it: in
development private addresses are, in production list the host in WEBHOOK_ALLOWED_HOSTS).

Card payments: the order answers a PaymentIntent client secret, which Stripe.js confirms in a
person's browser. With Stripe in test mode (localstripe in development) a script pays instead
with a test card through `POST /api/v1/orders/{id}/test-payment/`; with live Stripe keys use
`--payment invoice`.

Needs Python 3.11 with `requests` and `cryptography`.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

API = "/api/v1"
REQUEST_TIMEOUT = 30
RETRIES = 3


class StepFailed(Exception):
    """The flow stops here; the message says what did not hold."""


# --- Talking to the API -------------------------------------------------------------------


class Client:
    """One organization's API key against one Wellspring."""

    def __init__(self, base_url: str, api_key: str, name: str):
        self.base_url = base_url.rstrip("/")
        self.name = name
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Api-Key {api_key}"
        self.session.headers["Accept"] = "application/json"

    def url(self, path: str) -> str:
        return path if path.startswith("http") else self.base_url + path

    def request(self, method: str, path: str, *, expect=(200,), **kwargs) -> requests.Response:
        for attempt in range(RETRIES + 1):
            response = self.session.request(
                method, self.url(path), timeout=REQUEST_TIMEOUT, **kwargs
            )
            # Rate limited (429) or busy (503): wait as told, then send the same request again.
            if response.status_code not in (429, 503) or attempt == RETRIES:
                break
            time.sleep(retry_after(response))
        if response.status_code not in expect:
            raise StepFailed(f"{method} {path} as {self.name} answered {describe(response)}")
        return response

    def get(self, path: str, **kwargs) -> dict:
        return self.request("GET", path, **kwargs).json()

    def post(self, path: str, body: dict | None = None, *, expect=(200, 201)) -> dict:
        # One Idempotency-Key per intended operation, sent again with each retry of it: a
        # retried offer or order is created once, and the first answer is replayed.
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        return self.request("POST", path, json=body or {}, headers=headers, expect=expect).json()

    def pages(self, path: str, params: dict | None = None):
        """Every item of a list, following the cursor in `next` until it is null."""
        page = self.get(path, params=params)
        while True:
            yield from page["results"]
            if not page["next"]:
                return
            page = self.get(page["next"])


def retry_after(response: requests.Response) -> float:
    try:
        return min(max(float(response.headers.get("Retry-After", "1")), 0.1), 30.0)
    except ValueError:
        return 1.0


def describe(response: requests.Response) -> str:
    """`404 (not_found: No such license.)` from a problem JSON answer, else the status."""
    try:
        problem = response.json()
    except ValueError:
        return str(response.status_code)
    if isinstance(problem, dict) and "detail" in problem:
        return f"{response.status_code} ({problem.get('code', '')}: {problem['detail']})"
    return str(response.status_code)


def wait_for(what: str, check, deadline: float, interval: float = 0.5):
    """Poll `check` until it returns something truthy; StepFailed at the deadline."""
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise StepFailed(f"gave up waiting for {what}")
        time.sleep(interval)


# --- Checking what Wellspring signed --------------------------------------------------------


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def canonical(payload: dict) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def verify_envelope(envelope: dict, jwks: dict) -> dict:
    """The envelope's payload when its Ed25519 signature verifies with the JWKS key of its kid."""
    keys = [key for key in jwks.get("keys", []) if key.get("kid") == envelope.get("kid")]
    if not keys or keys[0].get("kty") != "OKP" or keys[0].get("crv") != "Ed25519":
        raise StepFailed(f"no Ed25519 key with kid {envelope.get('kid')!r} in the JWKS")
    public_key = Ed25519PublicKey.from_public_bytes(b64url_decode(keys[0]["x"]))
    try:
        public_key.verify(b64url_decode(envelope["signature"]), canonical(envelope["payload"]))
    except (InvalidSignature, ValueError, KeyError) as error:
        raise StepFailed(f"the signature does not verify ({error.__class__.__name__})") from None
    return envelope["payload"]


def merkle_root(files: list[tuple[str, str]]) -> str:
    """RFC 6962 tree hash over (path, sha256_hex), sorted by path; leaves `path\\0sha256_hex`."""

    def tree(hashes: list[bytes]) -> bytes:
        if len(hashes) == 1:
            return hashes[0]
        split = 1 << ((len(hashes) - 1).bit_length() - 1)
        return hashlib.sha256(b"\x01" + tree(hashes[:split]) + tree(hashes[split:])).digest()

    leaves = [
        hashlib.sha256(b"\x00" + f"{path}\0{sha256}".encode()).digest()
        for path, sha256 in sorted(files)
    ]
    return (tree(leaves) if leaves else hashlib.sha256(b"").digest()).hex()


def webhook_signature_holds(body: bytes, header: str, secret: str, tolerance: int = 300) -> bool:
    """`Wellspring-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, fresh."""
    pairs = [part.split("=", 1) for part in header.split(",") if "=" in part]
    timestamps = [value for name, value in pairs if name == "t"]
    if len(timestamps) != 1 or not timestamps[0].isdigit():
        return False
    if abs(time.time() - int(timestamps[0])) > tolerance:
        return False
    expected = hmac.new(secret.encode(), timestamps[0].encode() + b"." + body, hashlib.sha256)
    return any(
        hmac.compare_digest(expected.hexdigest(), value) for name, value in pairs if name == "v1"
    )


# --- Receiving webhooks ---------------------------------------------------------------------


class Receiver:
    """A small HTTP server on `host` recording each POST by path: one path per organization."""

    def __init__(self, host: str):
        self.received: dict[str, list[tuple[dict, bytes]]] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.received.setdefault(self.path, []).append(
                        ({name.lower(): value for name, value in self.headers.items()}, body)
                    )
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.base_url = f"http://{host}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def at(self, path: str) -> list[tuple[dict, bytes]]:
        with self.lock:
            return list(self.received.get(path, []))

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- The flow -------------------------------------------------------------------------------


class Purchase:
    def __init__(self, options):
        self.options = options
        self.buyer = Client(options.base_url, options.buyer_key, "buyer")
        self.creator = Client(options.base_url, options.creator_key, "creator")
        self.deadline = time.monotonic() + options.timeout
        self.receiver = Receiver(options.listen)
        self.endpoints: list[tuple[Client, str]] = []
        # Filled in by the steps, in order.
        self.listing = self.option = self.offer = self.agreement = self.order_data = None
        self.license = self.jwks = self.manifest = None
        self.secrets: dict[str, str] = {}
        self.expected: dict[str, set[tuple[str, str, str]]] = {"buyer": set(), "creator": set()}

    def step(self, name: str, detail: str) -> None:
        print(f"ok   {name:<14} {detail}", flush=True)

    def expect_event(self, side: str, kind: str, key: str, value: str) -> None:
        self.expected[side].add((kind, key, value))

    def run(self) -> None:
        current = "start"
        steps = [
            ("webhooks", self.register_webhooks),
            ("search", self.search),
            ("offer", self.open_offer),
            ("counter", self.counter),
            ("accept", self.accept),
            ("order", self.order),
            ("payment", self.pay),
            ("license", self.wait_for_license),
            ("certificate", self.verify_certificate),
            ("manifest", self.verify_manifest),
            ("files", self.download_files),
            ("usage report", self.report_usage),
            ("events", self.check_events),
        ]
        try:
            for current, action in steps:
                self.step(current, action())
        except StepFailed as failure:
            raise StepFailed(f"{current}: {failure}") from None
        except requests.RequestException as error:
            raise StepFailed(f"{current}: could not reach Wellspring ({error})") from None
        finally:
            self.clean_up()

    # Each step returns the line it prints.

    def register_webhooks(self) -> str:
        ids = []
        for side, client in (("buyer", self.buyer), ("creator", self.creator)):
            url = f"{self.receiver.base_url}/{side}"
            endpoint = client.post(f"{API}/webhook-endpoints/", {"url": url, "events": ["*"]})
            self.endpoints.append((client, endpoint["id"]))
            self.secrets[side] = endpoint["secret"]
            ids.append(f"{side} {endpoint['id']}")
        return f"receiver {self.receiver.base_url}; endpoints: {', '.join(ids)}"

    def search(self) -> str:
        own = {dataset["slug"] for dataset in self.creator.pages(f"{API}/datasets/")}
        wanted = self.options.listing
        for listing in self.buyer.pages(f"{API}/listings/", {"page_size": 50}):
            slug = listing["slug"]
            if slug not in own or (wanted and slug != wanted):
                continue
            detail = self.buyer.get(f"{API}/listings/{slug}/")
            for option in detail["license_options"]:
                terms = option["terms"]
                if not terms["is_exclusive"] and terms["price_minor"] >= 100:
                    self.listing, self.option = detail, option
                    price = f"{terms['price_minor']} {terms['currency']} minor units"
                    return f"{slug} ({detail['title']}): option {option['name']!r} at {price}"
        raise StepFailed(
            f"no listing {wanted or ''} of the creator's organization with a non-exclusive "
            "option was found in the catalog"
        )

    def proposed(self, percent: int) -> dict:
        terms = dict(self.option["terms"])
        terms["price_minor"] = terms["price_minor"] * percent // 100
        return terms

    def open_offer(self) -> str:
        body = {
            "dataset": self.listing["slug"],
            "terms": self.proposed(80),
            "message": "Our procurement system proposes these terms.",
        }
        self.offer = self.buyer.post(f"{API}/offers/", body)
        self.expect_event("creator", "offer.created", "offer", self.offer["id"])
        return f"{self.offer['id']} at {body['terms']['price_minor']}, awaiting the creator"

    def counter(self) -> str:
        offer = self.creator.get(f"{API}/offers/{self.offer['id']}/")
        if offer["awaiting"] != "creator":
            raise StepFailed(f"the offer awaits {offer['awaiting']!r}, not the creator")
        terms = self.proposed(90)
        body = {"terms": terms, "message": "We can meet you at 90%."}
        self.creator.post(f"{API}/offers/{self.offer['id']}/counter/", body)
        self.expect_event("buyer", "offer.countered", "offer", self.offer["id"])
        return f"the creator answers {terms['price_minor']}"

    def accept(self) -> str:
        offer = self.buyer.post(f"{API}/offers/{self.offer['id']}/accept/")
        agreement = offer.get("agreement")
        if offer["status"] != "accepted" or not agreement:
            raise StepFailed(f"the offer is {offer['status']} with no agreement")
        self.agreement = agreement
        for side in ("buyer", "creator"):
            self.expect_event(side, "offer.accepted", "agreement", agreement["id"])
        return f"agreement {agreement['id']}, terms sha256 {agreement['terms_sha256'][:16]}…"

    def order(self) -> str:
        body = {"agreement": self.agreement["id"], "payment_method": self.options.payment}
        if self.options.payment == "invoice":
            body.update(po_number=self.options.po_number, billing_company=self.options.company)
        self.order_data = self.buyer.post(f"{API}/orders/", body)
        amount = self.order_data["amount"]
        if amount["amount_minor"] != self.agreement["price_minor"]:
            raise StepFailed(f"the order is for {amount}, the agreement for another price")
        self.expect_event("buyer", "order.paid", "order", self.order_data["id"])
        return f"{self.order_data['id']} for {amount['amount_minor']} {amount['currency']}"

    def pay(self) -> str:
        order = self.order_data
        if self.options.payment == "invoice":
            invoice = order.get("invoice") or {}
            return (
                f"invoice {invoice.get('number')} for PO {order['po_number']}; waiting for it "
                "to be marked paid"
            )
        card = order.get("card_payment") or {}
        if not card.get("client_secret"):
            raise StepFailed("the card order carries no PaymentIntent client secret")
        if not card.get("test_mode"):
            raise StepFailed(
                "Stripe is live: the client secret is for Stripe.js in a person's browser; "
                "use --payment invoice"
            )
        paid = self.buyer.post(
            f"{API}/orders/{order['id']}/test-payment/", {"card": "4242424242424242"}
        )
        return f"test card accepted for PaymentIntent {card['client_secret'].split('_secret_')[0]}; {paid['payment_state']}"

    def wait_for_license(self) -> str:
        order_id = self.order_data["id"]

        def paid_order():
            order = self.buyer.get(f"{API}/orders/{order_id}/")
            return order if order["license"] and order["payment_state"] == "paid" else None

        license_id = wait_for(f"order {order_id} to be paid", paid_order, self.deadline)["license"]

        def issued():
            license = self.buyer.get(f"{API}/licenses/{license_id}/")
            return license if license["status"] == "active" and license["certificate_id"] else None

        self.license = wait_for(f"license {license_id} and its certificate", issued, self.deadline)
        listed = [item["id"] for item in self.buyer.pages(f"{API}/licenses/", {"page_size": 20})]
        if license_id not in listed:
            raise StepFailed(f"{license_id} is not in GET {API}/licenses/")
        self.expect_event("buyer", "license.granted", "license", license_id)
        return f"{license_id} active, {self.license['version']['dataset']} v{self.license['version']['number']}"

    def verify_certificate(self) -> str:
        self.jwks = self.buyer.get("/.well-known/jwks.json")
        envelope = self.buyer.get(f"{API}/licenses/{self.license['id']}/certificate/")
        payload = verify_envelope(envelope, self.jwks)
        if payload.get("license_id") != self.license["id"]:
            raise StepFailed(f"the certificate is for {payload.get('license_id')}")
        if payload.get("terms_sha256") != self.license["terms_sha256"]:
            raise StepFailed("the certificate's terms hash differs from the license's")
        check = self.buyer.post(
            f"{API}/certificates/verify/", {"certificate": envelope}, expect=(200,)
        )
        if not (check["signature_valid"] and check["is_active"]):
            raise StepFailed(f"Wellspring's own check says: {check['message']}")
        return f"Ed25519 signature verifies with key {envelope['kid'][:16]}…; {check['message']}"

    def verify_manifest(self) -> str:
        path = f"{API}/licenses/{self.license['id']}/manifest/"

        def issued():
            response = self.buyer.request("GET", path, expect=(200, 409))
            return response.json() if response.status_code == 200 else None

        envelope = wait_for("the license manifest", issued, self.deadline)
        payload = verify_envelope(envelope, self.jwks)
        if payload.get("type") != "wellspring.license-manifest":
            raise StepFailed(f"not a license manifest: {payload.get('type')}")
        if payload["license"]["id"] != self.license["id"]:
            raise StepFailed(f"the manifest is for {payload['license']['id']}")
        files = payload["files"]
        root = merkle_root([(item["path"], item["sha256"]) for item in files])
        if root != payload["merkle_root"]:
            raise StepFailed(f"the Merkle root recomputes to {root}, not {payload['merkle_root']}")
        if len(files) != payload["file_count"]:
            raise StepFailed("file_count does not match the files listed")
        self.manifest = payload
        return f"signature verifies; {len(files)} files, Merkle root {root[:16]}… recomputed"

    def download_files(self) -> str:
        expected = {item["path"]: item for item in self.manifest["files"]}
        deliveries = list(
            self.buyer.pages(f"{API}/licenses/{self.license['id']}/deliveries/", {"page_size": 2})
        )
        paths = [item["path"] for item in deliveries]
        if sorted(paths) != sorted(expected) or len(set(paths)) != len(paths):
            raise StepFailed(f"the deliveries list {paths}, the manifest {sorted(expected)}")
        total = 0
        for item in deliveries:
            digest, size = hashlib.sha256(), 0
            # A signed link carries its own authorization: no API key goes with it.
            with requests.get(item["download_url"], stream=True, timeout=REQUEST_TIMEOUT) as got:
                if got.status_code != 200:
                    raise StepFailed(f"downloading {item['path']} answered {got.status_code}")
                for chunk in got.iter_content(64 * 1024):
                    digest.update(chunk)
                    size += len(chunk)
            listed = expected[item["path"]]
            if (digest.hexdigest(), size) != (listed["sha256"], listed["size"]):
                raise StepFailed(
                    f"{item['path']}: {size} bytes, sha256 {digest.hexdigest()}; the manifest "
                    f"says {listed['size']} bytes, sha256 {listed['sha256']}"
                )
            total += size
        return f"{len(deliveries)} files, {total} bytes, every SHA-256 matches the manifest"

    def report_usage(self) -> str:
        terms = self.license["terms"].get("terms", self.license["terms"])
        day = self.license["starts_at"][:10]  # the license's first day: inside its term, past
        records = sum(item.get("records") or 0 for item in self.manifest["files"])
        body = {
            "period_start_on": day,
            "period_end_on": day,
            "purpose": sorted(terms["permitted_uses"])[0],
            "records_used": records,
            "models_trained": [],
            "note": "Reported by the procurement client example.",
        }
        report = self.buyer.post(f"{API}/licenses/{self.license['id']}/usage-reports/", body)
        if report["status"] != "ok":
            raise StepFailed(
                f"the report was recorded as {report['status']}: {report['breach_reasons']}"
            )
        for side in ("buyer", "creator"):
            self.expect_event(side, "usage_report.filed", "usage_report", report["id"])
        return f"{report['id']}: {body['purpose']}, {records} records, {report['status']}"

    def check_events(self) -> str:
        def arrived(side: str) -> set[tuple[str, str, str]]:
            found = set()
            for _, body in self.receiver.at(f"/{side}"):
                event = json.loads(body)
                for kind, key, value in self.expected[side]:
                    if event["type"] == kind and event["data"].get(key) == value:
                        found.add((kind, key, value))
            return found

        for side in ("buyer", "creator"):
            wait_for(
                f"the {side}'s events {sorted(kind for kind, _, _ in self.expected[side])}",
                lambda side=side: arrived(side) >= self.expected[side],
                self.deadline,
            )
        counted = []
        for side in ("buyer", "creator"):
            deliveries = self.receiver.at(f"/{side}")
            for headers, body in deliveries:
                header = headers.get("wellspring-signature", "")
                if not webhook_signature_holds(body, header, self.secrets[side]):
                    raise StepFailed(f"a delivery to the {side} is not signed with its secret")
                if webhook_signature_holds(body + b" ", header, self.secrets[side]):
                    raise StepFailed("a changed body still verified: the check is broken")
            counted.append(
                f"{side} {len(deliveries)} ({', '.join(sorted({k for k, _, _ in self.expected[side]}))})"
            )
        return "signed and verified: " + "; ".join(counted)

    def clean_up(self) -> None:
        for client, endpoint_id in self.endpoints:
            try:
                client.request(
                    "DELETE", f"{API}/webhook-endpoints/{endpoint_id}/", expect=(204, 404)
                )
            except (StepFailed, requests.RequestException) as error:
                print(
                    f"note: could not delete webhook endpoint {endpoint_id}: {error}",
                    file=sys.stderr,
                )
        self.receiver.stop()


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--base-url", default=os.environ.get("WELLSPRING_URL", "http://127.0.0.1:8000")
    )
    parser.add_argument("--buyer-key", default=os.environ.get("WELLSPRING_BUYER_KEY"))
    parser.add_argument("--creator-key", default=os.environ.get("WELLSPRING_CREATOR_KEY"))
    parser.add_argument("--listing", help="buy this listing (its slug)")
    parser.add_argument("--payment", choices=["card", "invoice"], default="card")
    parser.add_argument("--po-number", default=time.strftime("PO-%Y%m%d-%H%M%S", time.gmtime()))
    parser.add_argument("--billing-company", dest="company", default="Demo Lab Ltd.")
    parser.add_argument("--listen", default="127.0.0.1", help="the webhook receiver's address")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds for the whole flow")
    options = parser.parse_args(argv)
    if not options.buyer_key or not options.creator_key:
        parser.error(
            "give --buyer-key and --creator-key (or WELLSPRING_BUYER_KEY and WELLSPRING_CREATOR_KEY)"
        )
    return options


def main(argv: list[str] | None = None) -> int:
    options = parse_arguments(sys.argv[1:] if argv is None else argv)
    print(f"Wellspring at {options.base_url}: one purchase, end to end", flush=True)
    try:
        Purchase(options).run()
    except StepFailed as failure:
        print(f"FAILED {failure}", file=sys.stderr, flush=True)
        return 1
    print("all steps hold", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
