"""The fake's state and rules: Stripe objects, balances, and the events they cause.

Not thread-safe by itself: the server (server.py) holds one lock around every call,
so requests are applied one at a time, in arrival order.

`account` arguments name the Stripe-Account a request acts as (None: the platform).
Amounts are integers in the currency's minor unit, as in Stripe.
"""

from __future__ import annotations

import copy
import secrets
import time
from collections import defaultdict
from typing import Any

from tests.fake_stripe import params as p
from tests.fake_stripe import spec

PLATFORM = None


class StripeError(Exception):
    """An error Stripe would answer with; `saved` is whether an idempotency key keeps it.

    Stripe saves the result of a request that started executing (an insufficient
    balance, say) but not one refused while its parameters were validated.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        saved: bool = True,
    ):
        super().__init__(message)
        self.status, self.type, self.code, self.param, self.saved = status, type, code, param, saved
        self.message = message

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
        if self.param:
            error["param"] = self.param
        return {"error": error}


def missing(kind: str, object_id: str, param: str = "id") -> StripeError:
    return StripeError(
        f"No such {kind}: '{object_id}'", status=404, code="resource_missing", param=param
    )


def new_id(prefix: str) -> str:
    return f"{prefix}_Fk{secrets.token_hex(11)}"


class Store:
    def __init__(self, base_url: str):
        self.base_url = base_url
        self.objects: dict[str, dict[str, Any]] = {}
        self.owner: dict[str, str | None] = {}
        # Available balance per account (None: the platform), per currency.
        self.balances: dict[str | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.line_items: dict[str, list[dict[str, Any]]] = {}
        # What a checkout session's payment intent will get, kept until it exists.
        self.intent_data: dict[str, dict[str, Any]] = {}
        self.links: dict[str, dict[str, Any]] = {}  # account links, by the id in their url
        self.events: dict[str, dict[str, Any]] = {}
        # Events made but not yet handed to the webhook sender, oldest first.
        self.pending: list[str] = []

    # --- plumbing --------------------------------------------------------------

    def _put(self, obj: dict[str, Any], account: str | None) -> dict[str, Any]:
        self.objects[obj["id"]] = obj
        self.owner[obj["id"]] = account
        return obj

    def get(self, kind: str, object_id: str, account: str | None, param: str = "id") -> dict:
        obj = self.objects.get(object_id)
        if obj is None or obj["object"] != kind or self.owner[object_id] != account:
            raise missing(kind.split(".")[-1].replace("_", " "), object_id, param)
        return obj

    def emit(
        self,
        type: str,
        obj: dict[str, Any],
        *,
        account: str | None = None,
        previous_attributes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record an event holding a snapshot of `obj`; the sender delivers it later."""
        data: dict[str, Any] = {"object": copy.deepcopy(obj)}
        if previous_attributes is not None:
            data["previous_attributes"] = previous_attributes
        event: dict[str, Any] = {
            "id": new_id("evt"),
            "object": "event",
            "api_version": spec.api_version(),
            "created": int(time.time()),
            "data": data,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": type,
        }
        if account:
            event["account"] = account
        spec.validate_object(event)
        spec.validate_object(data["object"])
        self.events[event["id"]] = event
        self.pending.append(event["id"])
        return event

    def _list(self, kind: str, account: str | None, url: str, query: dict, match=None) -> dict:
        found = [
            obj
            for obj_id, obj in self.objects.items()
            if obj["object"] == kind
            and self.owner[obj_id] == account
            and (match is None or match(obj))
        ]
        found.reverse()  # newest first, as Stripe lists
        after = query.get("starting_after")
        if after:
            ids = [obj["id"] for obj in found]
            found = found[ids.index(after) + 1 :] if after in ids else []
        limit = p.integer(query, "limit") or 10
        return {"object": "list", "data": found[:limit], "has_more": len(found) > limit, "url": url}

    def _move(self, account: str | None, currency: str, amount: int) -> None:
        self.balances[account][currency] += amount

    # --- checkout sessions and payments ------------------------------------------

    def create_checkout_session(self, account: str | None, params: dict) -> dict:
        if params.get("mode") != "payment":
            raise StripeError(
                "The fake supports only mode=payment.", param="mode", code="parameter_invalid"
            )
        items = params.get("line_items")
        if not isinstance(items, list) or not items:
            raise StripeError(
                "Missing required param: line_items.", param="line_items", saved=False
            )
        currencies, total, rows = set(), 0, []
        for index, item in enumerate(items):
            price_data = item.get("price_data") if isinstance(item, dict) else None
            if not isinstance(price_data, dict):
                raise StripeError(
                    "The fake supports only line_items[][price_data].",
                    param=f"line_items[{index}][price_data]",
                    saved=False,
                )
            amount = p.integer(price_data, "unit_amount", required=True)
            quantity = p.integer(item, "quantity", required=True)
            currency = p.string(price_data, "currency", required=True).lower()
            product = price_data.get("product_data") or {}
            currencies.add(currency)
            total += amount * quantity
            rows.append({"amount": amount, "quantity": quantity, "currency": currency,
                         "name": product.get("name", "")})  # fmt: skip
        if len(currencies) > 1:
            raise StripeError("All line items must share one currency.", param="line_items")
        session_id = new_id("cs_test")
        now = int(time.time())
        session = {
            "id": session_id,
            "object": "checkout.session",
            "after_expiration": None,
            "allow_promotion_codes": None,
            "amount_subtotal": total,
            "amount_total": total,
            "automatic_tax": {
                "enabled": False,
                "liability": None,
                "provider": None,
                "status": None,
            },
            "billing_address_collection": None,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"),
            "client_secret": None,
            "consent": None,
            "consent_collection": None,
            "created": now,
            "currency": currencies.pop(),
            "custom_fields": [],
            "custom_text": {
                "after_submit": None,
                "shipping_address": None,
                "submit": None,
                "terms_of_service_acceptance": None,
            },
            "customer": None,
            "customer_creation": "if_required",
            "customer_details": None,
            "customer_email": params.get("customer_email"),
            "expires_at": p.integer(params, "expires_at") or now + 24 * 3600,
            "invoice": None,
            "livemode": False,
            "locale": params.get("locale"),
            "metadata": p.metadata(params),
            "mode": "payment",
            "payment_intent": None,
            "payment_link": None,
            "payment_method_collection": "if_required",
            "payment_method_types": ["card"],
            "payment_status": "unpaid",
            "phone_number_collection": {"enabled": False},
            "recovered_from": None,
            "setup_intent": None,
            "shipping_address_collection": None,
            "shipping_cost": None,
            "shipping_options": [],
            "status": "open",
            "submit_type": None,
            "subscription": None,
            "success_url": params.get("success_url"),
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "ui_mode": "hosted",
            "url": f"{self.base_url}/_fake/checkout/{session_id}",
        }
        intent_data = params.get("payment_intent_data") or {}
        self.line_items[session_id] = rows
        self.intent_data[session_id] = {
            "transfer_group": intent_data.get("transfer_group"),
            "metadata": p.metadata(intent_data),
            "description": intent_data.get("description"),
        }
        return self._put(session, account)

    def list_checkout_sessions(self, account: str | None, query: dict) -> dict:
        intent = query.get("payment_intent")
        return self._list(
            "checkout.session", account, "/v1/checkout/sessions", query,
            lambda s: intent is None or s["payment_intent"] == intent,
        )  # fmt: skip

    def expire_checkout_session(self, account: str | None, session_id: str, params: dict) -> dict:
        session = self.get("checkout.session", session_id, account, "session")
        if session["status"] != "open":
            raise StripeError(
                f'Only Checkout Sessions with a status in ["open"] can be expired. '
                f'This Checkout Session has a status of "{session["status"]}".'
            )
        session.update(status="expired", url=None)
        self.emit("checkout.session.expired", session, account=account)
        return session

    def complete_checkout_session(self, session_id: str, *, async_payment: bool = False) -> dict:
        """The customer pays. With `async_payment`, the payment is still processing."""
        account = self.owner.get(session_id)
        session = self.get("checkout.session", session_id, account)
        if session["status"] != "open":
            raise StripeError(f"Checkout session {session_id} is {session['status']}, not open")
        extra = self.intent_data[session_id]
        now = int(time.time())
        intent_id = new_id("pi")
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": session["amount_total"],
            "amount_capturable": 0,
            "amount_received": 0,
            "application": None,
            "application_fee_amount": None,
            "automatic_payment_methods": None,
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": "automatic_async",
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(8)}",
            "confirmation_method": "automatic",
            "created": now,
            "currency": session["currency"],
            "customer": None,
            "description": extra["description"],
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": extra["metadata"],
            "next_action": None,
            "on_behalf_of": None,
            "payment_method": new_id("pm"),
            "payment_method_types": ["card"],
            "processing": None,
            "receipt_email": None,
            "review": None,
            "setup_future_usage": None,
            "shipping": None,
            "statement_descriptor": None,
            "statement_descriptor_suffix": None,
            "status": "processing",
            "transfer_data": None,
            "transfer_group": extra["transfer_group"],
        }
        self._put(intent, account)
        session.update(
            status="complete",
            payment_intent=intent_id,
            url=None,
            customer_details={
                "address": None,
                "email": session["customer_email"] or "payer@example.com",
                "name": "Test Payer",
                "phone": None,
                "tax_exempt": "none",
                "tax_ids": [],
            },
        )
        if not async_payment:
            self._capture(intent, account)
            session["payment_status"] = "paid"
        self.emit("checkout.session.completed", session, account=account)
        return session

    def settle_async_payment(self, session_id: str, *, succeeded: bool) -> dict:
        account = self.owner.get(session_id)
        session = self.get("checkout.session", session_id, account)
        intent = self.objects.get(session["payment_intent"] or "")
        if session["status"] != "complete" or intent is None or intent["status"] != "processing":
            raise StripeError(f"Checkout session {session_id} has no payment in processing")
        if succeeded:
            self._capture(intent, account)
            session["payment_status"] = "paid"
            self.emit("checkout.session.async_payment_succeeded", session, account=account)
        else:
            intent.update(status="requires_payment_method")
            self.emit("checkout.session.async_payment_failed", session, account=account)
        return session

    def _capture(self, intent: dict, account: str | None) -> None:
        """Charge the customer: the amount joins the available balance at once.

        (Real Stripe holds card funds as pending for days; tests want them spendable.)
        """
        charge_id = new_id("ch")
        charge = {
            "id": charge_id,
            "object": "charge",
            "amount": intent["amount"],
            "amount_captured": intent["amount"],
            "amount_refunded": 0,
            "application": None,
            "application_fee": None,
            "application_fee_amount": None,
            "balance_transaction": new_id("txn"),
            "billing_details": {"address": None, "email": None, "name": None, "phone": None},
            "calculated_statement_descriptor": "MARKETPLACE",
            "captured": True,
            "created": int(time.time()),
            "currency": intent["currency"],
            "customer": None,
            "description": intent["description"],
            "disputed": False,
            "failure_balance_transaction": None,
            "failure_code": None,
            "failure_message": None,
            "fraud_details": {},
            "livemode": False,
            "metadata": dict(intent["metadata"]),
            "on_behalf_of": None,
            "outcome": None,
            "paid": True,
            "payment_intent": intent["id"],
            "payment_method": intent["payment_method"],
            "payment_method_details": None,
            "receipt_email": None,
            "receipt_number": None,
            "receipt_url": None,
            "refunded": False,
            "review": None,
            "shipping": None,
            "source_transfer": None,
            "statement_descriptor": None,
            "statement_descriptor_suffix": None,
            "status": "succeeded",
            "transfer_data": None,
            "transfer_group": intent["transfer_group"],
        }
        self._put(charge, account)
        intent.update(status="succeeded", amount_received=intent["amount"], latest_charge=charge_id)
        self._move(account, intent["currency"], intent["amount"])

    # --- refunds -------------------------------------------------------------------

    def create_refund(self, account: str | None, params: dict) -> dict:
        intent_id = p.string(params, "payment_intent") or ""
        charge_id = p.string(params, "charge")
        if not intent_id and not charge_id:
            raise StripeError(
                "One of the following params should be provided for this request: "
                "payment_intent or charge.",
                param="payment_intent",
                saved=False,
            )
        if charge_id:
            charge = self.get("charge", charge_id, account, "charge")
        else:
            intent = self.get("payment_intent", intent_id, account, "payment_intent")
            if not intent["latest_charge"]:
                raise StripeError(
                    f"This PaymentIntent ({intent_id}) does not have a successful charge to "
                    "refund.",
                    param="payment_intent",
                )
            charge = self.objects[intent["latest_charge"]]
        remaining = charge["amount"] - charge["amount_refunded"]
        if remaining == 0:
            raise StripeError(
                f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded"
            )
        amount = p.integer(params, "amount") or remaining
        if amount > remaining:
            raise StripeError(
                f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                f"({remaining})",
                param="amount",
                code="amount_too_large",
            )
        refund = {
            "id": new_id("re"),
            "object": "refund",
            "amount": amount,
            "balance_transaction": new_id("txn"),
            "charge": charge["id"],
            "created": int(time.time()),
            "currency": charge["currency"],
            "metadata": p.metadata(params),
            "payment_intent": charge["payment_intent"],
            "reason": params.get("reason"),
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": "succeeded",
            "transfer_reversal": None,
        }
        self._put(refund, account)
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        self._move(account, charge["currency"], -amount)
        self.emit("refund.created", refund, account=account)
        self.emit(
            "charge.refunded",
            charge,
            account=account,
            previous_attributes={"amount_refunded": charge["amount_refunded"] - amount},
        )
        return refund

    # --- connected accounts --------------------------------------------------------

    def create_account(self, account: str | None, params: dict) -> dict:
        requested = params.get("capabilities") or {}
        capabilities = {
            name: "inactive"
            for name, options in requested.items()
            if isinstance(options, dict) and p.boolean(options.get("requested"))
        }
        obj = {
            "id": new_id("acct"),
            "object": "account",
            "business_profile": None,
            "business_type": params.get("business_type"),
            "capabilities": capabilities,
            "charges_enabled": False,
            "controller": {"is_controller": True, "type": "application"},
            "country": params.get("country") or "US",
            "created": int(time.time()),
            "default_currency": params.get("default_currency") or "usd",
            "details_submitted": False,
            "email": params.get("email"),
            "metadata": p.metadata(params),
            "payouts_enabled": False,
            "requirements": {
                "alternatives": [],
                "current_deadline": None,
                "currently_due": ["external_account", "tos_acceptance.date"],
                "disabled_reason": "requirements.past_due",
                "errors": [],
                "eventually_due": ["external_account", "tos_acceptance.date"],
                "past_due": ["external_account", "tos_acceptance.date"],
                "pending_verification": [],
            },
            "type": params.get("type") or "express",
        }
        return self._put(obj, PLATFORM)

    def update_account(self, account: str | None, account_id: str, params: dict) -> dict:
        obj = self.get("account", account_id, PLATFORM, "account")
        obj["metadata"] = p.metadata(params, obj["metadata"])
        if params.get("email"):
            obj["email"] = params["email"]
        return obj

    def activate_account(self, account_id: str) -> dict:
        """Onboarding finished: every requested capability active, nothing due."""
        obj = self.get("account", account_id, PLATFORM, "account")
        previous = {
            "capabilities": dict(obj["capabilities"]),
            "charges_enabled": obj["charges_enabled"],
            "details_submitted": obj["details_submitted"],
            "payouts_enabled": obj["payouts_enabled"],
        }
        obj["capabilities"] = {name: "active" for name in obj["capabilities"] or {"transfers": 1}}
        obj.update(charges_enabled=True, details_submitted=True, payouts_enabled=True)
        obj["requirements"].update(
            currently_due=[], eventually_due=[], past_due=[], disabled_reason=None
        )
        self.emit("account.updated", obj, account=account_id, previous_attributes=previous)
        return obj

    def create_account_link(self, account: str | None, params: dict) -> dict:
        account_id = p.string(params, "account", required=True)
        self.get("account", account_id, PLATFORM, "account")
        link_id = secrets.token_hex(12)
        self.links[link_id] = {
            "account": account_id,
            "return_url": params.get("return_url"),
            "refresh_url": params.get("refresh_url"),
        }
        now = int(time.time())
        return {
            "object": "account_link",
            "created": now,
            "expires_at": now + 300,
            "url": f"{self.base_url}/_fake/onboarding/{link_id}",
        }

    # --- transfers and the balance --------------------------------------------------

    def create_transfer(self, account: str | None, params: dict) -> dict:
        amount = p.integer(params, "amount", required=True)
        currency = p.string(params, "currency", required=True).lower()
        destination = p.string(params, "destination", required=True)
        if amount <= 0:
            raise StripeError("Invalid positive integer", param="amount", saved=False)
        target = self.objects.get(destination)
        if target is None or target["object"] != "account":
            raise StripeError(
                f"No such destination: '{destination}'",
                param="destination",
                code="resource_missing",
            )
        if (target["capabilities"] or {}).get("transfers") != "active":
            raise StripeError(
                "Your destination account needs to have at least one of the following "
                "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                param="destination",
                code="insufficient_capabilities_for_transfer",
            )
        source = p.string(params, "source_transaction")
        if source:
            self.get("charge", source, account, "source_transaction")
        if self.balances[account][currency] < amount:
            raise StripeError(
                "You have insufficient available funds in your Stripe account. Try adding funds "
                "directly to your available balance by creating Charges using the "
                "4000000000000077 test card.",
                code="balance_insufficient",
            )
        transfer_id = new_id("tr")
        transfer = {
            "id": transfer_id,
            "object": "transfer",
            "amount": amount,
            "amount_reversed": 0,
            "balance_transaction": new_id("txn"),
            "created": int(time.time()),
            "currency": currency,
            "description": params.get("description"),
            "destination": destination,
            "destination_payment": new_id("py"),
            "livemode": False,
            "metadata": p.metadata(params),
            "reversals": {
                "object": "list",
                "data": [],
                "has_more": False,
                "url": f"/v1/transfers/{transfer_id}/reversals",
            },
            "reversed": False,
            "source_transaction": source,
            "source_type": "card",
            "transfer_group": params.get("transfer_group"),
        }
        self._put(transfer, account)
        self._move(account, currency, -amount)
        self._move(destination, currency, amount)
        self.emit("transfer.created", transfer, account=account)
        return transfer

    def list_transfers(self, account: str | None, query: dict) -> dict:
        def match(transfer: dict) -> bool:
            return all(
                query.get(key) in (None, transfer[key]) for key in ("transfer_group", "destination")
            )

        return self._list("transfer", account, "/v1/transfers", query, match)

    def create_reversal(self, account: str | None, transfer_id: str, params: dict) -> dict:
        transfer = self.get("transfer", transfer_id, account, "id")
        remaining = transfer["amount"] - transfer["amount_reversed"]
        amount = p.integer(params, "amount") or remaining
        if remaining == 0 or amount > remaining:
            raise StripeError(
                f"Transfer {transfer_id} has {remaining} left to reverse; you asked for {amount}.",
                param="amount",
                code="transfer_already_reversed" if remaining == 0 else "amount_too_large",
            )
        if self.balances[transfer["destination"]][transfer["currency"]] < amount:
            raise StripeError(
                "The destination account has insufficient funds to reverse this transfer.",
                code="balance_insufficient",
            )
        reversal = {
            "id": new_id("trr"),
            "object": "transfer_reversal",
            "amount": amount,
            "balance_transaction": new_id("txn"),
            "created": int(time.time()),
            "currency": transfer["currency"],
            "destination_payment_refund": new_id("pyr"),
            "metadata": p.metadata(params),
            "source_refund": None,
            "transfer": transfer_id,
        }
        self._put(reversal, account)
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
        transfer["reversals"]["data"].insert(0, reversal)
        self._move(transfer["destination"], transfer["currency"], -amount)
        self._move(account, transfer["currency"], amount)
        self.emit("transfer.reversed", transfer, account=account)
        return reversal

    def list_reversals(self, account: str | None, transfer_id: str, query: dict) -> dict:
        self.get("transfer", transfer_id, account, "id")
        return self._list(
            "transfer_reversal", account, f"/v1/transfers/{transfer_id}/reversals", query,
            lambda r: r["transfer"] == transfer_id,
        )  # fmt: skip

    def fund_balance(self, amount: int, currency: str = "usd", account: str | None = None) -> None:
        """Top up an available balance directly (the 4000000000000077 test card's effect)."""
        self._move(account, currency, amount)

    def balance(self, account: str | None) -> dict:
        amounts = dict(self.balances[account]) or {"usd": 0}
        return {
            "object": "balance",
            "available": [
                {"amount": amount, "currency": currency, "source_types": {"card": amount}}
                for currency, amount in sorted(amounts.items())
            ],
            "livemode": False,
            "pending": [
                {"amount": 0, "currency": currency, "source_types": {"card": 0}}
                for currency in sorted(amounts)
            ],
        }
