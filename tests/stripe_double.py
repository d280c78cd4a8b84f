"""A small Stripe-compatible double for what localstripe lacks (disputes, invoices, Connect).

It answers the few read endpoints our gateway calls, shaped as real Stripe answers them (a
PaymentIntent's `latest_charge` is an id unless expanded; disputes are listed by PaymentIntent).
Tests set its state directly; our real gateway code talks to it over HTTP with `stripe`.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class StripeDouble:
    def __init__(self):
        self.intents: dict[str, dict] = {}
        self.charges: dict[str, dict] = {}
        self.disputes: list[dict] = []
        self.invoices: dict[str, dict] = {}
        self.requests: list[str] = []
        self.accounts: dict[str, dict] = {}
        self.transfers: dict[str, dict] = {}
        self.idempotent: dict[str, dict] = {}
        # Refuse the next N transfers the way Stripe does when the platform balance is short.
        self.failing_transfers = 0
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlparse(self.path)
                query = parse_qs(url.query)
                double.requests.append(f"GET {url.path}")
                parts = url.path.strip("/").split("/")
                if parts[:2] == ["v1", "payment_intents"] and len(parts) == 3:
                    intent = double.intents.get(parts[2])
                    if intent is None:
                        return self._send(404, {"error": {"message": "No such payment_intent"}})
                    body = dict(intent)
                    if "latest_charge" in query.get("expand[0]", []) and body.get("latest_charge"):
                        body["latest_charge"] = double.charges[body["latest_charge"]]
                    return self._send(200, body)
                if parts[:2] == ["v1", "charges"] and len(parts) == 3:
                    return self._send(200, double.charges[parts[2]])
                if parts[:2] == ["v1", "disputes"]:
                    intent_id = query.get("payment_intent", [""])[0]
                    data = [d for d in double.disputes if d["payment_intent"] == intent_id]
                    return self._send(
                        200,
                        {"object": "list", "data": data, "has_more": False, "url": "/v1/disputes"},
                    )
                if parts[:2] == ["v1", "invoices"] and len(parts) == 3:
                    invoice = double.invoices.get(parts[2])
                    if invoice is None:
                        return self._send(404, {"error": {"message": "No such invoice"}})
                    return self._send(200, invoice)
                return self._send(404, {"error": {"message": f"Unknown path {url.path}"}})

            def do_POST(self):
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                params = {key: values[0] for key, values in form.items()}
                double.requests.append(f"POST {url.path}")
                key = self.headers.get("Idempotency-Key", "")
                # Stripe replays the first answer to a repeated idempotency key.
                if key and (url.path, key) in double.idempotent:
                    return self._send(200, double.idempotent[(url.path, key)])
                if url.path == "/v1/accounts":
                    account_id = f"acct_{len(double.accounts) + 1:016d}"
                    body = {
                        "id": account_id,
                        "object": "account",
                        "type": params.get("type", "express"),
                        "email": params.get("email"),
                        "country": params.get("country"),
                        "metadata": {"organization_id": params.get("metadata[organization_id]")},
                    }
                    double.accounts[account_id] = body
                elif url.path == "/v1/transfers":
                    if params.get("destination") not in double.accounts:
                        return self._send(
                            400,
                            {"error": {"type": "invalid_request_error",
                                       "message": "No such destination account."}},
                        )  # fmt: skip
                    if double.failing_transfers > 0:
                        double.failing_transfers -= 1
                        return self._send(
                            400,
                            {"error": {"type": "invalid_request_error", "code": "balance_insufficient",
                                       "message": "You have insufficient funds in your Stripe account."}},
                        )  # fmt: skip
                    transfer_id = f"tr_{len(double.transfers) + 1:016d}"
                    body = {
                        "id": transfer_id,
                        "object": "transfer",
                        "amount": int(params["amount"]),
                        "currency": params["currency"],
                        "destination": params["destination"],
                        "transfer_group": params.get("transfer_group"),
                        "metadata": {"payout_id": params.get("metadata[payout_id]")},
                    }
                    double.transfers[transfer_id] = body
                else:
                    return self._send(404, {"error": {"message": f"Unknown path {url.path}"}})
                if key:
                    double.idempotent[(url.path, key)] = body
                return self._send(200, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "StripeDouble":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- state helpers ---

    def paid_intent(self, intent_id: str, amount: int, currency: str = "usd") -> None:
        charge_id = f"ch_{intent_id[3:]}"
        self.charges[charge_id] = {
            "id": charge_id,
            "object": "charge",
            "amount": amount,
            "amount_refunded": 0,
            "disputed": False,
            "payment_intent": intent_id,
        }
        self.intents[intent_id] = {
            "id": intent_id,
            "object": "payment_intent",
            "status": "succeeded",
            "amount": amount,
            "currency": currency,
            "latest_charge": charge_id,
            "metadata": {},
        }

    def dispute(self, intent_id: str, status: str) -> None:
        charge_id = self.intents[intent_id]["latest_charge"]
        self.charges[charge_id]["disputed"] = True
        self.disputes = [d for d in self.disputes if d["payment_intent"] != intent_id]
        self.disputes.append(
            {
                "id": f"dp_{intent_id[3:]}",
                "object": "dispute",
                "status": status,
                "charge": charge_id,
                "payment_intent": intent_id,
            }
        )
