"""`{% fast_result_list cl %}`: Django's `{% result_list cl %}` with rows from integrations.admin_rows."""
from django import template

from integrations.admin_rows import fast_result_list as _fast_result_list

register = template.Library()


@register.inclusion_tag("admin/change_list_results.html")
def fast_result_list(cl):
    return _fast_result_list(cl)
