"""Client methods for products, inventory, warehouses, returns/refunds and finance.

TikTokClient (client.py) inherits this mixin (this module imports nothing of the client); every method is one endpoint and calls
`self.api(method, path, *, query=None, body=None, shop=True) -> dict` (the envelope's `data`).
Paths and limits: reference tiktok_api.md §6 (products), §7 (warehouses), §8 (returns), §9 (finance)."""
from __future__ import annotations

# --- paths ---
PATH_PRODUCTS_SEARCH = "/product/202309/products/search"
PATH_PRODUCT = "/product/202309/products/{product_id}"
PATH_PRODUCTS = "/product/202309/products"
PATH_PRODUCT_PARTIAL_EDIT = "/product/202309/products/{product_id}/partial_edit"
PATH_INVENTORY_UPDATE = "/product/202309/products/{product_id}/inventory/update"
PATH_INVENTORY_SEARCH = "/product/202309/inventory/search"
PATH_PRICE_UPDATE = "/product/202309/products/{product_id}/prices/update"
PATH_PRODUCTS_ACTIVATE = "/product/202309/products/activate"
PATH_PRODUCTS_DEACTIVATE = "/product/202309/products/deactivate"
PATH_PRODUCTS_RECOVER = "/product/202309/products/recover"
PATH_CATEGORY_ATTRIBUTES = "/product/202309/categories/{category_id}/attributes"
PATH_CATEGORY_RULES = "/product/202309/categories/{category_id}/rules"
PATH_IMAGES_UPLOAD = "/product/202309/images/upload"
PATH_BRANDS = "/product/202309/brands"
PATH_WAREHOUSES = "/logistics/202309/warehouses"
PATH_FBT_WAREHOUSES = "/fbt/202408/warehouses"
PATH_FBT_INVENTORY_SEARCH = "/fbt/202408/inventory/search"
PATH_RETURNS_SEARCH = "/return_refund/202309/returns/search"
PATH_RETURN_CREATE = "/return_refund/202309/returns"
PATH_RETURN_REJECT = "/return_refund/202309/returns/{return_id}/reject"
PATH_STATEMENTS = "/finance/202309/statements"
PATH_STATEMENT_TRANSACTIONS = "/finance/202501/statements/{statement_id}/statement_transactions"

# --- limits (reference §6.1, §7, §8.1, §9.2) ---
PRODUCT_SEARCH_PAGE_SIZE = 100  # page_size 1-100
PRODUCT_SEARCH_MAX_SELLER_SKUS = 10  # seller_skus[] <= 10
PRODUCT_STATUS_BATCH = 20  # activate/deactivate/recover product_ids[] <= 20
INVENTORY_SEARCH_MAX_SKU_IDS = 600  # inventory/search sku_ids[] <= 600
FBT_INVENTORY_MAX_SKU_IDS = 100  # fbt inventory/search sku_ids[] <= 100
RETURNS_PAGE_SIZE = 50  # page_size 10-50
STATEMENTS_PAGE_SIZE = 100  # page_size 1-100
STATEMENT_TRANSACTIONS_PAGE_SIZE = 100
BRANDS_PAGE_SIZE = 100  # page_size 1-100
IMAGE_USE_CASES = ("MAIN_IMAGE", "ATTRIBUTE_IMAGE", "DESCRIPTION_IMAGE", "CERTIFICATION_IMAGE", "SIZE_CHART_IMAGE")
QUANTITY_MAX = 99_999  # per-warehouse quantity range [1, 99 999] (§6.3)


class CatalogEndpoints:
    # --- products (§6) ---
    def products_search(self, *, page_token: str = "", page_size: int = PRODUCT_SEARCH_PAGE_SIZE, status: str = "ALL",
                        seller_skus: list[str] | None = None, update_time_ge: int | None = None,
                        update_time_le: int | None = None) -> dict:
        query = {"page_size": page_size}
        if page_token:
            query["page_token"] = page_token
        body: dict = {"status": status}
        if seller_skus:
            body["seller_skus"] = list(seller_skus)[:PRODUCT_SEARCH_MAX_SELLER_SKUS]
        if update_time_ge is not None:
            body["update_time_ge"] = int(update_time_ge)
        if update_time_le is not None:  # Search Products bounds with _le (inclusive), not _lt (§6.1)
            body["update_time_le"] = int(update_time_le)
        return self.api("POST", PATH_PRODUCTS_SEARCH, query=query, body=body)

    def product_get(self, *, product_id: str) -> dict:
        return self.api("GET", PATH_PRODUCT.format(product_id=product_id))

    def product_create(self, *, product: dict) -> dict:
        return self.api("POST", PATH_PRODUCTS, body=product)

    def product_partial_edit(self, *, product_id: str, product: dict) -> dict:
        return self.api("POST", PATH_PRODUCT_PARTIAL_EDIT.format(product_id=product_id), body=product)

    def product_edit(self, *, product_id: str, product: dict) -> dict:
        return self.api("PUT", PATH_PRODUCT.format(product_id=product_id), body=product)

    def inventory_update(self, *, product_id: str, skus: list[dict]) -> dict:
        return self.api("POST", PATH_INVENTORY_UPDATE.format(product_id=product_id), body={"skus": skus})

    def inventory_search(self, *, sku_ids: list[str]) -> dict:
        return self.api("POST", PATH_INVENTORY_SEARCH, body={"sku_ids": list(sku_ids)[:INVENTORY_SEARCH_MAX_SKU_IDS]})

    def prices_update(self, *, product_id: str, skus: list[dict]) -> dict:
        return self.api("POST", PATH_PRICE_UPDATE.format(product_id=product_id), body={"skus": skus})

    def products_activate(self, *, product_ids: list[str]) -> dict:
        return self.api("POST", PATH_PRODUCTS_ACTIVATE, body={"product_ids": list(product_ids)[:PRODUCT_STATUS_BATCH]})

    def products_deactivate(self, *, product_ids: list[str]) -> dict:
        return self.api("POST", PATH_PRODUCTS_DEACTIVATE, body={"product_ids": list(product_ids)[:PRODUCT_STATUS_BATCH]})

    def products_recover(self, *, product_ids: list[str]) -> dict:
        return self.api("POST", PATH_PRODUCTS_RECOVER, body={"product_ids": list(product_ids)[:PRODUCT_STATUS_BATCH]})

    def category_attributes(self, *, category_id: str, category_version: str = "") -> dict:
        query = {"category_version": category_version} if category_version else None
        return self.api("GET", PATH_CATEGORY_ATTRIBUTES.format(category_id=category_id), query=query)

    def category_rules(self, *, category_id: str) -> dict:
        return self.api("GET", PATH_CATEGORY_RULES.format(category_id=category_id))

    def upload_product_image(self, *, content: bytes, filename: str, use_case: str) -> dict:
        """Upload Product Image (§6.1): multipart `data` + `use_case`, no shop_cipher, body not signed
        → {uri, url, width, height, use_case}."""
        if use_case not in IMAGE_USE_CASES:
            raise ValueError(f"unknown image use_case {use_case!r}")
        return self.api_multipart(PATH_IMAGES_UPLOAD, fields={"use_case": use_case},
                                  files={"data": (filename, content, "application/octet-stream")}, shop=False)

    def get_brands(self, *, brand_name: str = "", category_id: str = "", page_token: str = "",
                   page_size: int = BRANDS_PAGE_SIZE, is_authorized: bool | None = None, category_version: str = "") -> dict:
        """Get Brands (§6.1) → {brands[]{id, name, authorized_status, brand_status, is_t1_brand}, next_page_token}."""
        query: dict = {"page_size": page_size}
        for key, value in (("brand_name", brand_name), ("category_id", category_id), ("page_token", page_token),
                           ("category_version", category_version)):
            if value:
                query[key] = value
        if is_authorized is not None:
            query["is_authorized"] = is_authorized
        return self.api("GET", PATH_BRANDS, query=query)

    # --- warehouses (§7) ---
    def warehouses_list(self) -> dict:
        return self.api("GET", PATH_WAREHOUSES)

    def fbt_warehouses_list(self) -> dict:
        return self.api("GET", PATH_FBT_WAREHOUSES)

    def fbt_inventory_search(self, *, fbt_warehouse_ids: list[str], sku_ids: list[str], page_token: str = "",
                             page_size: int = 100) -> dict:
        query = {"page_size": page_size}
        if page_token:
            query["page_token"] = page_token
        body = {"fbt_warehouse_ids": list(fbt_warehouse_ids), "sku_ids": list(sku_ids)[:FBT_INVENTORY_MAX_SKU_IDS]}
        return self.api("POST", PATH_FBT_INVENTORY_SEARCH, query=query, body=body)

    # --- returns and refunds (§8) ---
    def returns_search(self, *, page_token: str = "", page_size: int = RETURNS_PAGE_SIZE, return_status: list[str] | None = None,
                       return_types: list[str] | None = None, update_time_ge: int | None = None,
                       update_time_lt: int | None = None, return_ids: list[str] | None = None, order_ids: list[str] | None = None) -> dict:
        query = {"page_size": page_size, "sort_field": "update_time", "sort_order": "ASC"}
        if page_token:
            query["page_token"] = page_token
        body: dict = {}
        if return_status:
            body["return_status"] = list(return_status)
        if return_types:
            body["return_types"] = list(return_types)
        if update_time_ge is not None:
            body["update_time_ge"] = int(update_time_ge)
        if update_time_lt is not None:
            body["update_time_lt"] = int(update_time_lt)
        if return_ids:
            body["return_ids"] = list(return_ids)
        if order_ids:
            body["order_ids"] = list(order_ids)
        return self.api("POST", PATH_RETURNS_SEARCH, query=query, body=body)

    def return_create(self, *, body: dict, idempotency_key: str) -> dict:
        """Seller-initiated refund/return on behalf of the buyer (US-centric, §8.1)."""
        return self.api("POST", PATH_RETURN_CREATE, query={"idempotency_key": idempotency_key}, body=body)

    def return_reject(self, *, return_id: str, decision: str, reject_reason: str, comment: str, idempotency_key: str) -> dict:
        body = {"decision": decision, "reject_reason": reject_reason, "comment": comment}
        return self.api("POST", PATH_RETURN_REJECT.format(return_id=return_id), query={"idempotency_key": idempotency_key},
                        body=body)

    # --- finance (§9) ---
    def statements_list(self, *, statement_time_ge: int | None = None, page_token: str = "",
                        page_size: int = STATEMENTS_PAGE_SIZE) -> dict:
        query: dict = {"sort_field": "statement_time", "sort_order": "ASC", "page_size": page_size}
        if statement_time_ge is not None:
            query["statement_time_ge"] = int(statement_time_ge)
        if page_token:
            query["page_token"] = page_token
        return self.api("GET", PATH_STATEMENTS, query=query)

    def statement_transactions(self, *, statement_id: str, page_token: str = "",
                               page_size: int = STATEMENT_TRANSACTIONS_PAGE_SIZE) -> dict:
        query: dict = {"sort_field": "order_create_time", "sort_order": "ASC", "page_size": page_size}
        if page_token:
            query["page_token"] = page_token
        return self.api("GET", PATH_STATEMENT_TRANSACTIONS.format(statement_id=statement_id), query=query)
