"""Acumatica flows, one module per entity: orders (sales orders, cancellations, refunds), shipments (shipping
requests, fulfillments), catalog (products, inventory, locations)."""
