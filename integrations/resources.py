"""django-import-export resources for integrations data (mappings). Never credentials."""
from import_export import resources

from integrations.models import Mapping


class MappingResource(resources.ModelResource):
    class Meta:
        model = Mapping
        fields = ("id", "integration", "kind", "source", "target", "notes")
