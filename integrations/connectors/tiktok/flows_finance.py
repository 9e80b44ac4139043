"""Statements and statement transactions (pull): Get Statements and Get Transactions by Statement (§9.2).

"Exclude statements created before this date" (empty: the integration's creation time, resolved at run
time). Each page holds one statement and one page of its transactions, so memory stays flat; the cursor
(last statement time) moves only after a statements page's last transaction page is committed, and a
re-run upserts the same rows on (integration, external_id) without duplicates. Transactions are linked to
their orders by order id."""
from __future__ import annotations

from django.utils.dateparse import parse_datetime

from integrations.connectors.tiktok.client import make_client
from integrations.connectors.tiktok import mappers_catalog as m
from integrations.exceptions import PayloadError
from integrations.flows import Flow, Page


class PullStatements(Flow):
    code = "pull_statements"

    def _cutoff(self) -> int:
        value = self.ctx.setting("statements_created_after")
        parsed = parse_datetime(value) if value else None
        return int((parsed or self.ctx.integration.created_at).timestamp())

    def pages(self, cursor):
        client = make_client(self.ctx)
        cutoff = self._cutoff()
        since = max(int(cursor.get("since") or 0), cutoff)
        token = cursor.get("page_token", "")
        while True:
            data = client.statements_list(statement_time_ge=since, page_token=token)
            # Belt and braces: never keep a statement stamped before the cutoff, whatever the filter returned.
            statements = [st for st in data.get("statements") or [] if int(st.get("statement_time") or 0) >= cutoff]
            token = data.get("next_page_token") or ""
            newest = max([since] + [int(s.get("statement_time") or 0) for s in statements])
            done_cursor = {"since": since, "page_token": token} if token else {"since": newest}
            resume = {"since": since, "page_token": cursor.get("page_token", "")} if cursor.get("page_token") else {"since": since}
            if not statements:
                yield Page(items=[], next_cursor=done_cursor)
            for index, statement in enumerate(statements):
                tx_token = ""
                while True:
                    tx = client.statement_transactions(statement_id=str(statement.get("id")), page_token=tx_token)
                    tx_token = tx.get("next_page_token") or ""
                    last = index == len(statements) - 1 and not tx_token
                    yield Page(items=[{"statement": statement, "transactions": tx.get("transactions") or tx.get(
                        "statement_transactions") or [], "currency": tx.get("currency") or statement.get("currency") or "USD"}],
                        next_cursor=done_cursor if last else resume)
                    if not tx_token:
                        break
            if not token:
                return
            cursor = done_cursor

    def apply(self, page, result):
        from finance import services as finance_services

        integration = self.ctx.integration
        result.updated += finance_services.statement_transactions_link_pending(integration=integration)
        for item in page.items:
            try:
                row = m.statement_row(item["statement"])
            except PayloadError as exc:
                result.record_payload_error(exc, payload=item["statement"])
                continue
            saved, (created, updated, unchanged) = finance_services.statements_upsert(integration=integration, rows=[row])
            statement = saved[row["external_id"]]
            result.fetched += 1
            result.created += created
            result.updated += updated
            result.unchanged += unchanged
            rows = []
            for tx in item["transactions"]:
                try:
                    rows.append(m.transaction_row(tx, currency=item["currency"]))
                except PayloadError as exc:
                    result.record_payload_error(exc, payload=tx)
            result.fetched += len(item["transactions"])
            created, updated, unchanged = finance_services.statement_transactions_upsert(
                integration=integration, statement=statement, rows=rows)
            result.created += created
            result.updated += updated
            result.unchanged += unchanged
