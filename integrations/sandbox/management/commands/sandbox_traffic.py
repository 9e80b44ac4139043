from django.core.management.base import BaseCommand, CommandError

from integrations.sandbox.generator import orders_generate
from integrations.sandbox.models import EmuShop


class Command(BaseCommand):
    help = "Generate sandbox TikTok orders on emulated shops (all shops, or --shop by name/shop id)."

    def add_arguments(self, parser):
        parser.add_argument("--orders", type=int, required=True, help="Orders per shop.")
        parser.add_argument("--shop", help="Emulated shop name or shop id (default: every sandbox shop).")
        parser.add_argument("--per-minute", type=float, default=0, help="Spread the orders over time (0 = all now).")
        parser.add_argument("--cancel-share", type=float, default=0.1)
        parser.add_argument("--edit-share", type=float, default=0.1)
        parser.add_argument("--return-share", type=float, default=0.05)
        parser.add_argument("--seed", type=int)

    def handle(self, *args, **opts):
        shops = EmuShop.objects.order_by("id")
        if opts["shop"]:
            shops = shops.filter(name=opts["shop"]) | shops.filter(shop_id=opts["shop"])
        shops = list(shops)
        if not shops:
            raise CommandError("No sandbox shop found (run `manage.py bootstrap --demo` first).")
        for shop in shops:
            try:
                result = orders_generate(shop=shop, count=opts["orders"], per_minute=opts["per_minute"],
                                         cancel_share=opts["cancel_share"], edit_share=opts["edit_share"],
                                         return_share=opts["return_share"], seed=opts["seed"])
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"{result.shop}: {result.created} orders ({result.cancels} to be cancelled by the buyer, "
                              f"{result.edits} address edits, {result.returns} returns)")
